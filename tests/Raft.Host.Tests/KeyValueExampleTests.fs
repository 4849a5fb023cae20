/// The key-value example (examples/Raft.KeyValue): its state machine alone (command results, compare-and-swap,
/// snapshot round trip, the MessagePack command union), then on a real 3-node cluster over loopback TCP with files.
module Raft.Host.Tests.KeyValueExampleTests

open System.IO
open System.Threading.Tasks
open MessagePack
open Xunit
open FsUnit.Xunit
open Raft.KeyValue
open Raft.Host.Tests.ClusterKit
open Raft.Host.Tests.ExampleClusterKit
open Raft.Tests

/// A value or "<absent>": FsUnit's `should` takes a non-null object (and F# options of null-representation types count as nullable).
let private shown (value: string | null) =
    match value with
    | null -> "<absent>"
    | v -> v

let private apply (store: KeyValueStore) (index: int64) (command: KvCommand) = store.Apply(index, 1L, command)

let private snapshotBytes (store: KeyValueStore) =
    use ms = new MemoryStream()
    store.Snapshot ms
    ms.ToArray()

[<Fact>]
let ``put and delete return the previous value; delete of a missing key does not succeed`` () =
    let store = KeyValueStore()
    apply store 1L (Put("a", "1")) |> should equal (KvResult(true, null))
    apply store 2L (Put("a", "2")) |> should equal (KvResult(true, "1"))
    shown (store.Get "a") |> should equal "2"
    apply store 3L (Delete "a") |> should equal (KvResult(true, "2"))
    apply store 4L (Delete "a") |> should equal (KvResult(false, null))
    shown (store.Get "a") |> should equal "<absent>"
    store.Count |> should equal 0

[<Fact>]
let ``compare-and-swap swaps only on the expected value and reports the value it left; null expects absence`` () =
    let store = KeyValueStore()
    apply store 1L (CompareAndSwap("lock", null, "me")) |> should equal (KvResult(true, "me"))
    apply store 2L (CompareAndSwap("lock", null, "you")) |> should equal (KvResult(false, "me"))
    apply store 3L (CompareAndSwap("lock", "you", "them")) |> should equal (KvResult(false, "me"))
    apply store 4L (CompareAndSwap("lock", "me", "you")) |> should equal (KvResult(true, "you"))
    shown (store.Get "lock") |> should equal "you"
    // Absent and empty are different values.
    apply store 5L (CompareAndSwap("empty", "", "x")) |> should equal (KvResult(false, null))

[<Fact>]
let ``a snapshot restored into a store replaces its contents with exactly the snapshot's entries`` () =
    let source = KeyValueStore()
    for i in 1..100 do
        apply source (int64 i) (Put($"k{i}", $"v{i}")) |> ignore
    apply source 101L (Delete "k50") |> ignore
    let bytes = snapshotBytes source
    let target = KeyValueStore()
    apply target 1L (Put("stale", "must go")) |> ignore
    target.Restore(new MemoryStream(bytes))
    target.Entries() |> should equal (source.Entries())
    shown (target.Get "stale") |> should equal "<absent>"
    target.Count |> should equal 99
    // Equal states snapshot to equal bytes here (same insertion history), and restore is repeatable.
    let again = KeyValueStore()
    again.Restore(new MemoryStream(snapshotBytes target))
    again.Entries() |> should equal (source.Entries())

[<Fact>]
let ``commands survive MessagePack as the base type, each as its own kind`` () =
    let commands: KvCommand[] = [| Put("a", "1"); Delete "b"; CompareAndSwap("c", null, "3"); CompareAndSwap("d", "x", "y") |]
    for c in commands do
        let bytes = MessagePackSerializer.Serialize<KvCommand>(c)
        MessagePackSerializer.Deserialize<KvCommand>(bytes) |> should equal c

let private newCluster () = new ExampleCluster<KvCommand, KvResult, KeyValueStore>(KeyValueStore, snapshotEvery10)

