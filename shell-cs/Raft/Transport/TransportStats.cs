using System.Collections.Concurrent;

namespace Raft.Transport;

/// <summary>A point-in-time copy of a transport's counters (all monotonic since start, except the gauges
/// <paramref name="ConnectionsOpen"/> and each peer's queue depth and state).</summary>
/// <param name="FramesSent">Frames written to sockets (or handed to the in-memory link).</param>
/// <param name="FramesReceived">Frames decoded and handed to the receive handler.</param>
/// <param name="BytesSent">Bytes written, frame headers included.</param>
/// <param name="BytesReceived">Bytes of well-formed frames read, headers included.</param>
/// <param name="Dropped">Messages not sent, every reason together (the sum of <paramref name="Drops"/>).</param>
/// <param name="BadFrames">Connections closed for garbage, bad magic/version/flags, bad CRC, oversized or truncated frames, or undecodable payloads.</param>
/// <param name="RefusedHandshakes">Handshakes refused, every reason together (the sum of <paramref name="Refusals"/>).</param>
/// <param name="Reconnects">Connections to a peer established after an earlier one to that peer was lost.</param>
/// <param name="Partitioned">Messages dropped on purpose by a <see cref="Faults.FaultFilterTransport{TMessage}"/>
/// (sent to or received from a partitioned peer); not part of <paramref name="Dropped"/>.</param>
/// <param name="Refusals">Refused handshakes by reason: the handshake's ids, plaintext to a TLS node, certificate
/// checks, TLS failures, the cluster secret, a bad frame or a timeout during the handshake.</param>
/// <param name="Drops">Messages not sent, by <see cref="TransportDrop"/> reason.</param>
/// <param name="ConnectionsOpen">Connections that passed the handshake and are not closed yet (both directions).</param>
/// <param name="ConnectionsAccepted">Connections from peers that passed the handshake.</param>
/// <param name="ConnectionsDialed">Connections to peers that passed the handshake.</param>
/// <param name="Peers">Per peer: frames, bytes, drops, reconnects, send queue depth and whether it is connected
/// (empty for a transport that does not count per peer).</param>
public readonly record struct TransportStats(
    long FramesSent,
    long FramesReceived,
    long BytesSent,
    long BytesReceived,
    long Dropped,
    long BadFrames,
    long RefusedHandshakes,
    long Reconnects,
    long Partitioned = 0,
    RefusalCounts Refusals = default,
    DropCounts Drops = default,
    long ConnectionsOpen = 0,
    long ConnectionsAccepted = 0,
    long ConnectionsDialed = 0,
    IReadOnlyList<PeerTransportStats>? Peers = null);

/// <summary>One peer's share of a transport's traffic (<see cref="TransportStats.Peers"/>).</summary>
/// <param name="Peer">The peer's node id.</param>
/// <param name="FramesSent">Frames written to this peer.</param>
/// <param name="FramesReceived">Frames read from this peer.</param>
/// <param name="BytesSent">Bytes written to this peer, frame headers included.</param>
/// <param name="BytesReceived">Bytes of well-formed frames read from this peer.</param>
/// <param name="Dropped">Messages for this peer not sent (queue full, too large, unencodable).</param>
/// <param name="Reconnects">Connections to this peer re-established after one was lost.</param>
/// <param name="Queued">Messages waiting in this peer's send queue now.</param>
/// <param name="Connected">Whether a connection to this peer is up now.</param>
public readonly record struct PeerTransportStats(
    long Peer,
    long FramesSent,
    long FramesReceived,
    long BytesSent,
    long BytesReceived,
    long Dropped,
    long Reconnects,
    int Queued,
    bool Connected);

