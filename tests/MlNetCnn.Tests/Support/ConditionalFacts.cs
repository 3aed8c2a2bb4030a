using System.Runtime.InteropServices;
using MlNetCnn.Platform;

namespace MlNetCnn.Tests;

/// <summary>A fact that runs on Linux only (ELF files, glibc).</summary>
public sealed class LinuxFactAttribute : FactAttribute
{
    public LinuxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
            Skip = "Linux only";
    }
}

/// <summary>A fact that needs a system libstdc++ older than TorchSharp requires (e.g. GCC 12 on Debian 12).</summary>
public sealed class OldLibStdCxxFactAttribute : FactAttribute
{
    public OldLibStdCxxFactAttribute()
    {
        if (!OperatingSystem.IsLinux())
            Skip = "Linux only";
        else if (ElfVersionPatcher.SystemLibStdCxxDefines(ElfVersionPatcher.RequiredLibStdCxxVersion))
            Skip = $"this system's libstdc++ already defines {ElfVersionPatcher.RequiredLibStdCxxVersion}";
    }
}

internal static partial class PosixFiles
{
    public static void CreateHardLink(string existing, string link)
    {
        if (Link(existing, link) != 0)
            throw new IOException($"link({existing}, {link}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Link(string existing, string link);
}
