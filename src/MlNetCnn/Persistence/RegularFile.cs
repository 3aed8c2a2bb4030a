using System.Runtime.InteropServices;

namespace MlNetCnn.Persistence;

/// <summary>
/// Opens a weights file for reading only when it is a regular file. A device (a link to <c>/dev/zero</c>) reports no
/// length and reads without end, and opening a named pipe waits for a writer that may never come: on Linux both are
/// refused from the file's type before it is opened; elsewhere a stream that cannot seek is refused once open.
/// </summary>
internal static partial class RegularFile
{
    private const int CurrentDirectory = -100; // AT_FDCWD: a relative path is relative to the working directory
    private const uint TypeField = 0x0001; // STATX_TYPE
    private const int ModeOffset = 28; // stx_mode in struct statx, whose layout is the same on every architecture
    private const int TypeBits = 0xF000, Regular = 0x8000;

    /// <summary>Opens <paramref name="path"/> (links followed), or throws an <see cref="InvalidDataException"/>.</summary>
    public static FileStream OpenRead(string path)
    {
        if (OperatingSystem.IsLinux() && TypeOf(path) is { } type && type != Regular)
            throw SafeTensorsFile.Invalid(path, $"it is not a regular file but {Describe(type)}");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        if (!stream.CanSeek)
        {
            stream.Dispose();
            throw SafeTensorsFile.Invalid(path, "it is not a regular file (it cannot be read at a position)");
        }
        return stream;
    }

    /// <summary>The file-type bits of the file's mode, or null when unknown (opening it then reports why).</summary>
    private static int? TypeOf(string path)
    {
        Span<byte> statx = stackalloc byte[256];
        try
        {
            return Statx(CurrentDirectory, path, 0, TypeField, statx) == 0
                ? BitConverter.ToUInt16(statx[ModeOffset..]) & TypeBits
                : null;
        }
        catch (EntryPointNotFoundException)
        {
            return null; // a C library older than statx (glibc 2.28)
        }
        catch (DllNotFoundException)
        {
            return null;
        }
    }

    private static string Describe(int type) => type switch
    {
        0x1000 => "a named pipe",
        0x2000 => "a character device",
        0x4000 => "a directory",
        0x6000 => "a block device",
        0xC000 => "a socket",
        _ => $"a file of type 0x{type:X4}",
    };

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, Span<byte> buffer);
}
