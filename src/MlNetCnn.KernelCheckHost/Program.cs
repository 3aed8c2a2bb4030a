// The kernel check's child process: loads MlNetCnn (and, through it, TorchSharp and libtorch) from the paths the
// parent passes and runs the probe there. Arguments: the path of MlNetCnn.dll, then folders to resolve assemblies from
// (TorchSharp's) and native libraries to load first (the parent's LibTorchSharp, which this process's missing
// deps.json would not find). Its standard output is the probe's report; see Platform/KernelCheckChild.cs.
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

if (args.Length < 1 || !File.Exists(args[0]))
{
    Console.Error.WriteLine("usage: MlNetCnn.KernelCheckHost <path of MlNetCnn.dll> [assembly folder | native library ...]");
    return 2;
}
var folders = args.Skip(1).Where(Directory.Exists).Prepend(Path.GetDirectoryName(Path.GetFullPath(args[0]))!).ToArray();
foreach (var native in args.Skip(1).Where(File.Exists))
    NativeLibrary.Load(native);
AssemblyLoadContext.Default.Resolving += (context, name) =>
{
    var path = folders.Select(folder => Path.Combine(folder, name.Name + ".dll")).FirstOrDefault(File.Exists);
    return path is null ? null : context.LoadFromAssemblyPath(path);
};
var library = AssemblyLoadContext.Default.LoadFromAssemblyPath(Path.GetFullPath(args[0]));
var run = library.GetType("MlNetCnn.Platform.KernelCheckChild", throwOnError: true)!
    .GetMethod("Run", BindingFlags.Static | BindingFlags.NonPublic)!;
return (int)run.Invoke(null, [Console.Out])!;