/// <summary>Why a transport did not send a message; the <c>reason</c> tag of <c>raft.transport.messages.dropped</c>.</summary>
public enum TransportDrop
{
    /// <summary>The peer's bounded send queue was full (the peer is slow or unreachable).</summary>
    QueueFull,
    /// <summary>The peer is not (or no longer) configured, or (in memory) its link is blocked.</summary>
    UnknownPeer,
    /// <summary>The transport was not running (not started yet, or stopped).</summary>
    Stopped,
    /// <summary>The encoded message exceeded the frame cap.</summary>
    TooLarge,
    /// <summary>The codec could not encode the message.</summary>
    EncodeFailed,
}

/// <summary>Dropped messages by <see cref="TransportDrop"/>, monotonic since start.</summary>
public readonly record struct DropCounts(long QueueFull, long UnknownPeer, long Stopped, long TooLarge, long EncodeFailed)
{
    /// <summary>Every reason together.</summary>
    public long Total => QueueFull + UnknownPeer + Stopped + TooLarge + EncodeFailed;

    /// <summary>The count of one reason.</summary>
    public long this[TransportDrop reason] => reason switch
    {
        TransportDrop.QueueFull => QueueFull,
        TransportDrop.UnknownPeer => UnknownPeer,
        TransportDrop.Stopped => Stopped,
        TransportDrop.TooLarge => TooLarge,
        TransportDrop.EncodeFailed => EncodeFailed,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };

    /// <summary>Every reason with its metric tag value.</summary>
    public static IReadOnlyList<(TransportDrop Reason, string Tag)> Tags { get; } =
    [
        (TransportDrop.QueueFull, "queue_full"),
        (TransportDrop.UnknownPeer, "unknown_peer"),
        (TransportDrop.Stopped, "stopped"),
        (TransportDrop.TooLarge, "too_large"),
        (TransportDrop.EncodeFailed, "encode_failed"),
    ];
}

/// <summary>One peer's thread-safe counters (<see cref="TransportCounters.For"/>); a transport keeps it beside the
/// peer's queue so the hot path needs no lookup.</summary>
public sealed class PeerCounters
{
    internal long FramesSent, FramesReceived, BytesSent, BytesReceived, Dropped, Reconnects;
}

/// <summary>Thread-safe counters behind <see cref="TransportStats"/>; shared by the transport's loops.</summary>
public sealed class TransportCounters
{
    private long _framesSent, _framesReceived, _bytesSent, _bytesReceived, _badFrames, _reconnects;
    private long _open, _accepted, _dialed;
    private readonly long[] _refused = new long[RefusalCounts.Tags.Count];
    private readonly long[] _drops = new long[DropCounts.Tags.Count];
    private readonly ConcurrentDictionary<long, PeerCounters> _peers = new();
    private readonly Func<long, (int Queued, bool Connected)>? _peerState;

    /// <param name="peerState">Reads a peer's send queue depth and connection state for <see cref="TransportStats.Peers"/>;
    /// zero and false when null.</param>
    public TransportCounters(Func<long, (int Queued, bool Connected)>? peerState = null) => _peerState = peerState;

    /// <summary>The counters of <paramref name="peer"/> (created on first use).</summary>
    public PeerCounters For(long peer) => _peers.GetOrAdd(peer, _ => new PeerCounters());

    /// <summary>Forgets a removed peer's counters (its series end).</summary>
    public void Forget(long peer) => _peers.TryRemove(peer, out _);

    /// <summary>Counts frames and bytes written to a peer.</summary>
    public void Sent(long frames, long bytes, PeerCounters peer)
    {
        Interlocked.Add(ref _framesSent, frames);
        Interlocked.Add(ref _bytesSent, bytes);
        Interlocked.Add(ref peer.FramesSent, frames);
        Interlocked.Add(ref peer.BytesSent, bytes);
    }

    /// <summary>Counts one frame read from a peer.</summary>
    public void Received(long bytes, PeerCounters peer)
    {
        Interlocked.Increment(ref _framesReceived);
        Interlocked.Add(ref _bytesReceived, bytes);
        Interlocked.Increment(ref peer.FramesReceived);
        Interlocked.Add(ref peer.BytesReceived, bytes);
    }

