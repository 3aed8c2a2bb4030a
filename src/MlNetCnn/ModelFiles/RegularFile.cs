using System.Runtime.InteropServices;

namespace MlNetCnn.Persistence;

/// <summary>
/// Reading files whose bytes come from outside: only a regular file (a link to one is followed), and never more than the
/// size the file system reports. A device (<c>/dev/zero</c> reports 0 bytes and never ends), a named pipe (opening it
/// waits for a writer) or a socket is refused before it is opened on Linux, from the file's type; elsewhere a stream that
/// cannot seek is refused once open, and a file that holds more than its size (a <c>/proc</c> file, one being appended
/// to) is refused once its reported size is read.
/// </summary>
internal static partial class RegularFile
{
    private const int CurrentDirectory = -100; // AT_FDCWD: a relative path is relative to the working directory
    private const uint TypeField = 0x0001; // STATX_TYPE
    private const int ModeOffset = 28; // stx_mode in struct statx, whose layout is the same on every architecture
    private const int TypeBits = 0xF000, Regular = 0x8000;

    /// <summary>
    /// What <paramref name="path"/> is when it is not a regular file ("a named pipe"), or null: a regular file, or one
    /// whose kind cannot be told here (missing, unreadable, not Linux), which opening it then reports.
    /// </summary>
    public static string? NotRegular(string path)
    {
        if (!OperatingSystem.IsLinux())
            return null;
        Span<byte> statx = stackalloc byte[256];
        int type;
        try
        {
            if (Statx(CurrentDirectory, path, 0, TypeField, statx) != 0)
                return null;
            type = BitConverter.ToUInt16(statx[ModeOffset..]) & TypeBits;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return null; // a C library older than statx (glibc 2.28): the checks after opening still apply
        }
        return type switch
        {
            Regular => null,
            0x1000 => "a named pipe",
            0x2000 => "a character device",
            0x4000 => "a folder",
            0x6000 => "a block device",
            0xC000 => "a socket",
            _ => $"a file of type 0x{type:X4}",
        };
    }

    /// <summary>Opens <paramref name="path"/> for reading, or throws what <paramref name="invalid"/> makes of the problem.</summary>
    public static FileStream OpenRead(string path, Func<string, Exception> invalid)
    {
        if (NotRegular(path) is { } kind)
            throw invalid($"it is {kind}, not a regular file");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw invalid("it is not a regular file (it cannot be read at a position)");
        }
        return stream;
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

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, Span<byte> buffer);
}
