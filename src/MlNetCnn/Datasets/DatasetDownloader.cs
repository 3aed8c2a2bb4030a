using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Security.Cryptography;

namespace MlNetCnn;

/// <summary>
/// Fetches the standard datasets (<see cref="KnownDataset"/>) or any <see cref="DatasetFile"/> from their published
/// locations: each file is written to <c>&lt;name&gt;.partial</c>, resumed with an HTTP <c>Range</c> request after an
/// interruption, checked against its published MD5 or SHA-256 and only then renamed to its final name, so a file
/// under its final name is always complete. Mirrors are tried in order; the number of requests is bounded.
/// </summary>
/// <remarks>
/// Nothing is fetched unless asked: the readers (<see cref="IdxDataset"/>, <see cref="Cifar10"/>) only read local files.
/// Without network access, download the files by hand to the folder named in the error (on Debian,
/// <c>apt install dataset-fashion-mnist</c> puts Fashion-MNIST under <c>/usr/share/datasets/fashion-mnist</c>).
/// </remarks>
public sealed class DatasetDownloader : IDisposable
{
    /// <summary>Requests for one file from one address: the first, and retries that resume after a broken transfer.</summary>
    private const int AttemptsPerUrl = 3;

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;

    /// <summary>Creates a downloader.</summary>
    /// <param name="httpClient">The client to use (proxies, handlers); null creates one that this downloader disposes.</param>
    public DatasetDownloader(HttpClient? httpClient = null)
    {
        _ownsHttp = httpClient is null;
        _http = httpClient ?? new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>Told the bytes on disk after every chunk written (and once when a file is already there).</summary>
    public IProgress<DownloadProgress>? Progress { get; init; }

    /// <summary>How long a transfer may go without receiving a byte before it counts as broken (and is resumed). Default 60 s.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The files of a known dataset, with their canonical addresses and published checksums.</summary>
    /// <param name="dataset">The dataset.</param>
    /// <returns>Its files.</returns>
    public static IReadOnlyList<DatasetFile> FilesOf(KnownDataset dataset) => dataset switch
    {
        KnownDataset.Mnist => IdxFiles(
            ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
            "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432", "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c"),
        KnownDataset.FashionMnist => IdxFiles(
            ["https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe", "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310"),
        KnownDataset.Cifar10 =>
            [new DatasetFile(Cifar10Archive, [new Uri("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz")],
                "c32a1d4ab5d03f1284b67883e8d87530")],
        _ => throw new ArgumentOutOfRangeException(nameof(dataset), dataset, "Unknown dataset."),
    };

    private const string Cifar10Archive = "cifar-10-binary.tar.gz";
    private const string Cifar10Folder = "cifar-10-batches-bin";

    private static DatasetFile[] IdxFiles(string[] mirrors, string trainImages, string trainLabels, string testImages, string testLabels)
        => [.. new[] { ("train-images-idx3-ubyte.gz", trainImages), ("train-labels-idx1-ubyte.gz", trainLabels),
            ("t10k-images-idx3-ubyte.gz", testImages), ("t10k-labels-idx1-ubyte.gz", testLabels) }
            .Select(f => new DatasetFile(f.Item1, mirrors.Select(m => new Uri(m + f.Item1)), f.Item2))];

    /// <summary>
    /// Fetches a known dataset into <paramref name="directory"/> (files already there with the right checksum are kept)
    /// and returns the folder to give its reader: <paramref name="directory"/> for the IDX datasets
    /// (<see cref="IdxDataset.Load(Microsoft.ML.MLContext, string, DatasetSplit, MnistVariant)"/>), the extracted
    /// <c>cifar-10-batches-bin</c> folder for CIFAR-10 (<see cref="Cifar10.Load(Microsoft.ML.MLContext, string, DatasetSplit)"/>).
    /// </summary>
    /// <param name="dataset">The dataset to fetch.</param>
    /// <param name="directory">Where the files go; created when missing.</param>
    /// <param name="cancellationToken">Stops the transfer; a partial file stays for a later resume.</param>
    /// <returns>The folder to give the dataset's reader.</returns>
    /// <exception cref="IOException">No address could be reached; the message says where to put the files by hand.</exception>
    /// <exception cref="InvalidDataException">A downloaded file does not match its published checksum (it is deleted).</exception>
    public Task<string> DownloadAsync(KnownDataset dataset, string directory, CancellationToken cancellationToken = default)
        => DownloadAsync(dataset, directory, FilesOf(dataset), cancellationToken);

    internal async Task<string> DownloadAsync(KnownDataset dataset, string directory, IReadOnlyList<DatasetFile> files,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        string full = Path.GetFullPath(directory);
        if (dataset == KnownDataset.Cifar10 && HasCifarBatches(Path.Combine(full, Cifar10Folder)))
            return Path.Combine(full, Cifar10Folder);
        var paths = new List<string>();
        foreach (var file in files)
        {
            try
            {
                paths.Add(await DownloadFileAsync(file, full, cancellationToken).ConfigureAwait(false));
            }
            catch (IOException e) when (dataset == KnownDataset.FashionMnist)
            {
                throw new IOException(e.Message
                    + " On Debian, 'apt install dataset-fashion-mnist' installs the four files under "
                    + "/usr/share/datasets/fashion-mnist, a folder IdxDataset.Load reads as it is.", e);
            }
        }
        return dataset == KnownDataset.Cifar10 ? ExtractCifar(paths.Single(), full) : full;
    }

    /// <summary>
    /// Fetches one file into <paramref name="directory"/> and returns its path. A file already there with the right
    /// checksum is kept; a <c>.partial</c> file left by an interrupted download is resumed.
    /// </summary>
    /// <param name="file">The file: its name, addresses (tried in order) and checksum.</param>
    /// <param name="directory">Where it goes; created when missing.</param>
    /// <param name="cancellationToken">Stops the transfer; the partial file stays for a later resume.</param>
    /// <returns>The path of the checked file.</returns>
    /// <exception cref="IOException">No address could be reached or answered; the message says where to put the file by hand.</exception>
    /// <exception cref="InvalidDataException">The downloaded file does not match its checksum; the partial file is
    /// deleted and no file is left under the final name.</exception>
    public async Task<string> DownloadFileAsync(DatasetFile file, string directory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory.CreateDirectory(directory);
        string target = Path.GetFullPath(Path.Combine(directory, file.FileName));
        string partial = target + ".partial";
        if (File.Exists(target) && await HashAsync(target, file, cancellationToken).ConfigureAwait(false) == file.Checksum)
        {
            Progress?.Report(new DownloadProgress(file.FileName, new FileInfo(target).Length, new FileInfo(target).Length));
            return target;
        }

        var failures = new List<string>();
        bool unreachable = true;
        foreach (var url in file.Urls)
        {
            for (int attempt = 0; attempt < AttemptsPerUrl; attempt++)
            {
                var outcome = await TryTransferAsync(file, url, partial, cancellationToken).ConfigureAwait(false);
                if (outcome.Failure is { } failure)
                {
                    failures.Add($"{url}: {failure}");
                    unreachable &= outcome.Unreachable;
                    if (outcome.Unreachable)
                        break;
                    continue;
                }
                string actual = await HashAsync(partial, file, cancellationToken).ConfigureAwait(false);
                if (actual != file.Checksum)
                {
                    File.Delete(partial);
                    throw new InvalidDataException($"The download of '{file.FileName}' from {url} is corrupt: its "
                        + $"{file.ChecksumAlgorithm} is {actual}, expected {file.Checksum}. The partial file was "
                        + $"deleted; nothing was saved as '{target}'.");
                }
                File.Move(partial, target, overwrite: true);
                return target;
            }
        }
        string addresses = string.Join(" or ", file.Urls);
        throw new IOException((unreachable ? $"Could not reach {addresses} to download '{file.FileName}'"
            : $"Could not download '{file.FileName}' from {addresses}") +
            $" ({string.Join("; ", failures.Distinct())}). Download it manually to '{target}' ({file.ChecksumAlgorithm} {file.Checksum}).");
    }

    /// <summary>One request: appends to (or restarts) the partial file. Returns a failure to record, or none when the file is complete.</summary>
    private async Task<(string? Failure, bool Unreachable)> TryTransferAsync(DatasetFile file, Uri url, string partial,
        CancellationToken cancellationToken)
    {
        long offset = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (offset > 0)
            request.Headers.Range = new System.Net.Http.Headers.RangeHeaderValue(offset, null);
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            return (e.Message, true);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return ($"no answer within {_http.Timeout.TotalSeconds:0} s", true);
        }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
            {
                // The partial file may already be whole (a crash before the rename); else it is stale.
                if (await HashAsync(partial, file, cancellationToken).ConfigureAwait(false) == file.Checksum)
                    return (null, false);
                File.Delete(partial);
                return ($"HTTP 416 for bytes {offset}- (the partial file was stale; starting over)", false);
            }
            if (!response.IsSuccessStatusCode)
                return ($"HTTP {(int)response.StatusCode} {response.ReasonPhrase}", true);
            bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
            if (resumed && response.Content.Headers.ContentRange?.From != offset)
            {
                File.Delete(partial);
                return ($"the server answered bytes {response.Content.Headers.ContentRange?.From}- to a request for "
                    + $"{offset}- (starting over)", false);
            }
            if (!resumed)
                offset = 0;
            long? total = resumed ? response.Content.Headers.ContentRange?.Length ?? offset + response.Content.Headers.ContentLength
                : response.Content.Headers.ContentLength;
            try
            {
                await CopyAsync(response, partial, resumed, offset, total, file.FileName, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or HttpRequestException or TimeoutException)
            {
                return ($"transfer broken after {new FileInfo(partial).Length} bytes ({e.Message}); resuming", false);
            }
            if (total is { } expected && new FileInfo(partial).Length != expected)
                return ($"transfer ended at {new FileInfo(partial).Length} of {expected} bytes; resuming", false);
            return (null, false);
        }
    }

    private async Task CopyAsync(HttpResponseMessage response, string partial, bool append, long offset, long? total,
        string name, CancellationToken cancellationToken)
    {
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        await using var source = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var destination = new FileStream(partial, append ? FileMode.Append : FileMode.Create,
            FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        long received = offset;
        Progress?.Report(new DownloadProgress(name, received, total));
        while (true)
        {
            idle.CancelAfter(ReadTimeout);
            int read;
            try
            {
                read = await source.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"no data for {ReadTimeout.TotalSeconds:0} s");
            }
            if (read == 0)
                return;
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            received += read;
            Progress?.Report(new DownloadProgress(name, received, total));
        }
    }

    private static async Task<string> HashAsync(string path, DatasetFile file, CancellationToken cancellationToken)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        byte[] digest = file.Checksum.Length == 32
            ? await MD5.HashDataAsync(stream, cancellationToken).ConfigureAwait(false)
            : await SHA256.HashDataAsync(stream, cancellationToken).ConfigureAwait(false);
        return Convert.ToHexStringLower(digest);
    }

