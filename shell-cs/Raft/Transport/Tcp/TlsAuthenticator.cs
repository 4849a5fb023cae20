using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Raft.Transport.Tcp;

/// <summary>A connection refused before it carried a message; counted under <see cref="Reason"/>.</summary>
internal sealed class HandshakeRefusedException(HandshakeRefusal reason, string message, Exception? inner = null) : Exception(message, inner)
{
    public HandshakeRefusal Reason { get; } = reason;
}

/// <summary>
/// The TLS side of opening a connection: TLS 1.3 only, a certificate required from both sides, the peer's chain built
/// against the configured CAs alone (not the system store), its validity period checked, and, on the dialing side, the
/// acceptor's certificate checked to name the node dialed. The acceptor checks the dialer's certificate against the id
/// its hello claims once the hello is read (<see cref="Names"/>). Each connection takes the credentials current at that
/// moment, so a rotated certificate is used from the next connection on.
/// </summary>
internal sealed class TlsAuthenticator(TcpTlsOptions options, ILogger logger)
{
    private readonly TcpTlsOptions _options = options;
    private readonly ILogger _logger = logger;
    /// <summary>The first byte of every TLS record carrying a handshake message (a ClientHello starts with it).</summary>
    private const byte TlsHandshakeRecord = 0x16;

    private readonly CredentialReloader _credentials = new(options);

    /// <summary>Waits for the dialer's first byte without consuming it, and refuses anything but the start of a TLS
    /// handshake: a plaintext hello ("RAFT...") or garbage. The TLS stack would refuse it too, only less legibly.</summary>
    public static async Task RefusePlaintextAsync(Socket socket, CancellationToken cancellationToken)
    {
        var first = new byte[1];
        var n = await socket.ReceiveAsync(first, SocketFlags.Peek, cancellationToken).ConfigureAwait(false);
        if (n == 0) throw new EndOfStreamException("closed before the TLS handshake");
        if (first[0] != TlsHandshakeRecord)
            throw new HandshakeRefusedException(HandshakeRefusal.Plaintext,
                first[0] == (byte)'R' ? "plaintext handshake to a node that requires TLS" : $"not a TLS handshake (first byte 0x{first[0]:X2})");
    }

    /// <summary>The acceptor's TLS handshake; returns the stream and the dialer's certificate (chain already checked).</summary>
    /// <exception cref="HandshakeRefusedException">No certificate, an untrusted or expired one, or another TLS failure.</exception>
    public async Task<(SslStream Stream, X509Certificate2 Peer)> AcceptAsync(NetworkStream network, CancellationToken cancellationToken)
    {
        var credentials = Credentials();
        var check = new PeerCheck(this, credentials, expectedNode: null);
        var ssl = new SslStream(network, leaveInnerStreamOpen: false);
        var server = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = credentials.Context,
            ClientCertificateRequired = true,
            EnabledSslProtocols = SslProtocols.Tls13,
            // The chain is built by PeerCheck against the cluster CA; the platform's own check would use the system store.
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = check.Validate,
            AllowRenegotiation = false,
            // Every connection a full handshake: a resumed session carries no peer chain (its intermediates are gone,
            // so PeerCheck could not build it) and would skip presenting a rotated certificate. Connections are rare.
            AllowTlsResume = false,
        };
        await AuthenticateAsync(ssl, check, () => ssl.AuthenticateAsServerAsync(server, cancellationToken)).ConfigureAwait(false);
        return (ssl, check.Peer!);
    }

    /// <summary>The dialer's TLS handshake with node <paramref name="peerId"/>, whose certificate must name it.</summary>
    /// <exception cref="HandshakeRefusedException">The acceptor's certificate is missing, untrusted, expired or names another node, or TLS failed.</exception>
    public async Task<SslStream> DialAsync(NetworkStream network, long peerId, CancellationToken cancellationToken)
    {
        var credentials = Credentials();
        var check = new PeerCheck(this, credentials, expectedNode: peerId);
        var ssl = new SslStream(network, leaveInnerStreamOpen: false);
        var client = new SslClientAuthenticationOptions
        {
            TargetHost = NodeIdentity.CommonNameOf(peerId), // the name is checked by PeerCheck; SNI only
            ClientCertificateContext = credentials.Context,
            EnabledSslProtocols = SslProtocols.Tls13,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = check.Validate,
            AllowRenegotiation = false,
            AllowTlsResume = false, // as for the acceptor
        };
        await AuthenticateAsync(ssl, check, () => ssl.AuthenticateAsClientAsync(client, cancellationToken)).ConfigureAwait(false);
        return ssl;
    }

    /// <summary>Whether the peer certificate <paramref name="certificate"/> is node <paramref name="nodeId"/>'s.</summary>
    public bool Names(X509Certificate2 certificate, long nodeId) => NodeIdentity.Matches(certificate, nodeId, _options.Thumbprints);

    private NodeCredentials Credentials()
    {
        var credentials = _credentials.Current(out var error);
        if (error is not null) _logger.TlsReloadFailed(error);
        return credentials;
    }

    private static async Task AuthenticateAsync(SslStream ssl, PeerCheck check, Func<Task> authenticate)
    {
        try { await authenticate().ConfigureAwait(false); }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            if (check.Refusal is { } reason) throw new HandshakeRefusedException(reason, check.Why!, ex);
            throw new HandshakeRefusedException(HandshakeRefusal.Tls, $"TLS handshake failed: {ex.Message}", ex);
        }
        catch
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One connection's certificate verdict, written by the TLS stack's validation callback.</summary>
    private sealed class PeerCheck(TlsAuthenticator owner, NodeCredentials credentials, long? expectedNode)
    {
        public HandshakeRefusal? Refusal { get; private set; }
        public string? Why { get; private set; }
        public X509Certificate2? Peer { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? sent, SslPolicyErrors errors)
        {
            if (certificate is null)
                return Refuse(HandshakeRefusal.CertificateMissing, "the peer presented no certificate");
            var leaf = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            using var chain = new X509Chain();
            var policy = chain.ChainPolicy;
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(credentials.Authorities);
            policy.RevocationMode = owner._options.CheckRevocation ? X509RevocationMode.Online : X509RevocationMode.NoCheck;
            policy.VerificationTime = DateTime.Now;
            if (sent is not null)
            {
                // The intermediates the peer sent: the TLS stack's own chain holds them in its extra store and, once
                // it found them, among its elements; both are offered, the trust decision stays with the CA file alone.
                policy.ExtraStore.AddRange(sent.ChainPolicy.ExtraStore);
                foreach (var element in sent.ChainElements) policy.ExtraStore.Add(element.Certificate);
            }
            if (!chain.Build(leaf))
            {
                var status = chain.ChainStatus.Aggregate(X509ChainStatusFlags.NoError, (all, s) => all | s.Status);
                var text = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Distinct());
                return (status & X509ChainStatusFlags.NotTimeValid) != 0
                    ? Refuse(HandshakeRefusal.CertificateExpired, $"certificate '{leaf.Subject}' is outside its validity period ({leaf.NotBefore:u} to {leaf.NotAfter:u})")
                    : Refuse(HandshakeRefusal.CertificateUntrusted, $"certificate '{leaf.Subject}' does not chain to the cluster CA: {text}");
            }
            if (expectedNode is { } id && !owner.Names(leaf, id))
                return Refuse(HandshakeRefusal.CertificateIdentity, $"certificate '{leaf.Subject}' does not name node {id}");
            Peer = leaf;
            return true;
        }

        private bool Refuse(HandshakeRefusal reason, string why)
        {
            Refusal = reason;
            Why = why;
            return false;
        }
    }
}
