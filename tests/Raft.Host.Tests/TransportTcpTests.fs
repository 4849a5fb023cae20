/// The TCP transport over real sockets on 127.0.0.1: delivery across groups, reconnects, bad frames,
/// refused handshakes, bounded queues. Every wait has a deadline; no test sleeps for a fixed time.
module Raft.Host.Tests.TransportTcpTests

open System
open System.Buffers
open System.Collections.Concurrent
open System.Net
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.Logging
open Xunit
open FsUnit.Xunit
open Raft.Serialization
open Raft.Storage
open Raft.Transport
open Raft.Transport.Tcp
open Raft.Host.Tests.TransportTestKit
open Raft.Tests

let private dataFrame (payload: byte[]) =
    let frame = Array.zeroCreate<byte> (TcpFrame.HeaderSize + payload.Length)
    TcpFrame.WriteHeader(frame.AsSpan(), FrameKind.Data, payload.Length, Crc32C.Compute(ReadOnlySpan payload))
    payload.CopyTo(frame, TcpFrame.HeaderSize)
    frame

let private validPayload () =
    let buffer = ArrayBufferWriter<byte>()
    codec.Encode([| envelope 1L 3L 1L 555L |], buffer)
    buffer.WrittenSpan.ToArray()

// ---- tests ----

[<Fact>]
let ``options validation names every bad key`` () =
    let o = TcpTransportOptions(NodeId = 0L, ClusterId = "", ListenEndpoint = "nonsense", MaxFrameBytes = 10, QueueCapacity = 0)
    o.Peers[2L] <- "no-port"
    let errors = String.Join("\n", o.Validate())
    for key in [ "NodeId"; "ClusterId"; "ListenEndpoint"; "Peers:2"; "MaxFrameBytes"; "QueueCapacity" ] do
        errors |> should haveSubstring key
    (fun () -> new TcpTransport<Msg>(o, codec) |> ignore) |> should throw typeof<Microsoft.Extensions.Options.OptionsValidationException>
    (options 1L).Validate() |> should be Empty

[<Fact>]
let ``messages flow both ways between three nodes across several groups`` () =
    task {
        let! a = start (options 1L)
        let! b = start (options 2L)
        let! c = start (options 3L)
        let nodes = [ a; b; c ]
        mesh nodes
        let groups = [| 1L .. 5L |]
        for src in nodes do
            for dst in nodes do
                if src.Id <> dst.Id then
                    let batch () = groups |> Array.map (fun g -> envelope g src.Id dst.Id (src.Id * 10L + dst.Id))
                    let allGroups (items: (int64 * Msg)[]) =
                        items |> Array.exists (fun (f, m) -> f = src.Id && (m |> Array.map (fun e -> e.GroupId)) = groups)
                    do! dst.Inbox.WaitResending(sprintf "%d -> %d, all groups" src.Id dst.Id,
                                                (fun () -> src.T.TrySend(dst.Id, batch ()) |> ignore), allGroups)
        for n in nodes do
            n.T.Stats.BadFrames |> should equal 0L
            n.T.Stats.FramesReceived |> should be (greaterThanOrEqualTo 2L)
            n.T.IsConnected(if n.Id = 1L then 2L else 1L) |> should equal true
        do! stopAll nodes
    }

