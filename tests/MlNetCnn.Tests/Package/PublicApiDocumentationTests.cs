using System.Reflection;
using System.Runtime.CompilerServices;
using System.Xml.Linq;

namespace MlNetCnn.Tests;

/// <summary>
/// Every public method and constructor with parameters documents each of them (<c>&lt;param&gt;</c>) or inherits its
/// documentation; the compiler only insists on a summary. Read from the XML documentation files built beside the assemblies.
/// </summary>
public sealed class PublicApiDocumentationTests
{
    public static TheoryData<string> Assemblies => new() { "MlNetCnn", "MlNetCnn.Visualization" };

    [Theory]
    [MemberData(nameof(Assemblies))]
    public void EveryParameterOfThePublicApiIsDocumented(string assemblyName)
    {
        var assembly = Assembly.Load(assemblyName);
        string xmlPath = Path.ChangeExtension(assembly.Location, ".xml");
        Assert.True(File.Exists(xmlPath), $"no documentation file at {xmlPath}");
        var members = XDocument.Load(xmlPath).Descendants("member")
            .Select(m => (Id: (string)m.Attribute("name")!, Element: m))
            .Where(m => m.Id.StartsWith("M:", StringComparison.Ordinal))
            .ToList();

        var undocumented = new List<string>();
        foreach (var type in assembly.GetExportedTypes())
        {
            const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
                | BindingFlags.Static | BindingFlags.DeclaredOnly;
            var methods = type.GetMethods(Declared).Where(m => (m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly) && !m.IsSpecialName)
                .Cast<MethodBase>()
                .Concat(type.GetConstructors(Declared).Where(c => c.IsPublic || c.IsFamily || c.IsFamilyOrAssembly));
            foreach (var method in methods)
            {
                var parameters = method.GetParameters();
                if (parameters.Length == 0 || method.IsDefined(typeof(CompilerGeneratedAttribute)))
                    continue;
                string name = method is ConstructorInfo ? "#ctor" : method.Name;
                string prefix = $"M:{type.FullName!.Replace('+', '.')}.{name}";
                var candidates = members.Where(m => m.Id.StartsWith(prefix + "(", StringComparison.Ordinal)
                    || m.Id.StartsWith(prefix + "``", StringComparison.Ordinal)).ToList();
                bool documented = candidates.Any(c => c.Element.Element("inheritdoc") is not null
                    || parameters.All(p => c.Element.Elements("param").Any(d => (string?)d.Attribute("name") == p.Name)));
                // A positional record's constructor takes its parameters' documentation from the type.
                if (!documented && method is ConstructorInfo)
                {
                    var typeDoc = members.Count == 0 ? null : XDocument.Load(xmlPath).Descendants("member")
                        .FirstOrDefault(m => (string?)m.Attribute("name") == "T:" + type.FullName!.Replace('+', '.'));
                    documented = typeDoc is not null
                        && parameters.All(p => typeDoc.Elements("param")
                            .Any(d => (string?)d.Attribute("name") == p.Name));
                }
                if (!documented)
                    undocumented.Add($"{type.FullName}.{name}({string.Join(", ", parameters.Select(p => p.Name))})");
            }
        }
        Assert.True(undocumented.Count == 0,
            $"{undocumented.Count} public methods lack <param> "
            + $"docs:{Environment.NewLine}{string.Join(Environment.NewLine, undocumented.Order())}");
    }
}
