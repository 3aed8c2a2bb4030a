// Every use of ML.NET's internal API lives in this file. MlNetCnn compiles against a publicized copy of
// Microsoft.ML.Core generated from the referenced version (build/PublicizeMlCore.targets), and the runtime lets it
// call those members because of [IgnoresAccessChecksTo] below. If ML.NET changes one of them, this file stops compiling.
using System.Runtime.CompilerServices;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Model.OnnxConverter;
using Microsoft.ML.Runtime;
using MlNetCnn;
using MlNetCnn.Persistence;
using MlNetCnn.Persistence.Onnx;

[assembly: IgnoresAccessChecksTo("Microsoft.ML.Core")]
[assembly: IgnoresAccessChecksTo("Microsoft.ML.Data")]

// Lets mlContext.Model.Load find the loaders: the model records this assembly's name (VersionInfo.LoaderAssemblyName),
// ML.NET registers the assembly while loading, then finds these attributes and calls the loader's static Create
// (one loader class per transformer: ML.NET looks the method up by name and parameters).
[assembly: LoadableClass(typeof(CnnTransformer), typeof(MlNetInternals.CnnLoader), null, typeof(SignatureLoadModel),
    "CNN Transformer", MlNetInternals.LoaderSignature)]
[assembly: LoadableClass(typeof(ImageNormalizingTransformer), typeof(MlNetInternals.NormalizerLoader), null, typeof(SignatureLoadModel),
    "Image Normalizing Transformer", MlNetInternals.NormalizerLoaderSignature)]
[assembly: LoadableClass(typeof(ImageAugmentingTransformer), typeof(MlNetInternals.AugmenterLoader), null, typeof(SignatureLoadModel),
    "Image Augmenting Transformer", MlNetInternals.AugmenterLoaderSignature)]

namespace MlNetCnn.Persistence
{
    internal static class MlNetInternals
    {
        internal const string LoaderSignature = "MlNetCnnTransformer";
        internal const string NormalizerLoaderSignature = "MlNetCnnImageNormalizer";
        internal const string AugmenterLoaderSignature = "MlNetCnnImageAugmenter";
        private const string ModelEntryName = "CnnModel.bin";

        // Version of the ML.NET-side records (the CNN model stream itself is versioned by CnnModelFormat).
        private static VersionInfo GetVersionInfo() => VersionOf("MLNETCNN", LoaderSignature);

        private static VersionInfo VersionOf(string modelSignature, string loaderSignature, uint written = 0x00010001,
            uint readable = 0x00010001) => new(
            modelSignature: modelSignature,
            verWrittenCur: written,
            verReadableCur: readable,
            verWeCanReadBack: 0x00010001,
            loaderSignature: loaderSignature,
            loaderAssemblyName: typeof(CnnTransformer).Assembly.FullName);

        private const string NormalizerSignature = "CNNNORM ";
        private const string AugmenterSignature = "CNNAUGM ";

        public static void Save(ModelSaveContext ctx, ImageNormalizingTransformer transformer)
            => SaveRecord(ctx, VersionOf(NormalizerSignature, NormalizerLoaderSignature), transformer.Write);

        // Augmenter record 0x00010002 may carry AlternateHorizontalFlips ("altflip" in its text); 0x00010001 records (without
        // it) still load. A record using the flag is marked readable only by 0x00010002 readers, so an older MlNetCnn
        // refuses it instead of silently training with random flips; records without the flag stay readable by older ones.
        private const uint AugmenterVersion = 0x00010002;

        public static void Save(ModelSaveContext ctx, ImageAugmentingTransformer transformer)
            => SaveRecord(ctx, VersionOf(AugmenterSignature, AugmenterLoaderSignature, AugmenterVersion,
                transformer.Options.AlternateHorizontalFlips ? AugmenterVersion : 0x00010001), transformer.Write);

        /// <summary>Saves a transformer whose whole state is a small record written to the model stream.</summary>
        private static void SaveRecord(ModelSaveContext ctx, VersionInfo version, Action<BinaryWriter> write)
        {
            ctx.CheckAtModel();
            ctx.SetVersionInfo(version);
            write(ctx.Writer);
        }

        private static T LoadRecord<T>(ModelLoadContext ctx, VersionInfo version, Func<BinaryReader, T> read)
        {
            ctx.CheckAtModel(version);
            return read(ctx.Reader);
        }

