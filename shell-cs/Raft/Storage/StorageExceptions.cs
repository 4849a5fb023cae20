namespace Raft.Storage;

/// <summary>A storage operation failed for a reason an operator can act on (missing directory, full disk, permission,
/// a log already opened by another process, a log faulted by an earlier write or fsync failure).</summary>
public class StorageException : IOException
{
    /// <summary>The file or directory concerned.</summary>
    public string Path { get; }

    public StorageException(string message, string path, Exception? inner = null) : base(message, inner) => Path = path;
}

/// <summary>Data on disk failed validation (checksum, framing, sequence). The message names the file, the byte offset
/// and what to do. The storage never serves data past such a point.</summary>
public sealed class StorageCorruptedException : StorageException
{
    /// <summary>The byte offset in <see cref="StorageException.Path"/> where validation failed.</summary>
    public long Offset { get; }

    /// <summary>What failed, without the advice (for logs and tests).</summary>
    public string Reason { get; }

    public StorageCorruptedException(string path, long offset, string reason, string advice)
        : base($"Storage corrupted: {reason} in '{path}' at byte offset {offset}. {advice}", path)
    {
        Offset = offset;
        Reason = reason;
    }

    internal const string LogAdvice =
        "The node refuses to start rather than serve corrupt data. Do not edit or delete the file in place: entries this " +
        "node acknowledged may be needed for safety. Replace this node: remove its data directory and rejoin it as a new " +
        "member (or restore the directory from a backup). If this is the unsynced tail of the last segment after a power " +
        "loss, FileLogOptions.TruncateCorruptTail = true truncates the last segment at this offset instead.";

    internal const string HardStateAdvice =
        "The current term and vote cannot be recovered from this file. Do not delete it and restart: a node that forgets " +
        "its vote can vote twice in one term. Restore the data directory from a backup, or remove this node from the " +
        "cluster and add it back as a new member with an empty data directory.";

    internal const string SnapshotAdvice =
        "Delete this snapshot file and the node's data directory and rejoin the node so it receives a fresh snapshot from " +
        "the leader, or restore the directory from a backup.";
}
