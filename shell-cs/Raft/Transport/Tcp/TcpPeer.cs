using System.Net;
using System.Threading.Channels;

namespace Raft.Transport.Tcp;

/// <summary>
/// Everything the transport keeps per peer: its endpoint, its bounded send queue (drained by whichever thread holds
/// the send flag, see <c>PeerSender.Drain</c>) and the one connection used for sending. Simultaneous dials are settled deterministically: a new connection replaces the current one unless the
/// current one was opened by the lower id of the pair and the new one was not. Both sides apply the same rule, so
/// they converge on the same socket.
/// </summary>
internal sealed class TcpPeer<TMessage>
{
    private readonly object _gate = new();
    private TcpConnection? _current;
    private TaskCompletionSource _changed = NewSignal();
    private bool _everConnected;
    private int _sending;

    public TcpPeer(long id, EndPoint endPoint, int queueCapacity, PeerCounters counters, CancellationToken stopping)
    {
        Id = id;
        Counters = counters;
        EndPoint = endPoint;
        // Nobody waits on the queue (the sender drains it itself), so writing to it wakes no thread.
        Queue = Channel.CreateBounded<TMessage>(new BoundedChannelOptions(queueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite returns false when full: the caller counts a drop
        });
        SendBuffer = new PooledBufferWriter(16 << 10);
        Lifetime = CancellationTokenSource.CreateLinkedTokenSource(stopping);
    }

    public long Id { get; }
    public EndPoint EndPoint { get; set; }
    public Channel<TMessage> Queue { get; }
    /// <summary>Cancelled when the peer is removed or the transport stops.</summary>
    public CancellationTokenSource Lifetime { get; }
    public Task? DialLoop { get; set; }
    /// <summary>The frames of the batch being written; owned by the holder of the send flag.</summary>
    public PooledBufferWriter SendBuffer { get; }
    /// <summary>Whether messages wait in the queue.</summary>
    public bool HasQueued => Queue.Reader.TryPeek(out _);
    /// <summary>Messages waiting in the send queue.</summary>
    public int Queued => Queue.Reader.Count;
    /// <summary>This peer's traffic counters (also the transport's, see <see cref="TransportCounters.For"/>).</summary>
    public PeerCounters Counters { get; }

    public TcpConnection? Current { get { lock (_gate) return _current; } }

    /// <summary>Takes the send flag: the caller is now the only one draining the queue and using <see cref="SendBuffer"/>.</summary>
    public bool TryEnterSend() => Interlocked.CompareExchange(ref _sending, 1, 0) == 0;

    /// <summary>Releases the send flag; the caller must then look at the queue again (a writer may have left its message to it).</summary>
    public void ExitSend() => Volatile.Write(ref _sending, 0);

    /// <summary>Whether a new connection opened by <paramref name="dialerId"/> would win against the current one.</summary>
    public bool WouldAdopt(long localId, long dialerId)
    {
        lock (_gate) return Wins(localId, dialerId, _current);
    }

    /// <summary>
    /// Makes <paramref name="connection"/> the sending connection if it wins the tie-break; the loser is retired.
    /// Returns (adopted, isReconnect) where isReconnect means the peer had a connection before and lost it.
    /// </summary>
    public (bool Adopted, bool Reconnect) TryAdopt(long localId, TcpConnection connection)
    {
        TcpConnection? loser;
        bool reconnect;
        lock (_gate)
        {
            if (Lifetime.IsCancellationRequested || !Wins(localId, connection.DialerId, _current)) return (false, false);
            loser = _current is { IsClosed: false } ? _current : null;
            reconnect = loser is null && _everConnected;
            _current = connection;
            _everConnected = true;
            Signal();
        }
        loser?.Retire();
        return (true, reconnect);
    }

    /// <summary>Forgets <paramref name="connection"/> if it is the current one (it closed or failed).</summary>
    public void OnClosed(TcpConnection connection)
    {
        lock (_gate)
        {
            if (!ReferenceEquals(_current, connection)) return;
            _current = null;
            Signal();
        }
    }

    /// <summary>Completes when a sending connection exists; returns it.</summary>
    public async Task<TcpConnection> WaitConnectedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_current is { IsClosed: false, IsRetired: false } c) return c;
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Completes when there is no sending connection (time to dial).</summary>
    public async Task WaitDisconnectedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                if (_current is null || _current.IsClosed) return;
                changed = _changed.Task;
            }
            await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static bool Wins(long localId, long dialerId, TcpConnection? current)
    {
        if (current is null || current.IsClosed) return true;
        var lower = Math.Min(localId, current.PeerId);
        return !(current.DialerId == lower && dialerId != lower);
    }

    private void Signal()
    {
        var old = _changed;
        _changed = NewSignal();
        old.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
