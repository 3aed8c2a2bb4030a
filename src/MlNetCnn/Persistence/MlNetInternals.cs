// Every use of ML.NET's internal API lives in this file. MlNetCnn compiles against a publicized copy of
// Microsoft.ML.Core generated from the referenced version (build/PublicizeMlCore.targets), and the runtime lets it
// call those members because of [IgnoresAccessChecksTo] below. If ML.NET changes one of them, this file stops compiling.
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using MlNetCnn;
using MlNetCnn.Persistence;

[assembly: IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: IgnoresAccessChecksTo("Microsoft.ML.Data")]

// Lets mlContext.Model.Load find the loader: the model records this assembly's name (VersionInfo.LoaderAssemblyName),
// ML.NET registers the assembly while loading, then finds this attribute and calls MlNetInternals.Create.
[assembly: LoadableClass(typeof(CnnTransformer), typeof(MlNetInternals), null, typeof(SignatureLoadModel),
    "CNN Transformer", MlNetInternals.LoaderSignature)]

namespace MlNetCnn.Persistence
{
    internal static class MlNetInternals
    {
        internal const string LoaderSignature = "MlNetCnnTransformer";
        private const string ModelEntryName = "CnnModel.bin";

        // Version of the ML.NET-side record (the model stream itself is versioned by CnnModelFormat).
        private static VersionInfo GetVersionInfo() => new(
            modelSignature: "MLNETCNN",
            verWrittenCur: 0x00010001,
            verReadableCur: 0x00010001,
            verWeCanReadBack: 0x00010001,
            loaderSignature: LoaderSignature,
            loaderAssemblyName: typeof(CnnTransformer).Assembly.FullName);

        public static void Save(ModelSaveContext ctx, CnnTransformer transformer)
        {
            ctx.CheckAtModel();
            ctx.SetVersionInfo(GetVersionInfo());
            ctx.Writer.Write(CnnModelFormat.CurrentVersion);
            ctx.SaveBinaryStream(ModelEntryName, writer => CnnModelFormat.Write(transformer, writer.BaseStream));
        }

        // Found by ML.NET's ComponentCatalog through the LoadableClass attribute above.
        private static CnnTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
        {
            ctx.CheckAtModel(GetVersionInfo());
            int version = ctx.Reader.ReadInt32();
            CnnTransformer? result = null;
            string source = $"{ctx.Directory ?? ""}/{ModelEntryName} (format {version})";
            if (!ctx.TryLoadBinaryStream(ModelEntryName, reader => result = CnnModelFormat.Read(reader.BaseStream, source)))
                throw new InvalidDataException($"The model zip has no '{ModelEntryName}' entry for the CNN transformer in '{ctx.Directory}'; the file is damaged or was not written by MlNetCnn.");
            return result!;
        }

        /// <summary>ML.NET's SchemaShape.Column constructor is internal; estimators outside ML.NET need it for GetOutputSchema.</summary>
        public static SchemaShape.Column ShapeColumn(string name, SchemaShape.Column.VectorKind kind, DataViewType itemType, bool isKey, IEnumerable<SchemaShape.Column>? annotations = null)
            => new(name, kind, itemType, isKey, annotations is null ? null : new SchemaShape(annotations));

        /// <summary>The environment behind an MLContext catalog (internal in ML.NET).</summary>
        public static IHostEnvironment Environment(MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog)
            => catalog.GetEnvironment();

        public static IEnumerable<SchemaShape.Column> AnnotationShapes(DataViewSchema.Annotations annotations)
            => ToSchemaShape(annotations.Schema);

        /// <summary>What ML.NET's pipelines pass to GetOutputSchema for data of this schema.</summary>
        public static SchemaShape ToSchemaShape(DataViewSchema schema) => SchemaShape.Create(schema);
    }
}

namespace System.Runtime.CompilerServices
{
    /// <summary>Tells the runtime to allow this assembly's calls into the named assembly's internals.</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute(string assemblyName) : Attribute
    {
        public string AssemblyName { get; } = assemblyName;
    }
}
