namespace Raft.Transport;

/// <summary>Why a transport refused a connection before any message passed on it; the <c>reason</c> tag of
/// <c>raft.transport.handshakes.refused</c> (see <see cref="RefusalCounts"/>).</summary>
public enum HandshakeRefusal
{
    /// <summary>The handshake named another cluster, an unknown node or another target, or the peer refused ours.</summary>
    Handshake,
    /// <summary>A plaintext connection to a node that requires TLS.</summary>
    Plaintext,
    /// <summary>The peer presented no certificate.</summary>
    CertificateMissing,
    /// <summary>The peer's certificate does not chain to the configured CA (or fails another chain check).</summary>
    CertificateUntrusted,
    /// <summary>The peer's certificate (or one in its chain) is expired or not yet valid.</summary>
    CertificateExpired,
    /// <summary>The peer's certificate does not name the node id it claims (or does not match that node's pinned thumbprint).</summary>
    CertificateIdentity,
    /// <summary>The TLS handshake failed for another reason (protocol version, alert, malformed record).</summary>
    Tls,
    /// <summary>The peer could not prove knowledge of the cluster secret, or did not try.</summary>
    ClusterSecret,
    /// <summary>A frame of the handshake was malformed (bad magic, version, CRC, size or content).</summary>
    BadFrame,
    /// <summary>The handshake did not complete within the connect timeout (a silent or slow client).</summary>
    Timeout,
    /// <summary>Closed on accept: <see cref="Tcp.TcpTransportOptions.MaxPendingHandshakes"/> connections were already in
    /// their handshake (a flood of clients that connect and say nothing).</summary>
    Limit,
}

/// <summary>Refused handshakes by <see cref="HandshakeRefusal"/>, monotonic since start.</summary>
public readonly record struct RefusalCounts(
    long Handshake,
    long Plaintext,
    long CertificateMissing,
    long CertificateUntrusted,
    long CertificateExpired,
    long CertificateIdentity,
    long Tls,
    long ClusterSecret,
    long BadFrame = 0,
    long Timeout = 0,
    long Limit = 0)
{
    /// <summary>The count of one reason.</summary>
    public long this[HandshakeRefusal reason] => reason switch
    {
        HandshakeRefusal.Handshake => Handshake,
        HandshakeRefusal.Plaintext => Plaintext,
        HandshakeRefusal.CertificateMissing => CertificateMissing,
        HandshakeRefusal.CertificateUntrusted => CertificateUntrusted,
        HandshakeRefusal.CertificateExpired => CertificateExpired,
        HandshakeRefusal.CertificateIdentity => CertificateIdentity,
        HandshakeRefusal.Tls => Tls,
        HandshakeRefusal.ClusterSecret => ClusterSecret,
        HandshakeRefusal.BadFrame => BadFrame,
        HandshakeRefusal.Timeout => Timeout,
        HandshakeRefusal.Limit => Limit,
        _ => throw new ArgumentOutOfRangeException(nameof(reason), reason, null),
    };

    /// <summary>Every reason with its metric tag value (snake case, e.g. <c>certificate_expired</c>).</summary>
    public static IReadOnlyList<(HandshakeRefusal Reason, string Tag)> Tags { get; } =
    [
        (HandshakeRefusal.Handshake, "handshake"),
        (HandshakeRefusal.Plaintext, "plaintext"),
        (HandshakeRefusal.CertificateMissing, "certificate_missing"),
        (HandshakeRefusal.CertificateUntrusted, "certificate_untrusted"),
        (HandshakeRefusal.CertificateExpired, "certificate_expired"),
        (HandshakeRefusal.CertificateIdentity, "certificate_identity"),
        (HandshakeRefusal.Tls, "tls"),
        (HandshakeRefusal.ClusterSecret, "cluster_secret"),
        (HandshakeRefusal.BadFrame, "bad_frame"),
        (HandshakeRefusal.Timeout, "timeout"),
        (HandshakeRefusal.Limit, "limit"),
    ];

    /// <summary>The sum over every reason.</summary>
    public long Total => Handshake + Plaintext + CertificateMissing + CertificateUntrusted + CertificateExpired + CertificateIdentity + Tls + ClusterSecret
        + BadFrame + Timeout + Limit;
}
