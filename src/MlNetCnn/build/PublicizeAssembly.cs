// Build-time only (RoslynCodeTaskFactory): writes a copy of an assembly whose types and members are all public,
// used as a compile reference so MlNetCnn can name ML.NET's persistence internals. Never shipped.
using System.IO;
using System.Linq;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Mono.Cecil;

public class PublicizeAssembly : Task
{
    [Required] public string InputAssembly { get; set; }

    [Required] public string OutputAssembly { get; set; }

    /// <summary>Folders of the other references, so types they define can be resolved while writing.</summary>
    public string[] SearchDirectories { get; set; }

    public override bool Execute()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(OutputAssembly));
        string temporary = OutputAssembly + ".tmp";
        var resolver = new DefaultAssemblyResolver();
        foreach (var directory in SearchDirectories ?? new string[0])
            resolver.AddSearchDirectory(directory);
        using (var module = ModuleDefinition.ReadModule(InputAssembly, new ReaderParameters { AssemblyResolver = resolver }))
        {
            foreach (var type in module.GetTypes())
            {
                if (type.IsNested)
                    type.IsNestedPublic = true;
                else
                    type.IsPublic = true;
                foreach (var method in type.Methods)
                    method.IsPublic = true;
                // A field named like an event of its type would make that event name ambiguous in C#.
                var eventNames = new System.Collections.Generic.HashSet<string>(type.Events.Select(e => e.Name));
                foreach (var field in type.Fields.Where(f => !eventNames.Contains(f.Name)))
                    field.IsPublic = true;
            }
            module.Write(temporary);
        }
        File.Copy(temporary, OutputAssembly, overwrite: true);
        File.Delete(temporary);
        Log.LogMessage(MessageImportance.Normal, $"Publicized {InputAssembly} -> {OutputAssembly}");
        return true;
    }
}
