// This one file serves twice: compiled into MlNetCnn (the first-use fallback in TorchRuntime) and compiled by MSBuild's
// RoslynCodeTaskFactory as the build-time task (buildTransitive/MlNetCnn.targets), so it sticks to netstandard2.0 APIs
// and the task class is left out of the library build by MLNETCNN_LIBRARY.
#nullable enable
using System;
using System.IO;
using System.Linq;
using Mono.Cecil;
using Mono.Cecil.Cil;

namespace MlNetCnn.Platform
{
    /// <summary>What <see cref="SkiaPixelSpanPatcher.EnsureCompatible"/> did.</summary>
    internal enum PixelSpanPatchOutcome
    {
        /// <summary>The SkiaSharp beside it still returns ReadOnlySpan, or ML.NET no longer calls the old method.</summary>
        NotNeeded,
        /// <summary>The calls were redirected now.</summary>
        Patched,
    }

    /// <summary>
    /// ML.NET 5.0.1's image transforms (Microsoft.ML.ImageAnalytics) call <c>ReadOnlySpan&lt;byte&gt; SKBitmap.GetPixelSpan()</c>,
    /// but every SkiaSharp 3.x/4.x returns <c>Span&lt;byte&gt;</c>, so ExtractPixels fails with MissingMethodException
    /// (dotnet/machinelearning#7413). This rewrites each such call in a copy of the assembly to call the Span overload and
    /// convert with <c>Span&lt;byte&gt;.op_Implicit</c>: the same pixels, no behaviour change. The NuGet cache is never touched.
    /// </summary>
    internal static class SkiaPixelSpanPatcher
    {
        /// <summary>The ML.NET assembly that holds the calls.</summary>
        public const string ImageAnalyticsFileName = "Microsoft.ML.ImageAnalytics.dll";

        /// <summary>The SkiaSharp assembly whose signature changed.</summary>
        public const string SkiaSharpFileName = "SkiaSharp.dll";

        /// <summary>Patches <paramref name="imageAnalyticsPath"/> in place (atomically) when the SkiaSharp.dll beside it needs it. Idempotent.</summary>
        public static PixelSpanPatchOutcome EnsureCompatible(string imageAnalyticsPath)
        {
            string skiaPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(imageAnalyticsPath)) ?? ".", SkiaSharpFileName);
            if (!File.Exists(skiaPath) || SkiaReturnsReadOnlySpan(skiaPath))
                return PixelSpanPatchOutcome.NotNeeded;

            string temporary = imageAnalyticsPath + ".patching-" + Guid.NewGuid().ToString("N");
            try
            {
                var resolver = new DefaultAssemblyResolver();
                resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(imageAnalyticsPath)));
                using (var module = ModuleDefinition.ReadModule(imageAnalyticsPath, new ReaderParameters { AssemblyResolver = resolver }))
                {
                    if (RedirectCalls(module) == 0)
                        return PixelSpanPatchOutcome.NotNeeded;
                    module.Write(temporary);
                }
                using (var written = new FileStream(temporary, FileMode.Open, FileAccess.ReadWrite))
                    written.Flush(flushToDisk: true);
                File.Replace(temporary, imageAnalyticsPath, null);
                return PixelSpanPatchOutcome.Patched;
            }
            finally
            {
                if (File.Exists(temporary))
                    File.Delete(temporary);
            }
        }

        /// <summary>Rewrites every call of the ReadOnlySpan-returning GetPixelSpan() in <paramref name="module"/>; returns how many.</summary>
        public static int RedirectCalls(ModuleDefinition module)
        {
            int count = 0;
            foreach (var method in module.GetTypes().SelectMany(t => t.Methods).Where(m => m.HasBody))
            {
                var il = method.Body.GetILProcessor();
                foreach (var call in method.Body.Instructions.ToList())
                {
                    if ((call.OpCode != OpCodes.Call && call.OpCode != OpCodes.Callvirt) || !(call.Operand is MethodReference target) || !IsOldGetPixelSpan(target))
                        continue;
                    var readOnlySpan = (GenericInstanceType)target.ReturnType;
                    var span = new TypeReference("System", "Span`1", module, readOnlySpan.ElementType.Scope, valueType: true);
                    span.GenericParameters.Add(new GenericParameter(span));
                    var spanOfByte = new GenericInstanceType(span);
                    spanOfByte.GenericArguments.Add(readOnlySpan.GenericArguments[0]);

                    call.Operand = new MethodReference(target.Name, spanOfByte, target.DeclaringType) { HasThis = target.HasThis };

                    // static ReadOnlySpan<T> Span<T>.op_Implicit(Span<T>), on Span<byte>
                    var returnType = new GenericInstanceType(readOnlySpan.ElementType);
                    returnType.GenericArguments.Add(span.GenericParameters[0]);
                    var parameterType = new GenericInstanceType(span);
                    parameterType.GenericArguments.Add(span.GenericParameters[0]);
                    var toReadOnly = new MethodReference("op_Implicit", returnType, spanOfByte) { HasThis = false };
                    toReadOnly.Parameters.Add(new ParameterDefinition(parameterType));
                    il.InsertAfter(call, il.Create(OpCodes.Call, toReadOnly));
                    count++;
                }
            }
            return count;
        }

        private static bool IsOldGetPixelSpan(MethodReference method)
            => method.Name == "GetPixelSpan" && method.Parameters.Count == 0 && method.DeclaringType.FullName == "SkiaSharp.SKBitmap"
               && method.ReturnType is GenericInstanceType returned && returned.ElementType.FullName == "System.ReadOnlySpan`1";

        private static bool SkiaReturnsReadOnlySpan(string skiaPath)
        {
            using (var skia = ModuleDefinition.ReadModule(skiaPath))
            {
                var bitmap = skia.GetType("SkiaSharp.SKBitmap");
                return bitmap != null && bitmap.Methods.Any(m => m.Name == "GetPixelSpan" && m.Parameters.Count == 0 && m.ReturnType.Name == "ReadOnlySpan`1");
            }
        }
    }

#if !MLNETCNN_LIBRARY
    /// <summary>MSBuild task: runs <see cref="SkiaPixelSpanPatcher.EnsureCompatible"/> on the output's copy of Microsoft.ML.ImageAnalytics.dll.</summary>
    public class PatchImageAnalyticsForSkiaSharp : Microsoft.Build.Utilities.Task
    {
        /// <summary>The copies in the output or publish folder.</summary>
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        /// <inheritdoc />
        public override bool Execute()
        {
            foreach (var file in Files)
            {
                string path = file.GetMetadata("FullPath");
                try
                {
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, $"MlNetCnn: {path}: {SkiaPixelSpanPatcher.EnsureCompatible(path)}");
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is BadImageFormatException)
                {
                    Log.LogError($"MlNetCnn: could not make '{path}' work with the SkiaSharp beside it (GetPixelSpan signature change): {e.Message}");
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
