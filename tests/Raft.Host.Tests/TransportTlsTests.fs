/// Mutual TLS on the TCP transport, with a CA and node certificates made at test time: a cluster over TLS commits; a
/// certificate for another node, from another CA, expired, or missing is refused; plaintext to a TLS node is refused;
/// every refusal is counted with its reason (in the transport's stats and the `raft.transport.handshakes.refused`
/// metric); a certificate rotated on disk is used for the next connection. Every wait has a deadline.
module Raft.Host.Tests.TransportTlsTests

open System
open System.Diagnostics.Metrics
open System.IO
open System.Net
open System.Security.Authentication
open System.Security.Cryptography.X509Certificates
open System.Threading
open Microsoft.Extensions.Configuration
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Logging
open Xunit
open FsUnit.Xunit
open Raft.Hosting
open Raft.Node
open Raft.Transport
open Raft.Transport.Tcp
open Raft.Host.Tests.TransportTestKit
open Raft.Tests.TestCertificates
open Raft.Host.Tests.TlsTestKit
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// A PEM directory with a cluster CA (file `ca.pem`) and a certificate for each of `ids` (files `node-ID.crt/.key`).
let private setup (ids: int64 list) = clusterFiles ids

/// Transport options of node `id` with TLS on, using its files in `pem` and the CA file `ca`.
let private tlsOptions (pem: PemDirectory) (ca: string) (id: int64) =
    let o = options id
    o.Tls <- pem.Options($"node-{id}", ca)
    o

let private thumbprint (c: X509Certificate) = c.GetCertHashString()

/// The refusal counts of node `node` as the `raft.transport.handshakes.refused` instrument reports them, by reason tag.
let private refusalMetric (meters: IMeterFactory) (node: int64) =
    let seen = Collections.Generic.Dictionary<string, int64>()
    use listener = new MeterListener()
    listener.InstrumentPublished <- fun instrument l ->
        if obj.ReferenceEquals(instrument.Meter.Scope, meters) && instrument.Name = "raft.transport.handshakes.refused" then
            l.EnableMeasurementEvents instrument
    listener.SetMeasurementEventCallback<int64>(fun _ value tags _ ->
        let mutable onNode = false
        let mutable reason = ""
        for t in tags do
            if t.Key = "raft.node" && string t.Value = string node then onNode <- true
            if t.Key = "reason" then reason <- string t.Value
        if onNode then seen[reason] <- value)
    listener.Start()
    listener.RecordObservableInstruments()
    seen

/// Sends a plaintext hello as node 2 to `endPoint` and waits until the server closes the connection.
let private plaintextHello (endPoint: EndPoint) =
    task {
        let! raw = rawConnect endPoint
        let! _ = raw.Send(frameBytes (fun b -> TcpHandshake.WriteHello(b, Hello(cluster, 2L, 1L))))
        do! raw.WaitClosed()
        let local = string raw.Socket.LocalEndPoint
        raw.Socket.Dispose()
        return local
    }

[<Fact>]
let ``a 3-node cluster over mutual TLS 1.3 commits, and a plaintext probe shows in the refusal metric with reason plaintext`` () =
    task {
        let pem, _ = setup [ 1L; 2L; 3L ]
        use _ = pem
        let services = ServiceCollection().AddMetrics().BuildServiceProvider()
        use _ = services
        let meters = services.GetRequiredService<IMeterFactory>()
        use cluster = new Cluster(3, 1, true, meterFactory = meters, configureTcp = (fun id o -> o.Tls <- pem.Options($"node-{id}", "ca.pem")))
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader 1L
        for i in 1..5 do
            let! _ = cluster.Propose(1L, $"c{i}")
            ()
        do! cluster.WaitApplied(1L, 5)
        let pairs = [ for n in cluster.Nodes do for p in cluster.Ids do if p <> n.Id then n, p ]
        do! Wait.until "every pair connected over TLS" Wait.standard (fun () ->
            pairs |> List.forall (fun (n, p) -> not (isNull (n.Tcp.Value.TlsOf p))))
        for n, p in pairs do
            let tls = nonNull (n.Tcp.Value.TlsOf p)
            tls.SslProtocol |> should equal SslProtocols.Tls13
            let presented = X509CertificateLoader.LoadCertificate((nonNull tls.RemoteCertificate).GetRawCertData())
            NodeIdentity.Matches(presented, p, null) |> should equal true
        for n in cluster.Nodes do credentialRefusals n.Host.TransportStats |> should equal 0L

        let! _ = plaintextHello (nonNull (cluster.Node 1L).Tcp.Value.LocalEndPoint)
        do! Wait.until "node 1 counts the plaintext probe" Wait.standard (fun () ->
            (cluster.Node 1L).Host.TransportStats.Refusals.Plaintext = 1L)
        let metric = refusalMetric meters 1L
        metric["plaintext"] |> should equal 1L
        metric["handshake"] |> should equal 0L
        metric.Keys |> Set.ofSeq |> should equal (RefusalCounts.Tags |> Seq.map (fun struct (_, tag) -> tag) |> Set.ofSeq)
    }

