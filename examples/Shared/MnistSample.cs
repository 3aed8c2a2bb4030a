namespace MlNetCnn.Examples;

/// <summary>
/// The MNIST sample shipped with the examples (2,500 training and 500 test digits as PNG files in
/// <c>examples/MnistFromFolders/data/train|test/&lt;digit&gt;/</c>), so the examples run without a download.
/// </summary>
internal static class MnistSample
{
    private static readonly string s_relativePath = Path.Combine("examples", "MnistFromFolders", "data");

    /// <summary>
    /// The sample's root folder: searched upwards from the program's folder (bin/&lt;config&gt;/&lt;tfm&gt;/ inside
    /// the repository), then from the current folder.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">Neither search finds it.</exception>
    public static string Locate()
    {
        foreach (string start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var folder = new DirectoryInfo(start); folder is not null; folder = folder.Parent)
            {
                string candidate = Path.Combine(folder.FullName, s_relativePath);
                if (Directory.Exists(Path.Combine(candidate, "train")))
                    return candidate;
            }
        }
        throw new DirectoryNotFoundException(
            $"The MNIST sample ({s_relativePath}/train) was not found above {AppContext.BaseDirectory} or "
            + $"{Directory.GetCurrentDirectory()}; pass --data <root>.");
    }
}
