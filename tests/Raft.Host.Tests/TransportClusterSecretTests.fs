/// The cluster secret on the plaintext TCP transport: nodes sharing it connect; a node with another secret or none
/// never connects; a client that knows the cluster id but not the key cannot pass as a node, and nothing it sends is
/// delivered. Each refusal is counted with reason cluster_secret.
module Raft.Host.Tests.TransportClusterSecretTests

open System
open System.Security.Cryptography
open System.Threading
open Microsoft.Extensions.Logging
open Xunit
open FsUnit.Xunit
open Raft.Transport.Tcp
open Raft.Host.Tests.TransportTestKit
open Raft.Tests

let private secret = "correct horse battery staple, 2026"

let private withSecret (value: string | null) (id: int64) =
    let o = options id
    o.ClusterSecret <- value
    o

[<Fact>]
let ``nodes sharing the cluster secret connect and exchange messages`` () =
    task {
        let! a = start (withSecret secret 1L)
        let! b = start (withSecret secret 2L)
        mesh [ a; b ]
        do! exchange a b 1L
        do! exchange b a 1L
        credentialRefusals a.T.Stats + credentialRefusals b.T.Stats |> should equal 0L
        do! stopAll [ a; b ]
    }

[<Theory>]
[<InlineData("another secret")>]
[<InlineData("no secret")>]
let ``a node without the right secret never connects and the refusal is counted as cluster_secret`` (which: string) =
    task {
        let! a = start (withSecret secret 1L)
        let! b = start (withSecret (if which = "no secret" then null else "a different secret of enough length") 2L)
        mesh [ a; b ]
        do! Wait.until "node 1 counts cluster_secret refusals" Wait.standard (fun () -> a.T.Stats.Refusals.ClusterSecret >= 2L)
        b.T.TrySend(1L, [| envelope 1L 2L 1L 1L |]) |> ignore
        a.T.IsConnected 2L |> should equal false
        // A node without a secret asks for no proof, so it adopts node 1's dial for the moment node 1 takes to find no
        // proof in the reply and close it; only with a secret of its own is it never connected.
        if which = "another secret" then b.T.IsConnected 1L |> should equal false
        a.Inbox.Items |> should be Empty
        a.Log.Has(LogLevel.Warning, "ClusterSecret") |> should equal true
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``a client that knows the cluster id but not the secret cannot impersonate a node`` () =
    task {
        let dead, deadEp = deadEndPoint ()
        use _ = dead
        let o = withSecret secret 1L
        o.Peers[2L] <- string deadEp
        let! a = start o
        let! raw = rawConnect a.EndPoint
        // The hello alone earns a challenge: the acceptor's nonce and its proof, which the impostor cannot answer.
        let nonce = RandomNumberGenerator.GetBytes ClusterSecretProof.NonceBytes
        let! _ = raw.Send(frameBytes (fun b -> TcpHandshake.WriteHello(b, Hello(cluster, 2L, 1L, nonce))))
        use cts = new CancellationTokenSource(Wait.standard)
        let! reply = TcpConnection.ReadOneFrameAsync(raw.Reader, FrameKind.HelloReply, Func<_, _>(TcpHandshake.ReadReply), cts.Token)
        reply.Status |> should equal HandshakeStatus.Accepted
        (nonNull reply.Nonce).Length |> should equal ClusterSecretProof.NonceBytes
        // A guessed proof, then a data frame riding on it.
        let! _ = raw.Send(frameBytes (fun b -> TcpHandshake.WriteProof(b, RandomNumberGenerator.GetBytes 32)))
        let! _ = raw.Send(frameBytes (fun b ->
            let start = TcpFrame.Begin b
            codec.Encode([| envelope 1L 2L 1L 777L |], b)
            TcpFrame.Complete(b, start, FrameKind.Data) |> ignore))
        do! raw.WaitClosed()
        do! Wait.until "the forged proof is counted" Wait.standard (fun () -> a.T.Stats.Refusals.ClusterSecret = 1L)
        a.T.IsConnected 2L |> should equal false
        a.Inbox.Items |> should be Empty
        a.Log.Has(LogLevel.Warning, "did not prove the cluster secret") |> should equal true
        raw.Socket.Dispose()

        // A hello without a nonce is refused before any challenge.
        let! plain = rawConnect a.EndPoint
        let! refused = plain.Hello(cluster, 2L, 1L)
        refused.Status |> should equal HandshakeStatus.SecretRequired
        do! plain.WaitClosed()
        a.T.Stats.Refusals.ClusterSecret |> should equal 2L
        plain.Socket.Dispose()
        do! stopAll [ a ]
    }

[<Fact>]
let ``a short cluster secret is refused at start naming the key`` () =
    let errors = String.Join("\n", (withSecret "short" 1L).Validate())
    errors |> should haveSubstring "ClusterSecret must be at least 16 bytes"
    let host = Raft.Hosting.RaftHostOptions(NodeId = 1L, ClusterId = "c", InMemoryStorage = true, ClusterSecret = "short")
    String.Join("\n", host.Validate()) |> should haveSubstring "Raft:ClusterSecret must be at least 16 bytes"
