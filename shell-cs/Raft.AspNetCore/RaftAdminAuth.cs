using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Raft.AspNetCore;

/// <summary>Who may call the admin endpoints: a bearer token compared in constant time, or a client certificate allowed
/// by thumbprint or by chaining to the configured CA. Without either: 401; with a wrong one: 403.</summary>
internal sealed class RaftAdminAuth
{
    private readonly byte[]? _token;
    private readonly HashSet<string> _thumbprints;
    private readonly X509Certificate2Collection? _cas;

    public RaftAdminAuth(RaftChaosOptions options)
    {
        _token = options.Token.Length > 0 ? Encoding.UTF8.GetBytes(options.Token) : null;
        _thumbprints = options.AllowedThumbprints.Select(NormalizeThumbprint).ToHashSet(StringComparer.Ordinal);
        if (options.ClientCaPath.Length > 0)
        {
            _cas = new X509Certificate2Collection();
            _cas.ImportFromPemFile(options.ClientCaPath);
            if (_cas.Count == 0) throw new ArgumentException($"The client CA file '{options.ClientCaPath}' holds no certificate.", nameof(options));
        }
    }

    /// <summary>Upper-case hex without separators.</summary>
    public static string NormalizeThumbprint(string text) =>
        new string(text.Where(c => c is not (' ' or ':')).ToArray()).ToUpperInvariant();

    /// <summary>401 with neither credential, 403 with a wrong one, null when one matches.</summary>
    public IResult? Check(HttpContext http)
    {
        var header = http.Request.Headers.Authorization.ToString();
        const string scheme = "Bearer ";
        var hasToken = header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase);
        var certificate = http.Connection.ClientCertificate;
        if (hasToken && _token is not null)
        {
            var given = Encoding.UTF8.GetBytes(header[scheme.Length..].Trim());
            // Constant time in the content (only the length can leak), so a caller cannot find the token byte by byte.
            if (CryptographicOperations.FixedTimeEquals(given, _token)) return null;
        }
        if (certificate is not null && CertificateAllowed(certificate)) return null;
        if (!hasToken && certificate is null)
            return new WithHeader(Results.Problem(Describe(), statusCode: 401, title: "credentials required"), "WWW-Authenticate", "Bearer");
        return Results.Problem(hasToken ? "the bearer token does not match" : "the client certificate is not allowed", statusCode: 403,
            title: hasToken ? "wrong token" : "certificate refused");
    }

    private string Describe() =>
        (_token is not null, _thumbprints.Count > 0 || _cas is not null) switch
        {
            (true, true) => "admin endpoints need Authorization: Bearer <token> or an allowed client certificate",
            (false, true) => "admin endpoints need an allowed client certificate (over HTTPS)",
            _ => "admin endpoints need Authorization: Bearer <token>",
        };

    private bool CertificateAllowed(X509Certificate2 certificate)
    {
        var now = DateTime.Now;
        if (now < certificate.NotBefore || now > certificate.NotAfter) return false;
        if (_thumbprints.Contains(certificate.GetCertHashString(HashAlgorithmName.SHA256)) || _thumbprints.Contains(certificate.Thumbprint)) return true;
        if (_cas is null) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_cas);
        // Revocation is not checked: test and demo CAs publish no CRL, and the admin CA is the operator's own.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    /// <summary>A result with one extra response header (WWW-Authenticate on a 401).</summary>
    private sealed class WithHeader(IResult inner, string name, string value) : IResult
    {
        public Task ExecuteAsync(HttpContext http)
        {
            http.Response.Headers[name] = value;
            return inner.ExecuteAsync(http);
        }
    }
}