[<Fact>]
let ``a 3-node cluster over loopback TCP serves writes through the leader, linearizable reads, and one winner per CAS race`` () =
    task {
        use cluster = newCluster ()
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader()
        for i in 1..20 do
            let! r = cluster.Propose(Put($"k{i}", $"v{i}"))
            r.Result |> should equal (KvResult(true, null))
        // A read right after the acknowledgement sees it, on whichever node leads.
        let! v = cluster.Read(fun s -> s.Get "k20")
        shown v |> should equal "v20"
        // Eight clients race to take the same lock through the example's client: the log orders them, one wins.
        let client = LeaderClient<KvCommand, KvResult, KeyValueStore>(cluster.Hosts)
        let! results = Task.WhenAll [| for c in 1..8 -> client.ProposeAsync(CompareAndSwap("lock", null, $"client-{c}")) |]
        let winners = results |> Array.filter (fun r -> r.Result.Succeeded)
        winners |> Array.length |> should equal 1
        let owner = winners[0].Result.Value
        for r in results do
            shown r.Result.Value |> should equal (shown owner)
        let! held = client.ReadAsync(fun s -> s.Get "lock")
        shown held |> should equal (shown owner)
        let! count = cluster.Read(fun s -> s.Count)
        count |> should equal 21
    }

[<Fact>]
let ``a follower restarted after the leader compacted past it catches up from a snapshot and serves the same values`` () =
    task {
        use cluster = newCluster ()
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader()
        let! _ = cluster.Propose(Put("before", "stop"))
        let follower = cluster.Ids |> Array.find (fun id -> id <> leader)
        do! Wait.until "the follower applies the first put" Wait.standard (fun () -> cluster.Group(follower).Status.AppliedIndex >= 2L)
        do! cluster.StopNode follower
        for i in 1..60 do
            let! _ = cluster.Propose(Put($"k{i}", $"v{i}"))
            ()
        let! _ = cluster.Propose(Delete "k7")
        let! _ = cluster.Propose(CompareAndSwap("k8", "v8", "swapped"))
        let! leader = cluster.WaitLeader()
        // The leader's log no longer reaches back to where the follower stopped: only a snapshot can bring it up.
        do! Wait.until "the leader snapshots past the stopped follower" Wait.standard (fun () ->
            cluster.SnapshotIndexes leader |> Array.exists (fun i -> i > 30L))
        do! cluster.StartNode follower
        do! cluster.MakeLeader follower
        let! entries = cluster.ReadOn(follower, fun s -> s.Entries())
        let expected =
            [| yield "before", "stop"
               for i in 1..60 do
                   if i = 8 then yield "k8", "swapped"
                   elif i <> 7 then yield $"k{i}", $"v{i}" |]
            |> Array.sortWith (fun (a, _) (b, _) -> System.String.CompareOrdinal(a, b))
        entries |> Array.map (fun e -> e.Key, e.Value) |> should equal expected
        cluster.SnapshotIndexes follower |> should not' (be Empty)
    }

[<Fact>]
let ``after the whole cluster restarts from its files, every value is back (snapshot plus the log after it)`` () =
    task {
        use cluster = newCluster ()
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader()
        for i in 1..35 do
            let! _ = cluster.Propose(Put($"k{i}", $"v{i}"))
            ()
        let! _ = cluster.Propose(CompareAndSwap("k1", "v1", "swapped"))
        let! before = cluster.Read(fun s -> s.Entries())
        before.Length |> should equal 35
        do! Wait.until "every node applied everything and holds a snapshot" Wait.standard (fun () ->
            cluster.Ids |> Array.forall (fun id ->
                cluster.Group(id).Status.AppliedIndex >= 37L && not (Array.isEmpty (cluster.SnapshotIndexes id))))
        for id in cluster.Ids do
            do! cluster.StopNode id
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader()
        let! after = cluster.Read(fun s -> s.Entries())
        after |> should equal before
        let! r = cluster.Propose(CompareAndSwap("k1", "swapped", "again"))
        r.Result |> should equal (KvResult(true, "again"))
    }