        internal static class NormalizerLoader
        {
            private static ImageNormalizingTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
                => LoadRecord(ctx, VersionOf(NormalizerSignature, NormalizerLoaderSignature), ImageNormalizingTransformer.Read);
        }

        internal static class AugmenterLoader
        {
            private static ImageAugmentingTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
                => LoadRecord(ctx,
                    VersionOf(AugmenterSignature, AugmenterLoaderSignature, AugmenterVersion, AugmenterVersion),
                    ImageAugmentingTransformer.Read);
        }

        public static void Save(ModelSaveContext ctx, CnnTransformer transformer)
        {
            ctx.CheckAtModel();
            ctx.SetVersionInfo(GetVersionInfo());
            ctx.Writer.Write(CnnModelFormat.CurrentVersion);
            ctx.SaveBinaryStream(ModelEntryName, writer => CnnModelFormat.Write(transformer, writer.BaseStream));
        }

        internal static class CnnLoader
        {
            private static CnnTransformer Create(IHostEnvironment env, ModelLoadContext ctx)
            {
                ctx.CheckAtModel(GetVersionInfo());
                using (var channel = env.Start("CnnTransformer"))
                    channel.Info(Platform.TorchRuntime.KernelCheck.ToString());
                int version = ctx.Reader.ReadInt32();
                CnnTransformer? result = null;
                string source = $"{ctx.Directory ?? ""}/{ModelEntryName} (format {version})";
                if (!ctx.TryLoadBinaryStream(ModelEntryName, reader => result = CnnModelFormat.Read(reader.BaseStream, source)))
                    throw new InvalidDataException($"The model zip has no '{ModelEntryName}' entry for the CNN "
                        + $"transformer in '{ctx.Directory}'; the file is damaged or was not written by MlNetCnn.");
                return result!;
            }
        }

        /// <summary>ML.NET's SchemaShape.Column constructor is internal; estimators outside ML.NET need it for GetOutputSchema.</summary>
        public static SchemaShape.Column ShapeColumn(string name, SchemaShape.Column.VectorKind kind,
            DataViewType itemType, bool isKey, IEnumerable<SchemaShape.Column>? annotations = null)
            => new(name, kind, itemType, isKey, annotations is null ? null : new SchemaShape(annotations));

        /// <summary>The environment behind an MLContext catalog (internal in ML.NET).</summary>
        public static IHostEnvironment Environment(MulticlassClassificationCatalog.MulticlassClassificationTrainers catalog)
            => catalog.GetEnvironment();

        public static IEnumerable<SchemaShape.Column> AnnotationShapes(DataViewSchema.Annotations annotations)
            => ToSchemaShape(annotations.Schema);

        /// <summary>What ML.NET's pipelines pass to GetOutputSchema for data of this schema.</summary>
        public static SchemaShape ToSchemaShape(DataViewSchema schema) => SchemaShape.Create(schema);

        /// <summary>
        /// When <paramref name="view"/> is a chain of one-row-in, one-row-out transforms (ML.NET's row mappers such as
        /// LoadImages, ResizeImages, ExtractPixels, MapValueToKey, and MlNetCnn's image transforms) over data readable by
        /// position, returns a function that builds the same chain over chosen rows of that data, in the chosen order;
        /// otherwise null. Row positions in <paramref name="view"/> and in its source are then the same. ML.NET keeps
        /// IDataTransform.Source and ITransformTemplate (how a transform is re-applied to other data) internal.
        /// </summary>
        public static Func<int[], IDataView>? RowSelector(IHostEnvironment environment, IDataView view)
        {
            var steps = new List<Func<IDataView, IDataView>>();
            var current = view;
            while (current is not IRowIndexedDataView)
            {
                switch (current)
                {
                    case OnnxExportingView exporting:
                        // Only the ONNX converter needs this wrapper; reading rows needs what it wraps.
                        current = exporting.View;
                        break;
                    case ImageColumnMapping.MappedView mapped:
                        steps.Add(mapped.Mapping.Transform);
                        current = mapped.Source;
                        break;
                    case ITransformTemplate template when current is IRowToRowMapper:
                        steps.Add(source => template.ApplyToData(environment, source));
                        current = template.Source;
                        break;
                    default:
                        return null;
                }
            }
            var root = (IRowIndexedDataView)current;
            steps.Reverse();
            return rows =>
            {
                IDataView selected = root.SelectRows(rows);
                foreach (var step in steps)
                    selected = step(selected);
                return selected;
            };
        }

