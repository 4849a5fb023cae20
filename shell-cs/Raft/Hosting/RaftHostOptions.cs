using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Raft.Node;
using Raft.Storage;
using Raft.Transport.Tcp;

namespace Raft.Hosting;

/// <summary>
/// Configuration of a Raft node in the generic host, bound from a configuration section (default <c>Raft</c>) and
/// validated when the host starts. It is the node's options (<see cref="RaftNodeOptions"/>: every core and loop setting,
/// with the core's defaults) plus the cluster, transport and storage settings of a deployed node. Every error names its
/// key, e.g. <c>Raft:NodeId</c>; a key that names no setting is refused.
/// </summary>
/// <example><code>
/// "Raft": {
///   "NodeId": 1, "ClusterId": "orders", "ListenEndpoint": "127.0.0.1:7101",
///   "Peers": { "2": "127.0.0.1:7102", "3": "127.0.0.1:7103" },
///   "DataDirectory": "data/node-1", "Groups": [ 1 ], "ElectionTicks": 10
/// }
/// </code></example>
public sealed class RaftHostOptions : RaftNodeOptions
{
    /// <summary>The default configuration section.</summary>
    public const string SectionName = "Raft";

    /// <summary>The cluster's identity; nodes of another cluster are refused at the handshake.</summary>
    public string ClusterId { get; set; } = "";

    /// <summary>Where this node listens, <c>host:port</c>.</summary>
    public string ListenEndpoint { get; set; } = "127.0.0.1:0";

    /// <summary>The other voters: node id to <c>host:port</c>.</summary>
    public Dictionary<long, string> Peers { get; set; } = new();

    /// <summary>The node's data directory (one sub-directory per group); created if missing.</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>How the groups' logs are laid out on disk: one shared log for every group (one fdatasync per round for the
    /// node), or a log per group (a data directory keeps the layout it was created with; the other is refused).</summary>
    public StorageLayout StorageLayout { get; set; } = StorageLayout.SharedLog;

    /// <summary>Keep logs in memory instead of files (tests and demos only: a restart forgets everything).</summary>
    public bool InMemoryStorage { get; set; }

    /// <summary>The groups opened at start (every node and every peer is a voter of each). Default: group 1.</summary>
    public List<long> Groups { get; set; } = [1];

    /// <summary>Largest frame accepted or sent.</summary>
    public int MaxFrameBytes { get; set; } = TcpTransportOptions.DefaultMaxFrameBytes;

    /// <summary>The most accepted connections in their handshake at once (<see cref="TcpTransportOptions.MaxPendingHandshakes"/>).</summary>
    public int MaxPendingHandshakes { get; set; } = new TcpTransportOptions().MaxPendingHandshakes;

    /// <summary>Mutual TLS between nodes (<c>Raft:Tls:Mode</c>, <c>CertificatePath</c>, <c>KeyPath</c>, <c>CaPath</c>, ...); off by default.</summary>
    public TcpTlsOptions Tls { get; set; } = new();

    /// <summary>Optional shared key proven at every handshake when TLS is off (see <see cref="TcpTransportOptions.ClusterSecret"/>):
    /// at least 16 bytes; every node needs the same value. Weaker than TLS.</summary>
    public string? ClusterSecret { get; set; }

    /// <summary>Log write buffer per group, in bytes.</summary>
    public int WriteBufferBytes { get; set; } = FileRaftStorageProvider.DefaultWriteBufferBytes;

    /// <summary>Every problem, each naming its key under <see cref="SectionName"/>.</summary>
    public override IReadOnlyList<string> Validate() => Validate(SectionName);

