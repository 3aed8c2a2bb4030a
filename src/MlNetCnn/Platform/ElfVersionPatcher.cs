// This one file serves twice: compiled into MlNetCnn (the first-use fallback in TorchRuntime) and compiled by MSBuild's
// RoslynCodeTaskFactory as the build-time task (buildTransitive/MlNetCnn.targets). It therefore sticks to APIs that
// netstandard2.0 has, and the task class is left out of the library build by MLNETCNN_LIBRARY.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.InteropServices;
using System.Text;

namespace MlNetCnn.Platform
{
    /// <summary>One version requirement (<c>Vernaux</c> entry) of an ELF shared library.</summary>
    internal sealed class ElfVersionRequirement
    {
        internal ElfVersionRequirement(string library, string version, ushort flags, int flagsOffset)
        {
            Library = library;
            Version = version;
            Flags = flags;
            FlagsOffset = flagsOffset;
        }

        /// <summary>The needed library, e.g. <c>libstdc++.so.6</c>.</summary>
        public string Library { get; }

        /// <summary>The version name, e.g. <c>GLIBCXX_3.4.32</c>.</summary>
        public string Version { get; }

        /// <summary>The raw <c>vna_flags</c>.</summary>
        public ushort Flags { get; }

        /// <summary>True when the dynamic loader treats a missing version as a warning, not an error.</summary>
        public bool IsWeak => (Flags & ElfVersionPatcher.VersionFlagWeak) != 0;

        internal int FlagsOffset { get; }
    }

    /// <summary>What <see cref="ElfVersionPatcher.EnsureLoadable"/> did.</summary>
    internal enum ElfPatchOutcome
    {
        /// <summary>Not Linux, or the system libstdc++ already defines the version: nothing to do.</summary>
        NotNeeded,
        /// <summary>The requirement was already weak (patched before).</summary>
        AlreadyPatched,
        /// <summary>The requirement was made weak now.</summary>
        Patched,
        /// <summary>The library does not require the version at all.</summary>
        NoSuchRequirement,
    }

    /// <summary>
    /// Reads and patches the symbol-version tables of 64-bit little-endian ELF files. TorchSharp 0.107's
    /// <c>libLibTorchSharp.so</c> requires <c>GLIBCXX_3.4.32</c> (GCC 13) only for <c>std::ios_base_library_init()</c>,
    /// a link-time marker with no relocation, so marking that requirement weak lets it load on GCC-12 systems
    /// (Debian 12, Ubuntu 22.04) without changing any code it runs.
    /// </summary>
    internal static class ElfVersionPatcher
    {
        /// <summary>The native TorchSharp library on Linux.</summary>
        public const string LibTorchSharpFileName = "libLibTorchSharp.so";

        /// <summary>The libstdc++ version TorchSharp 0.107 requires.</summary>
        public const string RequiredLibStdCxxVersion = "GLIBCXX_3.4.32";

        internal const ushort VersionFlagWeak = 0x2;
        private const uint SectionTypeVersionDefinitions = 0x6ffffffd; // SHT_GNU_verdef
        private const uint SectionTypeVersionRequirements = 0x6ffffffe; // SHT_GNU_verneed

        /// <summary>Lists every version requirement of an ELF64 file.</summary>
        /// <exception cref="InvalidDataException">The bytes are not a little-endian ELF64 file or its tables are out of bounds.</exception>
        public static IReadOnlyList<ElfVersionRequirement> ReadVersionRequirements(byte[] elf)
        {
            var result = new List<ElfVersionRequirement>();
            foreach (var section in FindSections(elf, SectionTypeVersionRequirements))
            {
                int entry = section.Offset;
                for (int i = 0; i < section.Info; i++)
                {
                    // Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32
                    int count = U16(elf, entry + 2);
                    string library = ReadString(elf, section.StringTable, U32(elf, entry + 4));
                    int aux = entry + (int)U32(elf, entry + 8);
                    for (int j = 0; j < count; j++)
                    {
                        // Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
                        result.Add(new ElfVersionRequirement(library,
                            ReadString(elf, section.StringTable, U32(elf, aux + 8)), U16(elf, aux + 4), aux + 4));
                        aux += (int)U32(elf, aux + 12);
                    }
                    uint next = U32(elf, entry + 12);
                    if (next == 0)
                        break;
                    entry += (int)next;
                }
            }
            return result;
        }