[<Fact>]
let ``a burst of small messages arrives complete and in order on one connection`` () =
    task {
        let dead, deadEp = deadEndPoint ()
        use _ = dead
        let! a = start (options 1L)
        let! b = start (options 2L)
        // Only a can dial (b's address for a is dead), so no tie-break can swap the connection mid-burst.
        a.T.SetPeer(2L, b.EndPoint)
        b.T.SetPeer(1L, deadEp)
        do! exchange a b 0L
        let n = 20_000
        let sendAll () =
            for i in 1 .. n do
                while not (a.T.TrySend(2L, [| envelope (int64 (i % 16)) 1L 2L (int64 i) |])) do
                    Thread.Yield() |> ignore
        sendAll ()
        let! _ = Wait.untilValue "the burst" Wait.standard (fun () -> b.Inbox.Items) (fun items -> items |> Array.exists (fun (_, m) -> contextOf m[0] = int64 n))
        let got = b.Inbox.Items |> Array.map (snd >> fun m -> contextOf m[0]) |> Array.filter (fun c -> c > 0L)
        got |> should equal [| 1L .. int64 n |]
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``a peer whose listener restarts is reconnected and the reconnect is counted`` () =
    task {
        let! a, b = connectedPair ()
        let port = (nonNull b.T.LocalEndPoint).Port
        do! b.T.DisposeAsync()
        let o = options 2L
        o.ListenEndpoint <- sprintf "127.0.0.1:%d" port
        o.Peers[1L] <- string a.EndPoint
        let! b2 = start o
        do! exchange a b2 2L
        do! exchange b2 a 2L
        do! Wait.until "a counts a reconnect" Wait.standard (fun () -> a.T.Stats.Reconnects >= 1L)
        do! stopAll [ a; b2 ]
    }

[<Theory>]
[<InlineData("garbage")>]
[<InlineData("oversized length")>]
[<InlineData("bad CRC")>]
[<InlineData("truncated frame")>]
[<InlineData("undecodable payload")>]
[<InlineData("garbage instead of a handshake")>]
let ``a bad frame closes only its connection, is counted and logged, and the node keeps serving`` (kind: string) =
    task {
        let dead, deadEp = deadEndPoint ()
        use _ = dead
        let oa = options 1L
        oa.Peers[3L] <- string deadEp
        let! a = start oa
        let! b = start (options 2L)
        mesh [ a; b ]
        do! exchange a b 1L
        do! exchange b a 1L

        let! raw = rawConnect a.EndPoint
        if kind <> "garbage instead of a handshake" then
            let! reply = raw.Hello(cluster, 3L, 1L)
            reply.Status |> should equal HandshakeStatus.Accepted
        let good = dataFrame (validPayload ())
        match kind with
        | "garbage" | "garbage instead of a handshake" ->
            let! _ = raw.Send(Array.init 64 (fun i -> byte (i * 37 + 11))) in ()
        | "oversized length" ->
            let header = Array.zeroCreate<byte> TcpFrame.HeaderSize
            TcpFrame.WriteHeader(header.AsSpan(), FrameKind.Data, oa.MaxFrameBytes + 1, 0u)
            let! _ = raw.Send header in ()
        | "bad CRC" ->
            good[10] <- good[10] ^^^ 0xFFuy
            let! _ = raw.Send good in ()
        | "truncated frame" ->
            let! _ = raw.Send(good[.. good.Length - 6]) in ()
            raw.Socket.Shutdown(SocketShutdown.Send)
        | _ ->
            let! _ = raw.Send(dataFrame [| 0x93uy; 0x01uy; 0xC1uy |]) in ()
        do! raw.WaitClosed()
        do! Wait.until "the bad frame is counted" Wait.standard (fun () -> a.T.Stats.BadFrames = 1L)
        // In the handshake it is also a refused connection, with its reason.
        a.T.Stats.Refusals.BadFrame |> should equal (if kind = "garbage instead of a handshake" then 1L else 0L)
        a.Log.Has(LogLevel.Warning, "Bad frame") |> should equal true
        // The node keeps exchanging frames with its good peer.
        do! exchange b a 2L
        do! exchange a b 2L
        raw.Socket.Dispose()
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``a valid frame from a raw client is delivered`` () =
    task {
        let dead, deadEp = deadEndPoint ()
        use _ = dead
        let oa = options 1L
        oa.Peers[3L] <- string deadEp
        let! a = start oa
        let! raw = rawConnect a.EndPoint
        let! reply = raw.Hello(cluster, 3L, 1L)
        (reply.Status, reply.NodeId, reply.ClusterId) |> should equal (HandshakeStatus.Accepted, 1L, cluster)
        let! _ = raw.Send(dataFrame (validPayload ()))
        let! _ = Wait.untilValue "raw frame delivered" Wait.standard (fun () -> a.Inbox.Items) (heardFrom 3L 555L)
        raw.Socket.Dispose()
        do! stopAll [ a ]
    }

[<Theory>]
[<InlineData("another cluster")>]
[<InlineData("an unknown node")>]
let ``a handshake from the wrong party is refused, counted and logged`` (who: string) =
    task {
        let! a = start (options 1L)
        let! raw = rawConnect a.EndPoint
        let clusterId, from, expected =
            if who = "another cluster" then "other-cluster", 2L, HandshakeStatus.WrongCluster
            else cluster, 99L, HandshakeStatus.UnknownNode
        if who = "another cluster" then a.T.SetPeer(2L, IPEndPoint(IPAddress.Loopback, 1))
        let! reply = raw.Hello(clusterId, from, 1L)
        reply.Status |> should equal expected
        do! raw.WaitClosed()
        a.T.Stats.RefusedHandshakes |> should equal 1L
        a.Log.Has(LogLevel.Warning, string expected) |> should equal true
        raw.Socket.Dispose()
        do! stopAll [ a ]
    }

[<Fact>]
let ``a transport of another cluster never connects and both sides count the refusal`` () =
    task {
        let! a = start (options 1L)
        let o = options 2L
        o.ClusterId <- "other-cluster"
        o.Peers[1L] <- string a.EndPoint
        let! foreign = start o
        a.T.SetPeer(2L, foreign.EndPoint)
        do! Wait.until "refusals on both sides" Wait.standard (fun () ->
            a.T.Stats.RefusedHandshakes >= 1L && foreign.T.Stats.RefusedHandshakes >= 1L)
        foreign.T.TrySend(1L, [| envelope 1L 2L 1L 1L |]) |> ignore
        a.T.IsConnected 2L |> should equal false
        foreign.T.IsConnected 1L |> should equal false
        a.Inbox.Items |> should be Empty
        do! stopAll [ a; foreign ]
    }

[<Fact>]
let ``a full peer queue drops and counts instead of blocking`` () =
    task {
        let dead, deadEp = deadEndPoint ()
        use _ = dead
        let o = options 1L
        o.QueueCapacity <- 4
        o.Peers[2L] <- string deadEp
        let! a = start o
        let results = [ for i in 1L .. 10L -> a.T.TrySend(2L, [| envelope 1L 1L 2L i |]) ]
        results |> should equal (List.replicate 4 true @ List.replicate 6 false)
        a.T.Stats.Dropped |> should equal 6L
        a.T.DroppedFor 2L |> should equal 6L
        a.T.TrySend(42L, [| envelope 1L 1L 42L 1L |]) |> should equal false
        a.T.Stats.Dropped |> should equal 7L
        (a.T.Stats.Drops.QueueFull, a.T.Stats.Drops.UnknownPeer) |> should equal (6L, 1L)
        let peer = a.T.Stats.Peers |> Seq.find (fun p -> p.Peer = 2L)
        (peer.Dropped, peer.Queued, peer.Connected) |> should equal (6L, 4, false)
        do! stopAll [ a ]
        a.T.TrySend(2L, [| envelope 1L 1L 2L 11L |]) |> should equal false
        a.T.Stats.Drops.Stopped |> should equal 1L
    }

[<Fact>]
let ``a message over the frame cap is dropped at the sender and later messages still flow`` () =
    task {
        let! a = start (options 1L)
        let! b = start (options 2L)
        mesh [ a; b ]
        do! exchange a b 1L
        let members : Raft.Core.Membership =
            { Voters = set [ Raft.Core.Ids.node 1L ]; Outgoing = Set.empty; Learners = Set.empty; LearnersNext = Set.empty; AutoLeave = false }
        let huge : RaftEnvelope<string> =
            RaftEnvelope(1L, { (envelope 1L 1L 2L 0L).Message with
                                Body = Raft.Core.InstallSnapshot
                                    { Meta = { Index = Raft.Core.Ids.index 1L; Term = Raft.Core.Ids.term 1L
                                               Config = { Current = members; CurrentIndex = Raft.Core.Ids.index 0L; Previous = members; PreviousIndex = Raft.Core.Ids.index 0L } }
                                      TransferId = 1L; Offset = 0L; Data = Array.zeroCreate 100_000; Done = true } })
        let dropped = a.T.Stats.Dropped
        a.T.TrySend(2L, [| huge |]) |> should equal true
        do! Wait.until "the oversized message is dropped" Wait.standard (fun () -> a.T.Stats.Dropped = dropped + 1L)
        a.T.Stats.Drops.TooLarge |> should equal 1L
        do! exchange a b 2L
        b.T.Stats.BadFrames |> should equal 0L
        do! stopAll [ a; b ]
    }

[<Fact>]
let ``traffic is counted per peer on both sides, with open, accepted and dialed connections and each peer's state`` () =
    task {
        let! a, b = connectedPair ()
        for i in 100L .. 149L do a.T.TrySend(2L, [| envelope 1L 1L 2L i |]) |> ignore
        do! b.Inbox.WaitResending("b hears all 50", ignore, fun items -> [ 100L .. 149L ] |> List.forall (fun c -> heardFrom 1L c items))
        let peerOf (n: Node) id = n.T.Stats.Peers |> Seq.find (fun p -> p.Peer = id)
        // What b read from a, a wrote to b (a counts a write when it completes, so wait for it).
        do! Wait.until "a's writes to b cover b's reads from a" Wait.standard (fun () ->
            let sent, read = peerOf a 2L, peerOf b 1L
            read.FramesReceived >= 50L && sent.FramesSent >= read.FramesReceived && sent.BytesSent >= read.BytesReceived)
        (peerOf b 1L).BytesReceived |> should be (greaterThan (50L * int64 TcpFrame.HeaderSize))
        // Node-wide figures are the sums over peers (one peer here).
        a.T.Stats.FramesSent |> should equal (peerOf a 2L).FramesSent
        // The pair settles on one connection (both dialed; the tie-break retires one).
        do! Wait.until "one open connection on each side" Wait.standard (fun () ->
            a.T.Stats.ConnectionsOpen = 1L && b.T.Stats.ConnectionsOpen = 1L)
        for n in [ a; b ] do
            n.T.Stats.ConnectionsAccepted + n.T.Stats.ConnectionsDialed |> should be (greaterThanOrEqualTo 1L)
        a.T.Stats.ConnectionsDialed + b.T.Stats.ConnectionsDialed |> should be (greaterThanOrEqualTo 1L)
        ((peerOf a 2L).Connected, (peerOf a 2L).Queued) |> should equal (true, 0)
        do! b.T.DisposeAsync()
        do! Wait.until "a sees b gone" Wait.standard (fun () -> not (peerOf a 2L).Connected && a.T.Stats.ConnectionsOpen = 0L)
        do! stopAll [ a ]
    }

[<Fact>]
let ``a client that never completes the handshake is refused as a timeout, counted and logged`` () =
    task {
        let o = options 1L
        o.ConnectTimeout <- TimeSpan.FromMilliseconds 300.0
        let! a = start o
        let! raw = rawConnect a.EndPoint
        do! raw.WaitClosed()
        do! Wait.until "the timeout is counted" Wait.standard (fun () -> a.T.Stats.Refusals.Timeout = 1L)
        a.T.Stats.RefusedHandshakes |> should equal 1L
        a.Log.Has(LogLevel.Warning, "Timeout") |> should equal true
        raw.Socket.Dispose()
        do! stopAll [ a ]
    }

[<Fact>]
let ``connections beyond MaxPendingHandshakes are closed on accept and counted as limit refusals, and a peer still connects once they end`` () =
    task {
        let o = options 1L
        o.MaxPendingHandshakes <- 2
        o.ConnectTimeout <- TimeSpan.FromSeconds 2.0
        let! a = start o
        // Two silent clients hold the two handshake slots (accepted in order); a third is closed at once, long before
        // the 2 s handshake deadline closes the first two.
        let! first = rawConnect a.EndPoint
        let! second = rawConnect a.EndPoint
        let! third = rawConnect a.EndPoint
        do! Wait.until "the third is refused for the limit" Wait.standard (fun () -> a.T.Stats.Refusals.Limit = 1L)
        do! third.WaitClosed()
        a.T.Stats.Refusals.Timeout |> should equal 0L
        a.Log.Has(LogLevel.Warning, "MaxPendingHandshakes") |> should equal true
        // The silent ones time out; their slots free, and a real peer's handshake succeeds.
        do! first.WaitClosed()
        do! second.WaitClosed()
        let! b = start (options 2L)
        mesh [ a; b ]
        do! exchange b a 1L
        // The two silent clients timed out; the peer's first dial may still have met the limit (a slot frees just
        // after its client sees the close), never a timeout.
        a.T.Stats.Refusals.Timeout |> should equal 2L
        for raw in [ first; second; third ] do raw.Socket.Dispose()
        do! stopAll [ a; b ]
    }
