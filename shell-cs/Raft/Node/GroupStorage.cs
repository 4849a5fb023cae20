using System.Collections.Concurrent;
using Raft.Storage;

namespace Raft.Node;

/// <summary>The durable state of one group on one node: its log, hard state and snapshots.</summary>
public sealed class GroupStorage(ILogStorage log, IHardStateStore hardState, ISnapshotStore? snapshots, Action? onClose = null) : IDisposable
{
    /// <summary>The segmented log.</summary>
    public ILogStorage Log { get; } = log;

    /// <summary>Term, vote and configuration, replaced atomically.</summary>
    public IHardStateStore HardState { get; } = hardState;

    /// <summary>State-machine snapshots, when supported.</summary>
    public ISnapshotStore? Snapshots { get; } = snapshots;

    private int _disposed;

    /// <summary>Closes the files (the in-memory provider keeps its data for a later reopen); only the first call does.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (onClose is null) Log.Dispose();
        else onClose();
    }
}

/// <summary>Opens the storage of a group; the node host calls it when a group is created or restored.</summary>
public interface IRaftStorageProvider
{
    /// <summary>Opens (creating if new) the storage of <paramref name="groupId"/>.</summary>
    GroupStorage Open(long groupId);

    /// <summary>Deletes a removed group's data.</summary>
    void Delete(long groupId);

    /// <summary>The groups this provider holds data of, open or not: how a node finds what it kept of groups deleted
    /// elsewhere while it was down (the placement layer deletes those). A provider that cannot list answers none, and
    /// then such data stays until deleted by hand.</summary>
    IReadOnlyCollection<long> StoredGroups() => [];
}

/// <summary>Files under one directory: <c>{root}/group-{id}/</c> holds the log segments, the <c>hardstate</c> file and
/// <c>snapshots/</c>.</summary>
public sealed class FileRaftStorageProvider : IRaftStorageProvider
{
    /// <summary>The log's write buffer per group unless one is given (64 KiB; smaller saves memory with many groups).</summary>
    public const int DefaultWriteBufferBytes = 64 << 10;

    private readonly FileLogOptions _logOptions;

    /// <param name="rootDirectory">The node's data directory; created if missing.</param>
    /// <param name="writeBufferBytes">The log's write buffer per group (<see cref="DefaultWriteBufferBytes"/>).</param>
    public FileRaftStorageProvider(string rootDirectory, int writeBufferBytes = DefaultWriteBufferBytes)
    {
        RootDirectory = Path.GetFullPath(rootDirectory);
        Directory.CreateDirectory(RootDirectory);
        _logOptions = new FileLogOptions { CreateIfMissing = true, WriteBufferSize = writeBufferBytes };
    }

    /// <summary>The node's data directory.</summary>
    public string RootDirectory { get; }

    /// <summary>The directory of one group.</summary>
    public string GroupDirectory(long groupId) => GroupDirectories.Of(RootDirectory, groupId);

    public GroupStorage Open(long groupId)
    {
        var dir = GroupDirectory(groupId);
        var shared = Path.Combine(RootDirectory, "log");
        if (Directory.Exists(shared) && Directory.EnumerateFiles(shared, "*.rlog").Any())
            throw new StorageException($"'{RootDirectory}' holds a shared log ('{shared}'); this node is configured for per-group logs, " +
                                       "which would start every group empty. Keep the shared layout for this data directory " +
                                       "(StorageLayout = SharedLog).", RootDirectory);
        var log = FileLogStorage.Open(dir, _logOptions);
        try
        {
            return new GroupStorage(log, new FileHardStateStore(dir), new FileSnapshotStore(Path.Combine(dir, "snapshots"), createIfMissing: true));
        }
        catch
        {
            log.Dispose();
            throw;
        }
    }

    public void Delete(long groupId)
    {
        var dir = GroupDirectory(groupId);
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    public IReadOnlyCollection<long> StoredGroups() => GroupDirectories.Ids(RootDirectory);
}

/// <summary>Storage in memory (tests, benchmarks of the host itself, very many idle groups). Data survives a
/// close and reopen of the same provider, which lets tests restart a node host without files.</summary>
public sealed class MemoryRaftStorageProvider : IRaftStorageProvider
{
    private readonly ConcurrentDictionary<long, (MemoryLogStorage Log, MemoryHardStateStore Hard)> _groups = new();

    public GroupStorage Open(long groupId)
    {
        var (log, hard) = _groups.GetOrAdd(groupId, _ => (new MemoryLogStorage(), new MemoryHardStateStore()));
        return new GroupStorage(log, hard, null, onClose: () => { });
    }

    public void Delete(long groupId) => _groups.TryRemove(groupId, out _);

    public IReadOnlyCollection<long> StoredGroups() => _groups.Keys.Order().ToArray();
}

/// <summary>The <c>group-{id}</c> directories under a node's data directory.</summary>
internal static class GroupDirectories
{
    private const string Prefix = "group-";

    /// <summary>The directory of group <paramref name="groupId"/> under <paramref name="root"/>.</summary>
    public static string Of(string root, long groupId) => Path.Combine(root, Prefix + groupId);

    /// <summary>The ids of the <c>group-{id}</c> directories under <paramref name="root"/> (other names ignored).</summary>
    public static long[] Ids(string root) =>
        Directory.Exists(root)
            ? Directory.EnumerateDirectories(root, Prefix + "*")
                .Select(d => long.TryParse(Path.GetFileName(d).AsSpan(Prefix.Length), out var id) ? id : -1)
                .Where(id => id >= 0).Order().ToArray()
            : [];
}
