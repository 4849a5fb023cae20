using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Raft.Transport.Tcp;

/// <summary>
/// How a certificate names a node: a subject alternative name URI <c>urn:raft:node:ID</c> (the form to prefer, like a
/// SPIFFE id), or a subject common name <c>raft-node-ID</c> (for tools that make SANs awkward); or, for a node with a
/// pinned thumbprint, that exact certificate.
/// </summary>
public static class NodeIdentity
{
    private const string SubjectAltNameOid = "2.5.29.17";
    private static readonly Asn1Tag UriTag = new(TagClass.ContextSpecific, 6);

    /// <summary>The SAN URI naming node <paramref name="nodeId"/>: <c>urn:raft:node:ID</c>.</summary>
    public static string UriOf(long nodeId) => $"urn:raft:node:{nodeId.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The subject CN naming node <paramref name="nodeId"/>: <c>raft-node-ID</c>.</summary>
    public static string CommonNameOf(long nodeId) => $"raft-node-{nodeId.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Whether <paramref name="certificate"/> is node <paramref name="nodeId"/>'s: its pinned thumbprint when
    /// <paramref name="pins"/> has one for the node, else a SAN URI or subject CN naming the id.</summary>
    public static bool Matches(X509Certificate2 certificate, long nodeId, IReadOnlyDictionary<long, string>? pins)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (pins is not null && pins.TryGetValue(nodeId, out var pin))
            return NormalizeThumbprint(pin) is { } want
                && CryptographicOperations.FixedTimeEquals(Convert.FromHexString(want), certificate.GetCertHash(HashAlgorithmName.SHA256));
        if (SubjectUris(certificate).Contains(UriOf(nodeId), StringComparer.Ordinal)) return true;
        return string.Equals(certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false), CommonNameOf(nodeId), StringComparison.Ordinal);
    }

    /// <summary>A SHA-256 thumbprint as 64 upper-case hex digits (colons and spaces removed), or null when it is not one.</summary>
    public static string? NormalizeThumbprint(string? text)
    {
        if (text is null) return null;
        var hex = text.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal).ToUpperInvariant();
        return hex.Length == 64 && hex.All(Uri.IsHexDigit) ? hex : null;
    }

    /// <summary>The URIs among the certificate's subject alternative names (the BCL's SAN extension lists only DNS names
    /// and IP addresses, so the extension is read here).</summary>
    public static IReadOnlyList<string> SubjectUris(X509Certificate2 certificate)
    {
        var uris = new List<string>();
        foreach (var extension in certificate.Extensions)
        {
            if (extension.Oid?.Value != SubjectAltNameOid) continue;
            try
            {
                var names = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
                while (names.HasData)
                {
                    if (names.PeekTag().HasSameClassAndValue(UriTag)) uris.Add(names.ReadCharacterString(UniversalTagNumber.IA5String, UriTag));
                    else names.ReadEncodedValue();
                }
            }
            catch (AsnContentException) { /* a malformed extension names nobody */ }
        }
        return uris;
    }
}
