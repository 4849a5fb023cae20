/// The in-memory transport hub used by tests and the simulator: per-link order, partitions, bounded queues.
module Raft.Host.Tests.TransportInMemoryTests

open System.Threading
open Xunit
open FsUnit.Xunit
open Raft.Serialization
open Raft.Transport.InMemory
open Raft.Host.Tests.TransportTestKit
open Raft.Tests

let private codec = RaftEnvelopeCodec<string>(RaftMessageCodec<string>())

[<Fact>]
let ``each link delivers every message in send order`` () =
    task {
        let net = InMemoryNetwork<RaftEnvelope<string>>(codec)
        let a, b = net.CreateTransport 1L, net.CreateTransport 2L
        let inbox = Inbox<RaftEnvelope<string>>()
        do! a.StartAsync(Inbox().Handler, CancellationToken.None)
        do! b.StartAsync(inbox.Handler, CancellationToken.None)
        for i in 1L .. 500L do
            a.TrySend(2L, envelope (i % 7L) 1L 2L i) |> should equal true
        let! _ = Wait.untilValue "500 messages" Wait.standard (fun () -> inbox.Items) (fun items -> items.Length = 500)
        inbox.Items |> Array.map (snd >> contextOf) |> should equal [| 1L .. 500L |]
        inbox.Items |> Array.forall (fst >> (=) 1L) |> should equal true
        (a.Stats.FramesSent, b.Stats.FramesReceived) |> should equal (500L, 500L)
        do! a.DisposeAsync()
        do! b.DisposeAsync()
    }

[<Fact>]
let ``a partition drops messages both ways and healing restores delivery`` () =
    task {
        let net = InMemoryNetwork<RaftEnvelope<string>>()
        let a, b = net.CreateTransport 1L, net.CreateTransport 2L
        let inA, inB = Inbox<RaftEnvelope<string>>(), Inbox<RaftEnvelope<string>>()
        do! a.StartAsync(inA.Handler, CancellationToken.None)
        do! b.StartAsync(inB.Handler, CancellationToken.None)
        net.Partition(1L, 2L)
        a.TrySend(2L, envelope 1L 1L 2L 1L) |> should equal false
        b.TrySend(1L, envelope 1L 2L 1L 1L) |> should equal false
        (a.Stats.Dropped, b.Stats.Dropped) |> should equal (1L, 1L)
        net.Heal(1L, 2L)
        a.TrySend(2L, envelope 1L 1L 2L 2L) |> should equal true
        b.TrySend(1L, envelope 1L 2L 1L 2L) |> should equal true
        let! _ = Wait.untilValue "b hears a after heal" Wait.standard (fun () -> inB.Items) (fun items -> items.Length = 1)
        let! _ = Wait.untilValue "a hears b after heal" Wait.standard (fun () -> inA.Items) (fun items -> items.Length = 1)
        inB.Items |> Array.map (snd >> contextOf) |> should equal [| 2L |]
        inA.Items |> Array.map (snd >> contextOf) |> should equal [| 2L |]
    }

[<Fact>]
let ``a one-way block cuts only that direction`` () =
    task {
        let net = InMemoryNetwork<RaftEnvelope<string>>()
        let a, b = net.CreateTransport 1L, net.CreateTransport 2L
        let inA = Inbox<RaftEnvelope<string>>()
        do! a.StartAsync(inA.Handler, CancellationToken.None)
        do! b.StartAsync(Inbox().Handler, CancellationToken.None)
        net.Block(1L, 2L)
        a.TrySend(2L, envelope 1L 1L 2L 1L) |> should equal false
        b.TrySend(1L, envelope 1L 2L 1L 7L) |> should equal true
        do! Wait.until "a hears b" Wait.standard (fun () -> inA.Items.Length = 1)
    }

[<Fact>]
let ``a full link queue drops instead of blocking`` () =
    task {
        let net = InMemoryNetwork<RaftEnvelope<string>>(queueCapacity = 2)
        let a, b = net.CreateTransport 1L, net.CreateTransport 2L
        let gate = new SemaphoreSlim(0)
        let inB = Inbox<RaftEnvelope<string>>()
        // The receiver blocks on the first message, so the link's queue fills behind it.
        let blocking =
            Raft.Transport.TransportReceiveHandler<RaftEnvelope<string>>(fun from m ct ->
                System.Threading.Tasks.ValueTask(task {
                    do! inB.Handler.Invoke(from, m, ct)
                    do! gate.WaitAsync()
                }))
        do! a.StartAsync(Inbox().Handler, CancellationToken.None)
        do! b.StartAsync(blocking, CancellationToken.None)
        a.TrySend(2L, envelope 1L 1L 2L 0L) |> should equal true
        let! _ = Wait.untilValue "first message in the handler" Wait.standard (fun () -> inB.Items) (fun items -> items.Length = 1)
        let results = [ for i in 1L .. 5L -> a.TrySend(2L, envelope 1L 1L 2L i) ]
        results |> should equal [ true; true; false; false; false ]
        a.Stats.Dropped |> should equal 3L
        gate.Release(10) |> ignore
        do! Wait.until "queued messages delivered" Wait.standard (fun () -> inB.Items.Length = 3)
    }

[<Fact>]
let ``messages to a stopped or unknown node are dropped and counted`` () =
    task {
        let net = InMemoryNetwork<RaftEnvelope<string>>()
        let a, b = net.CreateTransport 1L, net.CreateTransport 2L
        do! a.StartAsync(Inbox().Handler, CancellationToken.None)
        a.TrySend(9L, envelope 1L 1L 9L 1L) |> should equal false
        a.TrySend(2L, envelope 1L 1L 2L 1L) |> should equal true // b exists but never started
        do! Wait.until "drop of the undeliverable message" Wait.standard (fun () -> a.Stats.Dropped = 2L)
        b.IsRunning |> should equal false
    }
