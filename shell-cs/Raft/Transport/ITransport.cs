namespace Raft.Transport;

/// <summary>
/// Called for every message a transport receives, in arrival order per connection. The transport awaits it
/// before reading further from that peer, so a slow handler applies back-pressure to that peer only.
/// The handler should not throw; if it does, the transport logs the exception and keeps the connection.
/// </summary>
/// <param name="from">The peer's node id, as authenticated by the transport.</param>
/// <param name="message">The decoded message.</param>
/// <param name="cancellationToken">Cancelled when the transport stops.</param>
public delegate ValueTask TransportReceiveHandler<in TMessage>(long from, TMessage message, CancellationToken cancellationToken);

/// <summary>
/// Moves messages between the nodes of a cluster: the seam between the node host and the network
/// ("swap TCP for your own"). Delivery is best effort: a message may be lost, which Raft tolerates;
/// a message is never delivered twice by the transport itself, and messages on one link arrive in send order
/// while that link's connection lives.
/// </summary>
/// <typeparam name="TMessage">What is sent, e.g. a batch of <c>RaftEnvelope&lt;T&gt;</c>.</typeparam>
public interface ITransport<TMessage> : IAsyncDisposable
{
    /// <summary>This node's id.</summary>
    long LocalId { get; }

    /// <summary>Starts listening and connecting; <paramref name="onReceive"/> gets every incoming message.</summary>
    /// <exception cref="InvalidOperationException">Already started.</exception>
    Task StartAsync(TransportReceiveHandler<TMessage> onReceive, CancellationToken cancellationToken);

    /// <summary>
    /// Queues a message for <paramref name="peer"/> without blocking. Returns false, and counts a drop, when the
    /// peer is unknown, the transport is stopped, or the peer's bounded queue is full (the host may then report the
    /// peer unreachable to the core).
    /// </summary>
    bool TrySend(long peer, TMessage message);

    /// <summary>Stops accepting and sending, closes connections and waits for the loops to end (bounded by the token).</summary>
    Task StopAsync(CancellationToken cancellationToken);

    /// <summary>A snapshot of the transport's counters.</summary>
    TransportStats Stats { get; }
}
