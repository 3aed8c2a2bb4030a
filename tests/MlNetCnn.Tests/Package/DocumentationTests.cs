using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace MlNetCnn.Tests;

/// <summary>
/// Keeps README.md and docs/ true to the code: the README's C# blocks are the lines a test runs, every C# block of the
/// documentation parses, the architecture table lists what <see cref="CnnArchitecture.All"/> holds, and every relative
/// link (and #anchor) leads somewhere.
/// </summary>
public sealed class DocumentationTests
{
    /// <summary>Pages linked from the README that another branch is writing: a link to one is checked once it exists.</summary>
    private static readonly string[] s_pagesBeingWritten = ["docs/serving.md"];

    /// <summary>
    /// The tests' spellings of the README's values, as the markers in <c>FirstProgramTests</c> name them: test text → the
    /// README's text, applied in this order to the tokens between "---- the README's lines" and "---- end of the
    /// README's lines".
    /// </summary>
    private static readonly (string Test, string Readme)[] s_substitutions =
    [
        ("new ConsoleTrainingProgress(console, redrawInPlace: false)", "new ConsoleTrainingProgress()"),
        ("console.WriteLine", "Console.WriteLine"),
        ("root", "\"digits\""),
        ("modelPath", "\"model.zip\""),
        ("sevenPath", "\"digits/test/7/0004.png\""),
        ("modelOnnx", "\"model.onnx\""),
    ];

    private const string RegionStart = "// ---- the README's lines";
    private const string RegionEnd = "// ---- end of the README's lines";

    private static readonly string s_root = ConsumerAppFixture.FindRepositoryRoot();

    private static readonly CSharpParseOptions s_program = new(LanguageVersion.Latest, DocumentationMode.None, SourceCodeKind.Regular);
    private static readonly CSharpParseOptions s_script = new(LanguageVersion.Latest, DocumentationMode.None, SourceCodeKind.Script);

    private sealed record CodeBlock(string File, int Line, string Language, string Code)
    {
        public override string ToString() => $"{File}:{Line}";
    }

    /// <summary>README.md, docs/*.md, examples/README.md and benchmarks/results/*.md, as paths from the repository root.</summary>
    private static List<string> MarkdownFiles()
    {
        var files = new List<string> { "README.md" };
        foreach (string folder in new[] { "docs", "benchmarks/results" })
        {
            string full = Path.Combine(s_root, folder);
            if (Directory.Exists(full))
                files.AddRange(Directory.GetFiles(full, "*.md").Order(StringComparer.Ordinal)
                    .Select(f => Path.GetRelativePath(s_root, f).Replace('\\', '/')));
        }
        if (File.Exists(Path.Combine(s_root, "examples", "README.md")))
            files.Add("examples/README.md");
        return files;
    }

    [Fact]
    public void EveryCSharpBlockOfTheReadmeIsTheRegionOfATestThatRunsIt()
    {
        var regions = TestRegions();
        Assert.NotEmpty(regions);
        var blocks = CodeBlocks("README.md").Where(b => b.Language == "csharp").ToList();
        Assert.NotEmpty(blocks);
        foreach (var block in blocks)
        {
            var readme = (CompilationUnitSyntax)CSharpSyntaxTree.ParseText(block.Code, s_program).GetRoot();
            string statements = TokenText(readme.Members.OfType<GlobalStatementSyntax>().SelectMany(s => s.DescendantTokens()));
            var match = regions.FirstOrDefault(r => r.Statements == statements);
            Assert.True(match is not null,
                $"The C# block at {block} is not, token for token, the README region of any test (tests/MlNetCnn.Tests, between " +
                $"'{RegionStart}' and '{RegionEnd}', with the substitutions " +
                $"{string.Join(", ", s_substitutions.Select(s => $"{s.Test} → {s.Readme}"))}).\n" +
                $"README:  {statements}\nregions: {string.Join("\n         ", regions.Select(r => $"{r.File}: {r.Statements}"))}");

            // What the block declares around its statements must be what the test's file has: its usings (or its
            // namespace, or an implicit using) and classes with the same members.
            var allowed = new HashSet<string>(match.Usings, StringComparer.Ordinal)
            {
                "System", "System.IO", "System.Linq", "System.Collections.Generic", "System.Threading", "System.Threading.Tasks",
            };
            for (string ns = match.Namespace; ns.Length > 0; ns = ns.Contains('.') ? ns[..ns.LastIndexOf('.')] : "")
                allowed.Add(ns);
            foreach (var usingDirective in readme.Usings)
                Assert.True(allowed.Contains(usingDirective.Name!.ToString()), $"{block}: 'using {usingDirective.Name};' is not in {match.File}.");
            foreach (var type in readme.Members.OfType<TypeDeclarationSyntax>())
            {
                var declared = match.Types.GetValueOrDefault(type.Identifier.Text);
                Assert.True(declared is not null, $"{block}: {match.File} declares no type '{type.Identifier.Text}'.");
                Assert.Equal(MemberText(type), MemberText(declared!));
            }
        }
    }

