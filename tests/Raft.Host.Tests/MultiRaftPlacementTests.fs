/// The placement layer's two options beside the defaults: hash placement (a fixed number of groups made when the
/// cluster forms, names hashed to them) and a replication factor below the member count (each group on some of the
/// members, spread evenly, repaired when a member leaves). In one process on MultiRaftTests' in-memory cluster.
module Raft.Host.Tests.MultiRaftPlacementTests

open System
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.MultiRaft
open Raft.Tests
open Raft.Host.Tests.ClusterKit
open Raft.Host.Tests.MultiRaftTests

let private dataGroups (n: Placed) = n.Host.Groups |> Seq.filter (fun g -> g.GroupId >= 1L) |> Array.ofSeq
let private disposing (c: PlacementCluster) = { new IDisposable with member _.Dispose() = (c :> IAsyncDisposable).DisposeAsync().AsTask().Wait() }
let private names (placements: seq<GroupPlacement>) = placements |> Seq.map (fun p -> p.Name) |> List.ofSeq

[<Fact>]
let ``the hash of a name is FNV-1a of its UTF-8 bytes: the same slot in every process`` () =
    // Golden values computed outside .NET: string.GetHashCode would differ per process and fail here.
    [ "key-1"; "key-2"; "key-3"; "alpha"; "日本" ] |> List.map (fun n -> PlacementPolicy.Slot(n, 8)) |> should equal [ 6; 3; 0; 3; 1 ]
    let parsed = [ "per-key"; "hash:64"; "hash:0"; "hash:x"; "hash:65537"; "" ] |> List.map (fun t -> PlacementPolicy.TryParse t |> fun (ok, p) -> ok, string p)
    parsed |> should equal [ true, "per-key"; true, "hash:64"; false, "per-key"; false, "per-key"; false, "per-key"; false, "per-key" ]

[<Fact>]
let ``hash:8 placement: eight groups made when the cluster forms, many names each, a delete keeps the group, listing reads the groups`` () =
    task {
        let! c = PlacementCluster.StartAll([ 1L; 2L; 3L ], (fun o -> o.Placement <- PlacementPolicy.Hash 8))
        use _ = disposing c
        // Made at formation, before any write: the first directory command (the seed) creates them.
        do! Wait.until "every node opened the 8 hashed groups" Wait.standard (fun () -> c.Nodes |> Array.forall (fun n -> (dataGroups n).Length = 8))
        let keys = [ for i in 1 .. 100 -> $"key-{i}" ]
        for batch in List.chunkBySize 25 keys do
            let! _ = Task.WhenAll [ for k in batch -> c.Node(int64 (PlacementPolicy.Slot(k, 3)) + 1L).ProposeAsync(k, $"put {k}") ]
            ()
        // Every node maps every name to the group of its slot; still eight groups, each holding many names.
        let slotGroup = c.Node(1L).Directory.Placements() |> Seq.map (fun p -> p.Name, p.GroupId) |> Map.ofSeq
        slotGroup.Count |> should equal 8
        for n in c.Nodes do
            n.Directory.Policy |> should equal (PlacementPolicy.Hash 8)
            n.Directory.Count |> should equal 8
            for k in keys do (nonNull (n.Directory.Find k)).GroupId |> should equal slotGroup[PlacementPolicy.SlotName(PlacementPolicy.Slot(k, 8))]
            (dataGroups n).Length |> should equal 8
        let perGroup = keys |> List.countBy (fun k -> PlacementPolicy.Slot(k, 8)) |> List.map snd
        (perGroup.Length, List.min perGroup >= 5) |> should equal (8, true)
        // Listing reads the names from the groups' state machines (the directory records none of them).
        let expected prefix = keys |> List.filter (fun k -> k.StartsWith(prefix: string)) |> List.sortWith (fun a b -> String.CompareOrdinal(a, b))
        let! listing = c.Node(2L).ListAsync("key-1", 1000)
        (names listing.Names, listing.Elsewhere.Count) |> should equal (expected "key-1", 0)
        c.Node(2L).Directory.List("key-1", 1000) |> should be Empty
        let! limited = c.Node(3L).ListAsync("", 7)
        names limited.Names |> should equal (expected "" |> List.take 7)
        // A delete removes the name, not the group its neighbours share; a release is declined.
        let group5 = slotGroup[PlacementPolicy.SlotName(PlacementPolicy.Slot("key-5", 8))]
        let! _ = c.Node(1L).ProposeAsync("key-5", "del key-5")
        let! released = c.Node(2L).ReleaseAsync "key-5"
        released |> should equal false
        let! after = c.Node(3L).ListAsync("key-5", 1000)
        names after.Names |> should equal (expected "key-5" |> List.filter ((<>) "key-5"))
        for n in c.Nodes do
            (dataGroups n).Length |> should equal 8
            fst (n.Host.TryGetGroup group5) |> should equal true
        let! neighbours = c.Node(1L).ReadAsync("key-5", (fun sm -> (sm :?> RecordingMachine).Commands.Length))
        neighbours.Found |> should equal true
        neighbours.Value |> should be (greaterThan 1)
    }

