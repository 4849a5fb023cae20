using Raft.Core;
using Raft.Serialization;
using Raft.Transport;

namespace Raft.ClusterNode;

/// <summary>A test-only pause point: wraps the node's transport so that, once this node has answered
/// <c>chunks</c> InstallSnapshot chunks of one transfer (an answer leaves only after the chunk and the transfer's
/// checkpoint are durable: the core sends it after persistence), it announces <c>snapshot-paused &lt;offset&gt;</c>
/// and from then on drops every further chunk. The transfer then stands still with a durable prefix on disk, so the
/// test can kill the node in the middle of receiving a snapshot without racing it.</summary>
internal sealed class SnapshotPause(ITransport<RaftEnvelope<long>[]> inner, int chunks, Action<string> say) : ITransport<RaftEnvelope<long>[]>
{
    private int _answered;
    private volatile bool _paused;

    public long LocalId => inner.LocalId;

    public TransportStats Stats => inner.Stats;

    public Task StartAsync(TransportReceiveHandler<RaftEnvelope<long>[]> onReceive, CancellationToken cancellationToken) =>
        inner.StartAsync((from, batch, ct) => _paused ? onReceive(from, WithoutChunks(batch), ct) : onReceive(from, batch, ct), cancellationToken);

    public bool TrySend(long peer, RaftEnvelope<long>[] message)
    {
        foreach (var envelope in message)
        {
            // An answer to a chunk that is not the last: the transfer has a durable prefix of NextOffset bytes.
            if (envelope.Message?.Body is MessageBody<long>.InstallSnapshotResponse { Item: { Installed: false, NextOffset: > 0 } r }
                && !_paused && ++_answered == chunks)
            {
                _paused = true;
                say($"snapshot-paused {r.NextOffset}");
            }
        }
        return inner.TrySend(peer, message);
    }

    private static RaftEnvelope<long>[] WithoutChunks(RaftEnvelope<long>[] batch) =>
        Array.FindAll(batch, e => e.Message?.Body is not MessageBody<long>.InstallSnapshot);

    public Task StopAsync(CancellationToken cancellationToken) => inner.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