    [Fact]
    public void EveryCSharpBlockOfTheDocumentationParses()
    {
        var failures = new List<string>();
        int parsed = 0;
        foreach (string file in MarkdownFiles())
        {
            foreach (var block in CodeBlocks(file).Where(b => b.Language is "csharp" or "cs" or "c#"))
            {
                parsed++;
                // A program (top-level statements, then types) or, for a fragment such as a bare expression, a script.
                var errors = Errors(block.Code, s_program);
                if (errors.Count > 0 && Errors(block.Code, s_script).Count == 0)
                    continue;
                failures.AddRange(errors.Select(e =>
                    $"{block.File}:{block.Line + e.Location.GetLineSpan().StartLinePosition.Line + 1}: "
                    + $"{e.GetMessage()}"));
            }
        }
        Assert.True(parsed > 0, "No C# block found.");
        Assert.True(failures.Count == 0, string.Join("\n", failures));

        static List<Diagnostic> Errors(string code, CSharpParseOptions options) =>
            CSharpSyntaxTree.ParseText(code, options).GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
    }

    [Fact]
    public void TheArchitectureTableListsExactlyTheBuiltInArchitectures()
    {
        var rows = ArchitectureTableRows();
        var documentedProperties = new Dictionary<string, string>(StringComparer.Ordinal);
        var documentedMethods = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string row in rows)
        {
            string firstCell = row.Split('|', StringSplitOptions.TrimEntries)[1];
            foreach (Match entry in Regex.Matches(firstCell, @"`([A-Za-z][A-Za-z0-9]*)(\([^)`]*\))?`"))
                (entry.Groups[2].Success ? documentedMethods : documentedProperties).Add(entry.Groups[1].Value, row);
        }

