using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

[assembly: InternalsVisibleTo("Raft.Storage.Tests")]
[assembly: InternalsVisibleTo("Raft.Benchmarks")]
[assembly: InternalsVisibleTo("Raft.Fuzz")]

namespace Raft.Storage;

/// <summary>The only P/Invoke in the storage layer: fdatasync on a file and fsync on a directory (Linux/macOS libc).
/// Elsewhere the managed equivalents are used and directory sync is a no-op (Windows has no directory fsync).</summary>
internal static partial class NativeMethods
{
    private const int O_RDONLY = 0;
    private const int O_CLOEXEC = 0x80000; // Linux value; macOS uses 0x1000000 but ignoring it there is harmless.
    private const int EINTR = 4;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FSync(int fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);

    /// <summary>Makes the file's data (and the metadata needed to read it, such as its size) durable.</summary>
    public static void DataSync(SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            try { RandomAccess.FlushToDisk(handle); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw StorageErrors.Wrap(e, "fsync", path); }
            return;
        }
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            int fd = (int)handle.DangerousGetHandle(), rc, errno = 0;
            do { rc = FDataSync(fd); } while (rc < 0 && (errno = Marshal.GetLastPInvokeError()) == EINTR);
            if (rc < 0) throw StorageErrors.FromErrno(errno, "fdatasync", path);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>Makes the directory's entries (files created, renamed or deleted in it) durable.</summary>
    public static void SyncDirectory(string directory)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return;
        int fd = Open(directory, O_RDONLY | (OperatingSystem.IsLinux() ? O_CLOEXEC : 0));
        if (fd < 0) throw StorageErrors.FromErrno(Marshal.GetLastPInvokeError(), "open directory for fsync", directory);
        try
        {
            int rc, errno = 0;
            do { rc = FSync(fd); } while (rc < 0 && (errno = Marshal.GetLastPInvokeError()) == EINTR);
            if (rc < 0) throw StorageErrors.FromErrno(errno, "fsync directory", directory);
        }
        finally
        {
            Close(fd);
        }
    }
}
