using Raft.Core;
using Raft.Serialization;
using Raft.Transport;

namespace Raft.Node;

/// <summary>
/// What the loop sends, gathered per peer over an iteration and handed to the transport as one batch per peer (loop
/// thread only). The node's one send path: Raft messages, forwarded proposals and their answers, liveness pings.
/// </summary>
internal sealed class Outbox<TCommand>(ITransport<RaftEnvelope<TCommand>[]> transport, RaftMetrics metrics)
{
    private readonly Dictionary<long, List<RaftEnvelope<TCommand>>> _byPeer = new();
    private readonly List<long> _dirty = new();

    /// <summary>A message of a group's core (sent at once, or released by the write it waited for), counted by kind.</summary>
    public void Send(long groupId, Message<TCommand> message)
    {
        metrics.Sent(message);
        Add(message.To, new RaftEnvelope<TCommand>(groupId, message));
    }

    public void Add(long to, RaftEnvelope<TCommand> envelope)
    {
        if (!_byPeer.TryGetValue(to, out var list)) _byPeer[to] = list = new List<RaftEnvelope<TCommand>>();
        if (list.Count == 0) _dirty.Add(to);
        list.Add(envelope);
    }

    /// <summary>The most envelopes handed to the transport in one batch (the batch codec's default limit).</summary>
    internal const int MaxBatch = RaftBatchCodec<TCommand>.DefaultMaxEnvelopes;

    public bool IsEmpty => _dirty.Count == 0;

    /// <summary>Hands each peer's batch to the transport; <paramref name="dropped"/> gets each batch it refused
    /// (its queue to that peer full, or no connection).</summary>
    public void Flush(Action<long, RaftEnvelope<TCommand>[]> dropped)
    {
        foreach (var peer in _dirty)
        {
            var list = _byPeer[peer];
            // A batch never exceeds what the batch codec accepts: beyond it the transport would drop the whole batch.
            for (var start = 0; start < list.Count; start += MaxBatch)
            {
                var batch = list.GetRange(start, Math.Min(MaxBatch, list.Count - start)).ToArray();
                if (!transport.TrySend(peer, batch)) dropped(peer, batch);
            }
            list.Clear();
        }
        _dirty.Clear();
    }
}
