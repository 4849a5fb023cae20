/// Certificates made at run time with CertificateRequest (no certificate file is checked in): a cluster CA, node
/// certificates naming a node id (SAN URI `urn:raft:node:ID` and CN `raft-node-ID`), expired ones, ones from another
/// CA; written as PEM files into a temp directory, with the TLS options pointing at them. Linked into the host tests
/// and the benchmarks (`cluster --tls`).
module Raft.Tests.TestCertificates

open System
open System.IO
open System.Security.Cryptography
open System.Security.Cryptography.X509Certificates
open Raft.Transport.Tcp

/// A certificate with its private key (ECDSA P-256: fast to make, so each test makes its own).
type Issued = { Certificate: X509Certificate2; Key: ECDsa }

/// A self-signed CA valid from a month ago to a year from now.
let newCa (name: string) =
    let key = ECDsa.Create(ECCurve.NamedCurves.nistP256)
    let request = CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256)
    request.CertificateExtensions.Add(X509BasicConstraintsExtension(true, false, 0, true))
    request.CertificateExtensions.Add(X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign ||| X509KeyUsageFlags.CrlSign, true))
    request.CertificateExtensions.Add(X509SubjectKeyIdentifierExtension(request.PublicKey, false))
    let now = DateTimeOffset.UtcNow
    { Certificate = request.CreateSelfSigned(now.AddDays -30.0, now.AddYears 1); Key = key }

/// An intermediate CA signed by `root`, valid from a week ago to six months from now, able to sign node certificates.
let newIntermediate (root: Issued) (name: string) =
    let key = ECDsa.Create(ECCurve.NamedCurves.nistP256)
    let request = CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256)
    request.CertificateExtensions.Add(X509BasicConstraintsExtension(true, true, 0, true))
    request.CertificateExtensions.Add(X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign ||| X509KeyUsageFlags.CrlSign, true))
    request.CertificateExtensions.Add(X509SubjectKeyIdentifierExtension(request.PublicKey, false))
    request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root.Certificate, true, false))
    let now = DateTimeOffset.UtcNow
    let serial = RandomNumberGenerator.GetBytes 8
    serial[0] <- serial[0] &&& 0x7Fuy // a positive serial number
    use signed = request.Create(root.Certificate, now.AddDays -7.0, now.AddMonths 6, serial)
    { Certificate = signed.CopyWithPrivateKey key; Key = key }

/// A certificate signed by `ca` with subject CN `commonName` and the given SAN URIs, valid in [notBefore, notAfter].
let issueNamed (ca: Issued) (commonName: string) (uris: string list) (notBefore: DateTimeOffset) (notAfter: DateTimeOffset) =
    let key = ECDsa.Create(ECCurve.NamedCurves.nistP256)
    let request = CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256)
    request.CertificateExtensions.Add(X509BasicConstraintsExtension(false, false, 0, true))
    request.CertificateExtensions.Add(X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true))
    let usages = OidCollection()
    usages.Add(Oid "1.3.6.1.5.5.7.3.1") |> ignore // server authentication
    usages.Add(Oid "1.3.6.1.5.5.7.3.2") |> ignore // client authentication
    request.CertificateExtensions.Add(X509EnhancedKeyUsageExtension(usages, false))
    if not uris.IsEmpty then
        let san = SubjectAlternativeNameBuilder()
        for u in uris do san.AddUri(Uri u)
        request.CertificateExtensions.Add(san.Build())
    request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, true, false))
    let serial = RandomNumberGenerator.GetBytes 16
    serial[0] <- serial[0] &&& 0x7Fuy // a positive serial number
    let signed = request.Create(ca.Certificate, notBefore, notAfter, serial)
    { Certificate = signed; Key = key }

/// Node `id`'s certificate from `ca`, valid from a day ago for 30 days, naming the id both ways.
let issue (ca: Issued) (id: int64) =
    let now = DateTimeOffset.UtcNow
    issueNamed ca (NodeIdentity.CommonNameOf id) [ NodeIdentity.UriOf id ] (now.AddDays -1.0) (now.AddDays 30.0)

/// Node `id`'s certificate from `ca` that expired yesterday.
let issueExpired (ca: Issued) (id: int64) =
    let now = DateTimeOffset.UtcNow
    issueNamed ca (NodeIdentity.CommonNameOf id) [ NodeIdentity.UriOf id ] (now.AddDays -10.0) (now.AddDays -1.0)

/// The certificate with its key attached, as a TLS client or server needs it.
let withKey (issued: Issued) =
    use attached = issued.Certificate.CopyWithPrivateKey issued.Key
    X509CertificateLoader.LoadPkcs12(attached.Export X509ContentType.Pkcs12, null)

/// A temp directory of PEM files, deleted on dispose.
type PemDirectory() =
    let root = Path.Combine(Path.GetTempPath(), "raft-tls-tests", Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory root |> ignore
    member _.Root = root

    /// Writes `content` to `name` by a rename, as a rotation tool would (a reader never sees half a file).
    member _.Write(name: string, content: string) =
        let path = Path.Combine(root, name)
        let temp = path + ".tmp"
        File.WriteAllText(temp, content)
        File.Move(temp, path, true)
        path

    /// Writes `issued` as node `name`'s certificate and key files.
    member this.WriteNode(name: string, issued: Issued) =
        this.Write($"{name}.crt", issued.Certificate.ExportCertificatePem()) |> ignore
        this.Write($"{name}.key", issued.Key.ExportPkcs8PrivateKeyPem()) |> ignore

    /// Writes the CA file `name` holding the given CAs' certificates.
    member this.WriteCa(name: string, cas: Issued list) =
        this.Write(name, cas |> List.map (fun ca -> ca.Certificate.ExportCertificatePem()) |> String.concat "\n")

    /// Mutual TLS options for node files `name` and CA file `ca` (both written before).
    member _.Options(name: string, ca: string) =
        TcpTlsOptions(Mode = TlsMode.Mutual, CertificatePath = Path.Combine(root, $"{name}.crt"),
                      KeyPath = Path.Combine(root, $"{name}.key"), CaPath = Path.Combine(root, ca))

    interface IDisposable with
        member _.Dispose() = try Directory.Delete(root, true) with _ -> ()

/// A PEM directory with a cluster CA (file `ca.pem`) and a certificate for each of `ids` (files `node-ID.crt/.key`);
/// `Options($"node-{id}", "ca.pem")` then configures node `id`.
let clusterFiles (ids: int64 seq) =
    let pem = new PemDirectory()
    let ca = newCa "raft-test-ca"
    pem.WriteCa("ca.pem", [ ca ]) |> ignore
    for id in ids do pem.WriteNode($"node-{id}", issue ca id)
    pem, ca