        // ONNX export. ML.NET's converter (mlContext.Model.ConvertToOnnx, package Microsoft.ML.OnnxConverter) applies the
        // model to the data, then walks back from the result through IDataTransform.Source and asks every view that is an
        // ITransformCanSaveOnnx (both internal) to write its nodes into an OnnxContext (internal too). MlNetCnn's
        // transformers return their data views wrapped in OnnxExportingView, which adapts the context to IOnnxGraph.

        /// <summary>The oldest opset whose operators the exported graphs use (Slice steps, MaxPool ceil_mode: 10; Gemm without C: 11).</summary>
        public const int MinimumOnnxOpset = 11;

        /// <summary>
        /// <paramref name="view"/> (the output of a transformer applied to <paramref name="source"/>) as a view ML.NET's
        /// ONNX converter can walk through and ask <paramref name="exporter"/> for its nodes.
        /// </summary>
        public static IDataView WithOnnxExport(IDataView view, IDataView source, IOnnxExportable exporter)
            => new OnnxExportingView(view, source, exporter);

        private sealed class OnnxExportingView(IDataView view, IDataView source, IOnnxExportable exporter) : ITransformCanSaveOnnx
        {
            public IDataView Source => source;

            /// <summary>The transformer's own output view.</summary>
            public IDataView View => view;

            public DataViewSchema Schema => view.Schema;

            public bool CanShuffle => view.CanShuffle;

            public long? GetRowCount() => view.GetRowCount();

            public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
                => view.GetRowCursor(columnsNeeded, rand);

            public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
                => view.GetRowCursorSet(columnsNeeded, n, rand);

            public bool CanSaveOnnx(OnnxContext ctx) => true;

            public void SaveAsOnnx(OnnxContext ctx)
            {
                ctx.CheckOpSetVersion(MinimumOnnxOpset, "MlNetCnn");
                exporter.ExportOnnx(new OnnxGraph(ctx), source.Schema);
            }

            // A data view is not a model: ML.NET saves the transformer (ICanSaveModel on it), never this view.
            void ICanSaveModel.Save(ModelSaveContext ctx)
                => throw new NotSupportedException("Save the MlNetCnn transformer with mlContext.Model.Save, not the data view it returned.");
        }

        private sealed class OnnxGraph(OnnxContext ctx) : IOnnxGraph
        {
            public string ColumnVariable(string columnName)
                => ctx.ContainsColumn(columnName)
                    ? ctx.GetVariableName(columnName)
                    : throw new InvalidOperationException($"ONNX export: column '{columnName}' is not in the graph. "
                        + "Convert from data that holds it (the steps before it must export to ONNX too, or the data "
                        + "passed to ConvertToOnnx must already contain it).");

            public string DeclareColumn(string columnName, DataViewType type) => ctx.AddIntermediateVariable(type, columnName);

            public string Intermediate(string prefix) => ctx.AddIntermediateVariable(NumberDataViewType.Single, prefix, skip: true);

            public string Initializer(string name, float[] values, IReadOnlyList<long> dims)
                => ctx.AddInitializer(values, dims, name);

            public string Initializer(string name, IReadOnlyList<long> values, IReadOnlyList<long> dims)
                => ctx.AddInitializer(values, dims, name);

            public IOnnxNode Node(string opType, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs)
                => new Node(ctx.CreateNode(opType, inputs, outputs, ctx.GetNodeName(opType), ""));
        }

        private sealed class Node(OnnxNode node) : IOnnxNode
        {
            public IOnnxNode Attribute(string name, long value)
            {
                node.AddAttribute(name, value);
                return this;
            }

            public IOnnxNode Attribute(string name, float value)
            {
                node.AddAttribute(name, (double)value);
                return this;
            }

            public IOnnxNode Attribute(string name, IReadOnlyList<long> values)
            {
                node.AddAttribute(name, values);
                return this;
            }

            public IOnnxNode Attribute(string name, string value)
            {
                node.AddAttribute(name, value);
                return this;
            }
        }
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
