using System.Buffers;
using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Raft.Transport.InMemory;

/// <summary>
/// One node's endpoint on an <see cref="InMemoryNetwork{TMessage}"/>. Each directed link has a bounded queue
/// and one pump that awaits the receiver's handler before delivering the next message, so delivery order per
/// link is deterministic and a slow receiver only slows its own links.
/// </summary>
public sealed class InMemoryTransport<TMessage> : ITransport<TMessage>
{
    private readonly InMemoryNetwork<TMessage> _network;
    private readonly ConcurrentDictionary<long, Link> _links = new();
    private readonly TransportCounters _counters;
    private readonly CancellationTokenSource _stopping = new();
    private TransportReceiveHandler<TMessage>? _handler;
    private volatile bool _running;

    internal InMemoryTransport(InMemoryNetwork<TMessage> network, long localId)
    {
        _network = network;
        LocalId = localId;
        _counters = new TransportCounters(peer => _links.TryGetValue(peer, out var link)
            ? (link.Queue.Reader.Count, _running && _network.Find(peer) is { _running: true } && !_network.IsBlocked(LocalId, peer))
            : (0, false));
    }

    /// <inheritdoc/>
    public long LocalId { get; }

    /// <inheritdoc/>
    public TransportStats Stats => _counters.Snapshot();

    /// <summary>Whether the transport is started and not stopped.</summary>
    public bool IsRunning => _running;

    /// <inheritdoc/>
    public Task StartAsync(TransportReceiveHandler<TMessage> onReceive, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onReceive);
        if (_handler is not null) throw new InvalidOperationException($"transport of node {LocalId} already started");
        _handler = onReceive;
        _running = true;
        return Task.CompletedTask;
    }

    /// <inheritdoc/>
    public bool TrySend(long peer, TMessage message)
    {
        if (!_running || peer == LocalId || !_network.IsKnown(peer) || _network.IsBlocked(LocalId, peer))
        {
            _counters.Drop(!_running ? TransportDrop.Stopped : TransportDrop.UnknownPeer, _network.IsKnown(peer) ? _counters.For(peer) : null);
            return false;
        }
        var link = GetLink(peer);
        var bytes = 0;
        if (_network.Codec is { } codec) message = RoundTrip(codec, message, out bytes);
        _network.Accepted();
        if (link.Queue.Writer.TryWrite((message, bytes))) return true;
        _network.Settled();
        _counters.Drop(TransportDrop.QueueFull, link.Counters);
        return false;
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (!_running) return;
        _running = false;
        _stopping.Cancel();
        foreach (var link in _links.Values) link.Queue.Writer.TryComplete();
        await Task.WhenAll(_links.Values.Select(l => l.Pump)).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private Link GetLink(long peer)
    {
        if (_links.TryGetValue(peer, out var link)) return link;
        // Created under a lock so that one link never gets two pumps (which would break per-link order).
        lock (_links) return _links.GetOrAdd(peer, p => new Link(this, p));
    }

    private TMessage RoundTrip(IFrameCodec<TMessage> codec, TMessage message, out int bytes)
    {
        var buffer = new ArrayBufferWriter<byte>();
        codec.Encode(message, buffer);
        bytes = buffer.WrittenCount;
        return codec.Decode(new ReadOnlySequence<byte>(buffer.WrittenMemory));
    }

    private async Task PumpAsync(Link link)
    {
        var token = _stopping.Token;
        try
        {
            await foreach (var (message, bytes) in link.Queue.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                try
                {
                    var receiver = _network.Find(link.Peer);
                    if (receiver is null || !receiver._running || _network.IsBlocked(LocalId, link.Peer))
                    {
                        _counters.Drop(TransportDrop.UnknownPeer, link.Counters);
                        continue;
                    }
                    _counters.Sent(1, bytes, link.Counters);
                    await receiver.DeliverAsync(LocalId, message, bytes).ConfigureAwait(false);
                }
                finally { _network.Settled(); }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested) { }
    }

    private async ValueTask DeliverAsync(long from, TMessage message, int bytes)
    {
        _counters.Received(bytes, _counters.For(from));
        try { await _handler!(from, message, _stopping.Token).ConfigureAwait(false); }
        catch (Exception) when (!_running) { }
        // A handler exception is the host's bug, not the network's; like the TCP transport, keep the link alive.
        catch (Exception) { }
    }

    private sealed class Link
    {
        public Link(InMemoryTransport<TMessage> owner, long peer)
        {
            Peer = peer;
            Counters = owner._counters.For(peer);
            Queue = Channel.CreateBounded<(TMessage, int)>(new BoundedChannelOptions(owner._network.QueueCapacity)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.Wait,
            });
            Pump = Task.Run(() => owner.PumpAsync(this));
        }

        public long Peer { get; }
        public PeerCounters Counters { get; }
        public Channel<(TMessage Message, int Bytes)> Queue { get; }
        public Task Pump { get; }
    }
}
