namespace Raft.Transport.Faults;

/// <summary>
/// A transport that passes everything to an inner one except the traffic its <see cref="TransportFaultFilter"/>
/// partitions off. A partitioned link behaves like a network that loses every frame: <see cref="TrySend"/> accepts
/// the message and it vanishes, and frames arriving from a partitioned peer are discarded before the node sees them,
/// so the node keeps running and sees what it would see on a real partition (silence), not a refused send.
/// Connections stay up, so healing restores traffic at once. Dropped messages count in
/// <see cref="TransportStats.Partitioned"/>.
/// </summary>
public sealed class FaultFilterTransport<TMessage> : ITransport<TMessage>
{
    private readonly ITransport<TMessage> _inner;
    private long _partitioned;

    /// <param name="inner">The real transport (TCP, in-memory, your own); this wrapper disposes it.</param>
    /// <param name="filter">The partitions to apply; change it at any time from any thread.</param>
    public FaultFilterTransport(ITransport<TMessage> inner, TransportFaultFilter filter)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(filter);
        _inner = inner;
        Filter = filter;
    }

    /// <summary>The partitions applied.</summary>
    public TransportFaultFilter Filter { get; }

    /// <inheritdoc/>
    public long LocalId => _inner.LocalId;

    /// <summary>The inner transport's counters, with the messages this filter dropped in <see cref="TransportStats.Partitioned"/>.</summary>
    public TransportStats Stats
    {
        get
        {
            var inner = _inner.Stats; // one snapshot: two would read the inner counters twice and could disagree
            return inner with { Partitioned = inner.Partitioned + Interlocked.Read(ref _partitioned) };
        }
    }

    /// <inheritdoc/>
    public Task StartAsync(TransportReceiveHandler<TMessage> onReceive, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onReceive);
        return _inner.StartAsync((from, message, ct) =>
        {
            if (!Filter.DropsFrom(from)) return onReceive(from, message, ct);
            Interlocked.Increment(ref _partitioned);
            return ValueTask.CompletedTask;
        }, cancellationToken);
    }

    /// <inheritdoc/>
    public bool TrySend(long peer, TMessage message)
    {
        if (!Filter.DropsTo(peer)) return _inner.TrySend(peer, message);
        Interlocked.Increment(ref _partitioned);
        return true;
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken) => _inner.StopAsync(cancellationToken);

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _inner.DisposeAsync();
}
