namespace MnistFromFolders;

/// <summary>Finds the MNIST sample shipped next to this project (data/train and data/test).</summary>
internal static class SampleData
{
    private const string ProjectFile = "MnistFromFolders.csproj";

    /// <summary>
    /// The project's data folder: searched upwards from the program's folder (bin/&lt;config&gt;/&lt;tfm&gt;/ under the
    /// project), then in the current folder and its examples/MnistFromFolders (a run from the repository root).
    /// </summary>
    public static string Locate()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (IsProjectFolder(folder.FullName))
                return Path.Combine(folder.FullName, "data");
        }
        string current = Directory.GetCurrentDirectory();
        foreach (string candidate in new[] { current, Path.Combine(current, "examples", "MnistFromFolders") })
        {
            if (IsProjectFolder(candidate))
                return Path.Combine(candidate, "data");
        }
        throw new DirectoryNotFoundException(
            $"The sample data (data/train next to {ProjectFile}) was not found above {AppContext.BaseDirectory} or in {current}; pass --data <root>.");
    }

    private static bool IsProjectFolder(string folder)
        => File.Exists(Path.Combine(folder, ProjectFile)) && Directory.Exists(Path.Combine(folder, "data", "train"));
}
