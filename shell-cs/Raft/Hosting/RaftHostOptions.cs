using Microsoft.Extensions.Options;
using Raft.Node;
using Raft.Transport.Tcp;

namespace Raft.Hosting;

/// <summary>
/// Configuration of a Raft node in the generic host, bound from a configuration section (default <c>Raft</c>) and
/// validated when the host starts; every error names its key, e.g. <c>Raft:NodeId</c>.
/// </summary>
/// <example><code>
/// "Raft": {
///   "NodeId": 1, "ClusterId": "orders", "ListenEndpoint": "127.0.0.1:7101",
///   "Peers": { "2": "127.0.0.1:7102", "3": "127.0.0.1:7103" },
///   "DataDirectory": "data/node-1", "Groups": [ 1 ]
/// }
/// </code></example>
public sealed class RaftHostOptions
{
    /// <summary>The default configuration section.</summary>
    public const string SectionName = "Raft";

    /// <summary>This node's id (positive).</summary>
    public long NodeId { get; set; }

    /// <summary>The cluster's identity; nodes of another cluster are refused at the handshake.</summary>
    public string ClusterId { get; set; } = "";

    /// <summary>Where this node listens, <c>host:port</c>.</summary>
    public string ListenEndpoint { get; set; } = "127.0.0.1:0";

    /// <summary>The other voters: node id to <c>host:port</c>.</summary>
    public Dictionary<long, string> Peers { get; set; } = new();

    /// <summary>The node's data directory (one sub-directory per group); created if missing.</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>Keep logs in memory instead of files (tests and demos only: a restart forgets everything).</summary>
    public bool InMemoryStorage { get; set; }

    /// <summary>The groups opened at start (every node and every peer is a voter of each). Default: group 1.</summary>
    public List<long> Groups { get; set; } = [1];

    /// <summary>Length of one tick.</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(20);

    /// <summary>Election timeout in ticks.</summary>
    public int ElectionTicks { get; set; } = 10;

    /// <summary>Heartbeat interval in ticks.</summary>
    public int HeartbeatTicks { get; set; } = 2;

    /// <summary>Default timeout of proposals and reads.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Stop ticking idle groups (multi-raft).</summary>
    public bool Quiescence { get; set; } = true;

    /// <summary>Followers forward proposals to the leader (otherwise they fail with NotLeaderException); results must
    /// then be MessagePack-serializable.</summary>
    public bool ForwardProposals { get; set; } = true;

    /// <summary>Largest frame accepted or sent.</summary>
    public int MaxFrameBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Log write buffer per group, in bytes.</summary>
    public int WriteBufferBytes { get; set; } = 64 << 10;

    /// <summary>Snapshot once this many entries were applied since the last one (0 = never by count).</summary>
    public long SnapshotEntries { get; set; }

    /// <summary>Snapshot once the retained log holds this many bytes (0 = never by size).</summary>
    public long SnapshotLogBytes { get; set; }

    /// <summary>Entries kept behind a snapshot for lagging followers (1000).</summary>
    public long CompactionTrailing { get; set; } = 1000;

    /// <summary>Bytes per InstallSnapshot chunk (1 MiB); at most <see cref="MaxFrameBytes"/> minus framing overhead.</summary>
    public int SnapshotChunkBytes { get; set; } = 1 << 20;

