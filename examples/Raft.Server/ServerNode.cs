using System.Diagnostics.Metrics;
using MessagePack;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Raft.MultiRaft;
using Raft.Node;
using Raft.Serialization;
using Raft.Storage;
using Raft.Transport.Faults;
using Raft.Transport.Tcp;

namespace Raft.Server;

/// <summary>What the shared HTTP plumbing needs of a server's node, whatever its commands.</summary>
public interface IServerNode
{
    /// <summary>The settings.</summary>
    ServerOptions Settings { get; }

    /// <summary>This node's copy of the directory (members and their addresses).</summary>
    IDirectoryView Directory { get; }

    /// <summary>The node host, for status and health.</summary>
    IRaftNode Host { get; }

    /// <summary>The partitions the chaos endpoints put on this node's Raft traffic (none unless they are enabled and used).</summary>
    TransportFaultFilter Faults { get; }
}

/// <summary>One process's node of an example server: a TCP transport (always behind a fault filter, which the chaos
/// endpoints drive), one shared log for every group, and the placement layer running the server's state machine per
/// group. The transport learns members added later from the directory.</summary>
/// <typeparam name="TCommand">The server's command (MessagePack, standard resolver).</typeparam>
/// <typeparam name="TResult">What its state machine returns.</typeparam>
public class ServerNode<TCommand, TResult> : IHostedService, IAsyncDisposable, IServerNode
{
    private readonly TcpTransport<RaftEnvelope<PlacedCommand<TCommand>>[]> _transport;

    /// <param name="options">Valid settings (see <see cref="ServerOptions.Validate"/>).</param>
    /// <param name="newMachine">Makes the state machine of a data group (the node, the group's id); the node's
    /// <see cref="Placement"/> is set by the time a group opens.</param>
    /// <param name="loggers">Logging.</param>
    /// <param name="meters">Metrics.</param>
    protected ServerNode(ServerOptions options, Func<ServerNode<TCommand, TResult>, long, IStateMachine<TCommand, TResult>> newMachine,
        ILoggerFactory loggers, IMeterFactory meters)
    {
        Settings = options;
        var serializer = MessagePackSerializerOptions.Standard;
        _transport = new TcpTransport<RaftEnvelope<PlacedCommand<TCommand>>[]>(
            new TcpTransportOptions
            {
                NodeId = options.NodeId,
                ClusterId = options.ClusterId,
                ListenEndpoint = options.RaftEndpoint,
                Peers = options.Members.Where(m => m.Id != options.NodeId).ToDictionary(m => m.Id, m => m.RaftEndpoint),
            },
            new RaftBatchCodec<PlacedCommand<TCommand>>(new RaftMessageCodec<PlacedCommand<TCommand>>(serializer)),
            loggers.CreateLogger<TcpTransport<RaftEnvelope<PlacedCommand<TCommand>>[]>>());
        var nodeOptions = options.Raft;
        nodeOptions.NodeId = options.NodeId;
        nodeOptions.RequestTimeout = options.RequestTimeout;
        // Always filtered: an empty filter costs one read per frame, and the chaos endpoints (when enabled) drive it.
        var filtered = new FaultFilterTransport<RaftEnvelope<PlacedCommand<TCommand>>[]>(_transport, Faults);
        Placement = new MultiRaftNode<TCommand, TResult>(options.ToPlacementOptions(), nodeOptions, filtered,
            new SharedLogStorageProvider(options.DataDirectory), id => newMachine(this, id), UpdatePeers, serializer, loggers, meterFactory: meters);
    }

    /// <inheritdoc />
    public ServerOptions Settings { get; }

    /// <inheritdoc />
    public TransportFaultFilter Faults { get; } = new();

    /// <summary>The placement layer (directory, groups, balancer).</summary>
    public MultiRaftNode<TCommand, TResult> Placement { get; }

    /// <inheritdoc />
    public IRaftNode Host => Placement.Host;

    /// <inheritdoc />
    public IDirectoryView Directory => Placement.Directory;

    private void UpdatePeers(IReadOnlyList<ClusterMember> members)
    {
        foreach (var m in members)
            if (m.Id != Settings.NodeId && TcpTransportOptions.TryParseEndPoint(m.RaftEndpoint, out var endPoint)) _transport.SetPeer(m.Id, endPoint);
        foreach (var gone in _transport.Peers.Where(p => members.All(m => m.Id != p)).ToArray()) _transport.RemovePeer(gone);
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Placement.StartAsync(cancellationToken);

    /// <summary>SIGTERM: hands this node's leaderships to the others first, then stops.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => Placement.StopAsync(cancellationToken);

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
        return Placement.DisposeAsync();
    }
}
