namespace MlNetCnn;

/// <summary>
/// Lists the image files under a class folder, following links to folders but never into a cycle (a folder linked
/// from inside itself, e.g. <c>loop -&gt; .</c> or <c>up -&gt; ..</c>), and each file once, however many links lead to it.
/// </summary>
internal static class ImageFileTree
{
    // Path comparisons follow the file system: case-sensitive on Linux, not on Windows and (by default) macOS.
    private static readonly StringComparer s_pathComparer = OperatingSystem.IsLinux() ? StringComparer.Ordinal : StringComparer.OrdinalIgnoreCase;

    // The kernel gives up on a chain of links after 40 hops (ELOOP); so does this.
    private const int MaxLinkHops = 40;

    /// <summary>A set of real (link-free) file paths, shared between folders so a file is listed once in all.</summary>
    public static HashSet<string> NewListedSet() => new(s_pathComparer);

    /// <summary>
    /// The files under <paramref name="folder"/> (recursively) whose extension is in <paramref name="extensions"/>,
    /// as paths under <paramref name="folder"/>, sorted ordinally; a file whose real path is already in
    /// <paramref name="listed"/> (reached by another link, or listed under another folder) is left out, and those kept are added.
    /// </summary>
    public static List<string> Files(string folder, ISet<string> extensions, ISet<string> listed)
    {
        var found = new List<(string Path, string Real)>();
        var visited = new HashSet<string>(s_pathComparer);
        var pending = new Stack<(string Path, string Real)>();
        pending.Push((folder, RealPath(folder)));
        while (pending.TryPop(out var current))
        {
            if (!visited.Add(current.Real))
                continue;
            foreach (var entry in new DirectoryInfo(current.Path).EnumerateFileSystemInfos())
            {
                string real = entry.LinkTarget is null ? Path.Combine(current.Real, entry.Name) : RealPath(entry.FullName);
                if (entry is DirectoryInfo)
                {
                    // A link to this folder or one above it would list the same files again and again.
                    if (!IsSameOrBelow(current.Real, real))
                        pending.Push((entry.FullName, real));
                }
                else if (extensions.Contains(entry.Extension))
                {
                    found.Add((entry.FullName, real));
                }
            }
        }
        var files = new List<string>();
        foreach (var (path, real) in found.OrderBy(f => f.Path, StringComparer.Ordinal))
        {
            if (listed.Add(real))
                files.Add(path);
        }
        return files;
    }

    /// <summary>Whether <paramref name="folder"/> is <paramref name="ancestor"/> or lies below it.</summary>
    private static bool IsSameOrBelow(string folder, string ancestor)
    {
        string withSeparator = Path.EndsInDirectorySeparator(ancestor) ? ancestor : ancestor + Path.DirectorySeparatorChar;
        return s_pathComparer.Equals(folder, ancestor)
            || folder.StartsWith(withSeparator,
                OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>The absolute path with every link among its components resolved (as realpath(3)); a link that cannot be
    /// resolved stays as it is.</summary>
    internal static string RealPath(string path, int hops = 0)
    {
        string full = Path.GetFullPath(path);
        string root = Path.GetPathRoot(full) ?? "";
        string current = root;
        foreach (string part in full[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            string next = Path.Combine(current, part);
            try
            {
                var info = new FileInfo(next);
                // The target of a relative link is relative to the link's folder, which is already real here.
                if (info.LinkTarget is { } target && hops < MaxLinkHops)
                    next = RealPath(Path.Combine(current, target), hops + 1);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Unreadable or a loop of links: keep the path; reading the file later reports it.
            }
            current = next;
        }
        return current;
    }
}
