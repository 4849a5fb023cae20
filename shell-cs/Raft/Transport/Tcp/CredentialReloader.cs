using System.Security.Cryptography;

namespace Raft.Transport.Tcp;

/// <summary>
/// The TLS files as of the last connection opened: each new connection (accepted or dialed) asks for
/// <see cref="Current"/>, which reads the three files again and parses them only when their bytes changed. Comparing
/// contents rather than timestamps sees a rotation however fast it follows the previous one. A rotation caught half
/// written (a certificate without its new key) keeps the previous credentials and is retried at the next connection.
/// </summary>
internal sealed class CredentialReloader
{
    private readonly TcpTlsOptions _options;
    private readonly object _gate = new();
    private NodeCredentials _current;
    private byte[] _digest;

    /// <exception cref="TlsConfigurationException">The files cannot be used at start.</exception>
    public CredentialReloader(TcpTlsOptions options)
    {
        _options = options;
        _digest = Digest();
        _current = NodeCredentials.Load(options);
    }

    /// <summary>The credentials to open a connection with; <paramref name="reloadError"/> says why changed files were not taken.</summary>
    public NodeCredentials Current(out string? reloadError)
    {
        reloadError = null;
        lock (_gate)
        {
            byte[] digest;
            try { digest = Digest(); }
            catch (IOException ex) { reloadError = ex.Message; return _current; }
            catch (UnauthorizedAccessException ex) { reloadError = ex.Message; return _current; }
            if (digest.AsSpan().SequenceEqual(_digest)) return _current;
            try { _current = NodeCredentials.Load(_options); }
            catch (TlsConfigurationException ex)
            {
                reloadError = $"Tls:{ex.Key} {ex.Message}";
                return _current;
            }
            // The previous credentials are not disposed: a handshake that took them may still be running.
            _digest = digest;
            return _current;
        }
    }

    private byte[] Digest()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var path in new[] { _options.CertificatePath, _options.KeyPath, _options.CaPath })
        {
            hash.AppendData(File.ReadAllBytes(path));
            hash.AppendData([0]); // the files' boundaries count: moving bytes from one to the next is a change
        }
        return hash.GetHashAndReset();
    }
}
