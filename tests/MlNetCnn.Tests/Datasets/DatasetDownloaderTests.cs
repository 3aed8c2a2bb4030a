using System.Collections.Concurrent;
using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace MlNetCnn.Tests;

/// <summary>Tests against an HttpListener on 127.0.0.1 only: nothing here reaches the internet.</summary>
public sealed class DatasetDownloaderTests : IDisposable
{
    private readonly TempFolder _temp = new();
    private readonly LoopbackServer _server = new();
    private readonly byte[] _content = Enumerable.Range(0, 200_000).Select(i => (byte)(i * 31 % 251)).ToArray();

    public void Dispose()
    {
        _server.Dispose();
        _temp.Dispose();
    }

    private DatasetFile File(string name, byte[] content, string? checksum = null)
    {
        _server.Files["/" + name] = content;
        return new DatasetFile(name, [new Uri(_server.BaseUrl + name)], checksum ?? Convert.ToHexStringLower(SHA256.HashData(content)));
    }

    [Fact]
    public async Task DownloadsVerifiesAndReportsProgress()
    {
        var reports = new List<DownloadProgress>();
        using var downloader = new DatasetDownloader { Progress = new SynchronousProgress<DownloadProgress>(reports.Add) };

        string path = await downloader.DownloadFileAsync(File("data.bin", _content), _temp.Path);

        Assert.Equal(_temp.Combine("data.bin"), path);
        Assert.Equal(_content, System.IO.File.ReadAllBytes(path));
        Assert.False(System.IO.File.Exists(path + ".partial"));
        Assert.Equal(_content.Length, reports[^1].BytesReceived);
        Assert.Equal(_content.Length, reports[^1].TotalBytes);
        Assert.True(reports.Count > 2);

        // A second call finds the verified file and sends no request.
        int requests = _server.Requests.Count;
        await downloader.DownloadFileAsync(File("data.bin", _content), _temp.Path);
        Assert.Equal(requests, _server.Requests.Count);
    }

    [Fact]
    public async Task AChecksumMismatchLeavesNoFile()
    {
        using var downloader = new DatasetDownloader();
        var file = File("data.bin", _content, checksum: Convert.ToHexStringLower(MD5.HashData([1, 2, 3])));

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => downloader.DownloadFileAsync(file, _temp.Path));

        Assert.Contains("MD5", error.Message);
        Assert.Contains(Convert.ToHexStringLower(MD5.HashData(_content)), error.Message);
        Assert.Empty(Directory.GetFiles(_temp.Path));
    }

    [Fact]
    public async Task ResumesAPartialFileWithARangeRequest()
    {
        using var downloader = new DatasetDownloader();
        var file = File("data.bin", _content);
        System.IO.File.WriteAllBytes(_temp.Combine("data.bin.partial"), _content[..75_000]);

        string path = await downloader.DownloadFileAsync(file, _temp.Path);

        Assert.Equal(_content, System.IO.File.ReadAllBytes(path));
        Assert.Equal(["bytes=75000-"], _server.Requests.Select(r => r.Range));
        Assert.Equal(_content.Length - 75_000, _server.Requests.Single().BytesSent);
    }

    [Fact]
    public async Task ResumesAfterTheConnectionBreaksAndGivesUpAfterABoundedNumberOfTries()
    {
        using var downloader = new DatasetDownloader();
        var file = File("data.bin", _content);
        _server.BreakResponses = 1;

        Assert.Equal(_content, System.IO.File.ReadAllBytes(await downloader.DownloadFileAsync(file, _temp.Path)));
        Assert.Equal([null, "bytes=50000-"], _server.Requests.Select(r => r.Range));

        System.IO.File.Delete(_temp.Combine("data.bin"));
        _server.Requests.Clear();
        _server.BreakResponses = int.MaxValue;
        _server.BreakAfterBytes = 1_000;
        var error = await Assert.ThrowsAsync<IOException>(() => downloader.DownloadFileAsync(file, _temp.Path));
        Assert.Equal(3, _server.Requests.Count);
        Assert.Contains("transfer broken", error.Message);
        Assert.Equal(3_000, new FileInfo(_temp.Combine("data.bin.partial")).Length); // kept for a later resume
    }

    [Fact]
    public async Task AnUnreachableAddressGivesAClearError()
    {
        int closedPort = LoopbackServer.FreePort();
        using var downloader = new DatasetDownloader();
        var file = new DatasetFile("data.bin", [new Uri($"http://127.0.0.1:{closedPort}/data.bin")], new string('0', 64));

        var error = await Assert.ThrowsAsync<IOException>(() => downloader.DownloadFileAsync(file, _temp.Path));

        Assert.Contains($"Could not reach http://127.0.0.1:{closedPort}/data.bin", error.Message);
        Assert.Contains($"download it manually to '{_temp.Combine("data.bin")}'", error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(System.IO.File.Exists(_temp.Combine("data.bin")));
    }

    [Fact]
    public async Task TriesTheNextMirrorAndMentionsDebianForFashionMnist()
    {
        _server.Files["/b/f.gz"] = _content;
        var file = new DatasetFile("f.gz", [new Uri(_server.BaseUrl + "a/f.gz"), new Uri(_server.BaseUrl + "b/f.gz")],
            Convert.ToHexStringLower(SHA256.HashData(_content)));
        using var downloader = new DatasetDownloader();

        Assert.Equal(_temp.Path, await downloader.DownloadAsync(KnownDataset.FashionMnist, _temp.Path, [file], CancellationToken.None));
        Assert.Equal(["/a/f.gz", "/b/f.gz"], _server.Requests.Select(r => r.Path));

        var missing = new DatasetFile("g.gz", [new Uri(_server.BaseUrl + "a/g.gz")], new string('0', 32));
        var error =
            await Assert.ThrowsAsync<IOException>(() =>
                downloader.DownloadAsync(KnownDataset.FashionMnist, _temp.Path, [missing], CancellationToken.None));
        Assert.Contains("HTTP 404", error.Message);
        Assert.Contains("dataset-fashion-mnist", error.Message);
        Assert.Contains("/usr/share/datasets/fashion-mnist", error.Message);
    }

    [Fact]
    public async Task DownloadsAndExtractsCifar10ForTheReader()
    {
        using var archive = new MemoryStream();
        using (var gzip = new GZipStream(archive, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip))
        {
            foreach (string name in Enumerable.Range(1, 5).Select(i => $"data_batch_{i}.bin").Append("test_batch.bin"))
            {
                string batch = DatasetFiles.WriteCifarBatch(_temp.Combine(name), [1]);
                tar.WriteEntry(batch, "cifar-10-batches-bin/" + name);
                System.IO.File.Delete(batch);
            }
        }
        using var downloader = new DatasetDownloader();

        string folder = await downloader.DownloadAsync(KnownDataset.Cifar10, _temp.Path,
            [File("cifar-10-binary.tar.gz", archive.ToArray())], CancellationToken.None);

        Assert.Equal(_temp.Combine("cifar-10-batches-bin"), folder);
        Assert.Equal(5, Cifar10.Load(new Microsoft.ML.MLContext(1), folder, DatasetSplit.Train).GetRowCount());
    }

    [Fact]
    public void KnowsTheCanonicalFilesAndChecksums()
    {
        Assert.Equal(4, DatasetDownloader.FilesOf(KnownDataset.FashionMnist).Count);
        Assert.All(DatasetDownloader.FilesOf(KnownDataset.Mnist), f => Assert.Equal("MD5", f.ChecksumAlgorithm));
        Assert.Equal("c32a1d4ab5d03f1284b67883e8d87530", DatasetDownloader.FilesOf(KnownDataset.Cifar10).Single().Checksum);
        Assert.Throws<ArgumentException>(() => new DatasetFile("a/b", [new Uri("http://127.0.0.1/")], new string('0', 32)));
        Assert.Throws<ArgumentException>(() => new DatasetFile("b", [new Uri("http://127.0.0.1/")], "xyz"));
    }
}

