using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;

namespace Raft.Transport.Tcp;

/// <summary>Settings of <see cref="TcpTransport{TMessage}"/>; bindable from configuration and validated at start.</summary>
public sealed class TcpTransportOptions
{
    /// <summary>This node's id (non-zero).</summary>
    public long NodeId { get; set; }

    /// <summary>The cluster's identity; a node presenting another one in the handshake is refused.</summary>
    public string ClusterId { get; set; } = "";

    /// <summary>Where to listen, <c>host:port</c>; port 0 picks a free port (see <see cref="TcpTransport{TMessage}.LocalEndPoint"/>).</summary>
    public string ListenEndpoint { get; set; } = "127.0.0.1:0";

    /// <summary>The other nodes, id to <c>host:port</c>. Only these ids may connect. An entry for this node itself is ignored.</summary>
    public Dictionary<long, string> Peers { get; set; } = new();

    /// <summary>The smallest <see cref="MaxFrameBytes"/> accepted.</summary>
    public const int MinFrameBytes = 1024;

    /// <summary>The default <see cref="MaxFrameBytes"/>.</summary>
    public const int DefaultMaxFrameBytes = 16 * 1024 * 1024;

    /// <summary>The largest frame payload sent or accepted; a bigger incoming frame closes its connection.</summary>
    public int MaxFrameBytes { get; set; } = DefaultMaxFrameBytes;

    /// <summary>Messages queued per peer before <c>TrySend</c> drops.</summary>
    public int QueueCapacity { get; set; } = 4096;

    /// <summary>How many bytes of frames are coalesced into one socket write.</summary>
    public int MaxBatchBytes { get; set; } = 64 * 1024;

    /// <summary>First reconnect delay; it doubles per failure up to <see cref="ReconnectBackoffMax"/>, with jitter.</summary>
    public TimeSpan ReconnectBackoffMin { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>Largest reconnect delay.</summary>
    public TimeSpan ReconnectBackoffMax { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Time allowed for a TCP connect plus the handshake, on both sides.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most accepted connections in their handshake at once; one more is closed on accept and counted as a
    /// refusal (<c>limit</c>). Connections past the handshake are bounded by the peers (one each way per peer), so this
    /// caps what unauthenticated clients can hold open until <see cref="ConnectTimeout"/> closes them.</summary>
    public int MaxPendingHandshakes { get; set; } = 128;

    /// <summary>Mutual TLS between nodes; off by default.</summary>
    public TcpTlsOptions Tls { get; set; } = new();

    /// <summary>
    /// Optional shared key (at least 16 UTF-8 bytes; off when empty): the handshake then proves that both sides know it
    /// (HMAC-SHA256 over a nonce from each side), so connecting as a node needs the key, not just the cluster id. Weaker
    /// than <see cref="Tls"/>: nothing after the handshake is encrypted or authenticated. Every node needs the same value.
    /// </summary>
    public string? ClusterSecret { get; set; }

    /// <summary>Whether a cluster secret is configured.</summary>
    public bool HasClusterSecret => !string.IsNullOrEmpty(ClusterSecret);

    /// <summary>Every problem found, each naming the offending key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (NodeId == 0) errors.Add($"{nameof(NodeId)} must be non-zero.");
        if (string.IsNullOrWhiteSpace(ClusterId)) errors.Add($"{nameof(ClusterId)} must be set.");
        if (!TryParseEndPoint(ListenEndpoint, out _)) errors.Add($"{nameof(ListenEndpoint)} '{ListenEndpoint}' is not host:port.");
        foreach (var (id, endpoint) in Peers ?? [])
        {
            if (id == 0) errors.Add($"{nameof(Peers)}:0 is not a valid node id.");
            if (!TryParseEndPoint(endpoint, out _)) errors.Add($"{nameof(Peers)}:{id} '{endpoint}' is not host:port.");
        }
        if (MaxFrameBytes < MinFrameBytes) errors.Add($"{nameof(MaxFrameBytes)} must be at least {MinFrameBytes} (was {MaxFrameBytes}).");
        if (QueueCapacity < 1) errors.Add($"{nameof(QueueCapacity)} must be at least 1 (was {QueueCapacity}).");
        if (MaxBatchBytes < 1024) errors.Add($"{nameof(MaxBatchBytes)} must be at least 1024 (was {MaxBatchBytes}).");
        if (ReconnectBackoffMin <= TimeSpan.Zero) errors.Add($"{nameof(ReconnectBackoffMin)} must be positive (was {ReconnectBackoffMin}).");
        if (ReconnectBackoffMax < ReconnectBackoffMin) errors.Add($"{nameof(ReconnectBackoffMax)} must be at least {nameof(ReconnectBackoffMin)} (was {ReconnectBackoffMax}).");
        if (MaxPendingHandshakes < 1) errors.Add($"{nameof(MaxPendingHandshakes)} must be at least 1 (was {MaxPendingHandshakes}).");
        if (ConnectTimeout <= TimeSpan.Zero) errors.Add($"{nameof(ConnectTimeout)} must be positive (was {ConnectTimeout}).");
        if (ClusterSecretProblem(ClusterSecret) is { } secret) errors.Add($"{nameof(ClusterSecret)} {secret}.");
        if (Tls is null) errors.Add($"{nameof(Tls)} must not be null.");
        else errors.AddRange(Tls.Validate(nameof(Tls), NodeId));
        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every problem when the options are invalid.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0) throw new OptionsValidationException(nameof(TcpTransportOptions), typeof(TcpTransportOptions), errors);
    }

    /// <summary>What is wrong with a cluster secret (null when it is fine or not set); the caller prefixes the key.</summary>
    public static string? ClusterSecretProblem(string? secret) =>
        !string.IsNullOrEmpty(secret) && ClusterSecretProof.KeyOf(secret).Length < ClusterSecretProof.MinSecretBytes
            ? $"must be at least {ClusterSecretProof.MinSecretBytes} bytes (UTF-8) when set (was {ClusterSecretProof.KeyOf(secret).Length}); use a random value"
            : null;

    /// <summary>Parses <c>ip:port</c>, <c>[ipv6]:port</c> or <c>hostname:port</c>.</summary>
    public static bool TryParseEndPoint(string? text, out EndPoint endPoint)
    {
        endPoint = null!;
        if (string.IsNullOrWhiteSpace(text)) return false;
        if (IPEndPoint.TryParse(text, out var ip) && text.Contains(':')) { endPoint = ip; return true; }
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            return false;
        endPoint = new DnsEndPoint(text[..colon], port);
        return true;
    }
}
