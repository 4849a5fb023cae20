namespace Raft.Transport.Tcp;

/// <summary>Whether the TCP transport speaks TLS.</summary>
public enum TlsMode
{
    /// <summary>Plaintext frames (optionally with a <see cref="TcpTransportOptions.ClusterSecret"/>).</summary>
    Off,
    /// <summary>TLS 1.3 only, both sides present a certificate chaining to <see cref="TcpTlsOptions.CaPath"/> that names
    /// their node id; plaintext connections are refused.</summary>
    Mutual,
}

/// <summary>
/// Mutual TLS between nodes (configuration section <c>Raft:Tls</c>). Every file is PEM; they are read again when a
/// connection opens and their contents changed, so a certificate rotated on disk is used from the next connection on
/// without a restart (connections already open keep the certificate they were opened with).
/// </summary>
public sealed class TcpTlsOptions
{
    /// <summary>Off (the default) or Mutual.</summary>
    public TlsMode Mode { get; set; } = TlsMode.Off;

    /// <summary>This node's certificate (PEM), optionally followed by intermediate CA certificates to send with it. It must
    /// name this node's id: a subject alternative name URI <c>urn:raft:node:ID</c> or a subject CN <c>raft-node-ID</c>
    /// (or its SHA-256 thumbprint pinned in <see cref="Thumbprints"/>).</summary>
    public string CertificatePath { get; set; } = "";

    /// <summary>The private key of <see cref="CertificatePath"/> (PEM, PKCS#8, RSA or EC, unencrypted).</summary>
    public string KeyPath { get; set; } = "";

    /// <summary>The cluster CA certificate(s) (PEM): a peer's certificate must chain to one of them; the system store is not used.</summary>
    public string CaPath { get; set; } = "";

    /// <summary>
    /// Check revocation online (CRL / OCSP) while building a peer's chain. Off by default: a private cluster CA usually
    /// publishes no revocation endpoint, and with one configured every connection would wait on (or fail with) that
    /// endpoint, so a CA outage would partition the cluster. Revoke a node by removing it from the membership and the
    /// peers, and rotate the CA when a key leaks.
    /// </summary>
    public bool CheckRevocation { get; set; }

    /// <summary>Optional pins, node id to the SHA-256 thumbprint (hex) of its certificate: for a listed node the thumbprint
    /// is checked instead of the names in the certificate (the chain to the CA is still checked). A rotation then needs the
    /// pin changed too.</summary>
    public Dictionary<long, string> Thumbprints { get; set; } = new();

    /// <summary>Whether TLS is on.</summary>
    public bool Enabled => Mode == TlsMode.Mutual;

    /// <summary>Every problem, each naming its key under <paramref name="prefix"/> (e.g. <c>Raft:Tls</c>). When TLS is on
    /// the files are read, so an unreadable file, a key that does not match the certificate, or a certificate that does not
    /// name <paramref name="nodeId"/> is reported at start rather than at the first connection.</summary>
    public IReadOnlyList<string> Validate(string prefix, long nodeId)
    {
        string Key(string name) => $"{prefix}:{name}";
        var errors = new List<string>();
        if (!Enum.IsDefined(Mode)) { errors.Add($"{Key(nameof(Mode))} must be {string.Join(" or ", Enum.GetNames<TlsMode>())} (got {Mode})"); return errors; }
        foreach (var (id, pin) in Thumbprints ?? [])
            if (NodeIdentity.NormalizeThumbprint(pin) is null)
                errors.Add($"{Key(nameof(Thumbprints))}:{id} '{pin}' is not a SHA-256 thumbprint (64 hex digits)");
        if (!Enabled) return errors;
        var missing = false;
        foreach (var (name, path) in new[] { (nameof(CertificatePath), CertificatePath), (nameof(KeyPath), KeyPath), (nameof(CaPath), CaPath) })
        {
            if (string.IsNullOrWhiteSpace(path)) { errors.Add($"{Key(name)} must be set when {Key(nameof(Mode))} is {Mode}"); missing = true; }
            else if (!File.Exists(path)) { errors.Add($"{Key(name)} '{path}': no such file"); missing = true; }
        }
        if (missing || errors.Count > 0) return errors;
        try
        {
            using var credentials = NodeCredentials.Load(this);
            if (!NodeIdentity.Matches(credentials.Certificate, nodeId, Thumbprints))
                errors.Add($"{Key(nameof(CertificatePath))} '{CertificatePath}' does not name node {nodeId} " +
                           $"(needs a SAN URI {NodeIdentity.UriOf(nodeId)} or subject CN={NodeIdentity.CommonNameOf(nodeId)}, or a pin in {Key(nameof(Thumbprints))}:{nodeId}); its peers would refuse it");
        }
        catch (TlsConfigurationException ex) { errors.Add($"{Key(ex.Key)} {ex.Message}"); }
        return errors;
    }
}
