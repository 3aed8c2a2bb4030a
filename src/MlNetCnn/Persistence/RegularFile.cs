using System.Runtime.InteropServices;

namespace MlNetCnn.Persistence;

/// <summary>
/// Reading files whose bytes come from outside: only a regular file (a link to one is followed), and never more than
/// the size the file system reports. A device (<c>/dev/zero</c> reports 0 bytes and never ends), a named pipe (opening
/// it waits for a writer) or a socket is refused before it is opened; a file that holds more than its size (a
/// <c>/proc</c> file, one being appended to) is refused once its reported size is read.
/// </summary>
internal static partial class RegularFile
{
    // The file-type bits of FileStatus.Mode in .NET's own native shim (System.Native): fixed "forever", per its header.
    private const int TypeMask = 0xF000, Fifo = 0x1000, CharacterDevice = 0x2000, Folder = 0x4000, BlockDevice = 0x6000,
        Regular = 0x8000, Socket = 0xC000;

    // FileStatus is about 130 bytes; its Mode is the int at offset 4 in every .NET version.
    private const int StatusBytes = 512;

    /// <summary>What <paramref name="path"/> is when it is not a regular file ("a named pipe"), or null: a regular file, or
    /// one whose kind cannot be told (missing, unreadable, Windows), which opening it then reports.</summary>
    public static string? NotRegular(string path)
    {
        if (OperatingSystem.IsWindows())
            return null;
        int mode;
        try
        {
            mode = Mode(path);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null; // a runtime without the shim: the bounded read below still stops a device
        }
        if (mode == -1)
            return null;
        return (mode & TypeMask) switch
        {
            Regular => null,
            Fifo => "a named pipe",
            CharacterDevice => "a character device",
            BlockDevice => "a block device",
            Folder => "a folder",
            Socket => "a socket",
            int other => $"a file of type 0x{other:X}",
        };
    }

    /// <summary>
    /// The bytes of the regular file <paramref name="path"/>, at most <paramref name="maxBytes"/> (<paramref name="beyondLimit"/>
    /// says why); anything else is refused through <paramref name="invalid"/>, given the problem ("it is a named pipe, …").
    /// </summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string beyondLimit, Func<string, Exception> invalid)
    {
        if (NotRegular(path) is { } kind)
            throw invalid($"it is {kind}, not a regular file");
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        long length = RandomAccess.GetLength(handle);
        if (length > maxBytes)
            throw invalid($"it has {length:N0} bytes, more than {maxBytes:N0}; {beyondLimit}");
        var bytes = new byte[length];
        for (int read = 0, count; read < length; read += count)
        {
            count = RandomAccess.Read(handle, bytes.AsSpan(read), read);
            if (count == 0)
                throw invalid($"it ended after {read:N0} of the {length:N0} bytes its size reports (it changed while read)");
        }
        Span<byte> beyond = stackalloc byte[1];
        if (RandomAccess.Read(handle, beyond, length) != 0)
            throw invalid($"it holds more than the {length:N0} bytes its size reports: it is not a regular file, or is being written");
        return bytes;
    }

    private static unsafe int Mode(string path)
    {
        byte* status = stackalloc byte[StatusBytes];
        return Stat(path, status) == 0 ? *(int*)(status + 4) : -1;
    }

    // stat(2) through .NET's shim: its FileStatus has one layout on every platform, unlike libc's struct stat.
    [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Stat(string path, byte* status);
}