[<Theory>]
[<InlineData("acceptor")>]
[<InlineData("dialer")>]
let ``a certificate naming another node is refused and counted as certificate_identity`` (side: string) =
    task {
        let pem, ca = setup [ 1L; 3L ]
        use _ = pem
        let dead, deadEp = deadEndPoint ()
        use _ = dead
        if side = "acceptor" then
            // A client holding node 3's valid certificate claims to be node 2.
            let o = tlsOptions pem "ca.pem" 1L
            o.Peers[2L] <- string deadEp
            let! a = start o
            let! connected = tlsConnect a.EndPoint (Some (withKey (issue ca 3L)))
            let tls = match connected with Ok s -> s | Error e -> failwithf "the TLS handshake itself was refused: %O" e
            use _ = tls
            let reader = TcpConnection.CreateReader(tls :> Stream)
            do! tls.WriteAsync(frameBytes (fun b -> TcpHandshake.WriteHello(b, Hello(cluster, 2L, 1L))))
            use cts = new CancellationTokenSource(Wait.standard)
            let! reply = TcpConnection.ReadOneFrameAsync(reader, FrameKind.HelloReply, Func<_, _>(TcpHandshake.ReadReply), cts.Token)
            reply.Status |> should equal HandshakeStatus.CertificateMismatch
            do! Wait.until "node 1 counts a certificate_identity refusal" Wait.standard (fun () ->
                a.T.Stats.Refusals.CertificateIdentity = 1L)
            a.T.IsConnected 2L |> should equal false
            a.Log.Has(LogLevel.Warning, "CertificateIdentity") |> should equal true
            do! stopAll [ a ]
        else
            // Node 1 believes node 2 listens where node 3 does: node 3's certificate does not name node 2.
            let! c = start (tlsOptions pem "ca.pem" 3L)
            let o = tlsOptions pem "ca.pem" 1L
            o.Peers[2L] <- string c.EndPoint
            let! a = start o
            do! Wait.until "node 1 counts a certificate_identity refusal" Wait.standard (fun () ->
                a.T.Stats.Refusals.CertificateIdentity >= 1L)
            a.T.IsConnected 2L |> should equal false
            a.Log.Has(LogLevel.Warning, "does not name node 2") |> should equal true
            do! stopAll [ a; c ]
    }