    /// <summary>Counts one dropped message, by reason, and against its peer when it has one.</summary>
    public void Drop(TransportDrop reason, PeerCounters? peer = null)
    {
        Interlocked.Increment(ref _drops[(int)reason]);
        if (peer is not null) Interlocked.Increment(ref peer.Dropped);
    }

    /// <summary>Counts one bad frame (its connection is closed).</summary>
    public void BadFrame() => Interlocked.Increment(ref _badFrames);
    /// <summary>Counts one refused handshake, by reason.</summary>
    public void RefusedHandshake(HandshakeRefusal reason = HandshakeRefusal.Handshake) => Interlocked.Increment(ref _refused[(int)reason]);

    /// <summary>Counts a connection that passed the handshake (now open) and, when it replaces a lost one, a reconnect.</summary>
    public void Opened(bool inbound, bool reconnect, PeerCounters peer)
    {
        Interlocked.Increment(ref _open);
        Interlocked.Increment(ref inbound ? ref _accepted : ref _dialed);
        if (!reconnect) return;
        Interlocked.Increment(ref _reconnects);
        Interlocked.Increment(ref peer.Reconnects);
    }

    /// <summary>Counts the close of a connection counted by <see cref="Opened"/>.</summary>
    public void Closed() => Interlocked.Decrement(ref _open);

    /// <summary>Reads all counters.</summary>
    public TransportStats Snapshot()
    {
        var refusals = new RefusalCounts(
            Read(HandshakeRefusal.Handshake), Read(HandshakeRefusal.Plaintext), Read(HandshakeRefusal.CertificateMissing),
            Read(HandshakeRefusal.CertificateUntrusted), Read(HandshakeRefusal.CertificateExpired),
            Read(HandshakeRefusal.CertificateIdentity), Read(HandshakeRefusal.Tls), Read(HandshakeRefusal.ClusterSecret),
            Read(HandshakeRefusal.BadFrame), Read(HandshakeRefusal.Timeout), Read(HandshakeRefusal.Limit));
        var drops = new DropCounts(
            Dropped(TransportDrop.QueueFull), Dropped(TransportDrop.UnknownPeer), Dropped(TransportDrop.Stopped),
            Dropped(TransportDrop.TooLarge), Dropped(TransportDrop.EncodeFailed));
        var peers = new List<PeerTransportStats>(_peers.Count);
        foreach (var (id, p) in _peers)
        {
            var (queued, connected) = _peerState?.Invoke(id) ?? (0, false);
            peers.Add(new PeerTransportStats(id, Interlocked.Read(ref p.FramesSent), Interlocked.Read(ref p.FramesReceived),
                Interlocked.Read(ref p.BytesSent), Interlocked.Read(ref p.BytesReceived), Interlocked.Read(ref p.Dropped),
                Interlocked.Read(ref p.Reconnects), queued, connected));
        }
        peers.Sort((a, b) => a.Peer.CompareTo(b.Peer));
        return new(
            Interlocked.Read(ref _framesSent), Interlocked.Read(ref _framesReceived),
            Interlocked.Read(ref _bytesSent), Interlocked.Read(ref _bytesReceived),
            drops.Total, Interlocked.Read(ref _badFrames),
            refusals.Total, Interlocked.Read(ref _reconnects), Refusals: refusals, Drops: drops,
            ConnectionsOpen: Interlocked.Read(ref _open), ConnectionsAccepted: Interlocked.Read(ref _accepted),
            ConnectionsDialed: Interlocked.Read(ref _dialed), Peers: peers);

        long Read(HandshakeRefusal reason) => Interlocked.Read(ref _refused[(int)reason]);
        long Dropped(TransportDrop reason) => Interlocked.Read(ref _drops[(int)reason]);
    }
}