    private static bool HasCifarBatches(string folder)
        => File.Exists(Path.Combine(folder, "test_batch.bin"))
        && Enumerable.Range(1, 5).All(i => File.Exists(Path.Combine(folder, $"data_batch_{i}.bin")));

    /// <summary>Extracts the archive's <c>cifar-10-batches-bin</c> folder next to it, through a scratch folder so a
    /// half-extracted folder never has the final name.</summary>
    private static string ExtractCifar(string archive, string directory)
    {
        string target = Path.Combine(directory, Cifar10Folder), scratch = target + ".extracting";
        if (Directory.Exists(scratch))
            Directory.Delete(scratch, recursive: true);
        Directory.CreateDirectory(scratch);
        using (var gzip = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))
            TarFile.ExtractToDirectory(gzip, scratch, overwriteFiles: true);
        string extracted = Path.Combine(scratch, Cifar10Folder);
        if (!Directory.Exists(extracted))
            throw new InvalidDataException($"'{archive}' holds no '{Cifar10Folder}' folder.");
        if (Directory.Exists(target))
            Directory.Delete(target, recursive: true);
        Directory.Move(extracted, target);
        Directory.Delete(scratch, recursive: true);
        return target;
    }

    /// <summary>Disposes the HTTP client if this downloader created it.</summary>
    public void Dispose()
    {
        if (_ownsHttp)
            _http.Dispose();
    }
}