        /// <summary>Lists the version names an ELF64 shared library defines (e.g. libstdc++'s <c>GLIBCXX_*</c>).</summary>
        public static IReadOnlyList<string> ReadVersionDefinitions(byte[] elf)
        {
            var result = new List<string>();
            foreach (var section in FindSections(elf, SectionTypeVersionDefinitions))
            {
                int entry = section.Offset;
                for (int i = 0; i < section.Info; i++)
                {
                    // Verdef: vd_version u16, vd_flags u16, vd_ndx u16, vd_cnt u16, vd_hash u32, vd_aux u32, vd_next u32;
                    // the first Verdaux (vda_name u32, vda_next u32) names the version.
                    int aux = entry + (int)U32(elf, entry + 12);
                    result.Add(ReadString(elf, section.StringTable, U32(elf, aux)));
                    uint next = U32(elf, entry + 16);
                    if (next == 0)
                        break;
                    entry += (int)next;
                }
            }
            return result;
        }

        /// <summary>Sets <c>VER_FLG_WEAK</c> on every requirement of <paramref name="version"/>; returns how many changed.</summary>
        public static int MarkWeak(byte[] elf, string version)
        {
            int changed = 0;
            foreach (var requirement in ReadVersionRequirements(elf))
            {
                if (requirement.Version != version || requirement.IsWeak)
                    continue;
                ushort flags = (ushort)(requirement.Flags | VersionFlagWeak);
                elf[requirement.FlagsOffset] = (byte)flags;
                elf[requirement.FlagsOffset + 1] = (byte)(flags >> 8);
                changed++;
            }
            return changed;
        }

        /// <summary>
        /// Makes <paramref name="libraryPath"/> loadable on this machine: on Linux, when the system libstdc++ lacks
        /// <see cref="RequiredLibStdCxxVersion"/>, marks that requirement weak, replacing the file atomically (a new
        /// file renamed over the old one, so a hard link into the NuGet cache is never written through).
        /// Idempotent. Refuses to touch a file inside a NuGet package folder.
        /// </summary>
        public static ElfPatchOutcome EnsureLoadable(string libraryPath)
        {
            if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || SystemLibStdCxxDefines(RequiredLibStdCxxVersion))
                return ElfPatchOutcome.NotNeeded;

            byte[] elf = File.ReadAllBytes(libraryPath);
            bool required = false;
            foreach (var requirement in ReadVersionRequirements(elf))
                required |= requirement.Version == RequiredLibStdCxxVersion;
            if (!required)
                return ElfPatchOutcome.NoSuchRequirement;
            if (MarkWeak(elf, RequiredLibStdCxxVersion) == 0)
                return ElfPatchOutcome.AlreadyPatched;

            string? packageFolder = FindNuGetPackageFolder(libraryPath);
            if (packageFolder != null)
                throw new InvalidOperationException($"'{libraryPath}' lies inside the NuGet package folder "
                    + $"'{packageFolder}', which must never be modified; copy it to the application's output first.");

            string temporary = libraryPath + ".patching-" + Guid.NewGuid().ToString("N");
            try
            {
                using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
                {
                    stream.Write(elf, 0, elf.Length);
                    stream.Flush(flushToDisk: true);
                }
                File.Replace(temporary, libraryPath, null);
            }
            finally
            {
                if (File.Exists(temporary))
                    File.Delete(temporary);
            }
            return ElfPatchOutcome.Patched;
        }

        /// <summary>True when the libstdc++ this process uses (or the system's) defines <paramref name="version"/>.</summary>
        public static bool SystemLibStdCxxDefines(string version)
        {
            string? path = FindLibStdCxx();
            if (path == null)
                return false;
            foreach (var defined in ReadVersionDefinitions(File.ReadAllBytes(path)))
            {
                if (defined == version)
                    return true;
            }
            return false;
        }