/// Each group's voters as its members see them, against the directory's record on node `viewer`; (group, recorded, seen).
let private voterSets (c: PlacementCluster) (viewer: int64) (running: int64 list) =
    [ for p in c.Node(viewer).Directory.Placements() ->
        let seen =
            [ for id in running do
                match c.Node(id).Host.TryGetGroup p.GroupId with
                | true, g -> yield id, (g.Membership.Voters |> Seq.map int64 |> Seq.sort |> List.ofSeq)
                | _ -> () ]
        p.GroupId, List.ofArray (nonNull p.Members), seen ]

/// Every group is open exactly on its recorded members, each seeing exactly those voters.
let private settled (observed: (int64 * int64 list * (int64 * int64 list) list) list) =
    observed |> List.forall (fun (_, recorded, seen) -> List.map fst seen = recorded && seen |> List.forall (fun (_, v) -> v = recorded))

let private loads (c: PlacementCluster) (viewer: int64) (ids: int64 list) =
    let placements = c.Node(viewer).Directory.Placements()
    [ for id in ids -> placements |> Seq.filter (fun p -> Array.contains id (nonNull p.Members)) |> Seq.length ]

[<Fact>]
let ``replication factor 3 of 5: every group on 3 members spread evenly, a non-member names them, a removed member's groups get replacements`` () =
    task {
        let all = [ 1L .. 5L ]
        let! c = PlacementCluster.StartAll(all, (fun o -> o.ReplicationFactor <- 3), 30)
        use _ = disposing c
        let keys = [ for i in 1 .. 30 -> $"k{i}" ]
        // Written through any node: one that does not replicate the name's group says which members do.
        let write (via: int64) (key: string) (value: string) =
            task {
                try
                    let! r = c.Node(via).ProposeAsync(key, value)
                    return r.Index
                with :? NotPlacedHereException as e ->
                    e.Members |> Seq.map (fun m -> m.Id) |> Seq.contains via |> should equal false
                    let! r = c.Node(e.Members[0].Id).ProposeAsync(key, value)
                    return r.Index
            }
        for batch in List.chunkBySize 10 keys do
            let! _ = Task.WhenAll [ for k in batch -> write (int64 (PlacementPolicy.Slot(k, 5)) + 1L) k $"put {k}" ]
            ()
        let recorded = c.Node(1L).Directory.Placements()
        recorded.Count |> should equal 30
        for p in recorded do (nonNull p.Members).Length |> should equal 3
        // 90 replicas over 5 members: 18 each (greedy by load keeps every member within one of the even share).
        let spread = loads c 1L all
        List.max spread - List.min spread |> should be (lessThanOrEqualTo 1)
        // Every node's directory agrees, and each group runs on exactly its members with them as voters.
        for n in c.Nodes do
            n.Directory.Placements() |> Seq.sortBy (fun p -> p.GroupId) |> Seq.map (fun p -> p.GroupId, List.ofArray (nonNull p.Members)) |> List.ofSeq
            |> should equal (recorded |> Seq.sortBy (fun p -> p.GroupId) |> Seq.map (fun p -> p.GroupId, List.ofArray (nonNull p.Members)) |> List.ofSeq)
        let! _ = Wait.untilValue "every group open on exactly its 3 members, with them as voters" Wait.standard (fun () -> voterSets c 1L all) settled
        // A request on a node outside the group: refused with the members to ask, and those answer it.
        let p = recorded |> Seq.head
        let outsider = all |> List.find (fun id -> not (Array.contains id (nonNull p.Members)))
        let! refused = Assert.ThrowsAsync<NotPlacedHereException>(fun () -> c.Node(outsider).ReadAsync(p.Name, (fun sm -> 0)) :> Task)
        refused.Members |> Seq.map (fun m -> m.Id) |> Array.ofSeq |> should equal p.Members
        for k in keys do
            let holder = (nonNull (c.Node(1L).Directory.Find k)).Members |> nonNull |> Array.head
            let! read = c.Node(holder).ReadAsync(k, (fun sm -> (sm :?> RecordingMachine).Commands))
            read.Value |> should equal [| $"put {k}" |]
        // Node 5 leaves: each of its groups takes a replacement, ending at 3 voters without it.
        let held = recorded |> Seq.filter (fun p -> Array.contains 5L (nonNull p.Members)) |> Seq.length
        held |> should be (greaterThan 0)
        do! c.Node(1L).RemoveMemberAsync 5L
        let rest = [ 1L .. 4L ]
        let! _ = Wait.untilValue "every group on 3 of nodes 1-4 again, with them as voters" (TimeSpan.FromSeconds 60.0) (fun () -> voterSets c 1L rest) (fun o ->
                     settled o && o |> List.forall (fun (_, recorded, _) -> recorded.Length = 3 && not (List.contains 5L recorded)))
        let after = loads c 1L rest
        (List.sum after, List.max after - List.min after <= 2) |> should equal (90, true)
        for k in keys do
            let! _ = write 5L k $"put {k} again" // node 5 is no member of anything now: every write is sent on
            let! read = write (int64 (PlacementPolicy.Slot(k, 4)) + 1L) k $"put {k} last"
            read |> should be (greaterThan 0L)
    }

