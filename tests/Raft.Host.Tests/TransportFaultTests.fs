/// The transport fault filter: partitions made on purpose (chaos drills), in each direction, with heal; on its own
/// over the in-memory network, and under a TCP cluster whose partitioned leader loses its group and gets it back.
module Raft.Host.Tests.TransportFaultTests

open System
open System.Collections.Concurrent
open System.Threading
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Serialization
open Raft.Transport
open Raft.Transport.Faults
open Raft.Transport.InMemory
open Raft.Host.Tests.TransportTestKit
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// Two filtered transports 1 and 2 on one in-memory network, started, with inboxes.
let private pair () =
    task {
        let net = InMemoryNetwork<RaftEnvelope<string>>()
        let a = FaultFilterTransport(net.CreateTransport 1L, TransportFaultFilter())
        let b = FaultFilterTransport(net.CreateTransport 2L, TransportFaultFilter())
        let inA, inB = Inbox<RaftEnvelope<string>>(), Inbox<RaftEnvelope<string>>()
        do! a.StartAsync(inA.Handler, CancellationToken.None)
        do! b.StartAsync(inB.Handler, CancellationToken.None)
        return a, b, inA, inB
    }

/// Sends message `n` each way and waits until whichever directions are open delivered it.
let private exchange (a: FaultFilterTransport<_>) (b: FaultFilterTransport<_>) (inA: Inbox<_>) (inB: Inbox<_>) n aHears bHears =
    task {
        a.TrySend(2L, envelope 1L 1L 2L n) |> should equal true // a partition loses frames; it never refuses them
        b.TrySend(1L, envelope 1L 2L 1L n) |> should equal true
        let heard (inbox: Inbox<RaftEnvelope<string>>) = inbox.Items |> Array.exists (fun (_, e) -> contextOf e = n)
        do! Wait.until $"message {n} delivered where open" Wait.standard (fun () ->
            (not aHears || heard inA) && (not bHears || heard inB))
        // The closed direction had as long as the open one took: by then its message is dropped, not late.
        return heard inA, heard inB
    }

[<Fact>]
let ``a fault filter drops traffic in the direction asked, counts it as partitioned, and heal restores it`` () =
    task {
        let! a, b, inA, inB = pair ()
        let! open1 = exchange a b inA inB 1L true true
        open1 |> should equal (true, true)
        a.Filter.Partition([ 2L ], PartitionDirection.Outbound) // a stops sending to b, still hears b
        let! out = exchange a b inA inB 2L true false
        out |> should equal (true, false)
        a.Filter.Heal()
        a.Filter.Partition([ 2L ], PartitionDirection.Inbound) // a stops hearing b, still sends to b
        let! inbound = exchange a b inA inB 3L false true
        inbound |> should equal (false, true)
        a.Filter.Heal()
        a.Filter.Partition([ 2L ], PartitionDirection.Both)
        a.Filter.IsPartitioned |> should equal true
        (a.Filter.Inbound |> List.ofSeq, a.Filter.Outbound |> List.ofSeq) |> should equal ([ 2L ], [ 2L ])
        a.TrySend(2L, envelope 1L 1L 2L 4L) |> should equal true
        a.Filter.Heal()
        a.Filter.IsPartitioned |> should equal false
        let! healed = exchange a b inA inB 5L true true
        healed |> should equal (true, true)
        inB.Items |> Array.map (snd >> contextOf) |> should equal [| 1L; 3L; 5L |]
        inA.Items |> Array.map (snd >> contextOf) |> should equal [| 1L; 2L; 5L |]
        // Dropped: 2 (to b), 3 (from b), 4 (to b); none of them counts as a transport refusal.
        (a.Stats.Partitioned, a.Stats.Dropped, b.Stats.Partitioned) |> should equal (3L, 0L, 0L)
        do! a.DisposeAsync()
        do! b.DisposeAsync()
    }

[<Fact>]
let ``a fault filter refuses a peer id that is not positive and a direction that is not defined`` () =
    let filter = TransportFaultFilter()
    (fun () -> filter.Partition([ 0L ])) |> should throw typeof<ArgumentOutOfRangeException>
    (fun () -> filter.Partition([ 2L ], enum<PartitionDirection> 7)) |> should throw typeof<ArgumentOutOfRangeException>
    filter.IsPartitioned |> should equal false

[<Fact>]
let ``a leader partitioned by its fault filter loses the group and cannot commit; heal brings it back as a follower with every commit`` () =
    task {
        let filters = ConcurrentDictionary<int64, TransportFaultFilter>()
        let wrap id (inner: ITransport<RaftEnvelope<string>[]>) =
            FaultFilterTransport(inner, filters.GetOrAdd(id, fun _ -> TransportFaultFilter())) :> ITransport<_>
        use cluster = new Cluster(3, 1, true, wrapTransport = wrap)
        do! cluster.StartAll()
        let! _ = cluster.Propose(1L, "before")
        let! old = cluster.WaitLeader 1L
        filters[old].Partition(cluster.Ids |> Array.filter ((<>) old), PartitionDirection.Both)
        // The other two elect a leader among themselves; CheckQuorum makes the cut-off leader step down.
        let! next = Wait.untilSome "a new leader other than the partitioned one" Wait.standard (fun () ->
                        task { return cluster.Leader 1L |> Option.filter ((<>) old) })
        do! Wait.until $"node {old} steps down" Wait.standard (fun () -> not (cluster.Group(old, 1L).Status.IsLeader))
        let cutOff =
            task {
                try
                    let! _ = cluster.Group(old, 1L).ProposeAsync("cut off", Nullable(TimeSpan.FromSeconds 1.0))
                    return "committed"
                with e -> return e.GetType().Name
            }
        let! r = cluster.Group(next, 1L).ProposeAsync("after", Nullable(TimeSpan.FromSeconds 5.0))
        r.Index |> should be (greaterThan 0L)
        let! outcome = cutOff
        outcome |> should not' (equal "committed")
        cluster.Node(old).Machines[1L].Commands |> should not' (contain "after")
        (cluster.Node(old).Host.TransportStats.Partitioned > 0L) |> should equal true
        filters[old].Heal()
        do! Wait.until $"node {old} applies the write made while it was cut off" Wait.standard (fun () ->
            cluster.Node(old).Machines[1L].Commands |> Array.contains "after")
        let! _ = cluster.Propose(1L, "healed")
        do! cluster.WaitApplied(1L, 3)
        for n in cluster.Nodes do
            n.Machines[1L].Commands |> Array.filter ((<>) "cut off") |> should equal [| "before"; "after"; "healed" |]
    }
