using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Raft.AspNetCore;

/// <summary>HTTPS on a server's HTTP endpoints, one switch: a PEM certificate and key (Kestrel serves every https URL
/// with them; plain http is then not served on those URLs).</summary>
public sealed class RaftHttpsOptions
{
    /// <summary>The server certificate, PEM (its chain may follow it in the file); empty for plain HTTP.</summary>
    public string CertificatePath { get; set; } = "";

    /// <summary>Its private key, PEM (PKCS#8, EC or RSA).</summary>
    public string KeyPath { get; set; } = "";

    /// <summary>Whether HTTPS is configured.</summary>
    public bool Enabled => CertificatePath.Length > 0 || KeyPath.Length > 0;

    /// <summary>Every problem, each naming its key under <paramref name="section"/> (e.g. <c>Kv:Https</c>); empty when valid.</summary>
    public IReadOnlyList<string> Validate(string section)
    {
        if (!Enabled) return [];
        var errors = new List<string>();
        if (CertificatePath.Length == 0) errors.Add($"{section}:CertificatePath must name a PEM certificate when {section}:KeyPath is set");
        else if (!File.Exists(CertificatePath)) errors.Add($"{section}:CertificatePath '{CertificatePath}' does not exist");
        if (KeyPath.Length == 0) errors.Add($"{section}:KeyPath must name the PEM private key when {section}:CertificatePath is set");
        else if (!File.Exists(KeyPath)) errors.Add($"{section}:KeyPath '{KeyPath}' does not exist");
        if (errors.Count > 0) return errors;
        try { using var _ = X509Certificate2.CreateFromPemFile(CertificatePath, KeyPath); }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            errors.Add($"{section}:CertificatePath '{CertificatePath}' with {section}:KeyPath '{KeyPath}' is not a usable certificate and key: {e.Message}");
        }
        return errors;
    }
}

/// <summary>Turns HTTPS on for Kestrel from <see cref="RaftHttpsOptions"/>.</summary>
public static class RaftHttps
{
    /// <summary>Serves the https URLs with the configured certificate; asks for (but does not require) a client
    /// certificate when <paramref name="admin"/> lets certificates authorize the admin endpoints or membership changes (the endpoints check it
    /// themselves, so any certificate is let through the handshake). Does nothing when HTTPS is not configured.</summary>
    public static IWebHostBuilder UseRaftHttps(this IWebHostBuilder web, RaftHttpsOptions https, RaftChaosOptions? admin = null)
    {
        ArgumentNullException.ThrowIfNull(web);
        ArgumentNullException.ThrowIfNull(https);
        if (!https.Enabled) return web;
        var certificate = X509Certificate2.CreateFromPemFile(https.CertificatePath, https.KeyPath);
        return web.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(h =>
        {
            h.ServerCertificate = certificate;
            if (admin is { UsesCertificates: true })
            {
                h.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
                h.AllowAnyClientCertificate();
            }
        }));
    }
}
