using System.Collections.Frozen;

namespace Raft.Transport.Faults;

/// <summary>Which traffic of a partitioned peer is dropped.</summary>
public enum PartitionDirection
{
    /// <summary>Frames to the peer and frames from it.</summary>
    Both,

    /// <summary>Frames from the peer only (this node still sends to it).</summary>
    Inbound,

    /// <summary>Frames to the peer only (this node still hears it).</summary>
    Outbound,
}

/// <summary>
/// The peers whose Raft traffic a <see cref="FaultFilterTransport{TMessage}"/> drops: a network partition made on
/// purpose (chaos tests, operator drills). Thread-safe: changes take a lock and publish an immutable copy, so the
/// send and receive paths read one volatile field and never block.
/// </summary>
public sealed class TransportFaultFilter
{
    private readonly Lock _changing = new();
    private volatile Rules _rules = Rules.None;

    /// <summary>Peers whose incoming frames are dropped.</summary>
    public IReadOnlyCollection<long> Inbound => _rules.Inbound;

    /// <summary>Peers to which outgoing frames are dropped.</summary>
    public IReadOnlyCollection<long> Outbound => _rules.Outbound;

    /// <summary>True while any peer is partitioned in either direction.</summary>
    public bool IsPartitioned => _rules.Inbound.Count + _rules.Outbound.Count > 0;

    /// <summary>Drops traffic with <paramref name="peers"/> in <paramref name="direction"/>, in addition to the
    /// partitions already in place (partitioning the same peer twice is harmless).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A peer id is not positive, or the direction is not defined.</exception>
    public void Partition(IEnumerable<long> peers, PartitionDirection direction = PartitionDirection.Both)
    {
        ArgumentNullException.ThrowIfNull(peers);
        if (!Enum.IsDefined(direction)) throw new ArgumentOutOfRangeException(nameof(direction), direction, "not a partition direction");
        var list = peers.ToArray();
        foreach (var p in list)
            if (p <= 0) throw new ArgumentOutOfRangeException(nameof(peers), p, "peer ids are positive");
        lock (_changing)
        {
            var r = _rules;
            var inbound = direction == PartitionDirection.Outbound ? r.Inbound : r.Inbound.Union(list).ToFrozenSet();
            var outbound = direction == PartitionDirection.Inbound ? r.Outbound : r.Outbound.Union(list).ToFrozenSet();
            _rules = new Rules(inbound, outbound);
        }
    }

    /// <summary>Removes every partition: traffic flows again (connections were never closed, so at once).</summary>
    public void Heal()
    {
        lock (_changing) _rules = Rules.None;
    }

    /// <summary>Whether a frame for <paramref name="peer"/> is to be dropped.</summary>
    public bool DropsTo(long peer) => _rules.Outbound.Contains(peer);

    /// <summary>Whether a frame from <paramref name="peer"/> is to be dropped.</summary>
    public bool DropsFrom(long peer) => _rules.Inbound.Contains(peer);

    /// <summary>One published state of the filter (replaced whole, never changed).</summary>
    private sealed record Rules(FrozenSet<long> Inbound, FrozenSet<long> Outbound)
    {
        public static readonly Rules None = new(FrozenSet<long>.Empty, FrozenSet<long>.Empty);
    }
}