        /// <summary>Finds libstdc++.so.6: the copy mapped into this process (the .NET runtime links it), else the usual folders.</summary>
        public static string? FindLibStdCxx()
        {
            const string maps = "/proc/self/maps";
            if (File.Exists(maps))
            {
                foreach (var line in File.ReadAllLines(maps))
                {
                    int slash = line.IndexOf('/');
                    if (slash >= 0 && Path.GetFileName(line.Substring(slash)).StartsWith("libstdc++.so.6", StringComparison.Ordinal))
                        return line.Substring(slash);
                }
            }
            string[] folders = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu",
                "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib" };
            foreach (var folder in folders)
            {
                string candidate = Path.Combine(folder, "libstdc++.so.6");
                if (File.Exists(candidate))
                    return candidate;
            }
            return null;
        }

        private static string? FindNuGetPackageFolder(string path)
        {
            for (var directory = new FileInfo(path).Directory; directory != null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, ".nupkg.metadata")) || directory.GetFiles("*.nupkg.sha512").Length > 0)
                    return directory.FullName;
            }
            return null;
        }

        private struct Section
        {
            public int Offset;
            public uint Info;
            public int StringTable;
        }

        private static List<Section> FindSections(byte[] elf, uint type)
        {
            // ELF64 header: e_ident[16] ("\x7fELF", class 2 = 64-bit, data 1 = little-endian), e_shoff at 0x28,
            // e_shentsize at 0x3A, e_shnum at 0x3C.
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("Not an ELF file.");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");
            long sectionHeaders = (long)U64(elf, 0x28);
            int entrySize = U16(elf, 0x3A);
            int count = U16(elf, 0x3C);
            if (entrySize < 64 || sectionHeaders <= 0 || sectionHeaders + (long)entrySize * count > elf.Length)
                throw new InvalidDataException("The ELF section header table is out of bounds.");

            var result = new List<Section>();
            for (int i = 0; i < count; i++)
            {
                // Elf64_Shdr: sh_name u32, sh_type u32, sh_flags u64, sh_addr u64, sh_offset u64, sh_size u64,
                // sh_link u32, sh_info u32, ...
                int header = (int)(sectionHeaders + (long)i * entrySize);
                if (U32(elf, header + 4) != type)
                    continue;
                uint link = U32(elf, header + 40);
                if (link >= count)
                    throw new InvalidDataException("A version section links to a missing string table.");
                int linkedHeader = (int)(sectionHeaders + (long)link * entrySize);
                result.Add(new Section
                {
                    Offset = CheckedOffset(elf, U64(elf, header + 24)),
                    Info = U32(elf, header + 44),
                    StringTable = CheckedOffset(elf, U64(elf, linkedHeader + 24)),
                });
            }
            return result;
        }

        private static int CheckedOffset(byte[] elf, ulong offset)
        {
            if (offset >= (ulong)elf.Length)
                throw new InvalidDataException("An ELF section lies outside the file.");
            return (int)offset;
        }

        private static string ReadString(byte[] elf, int table, uint offset)
        {
            int start = table + (int)offset;
            int end = start;
            while (end < elf.Length && elf[end] != 0)
                end++;
            if (start >= elf.Length || end >= elf.Length)
                throw new InvalidDataException("An ELF string lies outside the file.");
            return Encoding.ASCII.GetString(elf, start, end - start);
        }

        private static ushort U16(byte[] b, int o)
        {
            if (o < 0 || o + 2 > b.Length)
                throw new InvalidDataException("An ELF table entry lies outside the file.");
            return (ushort)(b[o] | b[o + 1] << 8);
        }

        private static uint U32(byte[] b, int o) => (uint)(U16(b, o) | U16(b, o + 2) << 16);

        private static ulong U64(byte[] b, int o) => U32(b, o) | (ulong)U32(b, o + 4) << 32;
    }

#if !MLNETCNN_LIBRARY
    /// <summary>MSBuild task: runs <see cref="ElfVersionPatcher.EnsureLoadable"/> on the given copies of libLibTorchSharp.so.</summary>
    public class PatchLibTorchSharpForOlderLibStdCxx : Microsoft.Build.Utilities.Task
    {
        /// <summary>The copies in the output or publish folder.</summary>
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        /// <inheritdoc />
        public override bool Execute()
        {
            foreach (var file in Files)
            {
                string path = file.GetMetadata("FullPath");
                try
                {
                    var outcome = ElfVersionPatcher.EnsureLoadable(path);
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, $"MlNetCnn: {path}: {outcome}");
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException
                    || e is InvalidDataException || e is InvalidOperationException)
                {
                    Log.LogError($"MlNetCnn: could not make '{path}' loadable on this system's libstdc++ (it requires "
                        + $"{ElfVersionPatcher.RequiredLibStdCxxVersion}): {e.Message}");
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
