namespace Raft.Transport;

/// <summary>A point-in-time copy of a transport's counters (all monotonic since start).</summary>
/// <param name="FramesSent">Frames written to sockets (or handed to the in-memory link).</param>
/// <param name="FramesReceived">Frames decoded and handed to the receive handler.</param>
/// <param name="BytesSent">Bytes written, frame headers included.</param>
/// <param name="BytesReceived">Bytes of well-formed frames read, headers included.</param>
/// <param name="Dropped">Messages not sent: queue full, unknown peer, stopped, unencodable or over the frame cap.</param>
/// <param name="BadFrames">Connections closed for garbage, bad magic/version/flags, bad CRC, oversized or truncated frames, or undecodable payloads.</param>
/// <param name="RefusedHandshakes">Handshakes refused, every reason together (the sum of <paramref name="Refusals"/>).</param>
/// <param name="Reconnects">Connections to a peer established after an earlier one to that peer was lost.</param>
/// <param name="Partitioned">Messages dropped on purpose by a <see cref="Faults.FaultFilterTransport{TMessage}"/>
/// (sent to or received from a partitioned peer); not part of <paramref name="Dropped"/>.</param>
/// <param name="Refusals">Refused handshakes by reason: the handshake's ids, plaintext to a TLS node, certificate
/// checks, TLS failures, the cluster secret.</param>
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
    RefusalCounts Refusals = default);

/// <summary>Thread-safe counters behind <see cref="TransportStats"/>; shared by the transport's loops.</summary>
public sealed class TransportCounters
{
    private long _framesSent, _framesReceived, _bytesSent, _bytesReceived, _dropped, _badFrames, _reconnects;
    private readonly long[] _refused = new long[RefusalCounts.Tags.Count];

    /// <summary>Counts frames and bytes written.</summary>
    public void Sent(long frames, long bytes) { Interlocked.Add(ref _framesSent, frames); Interlocked.Add(ref _bytesSent, bytes); }
    /// <summary>Counts one frame read.</summary>
    public void Received(long bytes) { Interlocked.Increment(ref _framesReceived); Interlocked.Add(ref _bytesReceived, bytes); }
    /// <summary>Counts one dropped message.</summary>
    public void Drop() => Interlocked.Increment(ref _dropped);
    /// <summary>Counts one bad frame (its connection is closed).</summary>
    public void BadFrame() => Interlocked.Increment(ref _badFrames);
    /// <summary>Counts one refused handshake, by reason.</summary>
    public void RefusedHandshake(HandshakeRefusal reason = HandshakeRefusal.Handshake) => Interlocked.Increment(ref _refused[(int)reason]);
    /// <summary>Counts one re-established connection.</summary>
    public void Reconnect() => Interlocked.Increment(ref _reconnects);

    /// <summary>Reads all counters.</summary>
    public TransportStats Snapshot()
    {
        var refusals = new RefusalCounts(
            Read(HandshakeRefusal.Handshake), Read(HandshakeRefusal.Plaintext), Read(HandshakeRefusal.CertificateMissing),
            Read(HandshakeRefusal.CertificateUntrusted), Read(HandshakeRefusal.CertificateExpired),
            Read(HandshakeRefusal.CertificateIdentity), Read(HandshakeRefusal.Tls), Read(HandshakeRefusal.ClusterSecret));
        return new(
            Interlocked.Read(ref _framesSent), Interlocked.Read(ref _framesReceived),
            Interlocked.Read(ref _bytesSent), Interlocked.Read(ref _bytesReceived),
            Interlocked.Read(ref _dropped), Interlocked.Read(ref _badFrames),
            refusals.Total, Interlocked.Read(ref _reconnects), Refusals: refusals);

        long Read(HandshakeRefusal reason) => Interlocked.Read(ref _refused[(int)reason]);
    }
}