let private joining (id: int64) = ClusterMember(id, $"127.0.0.1:{19000L + id}", $"http://127.0.0.1:{18000L + id}")

[<Fact>]
let ``replication factor 2 of 3: a member added later takes its share of the existing groups, and the members it relieves close them`` () =
    task {
        let! c = PlacementCluster.StartAll([ 1L; 2L; 3L ], (fun o -> o.ReplicationFactor <- 2; o.Balance <- false), 30)
        use _ = disposing c
        let keys = [ for i in 1 .. 24 -> $"k{i}" ]
        // An overwritten proposal (an election while the cluster forms) never applied: written again.
        let rec write (key: string) (value: string) =
            task {
                try
                    try
                        let! _ = c.Node(1L).ProposeAsync(key, value)
                        ()
                    with :? NotPlacedHereException as e ->
                        let! _ = c.Node(e.Members[0].Id).ProposeAsync(key, value)
                        ()
                with :? Raft.Node.ProposalLostException -> do! write key value
            }
        for batch in List.chunkBySize 8 keys do
            let! _ = Task.WhenAll [ for k in batch -> write k $"put {k}" ]
            ()
        let! _ = Wait.untilValue "every group open on exactly its 2 members" Wait.standard (fun () -> voterSets c 1L [ 1L; 2L; 3L ]) settled
        loads c 1L [ 1L; 2L; 3L ] |> should equal [ 16; 16; 16 ]
        // Node 4 joins: 48 replicas over 4 members, 12 each; it takes 12 existing groups from the others.
        let! _ = c.Start 4L
        do! c.Node(1L).AddMemberAsync(joining 4L)
        let all = [ 1L .. 4L ]
        let! _ = Wait.untilValue "every member's directory holds 12 replicas" Wait.standard (fun () -> [ for v in all -> loads c v all ]) (List.forall ((=) [ 12; 12; 12; 12 ]))
        let! _ = Wait.untilValue "every group open on exactly its 2 members, node 4's too, and closed elsewhere" (TimeSpan.FromSeconds 60.0)
                     (fun () -> voterSets c 1L all, [ for id in all -> (dataGroups (c.Node id)).Length ])
                     (fun (observed, open') -> settled observed && open' = [ 12; 12; 12; 12 ])
        // The moved replicas carry the data: node 4 reads every key it now holds from its own copy.
        for k in keys do
            let p = nonNull (c.Node(4L).Directory.Find k)
            if Array.contains 4L (nonNull p.Members) then
                let! read = c.Node(4L).ReadAsync(k, (fun sm -> (sm :?> RecordingMachine).Commands), true)
                read.Value |> should equal [| $"put {k}" |]
    }

[<Fact>]
let ``data a node kept of a released group (a crash before it was deleted) is deleted when the node starts again`` () =
    task {
        let! c = PlacementCluster.StartAll([ 1L; 2L; 3L ], (fun o -> o.Balance <- false))
        use _ = disposing c
        let! _ = c.Node(1L).ProposeAsync("gone", "v")
        let! _ = c.Node(1L).ProposeAsync("kept", "v")
        let gone = (nonNull (c.Node(1L).Directory.Find "gone")).GroupId
        let kept = (nonNull (c.Node(1L).Directory.Find "kept")).GroupId
        let! released = c.Node(1L).ReleaseAsync "gone"
        released |> should equal true
        do! Wait.until "node 3 closed the released group" Wait.standard (fun () -> (dataGroups (c.Node 3L)).Length = 1)
        do! c.Stop 3L
        // What a crash leaves when it falls between the directory applying the release and the group's deletion: the
        // group's entries in the shared log (they would pin its files for good) and its directory.
        let leftover = SharedLogStorageProvider(c.DataDirectory 3L)
        let storage = leftover.Open gone
        storage.HardState.Save(ReadOnlySpan [| 1uy; 2uy; 3uy |])
        storage.Dispose()
        List.ofSeq (leftover.StoredGroups()) |> should contain gone
        let! n3 = c.Start 3L
        let! _ = Wait.untilValue "node 3 deleted the released group's data and kept the other's" Wait.standard
                     (fun () -> List.ofSeq (n3.Host.StoredGroups()) |> List.filter (fun g -> g >= 1L), (dataGroups n3).Length)
                     (fun (stored, opened) -> stored = [ kept ] && opened = 1)
        fst (n3.Host.TryGetGroup gone) |> should equal false
    }
