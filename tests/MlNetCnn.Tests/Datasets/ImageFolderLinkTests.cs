namespace MlNetCnn.Tests;

/// <summary>ImageFolder lists each file once: links into a cycle are not followed, and several links to one file give one row.</summary>
public sealed class ImageFolderLinkTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private string Root => _temp.Combine("root");

    private void Images(string label, int count)
    {
        string folder = Path.Combine(Root, label);
        Directory.CreateDirectory(folder);
        for (int i = 0; i < count; i++)
            DatasetFiles.WritePng(Path.Combine(folder, $"{i}.png"), 4, 4, new byte[16], rgb: false);
    }

    [LinuxFact]
    public void ALinkToItsOwnFolderIsNotFollowed()
    {
        Images("a", 10);
        Images("b", 10);
        Directory.CreateSymbolicLink(Path.Combine(Root, "a", "loop"), ".");
        Directory.CreateSymbolicLink(Path.Combine(Root, "b", "up"), "..");
        var listing = ImageFolder.List(Root);
        Assert.Equal(20, listing.Count);
        Assert.Equal(20, listing.Select(r => r.ImagePath).Distinct().Count());
        Assert.Equal(10, listing.Count(r => r.Label == "a"));
    }

    [LinuxFact]
    public void SeveralLinksToOneFileGiveOneRow()
    {
        Images("a", 2);
        Images("b", 2);
        File.CreateSymbolicLink(Path.Combine(Root, "a", "again.png"), "0.png");
        Directory.CreateSymbolicLink(Path.Combine(Root, "a", "same"), Path.Combine(Root, "a"));
        var listing = ImageFolder.List(Root);
        Assert.Equal(4, listing.Count);
        Assert.Equal([Path.Combine(Root, "a", "0.png"), Path.Combine(Root, "a", "1.png")],
            listing.Where(r => r.Label == "a").Select(r => r.ImagePath));
    }

    [LinuxFact]
    public void ALinkToAFolderElsewhereIsFollowed()
    {
        Images("a", 2);
        string elsewhere = _temp.Combine("elsewhere");
        Directory.CreateDirectory(elsewhere);
        DatasetFiles.WritePng(Path.Combine(elsewhere, "x.png"), 4, 4, new byte[16], rgb: false);
        Directory.CreateDirectory(Path.Combine(Root, "b"));
        Directory.CreateSymbolicLink(Path.Combine(Root, "b", "more"), elsewhere);
        var listing = ImageFolder.List(Root);
        Assert.Equal([Path.Combine(Root, "b", "more", "x.png")], listing.Where(r => r.Label == "b").Select(r => r.ImagePath));
    }
}