[<Fact>]
let ``a node whose certificate comes from another CA never connects and both sides count certificate_untrusted`` () =
    task {
        let pem, _ = setup [ 1L ]
        use _ = pem
        let other = newCa "another-ca"
        pem.WriteCa("other-ca.pem", [ other ]) |> ignore
        pem.WriteNode("node-2", issue other 2L)
        let! a = start (tlsOptions pem "ca.pem" 1L)
        let! b = start (tlsOptions pem "other-ca.pem" 2L)
        mesh [ a; b ]
        do! Wait.until "both count certificate_untrusted" Wait.standard (fun () ->
            a.T.Stats.Refusals.CertificateUntrusted >= 1L && b.T.Stats.Refusals.CertificateUntrusted >= 1L)
        b.T.TrySend(1L, [| envelope 1L 2L 1L 1L |]) |> ignore
        a.T.IsConnected 2L |> should equal false
        b.T.IsConnected 1L |> should equal false
        a.Inbox.Items |> should be Empty
        a.Log.Has(LogLevel.Warning, "does not chain to the cluster CA") |> should equal true
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``an expired certificate is refused and counted as certificate_expired`` () =
    task {
        let pem, ca = setup [ 1L ]
        use _ = pem
        pem.WriteNode("node-2", issueExpired ca 2L)
        let! a = start (tlsOptions pem "ca.pem" 1L)
        let! b = start (tlsOptions pem "ca.pem" 2L)
        mesh [ a; b ]
        do! Wait.until "node 1 counts certificate_expired" Wait.standard (fun () -> a.T.Stats.Refusals.CertificateExpired >= 1L)
        a.T.IsConnected 2L |> should equal false
        a.Log.Has(LogLevel.Warning, "outside its validity period") |> should equal true
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``a client presenting no certificate is refused and counted as certificate_missing`` () =
    task {
        let pem, _ = setup [ 1L ]
        use _ = pem
        let! a = start (tlsOptions pem "ca.pem" 1L)
        let! connected = tlsConnect a.EndPoint None
        match connected with
        | Ok tls ->
            // TLS 1.3: the client may finish before the server has judged its (absent) certificate; the server then closes.
            let buffer = Array.zeroCreate<byte> 16
            try
                use cts = new CancellationTokenSource(Wait.standard)
                let! _ = tls.ReadAsync(buffer.AsMemory(), cts.Token)
                ()
            with _ -> ()
            tls.Dispose()
        | Error _ -> ()
        do! Wait.until "node 1 counts certificate_missing" Wait.standard (fun () -> a.T.Stats.Refusals.CertificateMissing = 1L)
        do! stopAll [ a ]
    }

[<Fact>]
let ``plaintext to a TLS node is refused, counted as plaintext and logged with the remote address`` () =
    task {
        let pem, _ = setup [ 1L ]
        use _ = pem
        let! a = start (tlsOptions pem "ca.pem" 1L)
        let! raw = plaintextHello a.EndPoint
        do! Wait.until "the plaintext hello is counted" Wait.standard (fun () -> a.T.Stats.Refusals.Plaintext = 1L)
        a.Log.Has(LogLevel.Warning, raw) |> should equal true
        a.Log.Has(LogLevel.Warning, "Plaintext") |> should equal true
        // A whole plaintext node fares no better, and the TLS node's hello is a bad frame to it.
        let! b = start (options 2L)
        mesh [ a; b ]
        do! Wait.until "both refuse" Wait.standard (fun () -> a.T.Stats.Refusals.Plaintext >= 2L && b.T.Stats.BadFrames >= 1L)
        a.T.IsConnected 2L |> should equal false
        b.T.IsConnected 1L |> should equal false
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``a certificate rotated on disk is used for the next connection without a restart`` () =
    task {
        let pem, ca = setup [ 1L ]
        use _ = pem
        // Node 2 starts with a certificate node 1 cannot trust; its own CA file is the cluster's.
        pem.WriteNode("node-2", issue (newCa "not-the-cluster-ca") 2L)
        let! a = start (tlsOptions pem "ca.pem" 1L)
        let! b = start (tlsOptions pem "ca.pem" 2L)
        mesh [ a; b ]
        do! Wait.until "node 1 refuses node 2's first certificate" Wait.standard (fun () -> a.T.Stats.Refusals.CertificateUntrusted >= 1L)
        a.T.IsConnected 2L |> should equal false

        let fresh = issue ca 2L
        pem.WriteNode("node-2", fresh)
        do! exchange b a 1L
        do! exchange a b 1L
        thumbprint (nonNull (nonNull (a.T.TlsOf 2L)).RemoteCertificate) |> should equal (thumbprint fresh.Certificate)

        // Rotate again and drop the connection: the new connection presents the newer certificate.
        let newer = issue ca 2L
        pem.WriteNode("node-2", newer)
        a.T.RemovePeer 2L
        a.T.SetPeer(2L, b.EndPoint)
        do! Wait.until "node 1 sees node 2's newer certificate" Wait.standard (fun () ->
            match a.T.TlsOf 2L with
            | null -> false
            | tls -> thumbprint (nonNull tls.RemoteCertificate) = thumbprint newer.Certificate)
        do! exchange b a 2L
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``certificates issued by an intermediate CA, sent after the node's certificate, chain to the root in the CA file`` () =
    task {
        let pem, root = setup []
        use _ = pem
        let intermediate = newIntermediate root "raft-intermediate"
        for id in [ 1L; 2L ] do
            let node = issue intermediate id
            pem.Write($"node-{id}.crt", node.Certificate.ExportCertificatePem() + "\n" + intermediate.Certificate.ExportCertificatePem()) |> ignore
            pem.Write($"node-{id}.key", node.Key.ExportPkcs8PrivateKeyPem()) |> ignore
        let! a = start (tlsOptions pem "ca.pem" 1L)
        let! b = start (tlsOptions pem "ca.pem" 2L)
        mesh [ a; b ]
        do! exchange a b 1L
        do! exchange b a 1L
        // Connections opened again between the same two nodes: each must present and check the whole chain again
        // (a resumed TLS session carries no intermediates, so its chain could not be built).
        for round in 1 .. 3 do
            let dialer, acceptor, acceptorId = if round % 2 = 1 then a, b, 2L else b, a, 1L
            dialer.T.RemovePeer acceptorId
            dialer.T.SetPeer(acceptorId, acceptor.EndPoint)
            do! exchange dialer acceptor (int64 (10 + round))
        if credentialRefusals a.T.Stats + credentialRefusals b.T.Stats <> 0L then
            failwithf "credential refusals: node 1 %A, node 2 %A\nnode 1's log: %A\nnode 2's log: %A"
                a.T.Stats.Refusals b.T.Stats.Refusals a.Log.Entries b.Log.Entries
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``a certificate names a node by SAN URI or subject CN, or by a pinned thumbprint`` () =
    let ca = newCa "identity-ca"
    let now = DateTimeOffset.UtcNow
    let sanOnly = (issueNamed ca "some-host" [ "urn:raft:node:7" ] (now.AddDays -1.0) (now.AddDays 1.0)).Certificate
    let cnOnly = (issueNamed ca "raft-node-7" [] (now.AddDays -1.0) (now.AddDays 1.0)).Certificate
    let neither = (issueNamed ca "raft-node-70" [ "urn:raft:node:70"; "https://example.org/7" ] (now.AddDays -1.0) (now.AddDays 1.0)).Certificate
    NodeIdentity.SubjectUris sanOnly |> List.ofSeq |> should equal [ "urn:raft:node:7" ]
    NodeIdentity.Matches(sanOnly, 7L, null) |> should equal true
    NodeIdentity.Matches(cnOnly, 7L, null) |> should equal true
    NodeIdentity.Matches(neither, 7L, null) |> should equal false
    NodeIdentity.Matches(sanOnly, 8L, null) |> should equal false
    // A pin decides alone: the named certificate fails it, the pinned one (naming nobody) passes.
    let pins = dict [ 7L, neither.GetCertHashString(Security.Cryptography.HashAlgorithmName.SHA256).ToLowerInvariant() ]
    let pins = Collections.Generic.Dictionary<int64, string>(pins)
    NodeIdentity.Matches(neither, 7L, pins) |> should equal true
    NodeIdentity.Matches(sanOnly, 7L, pins) |> should equal false

[<Fact>]
let ``TLS settings are validated at start, each error naming its key and file`` () =
    let pem, _ = setup [ 1L; 2L ]
    use _ = pem
    let errorsOf (o: TcpTransportOptions) = String.Join("\n", o.Validate())
    let o = options 1L
    o.Tls <- TcpTlsOptions(Mode = TlsMode.Mutual)
    let unset = errorsOf o
    for key in [ "Tls:CertificatePath must be set"; "Tls:KeyPath must be set"; "Tls:CaPath must be set" ] do
        unset |> should haveSubstring key
    (fun () -> new TcpTransport<Msg>(o, codec) |> ignore) |> should throw typeof<Microsoft.Extensions.Options.OptionsValidationException>

    let missing = tlsOptions pem "nope.pem" 1L
    errorsOf missing |> should haveSubstring $"Tls:CaPath '{missing.Tls.CaPath}': no such file"
    let garbage = tlsOptions pem "ca.pem" 1L
    garbage.Tls.CertificatePath <- pem.Write("garbage.crt", "not a certificate")
    errorsOf garbage |> should haveSubstring $"Tls:CertificatePath '{garbage.Tls.CertificatePath}' holds no PEM certificate"
    let wrongKey = tlsOptions pem "ca.pem" 1L
    wrongKey.Tls.KeyPath <- Path.Combine(pem.Root, "node-2.key")
    errorsOf wrongKey |> should haveSubstring $"Tls:KeyPath '{wrongKey.Tls.KeyPath}' is not the PEM private key"
    let otherNode = tlsOptions pem "ca.pem" 2L
    otherNode.NodeId <- 3L
    errorsOf otherNode |> should haveSubstring "does not name node 3"
    let badPin = tlsOptions pem "ca.pem" 1L
    badPin.Tls.Thumbprints[2L] <- "abc"
    errorsOf badPin |> should haveSubstring "Tls:Thumbprints:2 'abc' is not a SHA-256 thumbprint"
    (tlsOptions pem "ca.pem" 1L).Validate() |> should be Empty

    // The host's options name the full key, and a typo under Raft:Tls is refused instead of ignored.
    let host = RaftHostOptions(NodeId = 1L, ClusterId = "c", InMemoryStorage = true)
    host.Tls <- TcpTlsOptions(Mode = TlsMode.Mutual, KeyPath = "/nonexistent/node.key")
    let hostErrors = String.Join("\n", host.Validate())
    hostErrors |> should haveSubstring "Raft:Tls:CertificatePath must be set"
    hostErrors |> should haveSubstring "Raft:Tls:KeyPath '/nonexistent/node.key': no such file"
    let config =
        ConfigurationBuilder()
            .AddInMemoryCollection([ "Raft:NodeId", "1"; "Raft:Tls:Mode", "Mutual"; "Raft:Tls:CertPath", "x" ]
                                   |> List.map (fun (k, v) -> Collections.Generic.KeyValuePair(k, v)))
            .Build()
    RaftHostOptions.UnknownKeys(config.GetSection "Raft") |> List.ofSeq |> should equal [ "Raft:Tls:CertPath" ]
    let bound = config.GetSection("Raft").Get<RaftHostOptions>() |> nonNull
    bound.Tls.Mode |> should equal TlsMode.Mutual
