using System.Runtime.InteropServices;

namespace Raft.Storage;

/// <summary>Turns operating-system failures into <see cref="StorageException"/>s whose message says what happened to
/// which path and what the operator can do about it.</summary>
internal static class StorageErrors
{
    private const int EACCES = 13, EPERM = 1, ENOENT = 2, ENOTDIR = 20, ENOSPC = 28, EDQUOT = 122, EROFS = 30, EIO = 5;

    public static StorageException FromErrno(int errno, string operation, string path)
    {
        var io = new IOException($"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})", errno);
        return Classify(errno, io, operation, path);
    }

    /// <summary>Wraps an exception thrown by a file API; <see cref="StorageException"/>s pass through unchanged.</summary>
    public static Exception Wrap(Exception e, string operation, string path) => e switch
    {
        StorageException => e,
        UnauthorizedAccessException => new StorageException(
            $"Permission denied: could not {operation} '{path}'. The process (user {Environment.UserName}) needs read and " +
            "write access to the data directory and every file in it; fix the ownership or mode and restart.", path, e),
        DirectoryNotFoundException => new StorageException(
            $"Directory not found: could not {operation} '{path}'. Check that the data directory exists and its volume is " +
            "mounted.", path, e),
        IOException io => Classify(io.HResult, io, operation, path),
        _ => e,
    };

    private static StorageException Classify(int code, IOException io, string operation, string path)
    {
        // On Unix, .NET puts the raw errno into HResult for IOExceptions it cannot map to a more specific type.
        if (code is ENOSPC or EDQUOT || io.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase))
            return new StorageException(
                $"Disk full: could not {operation} '{path}' (no space left on device or quota exceeded). Free space on " +
                "the volume holding the data directory, then restart the node; writes not reported durable are " +
                "discarded or truncated on recovery.", path, io);
        if (code is EACCES or EPERM)
            return new StorageException(
                $"Permission denied: could not {operation} '{path}'. The process (user {Environment.UserName}) needs read " +
                "and write access to the data directory and every file in it; fix the ownership or mode and restart.", path, io);
        if (code is ENOENT or ENOTDIR)
            return new StorageException(
                $"Not found: could not {operation} '{path}'. Check that the data directory exists, is a directory and its " +
                "volume is mounted.", path, io);
        if (code is EROFS)
            return new StorageException(
                $"Read-only file system: could not {operation} '{path}'. Remount the volume read-write and restart.", path, io);
        if (code is EIO)
            return new StorageException(
                $"I/O error: could not {operation} '{path}' ({io.Message}). The device reported a failure; after a failed " +
                "write or fsync the state of the file is unknown, so the log is closed for writing. Check the device and " +
                "restart the node.", path, io);
        return new StorageException($"Could not {operation} '{path}': {io.Message}", path, io);
    }
}
