using Raft.Storage;

namespace Raft.Node;

/// <summary>Every group of the node in one <see cref="SharedLog"/> under <c>{root}/log/</c> (one fdatasync per round
/// for the whole node); each group's snapshots under <c>{root}/group-{id}/snapshots/</c>. The shared log is opened
/// with the first group and closed with the last.</summary>
/// <remarks>A data directory written with per-group logs (<see cref="FileRaftStorageProvider"/>) is refused rather
/// than read as empty: a node that forgot its log and vote could break safety.</remarks>
public sealed class SharedLogStorageProvider : IRaftStorageProvider
{
    private readonly object _gate = new();
    private readonly SharedLogOptions _options;
    private SharedLog? _log;
    private int _open;

    /// <param name="rootDirectory">The node's data directory; created if missing.</param>
    /// <param name="options">The shared log's settings (defaults when null).</param>
    public SharedLogStorageProvider(string rootDirectory, SharedLogOptions? options = null)
    {
        RootDirectory = Path.GetFullPath(rootDirectory);
        Directory.CreateDirectory(RootDirectory);
        _options = options ?? new SharedLogOptions();
    }

    /// <summary>The node's data directory.</summary>
    public string RootDirectory { get; }

    /// <summary>Where the shared log's files are.</summary>
    public string LogDirectory => Path.Combine(RootDirectory, "log");

    /// <summary>The directory of one group's snapshots (and nothing else).</summary>
    public string GroupDirectory(long groupId) => GroupDirectories.Of(RootDirectory, groupId);

    /// <summary>The shared log while any group is open (null otherwise), e.g. for its counters.</summary>
    public SharedLog? Log
    {
        get { lock (_gate) return _log; }
    }

    public GroupStorage Open(long groupId)
    {
        lock (_gate)
        {
            var dir = GroupDirectory(groupId);
            RefusePerGroupLog(dir);
            var log = _log ?? SharedLog.Open(LogDirectory, _options);
            try
            {
                var storage = new GroupStorage(log.Group(groupId), log.HardState(groupId),
                    new FileSnapshotStore(Path.Combine(dir, "snapshots"), createIfMissing: true), onClose: Close);
                _log = log;
                _open++;
                return storage;
            }
            catch
            {
                if (_log is null) log.Dispose();
                throw;
            }
        }
    }

    public void Delete(long groupId)
    {
        lock (_gate)
        {
            WithLog(log => log.RemoveGroup(groupId));
            var dir = GroupDirectory(groupId);
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The groups in the shared log and those with a snapshot directory.</summary>
    public IReadOnlyCollection<long> StoredGroups()
    {
        lock (_gate) return WithLog(log => log.GroupIds.Concat(GroupDirectories.Ids(RootDirectory)).Distinct().Order().ToArray());
    }

    /// <summary>Runs <paramref name="use"/> on the open shared log, or on one opened for the call when no group is
    /// open (closed again after). Under <see cref="_gate"/>.</summary>
    private T WithLog<T>(Func<SharedLog, T> use)
    {
        var log = _log ?? SharedLog.Open(LogDirectory, _options);
        try { return use(log); }
        finally
        {
            if (_log is null) log.Dispose();
        }
    }

    private void WithLog(Action<SharedLog> use) => WithLog(log =>
    {
        use(log);
        return true;
    });

    private void Close()
    {
        lock (_gate)
        {
            if (--_open > 0 || _log is null) return;
            _log.Dispose();
            _log = null;
        }
    }

    private static void RefusePerGroupLog(string groupDirectory)
    {
        if (!Directory.Exists(groupDirectory)) return;
        if (Directory.EnumerateFiles(groupDirectory, "*.seg").Any() || File.Exists(Path.Combine(groupDirectory, "hardstate")))
            throw new StorageException($"'{groupDirectory}' holds a per-group log (written with the per-group layout); this node is " +
                                       "configured for the shared log, which would start it empty. Keep the per-group layout for this " +
                                       "data directory (StorageLayout = PerGroupFiles).", groupDirectory);
    }
}
