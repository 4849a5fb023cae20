using System.Diagnostics.Metrics;
using MessagePack;
using Microsoft.Extensions.Options;
using Raft.MultiRaft;
using Raft.Node;
using Raft.Serialization;
using Raft.Storage;
using Raft.Transport.Faults;
using Raft.Transport.Tcp;

namespace Raft.KeyValue.Server;

/// <summary>This process's node: a TCP transport, one shared log, and the placement layer running a
/// <see cref="KeyRegister"/> per group (one key each under per-key placement, many under hash placement). The transport learns members added later from the directory.</summary>
public sealed class KvNode : IHostedService, IAsyncDisposable
{
    private readonly TcpTransport<RaftEnvelope<PlacedCommand<KvWrite>>[]> _transport;
    private readonly KeyAppliedFanout _applied = new();

    public KvNode(IOptions<KvServerOptions> options, ILoggerFactory loggers, IMeterFactory meters)
    {
        var o = options.Value;
        Options = o;
        var serializer = MessagePackSerializerOptions.Standard;
        _transport = new TcpTransport<RaftEnvelope<PlacedCommand<KvWrite>>[]>(
            new TcpTransportOptions
            {
                NodeId = o.NodeId,
                ClusterId = o.ClusterId,
                ListenEndpoint = o.RaftEndpoint,
                Peers = o.Members.Where(m => m.Id != o.NodeId).ToDictionary(m => m.Id, m => m.RaftEndpoint),
            },
            new RaftBatchCodec<PlacedCommand<KvWrite>>(new RaftMessageCodec<PlacedCommand<KvWrite>>(serializer)),
            loggers.CreateLogger<TcpTransport<RaftEnvelope<PlacedCommand<KvWrite>>[]>>());
        var nodeOptions = o.Raft;
        nodeOptions.NodeId = o.NodeId;
        nodeOptions.RequestTimeout = o.RequestTimeout;
        // Always filtered: an empty filter costs one read per frame, and the chaos endpoints (when enabled) drive it.
        var filtered = new FaultFilterTransport<RaftEnvelope<PlacedCommand<KvWrite>>[]>(_transport, Faults);
        Placement = new MultiRaftNode<KvWrite, KvWriteResult>(o.ToPlacementOptions(), nodeOptions, filtered,
            new SharedLogStorageProvider(o.DataDirectory), id => new KeyRegister(id, _applied, () => Placement?.Directory.FindGroup(id)?.Name), UpdatePeers, serializer, loggers, meterFactory: meters);
    }

    /// <summary>The settings.</summary>
    public KvServerOptions Options { get; }

    /// <summary>The partitions the chaos endpoints put on this node's Raft traffic (none unless they are enabled and used).</summary>
    public TransportFaultFilter Faults { get; } = new();

    /// <summary>The placement layer (directory, groups, balancer).</summary>
    public MultiRaftNode<KvWrite, KvWriteResult> Placement { get; }

    /// <summary>The node host, for status and health.</summary>
    public IRaftNode Host => Placement.Host;

    /// <summary>Adds an observer of every write applied on this node, in any key's group.</summary>
    public void ObserveApplied(IKeyApplied observer) => _applied.Add(observer);

    private void UpdatePeers(IReadOnlyList<ClusterMember> members)
    {
        foreach (var m in members)
            if (m.Id != Options.NodeId && TcpTransportOptions.TryParseEndPoint(m.RaftEndpoint, out var endPoint)) _transport.SetPeer(m.Id, endPoint);
        foreach (var gone in _transport.Peers.Where(p => members.All(m => m.Id != p)).ToArray()) _transport.RemovePeer(gone);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Placement.StartAsync(cancellationToken);

    /// <summary>SIGTERM: hands this node's leaderships to the others first, then stops.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => Placement.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => Placement.DisposeAsync();
}
