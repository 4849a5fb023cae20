using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Transport.Tcp;

/// <summary>A TLS setting that cannot be used; <see cref="Key"/> is the setting's name under <c>Tls</c> (e.g. <c>KeyPath</c>).</summary>
internal sealed class TlsConfigurationException(string key, string message, Exception? inner = null) : Exception(message, inner)
{
    public string Key { get; } = key;
}

/// <summary>One reading of the TLS files: this node's certificate with its key and intermediates, and the CAs a peer
/// must chain to.</summary>
internal sealed class NodeCredentials : IDisposable
{
    private NodeCredentials(X509Certificate2 certificate, X509Certificate2Collection intermediates, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        Intermediates = intermediates;
        Authorities = authorities;
        // Offline: the chain sent to peers is the one in the file; no fetching of missing issuers at handshake time.
        Context = SslStreamCertificateContext.Create(certificate, intermediates, offline: true);
    }

    public X509Certificate2 Certificate { get; }
    public X509Certificate2Collection Intermediates { get; }
    public X509Certificate2Collection Authorities { get; }
    public SslStreamCertificateContext Context { get; }

    /// <summary>Reads the three files of <paramref name="options"/>.</summary>
    /// <exception cref="TlsConfigurationException">A file is missing or unreadable, or the key does not match the certificate.</exception>
    public static NodeCredentials Load(TcpTlsOptions options)
    {
        var chain = ReadCertificates(nameof(TcpTlsOptions.CertificatePath), options.CertificatePath);
        X509Certificate2 withKey;
        try
        {
            using var ephemeral = X509Certificate2.CreateFromPemFile(options.CertificatePath, options.KeyPath);
            // A PEM key is ephemeral; a PKCS#12 round trip gives a key every platform's TLS stack can use.
            withKey = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12), password: null);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new TlsConfigurationException(nameof(TcpTlsOptions.KeyPath),
                $"'{options.KeyPath}' is not the PEM private key of '{options.CertificatePath}': {ex.Message}", ex);
        }
        var intermediates = new X509Certificate2Collection();
        for (var i = 1; i < chain.Count; i++) intermediates.Add(chain[i]);
        var authorities = ReadCertificates(nameof(TcpTlsOptions.CaPath), options.CaPath);
        return new NodeCredentials(withKey, intermediates, authorities);
    }

    private static X509Certificate2Collection ReadCertificates(string key, string path)
    {
        var certificates = new X509Certificate2Collection();
        try { certificates.ImportFromPemFile(path); }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new TlsConfigurationException(key, $"'{path}' is not a readable PEM certificate file: {ex.Message}", ex);
        }
        if (certificates.Count == 0) throw new TlsConfigurationException(key, $"'{path}' holds no PEM certificate");
        return certificates;
    }

    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var c in Intermediates) c.Dispose();
        foreach (var c in Authorities) c.Dispose();
    }
}
