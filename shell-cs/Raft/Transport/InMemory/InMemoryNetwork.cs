using System.Collections.Concurrent;

namespace Raft.Transport.InMemory;

/// <summary>
/// A network of <see cref="InMemoryTransport{TMessage}"/> nodes in one process, for tests: links can be cut
/// (one way or both) and healed at any time, and each directed link delivers in send order through a single pump.
/// A message whose link is cut when it is sent or delivered is dropped and counted on the sender.
/// </summary>
public sealed class InMemoryNetwork<TMessage>
{
    private readonly ConcurrentDictionary<long, InMemoryTransport<TMessage>> _nodes = new();
    private readonly ConcurrentDictionary<(long From, long To), bool> _blocked = new();

    /// <summary>Creates a network.</summary>
    /// <param name="codec">When set, every message is encoded and decoded on send, so receivers get a copy exactly as the wire would give it.</param>
    /// <param name="queueCapacity">Bound of each directed link's queue; a send to a full queue is dropped.</param>
    public InMemoryNetwork(IFrameCodec<TMessage>? codec = null, int queueCapacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCapacity, 1);
        Codec = codec;
        QueueCapacity = queueCapacity;
    }

    private int _inFlight;

    /// <summary>Messages accepted by a sender and not yet handed to (and returned from) the receiver's handler or
    /// dropped: zero when the network is quiet (tests that advance a fake clock wait for it between ticks).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    internal void Accepted() => Interlocked.Increment(ref _inFlight);

    internal void Settled() => Interlocked.Decrement(ref _inFlight);

    /// <summary>The codec messages pass through, if any.</summary>
    public IFrameCodec<TMessage>? Codec { get; }

    /// <summary>Bound of each directed link's queue.</summary>
    public int QueueCapacity { get; }

    /// <summary>Creates (and registers) the transport of node <paramref name="nodeId"/>; a later call for the same id replaces it (a restart).</summary>
    public InMemoryTransport<TMessage> CreateTransport(long nodeId)
    {
        var transport = new InMemoryTransport<TMessage>(this, nodeId);
        _nodes[nodeId] = transport;
        return transport;
    }

    /// <summary>Cuts the link from <paramref name="from"/> to <paramref name="to"/> (one direction only).</summary>
    public void Block(long from, long to) => _blocked[(from, to)] = true;

    /// <summary>Cuts both directions between two nodes.</summary>
    public void Partition(long a, long b) { Block(a, b); Block(b, a); }

    /// <summary>Cuts every link to and from <paramref name="node"/>.</summary>
    public void Isolate(long node)
    {
        foreach (var other in _nodes.Keys)
            if (other != node) Partition(node, other);
    }

    /// <summary>Restores both directions between two nodes.</summary>
    public void Heal(long a, long b) { _blocked.TryRemove((a, b), out _); _blocked.TryRemove((b, a), out _); }

    /// <summary>Restores every link.</summary>
    public void HealAll() => _blocked.Clear();

    /// <summary>Whether the directed link is cut.</summary>
    public bool IsBlocked(long from, long to) => _blocked.ContainsKey((from, to));

    internal bool IsKnown(long node) => _nodes.ContainsKey(node);

    internal InMemoryTransport<TMessage>? Find(long node) => _nodes.TryGetValue(node, out var t) ? t : null;
}