/// <summary>Serves byte arrays over HTTP on 127.0.0.1, honouring <c>Range: bytes=N-</c>; records every request.</summary>
internal sealed class LoopbackServer : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public LoopbackServer()
    {
        // HttpListener cannot bind port 0, so take a free port from the OS; retry in the unlikely event it was reused.
        for (int attempt = 0; ; attempt++)
        {
            BaseUrl = $"http://127.0.0.1:{FreePort()}/";
            _listener.Prefixes.Add(BaseUrl);
            try
            {
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                _listener.Prefixes.Clear();
            }
        }
        _loop = Task.Run(ServeAsync);
    }

    public string BaseUrl { get; }

    public ConcurrentDictionary<string, byte[]> Files { get; } = new();

    public ConcurrentQueue<(string Path, string? Range, long BytesSent)> Requests { get; } = new();

    /// <summary>How many of the next file responses to cut off (connection aborted) after <see cref="BreakAfterBytes"/> bytes.</summary>
    public int BreakResponses { get; set; }

    public int BreakAfterBytes { get; set; } = 50_000;

    public static int FreePort()
    {
        var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        int port = ((IPEndPoint)socket.LocalEndpoint).Port;
        socket.Stop();
        return port;
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }
            string path = context.Request.Url!.AbsolutePath;
            string? range = context.Request.Headers["Range"];
            using var response = context.Response;
            if (!Files.TryGetValue(path, out var content))
            {
                response.StatusCode = 404;
                Requests.Enqueue((path, range, 0));
                continue;
            }
            long from = range is { } r && r.StartsWith("bytes=", StringComparison.Ordinal) ? long.Parse(r["bytes=".Length..].TrimEnd('-')) : 0;
            if (from >= content.Length && from > 0)
            {
                response.StatusCode = 416;
                response.Headers["Content-Range"] = $"bytes */{content.Length}";
                Requests.Enqueue((path, range, 0));
                continue;
            }
            if (from > 0)
            {
                response.StatusCode = 206;
                response.Headers["Content-Range"] = $"bytes {from}-{content.Length - 1}/{content.Length}";
            }
            response.ContentLength64 = content.Length - from;
            // Recorded before the body goes out: the client may be done before the write returns.
            bool cut = BreakResponses > 0;
            Requests.Enqueue((path, range, cut ? BreakAfterBytes : content.Length - from));
            try
            {
                if (cut)
                {
                    BreakResponses--;
                    await response.OutputStream.WriteAsync(content.AsMemory((int)from, BreakAfterBytes));
                    await response.OutputStream.FlushAsync();
                    response.Abort();
                    continue;
                }
                await response.OutputStream.WriteAsync(content.AsMemory((int)from));
            }
            catch (HttpListenerException)
            {
            }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
    }
}