    /// <summary>Every problem, each naming its key under <paramref name="section"/>.</summary>
    public IReadOnlyList<string> Validate(string section = SectionName)
    {
        var errors = new List<string>();
        string Key(string name) => $"{section}:{name}";
        if (NodeId <= 0) errors.Add($"{Key(nameof(NodeId))} must be a positive node id (was {NodeId}).");
        if (string.IsNullOrWhiteSpace(ClusterId)) errors.Add($"{Key(nameof(ClusterId))} must be set (nodes of other clusters are refused by it).");
        if (!TcpTransportOptions.TryParseEndPoint(ListenEndpoint, out _)) errors.Add($"{Key(nameof(ListenEndpoint))} '{ListenEndpoint}' is not host:port.");
        foreach (var (id, endpoint) in Peers ?? [])
        {
            if (id <= 0) errors.Add($"{Key(nameof(Peers))}:{id} is not a valid node id.");
            else if (id == NodeId) errors.Add($"{Key(nameof(Peers))}:{id} is this node's own id.");
            if (!TcpTransportOptions.TryParseEndPoint(endpoint, out _)) errors.Add($"{Key(nameof(Peers))}:{id} '{endpoint}' is not host:port.");
        }
        if (!InMemoryStorage && string.IsNullOrWhiteSpace(DataDirectory))
            errors.Add($"{Key(nameof(DataDirectory))} must be set (or {Key(nameof(InMemoryStorage))} true for a demo).");
        if (Groups is null || Groups.Count == 0) errors.Add($"{Key(nameof(Groups))} must list at least one group id.");
        else if (Groups.Any(g => g < 0)) errors.Add($"{Key(nameof(Groups))} must not contain negative ids.");
        if (TickInterval < TimeSpan.FromMilliseconds(1)) errors.Add($"{Key(nameof(TickInterval))} must be at least 1 ms (was {TickInterval}).");
        if (ElectionTicks < 2) errors.Add($"{Key(nameof(ElectionTicks))} must be at least 2 (was {ElectionTicks}).");
        if (HeartbeatTicks < 1 || HeartbeatTicks >= ElectionTicks) errors.Add($"{Key(nameof(HeartbeatTicks))} must be in [1, {Key(nameof(ElectionTicks))}) (was {HeartbeatTicks}).");
        if (RequestTimeout <= TimeSpan.Zero) errors.Add($"{Key(nameof(RequestTimeout))} must be positive (was {RequestTimeout}).");
        if (MaxFrameBytes < 1024) errors.Add($"{Key(nameof(MaxFrameBytes))} must be at least 1024 (was {MaxFrameBytes}).");
        if (WriteBufferBytes < 4096) errors.Add($"{Key(nameof(WriteBufferBytes))} must be at least 4096 (was {WriteBufferBytes}).");
        if (SnapshotEntries < 0) errors.Add($"{Key(nameof(SnapshotEntries))} must not be negative (was {SnapshotEntries}; 0 turns count-based snapshots off).");
        if (SnapshotLogBytes < 0) errors.Add($"{Key(nameof(SnapshotLogBytes))} must not be negative (was {SnapshotLogBytes}; 0 turns size-based snapshots off).");
        if (CompactionTrailing < 0) errors.Add($"{Key(nameof(CompactionTrailing))} must not be negative (was {CompactionTrailing}).");
        if (SnapshotChunkBytes < 1) errors.Add($"{Key(nameof(SnapshotChunkBytes))} must be positive (was {SnapshotChunkBytes}).");
        else if (MaxFrameBytes >= 1024 && SnapshotChunkBytes > MaxFrameBytes - 1024)
            errors.Add($"{Key(nameof(SnapshotChunkBytes))} ({SnapshotChunkBytes}) must leave room for framing within {Key(nameof(MaxFrameBytes))} ({MaxFrameBytes}): at most {MaxFrameBytes - 1024}.");
        return errors;
    }

    /// <summary>The voters of every configured group: this node and its peers.</summary>
    public long[] Voters() => [NodeId, .. (Peers ?? []).Keys];

    /// <summary>The node host's options.</summary>
    public RaftNodeOptions ToNodeOptions() => new()
    {
        NodeId = NodeId,
        TickInterval = TickInterval,
        ElectionTicks = ElectionTicks,
        HeartbeatTicks = HeartbeatTicks,
        RequestTimeout = RequestTimeout,
        Quiescence = Quiescence,
        ForwardProposals = ForwardProposals,
        SnapshotEntries = SnapshotEntries,
        SnapshotLogBytes = SnapshotLogBytes,
        CompactionTrailing = CompactionTrailing,
        SnapshotChunkBytes = SnapshotChunkBytes,
    };

    /// <summary>The TCP transport's options.</summary>
    public TcpTransportOptions ToTransportOptions() => new()
    {
        NodeId = NodeId,
        ClusterId = ClusterId,
        ListenEndpoint = ListenEndpoint,
        Peers = new Dictionary<long, string>(Peers ?? []),
        MaxFrameBytes = MaxFrameBytes,
    };
}

/// <summary>Validates <see cref="RaftHostOptions"/> for <c>ValidateOnStart</c>.</summary>
internal sealed class RaftHostOptionsValidator(string section) : IValidateOptions<RaftHostOptions>
{
    public ValidateOptionsResult Validate(string? name, RaftHostOptions options)
    {
        var errors = options.Validate(section);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