        // The factories: static properties, and static methods that make an architecture from numbers (not by name).
        var properties = typeof(CnnArchitecture).GetProperties(BindingFlags.Public | BindingFlags.Static)
            .Where(p => p.PropertyType == typeof(CnnArchitecture)).ToList();
        var methods = typeof(CnnArchitecture).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.ReturnType == typeof(CnnArchitecture) && !m.IsSpecialName && m.GetParameters().All(p => p.ParameterType != typeof(string)))
            .ToList();
        var code = properties.Select(p => p.Name).Concat(methods.Select(m => m.Name + "(…)")).ToHashSet(StringComparer.Ordinal);
        var documented = documentedProperties.Keys.Concat(documentedMethods.Keys.Select(m => m + "(…)")).ToHashSet(StringComparer.Ordinal);
        Assert.True(code.SetEquals(documented),
            $"docs/architectures.md's table and CnnArchitecture differ. Not in the table: {string.Join(", ", code.Except(documented).Order())}; " +
            $"in the table only: {string.Join(", ", documented.Except(code).Order())}.");
        // The table's names are the architectures' names: what a saved model records and FromName finds.
        Assert.All(properties, p => Assert.Equal(p.Name, ((CnnArchitecture)p.GetValue(null)!).Name));

        var builtIn = properties.Select(p => (CnnArchitecture)p.GetValue(null)!).ToHashSet();
        var families = new HashSet<Type>();
        foreach (var method in methods)
            families.Add(Invoke(method, documentedMethods[method.Name]).GetType());
        foreach (var architecture in CnnArchitecture.All.Where(a => !a.IsCustom))
        {
            Assert.True(builtIn.Contains(architecture) || families.Contains(architecture.GetType()),
                $"CnnArchitecture.All holds '{architecture.Name}', which the table in docs/architectures.md does not list.");
        }
        Assert.All(builtIn, a => Assert.Contains(a, CnnArchitecture.All));

        // A method with all its parameters optional is called with its defaults; otherwise with the numbers of a call
        // the row shows, e.g. `ResNet(2, 2, 2, 3)`.
        static CnnArchitecture Invoke(MethodInfo method, string row)
        {
            var parameters = method.GetParameters();
            if (parameters.All(p => p.IsOptional))
                return (CnnArchitecture)method.Invoke(null, parameters.Select(_ => Type.Missing).ToArray())!;
            var call = Regex.Match(row, $@"`{method.Name}\((\d+(?:, \d+)*)\)`");
            Assert.True(call.Success, $"The row of {method.Name} in docs/architectures.md shows no call with numbers to build one.");
            int[] numbers = call.Groups[1].Value.Split(", ").Select(int.Parse).ToArray();
            object?[] arguments = parameters.Length == 1 && parameters[0].ParameterType == typeof(int[])
                ? [numbers]
                : numbers.Cast<object?>().ToArray();
            return (CnnArchitecture)method.Invoke(null, arguments)!;
        }
    }

    [Fact]
    public void EveryRelativeLinkLeadsToAFileAndEveryAnchorToAHeading()
    {
        var failures = new List<string>();
        int links = 0;
        foreach (string file in MarkdownFiles())
        {
            string text = WithoutCode(File.ReadAllText(Path.Combine(s_root, file)));
            foreach (Match link in Regex.Matches(text, @"\]\(([^)\s]+)\)"))
            {
                string target = link.Groups[1].Value;
                if (Regex.IsMatch(target, @"^[a-zA-Z][a-zA-Z0-9+.-]*:"))
                    continue; // https:, mailto:
                links++;
                string path = target.Split('#')[0], anchor = target.Contains('#') ? target[(target.IndexOf('#') + 1)..] : "";
                string resolved = path.Length == 0
                    ? file
                    : Path.GetRelativePath(s_root,
                        Path.GetFullPath(Path.Combine(s_root, Path.GetDirectoryName(file) ?? "", path)))
                        .Replace('\\', '/');
                string full = Path.Combine(s_root, resolved);
                if (!File.Exists(full) && !Directory.Exists(full))
                {
                    if (!s_pagesBeingWritten.Contains(resolved))
                        failures.Add($"{file}: link '{target}': no file {resolved}");
                    continue;
                }
                if (anchor.Length > 0 && !(resolved.EndsWith(".md", StringComparison.Ordinal) && HeadingAnchors(full).Contains(anchor)))
                    failures.Add($"{file}: link '{target}': no heading '#{anchor}' in {resolved}");
            }
        }
        Assert.True(links > 0, "No relative link found.");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void TheReadmeIsShortAndNoLineIsOver160Characters()
    {
        Assert.True(File.ReadAllLines(Path.Combine(s_root, "README.md")).Length <= 150,
            "README.md is the front door: at most about 150 lines (what it is, set-up, a first program, results, links); move the rest to docs/.");
        var failures = new List<string>();
        foreach (string file in MarkdownFiles())
        {
            string[] lines = File.ReadAllLines(Path.Combine(s_root, file));
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Length > 160 && !lines[i].TrimStart().StartsWith('|'))
                    failures.Add($"{file}:{i + 1}: {lines[i].Length} characters (tables excepted, at most 160)");
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>The fenced code blocks of a markdown file (indented ones too, dedented), with the line of their first line.</summary>
    private static List<CodeBlock> CodeBlocks(string file)
    {
        var blocks = new List<CodeBlock>();
        string[] lines = File.ReadAllLines(Path.Combine(s_root, file));
        for (int i = 0; i < lines.Length; i++)
        {
            var fence = Regex.Match(lines[i], @"^(\s*)```\s*([^\s`]*)\s*$");
            if (!fence.Success)
                continue;
            int indent = fence.Groups[1].Length, start = i + 1;
            var code = new StringBuilder();
            for (i++; i < lines.Length && lines[i].Trim() != "```"; i++)
            {
                string line = lines[i];
                int strip = 0;
                while (strip < indent && strip < line.Length && line[strip] == ' ')
                    strip++;
                code.Append(line[strip..]).Append('\n');
            }
            Assert.True(i < lines.Length, $"{file}:{start}: the code block is not closed.");
            blocks.Add(new CodeBlock(file, start, fence.Groups[2].Value.ToLowerInvariant(), code.ToString()));
        }
        return blocks;
    }

    /// <summary>The text without fenced code blocks and inline code, where brackets are not links.</summary>
    private static string WithoutCode(string markdown)
    {
        string text = Regex.Replace(markdown, @"^\s*```.*?^\s*```[^\S\n]*$", "", RegexOptions.Multiline | RegexOptions.Singleline);
        return Regex.Replace(text, "`[^`\n]*`", "``");
    }

    /// <summary>GitHub's anchors of a markdown file's headings: lower case, punctuation dropped, spaces as hyphens, -1, -2 for repeats.</summary>
    private static HashSet<string> HeadingAnchors(string path)
    {
        var anchors = new HashSet<string>(StringComparer.Ordinal);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match heading in Regex.Matches(WithoutCodeBlocks(File.ReadAllText(path)), @"^#{1,6}[ \t]+(.+?)[ \t#]*$", RegexOptions.Multiline))
        {
            string text = Regex.Replace(heading.Groups[1].Value, @"\[([^\]]*)\]\([^)]*\)", "$1");
            var slug = new StringBuilder();
            foreach (char c in text.ToLowerInvariant())
            {
                if (char.IsLetterOrDigit(c) || c is '-' or '_')
                    slug.Append(c);
                else if (c == ' ')
                    slug.Append('-');
            }
            string anchor = slug.ToString();
            int seen = counts.GetValueOrDefault(anchor);
            counts[anchor] = seen + 1;
            anchors.Add(seen == 0 ? anchor : $"{anchor}-{seen}");
        }
        return anchors;

        static string WithoutCodeBlocks(string markdown) =>
            Regex.Replace(markdown, @"^\s*```.*?^\s*```[^\S\n]*$", "", RegexOptions.Multiline | RegexOptions.Singleline);
    }

    private sealed record TestRegion(string File, string Statements, string Namespace, IReadOnlyList<string> Usings,
        IReadOnlyDictionary<string, TypeDeclarationSyntax> Types);

    /// <summary>Every README region of the test sources, as its tokens after the substitutions, with its file's context.</summary>
    private static List<TestRegion> TestRegions()
    {
        var regions = new List<TestRegion>();
        string tests = Path.Combine(s_root, "tests", "MlNetCnn.Tests");
        foreach (string path in Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories))
        {
            string relative = Path.GetRelativePath(s_root, path).Replace('\\', '/');
            if (relative.Contains("/bin/", StringComparison.Ordinal) || relative.Contains("/obj/", StringComparison.Ordinal)
                || path == Path.Combine(tests, nameof(DocumentationTests) + ".cs"))
                continue;
            string[] lines = File.ReadAllLines(path);
            if (!lines.Any(l => l.TrimStart().StartsWith(RegionStart, StringComparison.Ordinal)))
                continue;
            var file = (CompilationUnitSyntax)CSharpSyntaxTree.ParseText(string.Join('\n', lines), s_program).GetRoot();
            var usings = file.Usings.Select(u => u.Name!.ToString()).ToList();
            string ns = file.Members.OfType<BaseNamespaceDeclarationSyntax>().FirstOrDefault()?.Name.ToString() ?? "";
            var types = file.DescendantNodes().OfType<TypeDeclarationSyntax>()
                .GroupBy(t => t.Identifier.Text).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
            for (int i = 0; i < lines.Length; i++)
            {
                if (!lines[i].TrimStart().StartsWith(RegionStart, StringComparison.Ordinal))
                    continue;
                int end = Array.FindIndex(lines, i + 1, l => l.TrimStart().StartsWith(RegionEnd, StringComparison.Ordinal));
                Assert.True(end > i, $"{relative}:{i + 1}: '{RegionStart}' without '{RegionEnd}'.");
                string code = string.Join('\n', lines[(i + 1)..end]);
                var tokens = CSharpSyntaxTree.ParseText(code, s_program).GetRoot().DescendantTokens()
                    .Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).Select(t => t.Text).ToList();
                regions.Add(new TestRegion($"{relative}:{i + 1}", string.Join(' ', Substitute(tokens)), ns, usings, types));
                i = end;
            }
        }
        return regions;
    }

    private static List<string> Substitute(List<string> tokens)
    {
        foreach (var (test, readme) in s_substitutions)
        {
            var from = Tokens(test);
            var to = Tokens(readme);
            var result = new List<string>();
            for (int i = 0; i < tokens.Count;)
            {
                if (i + from.Count <= tokens.Count && tokens.GetRange(i, from.Count).SequenceEqual(from))
                {
                    result.AddRange(to);
                    i += from.Count;
                }
                else
                {
                    result.Add(tokens[i++]);
                }
            }
            tokens = result;
        }
        return tokens;

        static List<string> Tokens(string code) => SyntaxFactory.ParseTokens(code)
            .Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).Select(t => t.Text).ToList();
    }

    private static string TokenText(IEnumerable<SyntaxToken> tokens) =>
        string.Join(' ', tokens.Where(t => !t.IsKind(SyntaxKind.EndOfFileToken)).Select(t => t.Text));

    /// <summary>A type's members as tokens, without the type's own modifiers (the test nests its types privately).</summary>
    private static string MemberText(TypeDeclarationSyntax type) => TokenText(type.Members.SelectMany(m => m.DescendantTokens()));

    /// <summary>The rows of the table in docs/architectures.md whose first header cell is <c>`CnnArchitecture.`</c>.</summary>
    private static List<string> ArchitectureTableRows()
    {
        string[] lines = File.ReadAllLines(Path.Combine(s_root, "docs", "architectures.md"));
        int header = Array.FindIndex(lines, l => l.StartsWith("| `CnnArchitecture.` |", StringComparison.Ordinal));
        Assert.True(header >= 0, "docs/architectures.md has no table headed '| `CnnArchitecture.` |'.");
        return lines.Skip(header + 2).TakeWhile(l => l.StartsWith('|')).ToList();
    }
}