    /// <summary>Every problem, each naming its key under <paramref name="section"/>.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        string Key(string name) => $"{section}:{name}";
        var errors = Problems(Key);
        if (string.IsNullOrWhiteSpace(ClusterId)) errors.Add($"{Key(nameof(ClusterId))} must be set (nodes of other clusters are refused by it)");
        if (!TcpTransportOptions.TryParseEndPoint(ListenEndpoint, out _)) errors.Add($"{Key(nameof(ListenEndpoint))} '{ListenEndpoint}' is not host:port");
        foreach (var (id, endpoint) in Peers ?? [])
        {
            if (id <= 0) errors.Add($"{Key(nameof(Peers))}:{id} is not a valid node id");
            else if (id == NodeId) errors.Add($"{Key(nameof(Peers))}:{id} is this node's own id");
            if (!TcpTransportOptions.TryParseEndPoint(endpoint, out _)) errors.Add($"{Key(nameof(Peers))}:{id} '{endpoint}' is not host:port");
        }
        if (!InMemoryStorage && string.IsNullOrWhiteSpace(DataDirectory))
            errors.Add($"{Key(nameof(DataDirectory))} must be set (or {Key(nameof(InMemoryStorage))} true for a demo)");
        if (Groups is null || Groups.Count == 0) errors.Add($"{Key(nameof(Groups))} must list at least one group id");
        else if (Groups.Any(g => g < 0)) errors.Add($"{Key(nameof(Groups))} must not contain negative ids");
        if (MaxPendingHandshakes < 1) errors.Add($"{Key(nameof(MaxPendingHandshakes))} must be at least 1 (got {MaxPendingHandshakes})");
        if (MaxFrameBytes < TcpTransportOptions.MinFrameBytes)
            errors.Add($"{Key(nameof(MaxFrameBytes))} must be at least {TcpTransportOptions.MinFrameBytes} (got {MaxFrameBytes})");
        else if (SnapshotChunkBytes > MaxFrameBytes - TcpTransportOptions.MinFrameBytes)
            errors.Add($"{Key(nameof(SnapshotChunkBytes))} ({SnapshotChunkBytes}) must leave room for framing within {Key(nameof(MaxFrameBytes))} ({MaxFrameBytes}): at most {MaxFrameBytes - TcpTransportOptions.MinFrameBytes}");
        if (!Enum.IsDefined(StorageLayout))
            errors.Add($"{Key(nameof(StorageLayout))} must be {string.Join(" or ", Enum.GetNames<StorageLayout>())} (got {StorageLayout})");
        if (WriteBufferBytes < FileLogOptions.MinWriteBufferSize)
            errors.Add($"{Key(nameof(WriteBufferBytes))} must be at least {FileLogOptions.MinWriteBufferSize} (got {WriteBufferBytes})");
        if (TcpTransportOptions.ClusterSecretProblem(ClusterSecret) is { } secret) errors.Add($"{Key(nameof(ClusterSecret))} {secret}");
        if (Tls is null) errors.Add($"{Key(nameof(Tls))} must not be null");
        else errors.AddRange(Tls.Validate(Key(nameof(Tls)), NodeId));
        return errors;
    }

    /// <summary>Keys of <paramref name="section"/> that name no setting (a typo would otherwise be silently ignored),
    /// each as its full path, e.g. <c>Raft:ElectionTick</c>.</summary>
    public static IReadOnlyList<string> UnknownKeys(IConfiguration section)
    {
        var known = typeof(RaftHostOptions).GetProperties().Where(p => p.CanWrite).Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var tls = typeof(TcpTlsOptions).GetProperties().Where(p => p.CanWrite).Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase);
        var unknown = section.GetChildren().Where(c => !known.Contains(c.Key)).Select(c => c.Path).ToList();
        // The one nested section: a typo under it (Raft:Tls:CertPath) would otherwise leave TLS half configured.
        unknown.AddRange(section.GetSection(nameof(Tls)).GetChildren().Where(c => !tls.Contains(c.Key)).Select(c => c.Path));
        return unknown;
    }

    /// <summary>The voters of every configured group: this node and its peers.</summary>
    public long[] Voters() => [NodeId, .. (Peers ?? []).Keys];

    /// <summary>The node host's options: these options themselves (they are node options).</summary>
    public RaftNodeOptions ToNodeOptions() => this;

    /// <summary>The storage these options describe: in memory, one shared log, or a log per group.</summary>
    public IRaftStorageProvider CreateStorage() =>
        InMemoryStorage ? new MemoryRaftStorageProvider()
        : StorageLayout == StorageLayout.PerGroupFiles ? new FileRaftStorageProvider(DataDirectory, WriteBufferBytes)
        : new SharedLogStorageProvider(DataDirectory);

    /// <summary>The TCP transport's options.</summary>
    public TcpTransportOptions ToTransportOptions() => new()
    {
        NodeId = NodeId,
        ClusterId = ClusterId,
        ListenEndpoint = ListenEndpoint,
        Peers = new Dictionary<long, string>(Peers ?? []),
        MaxFrameBytes = MaxFrameBytes,
        MaxPendingHandshakes = MaxPendingHandshakes,
        Tls = Tls,
        ClusterSecret = ClusterSecret,
    };
}

/// <summary>Validates <see cref="RaftHostOptions"/> for <c>ValidateOnStart</c>: the settings, and, when bound from
/// configuration, that every key of the section names a setting.</summary>
internal sealed class RaftHostOptionsValidator(string section, IConfiguration? configuration) : IValidateOptions<RaftHostOptions>
{
    public ValidateOptionsResult Validate(string? name, RaftHostOptions options)
    {
        var errors = new List<string>();
        if (configuration is not null)
            errors.AddRange(RaftHostOptions.UnknownKeys(configuration).Select(key => $"{key} is not a Raft setting (see RaftHostOptions for the keys)"));
        errors.AddRange(options.Validate(section));
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>How a node lays out its groups' logs on disk.</summary>
public enum StorageLayout
{
    /// <summary>One log for every group of the node (<see cref="SharedLogStorageProvider"/>): one fdatasync per round
    /// whatever the number of groups. The right choice for multi-raft, and for a single group too.</summary>
    SharedLog,

    /// <summary>A segmented log per group (<see cref="FileRaftStorageProvider"/>): each group's files apart, deleted
    /// with the group, at one fdatasync per touched group per round; for data directories created with it.</summary>
    PerGroupFiles,
}
