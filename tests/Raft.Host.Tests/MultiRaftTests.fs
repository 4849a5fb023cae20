/// The placement layer (Raft.MultiRaft): a directory group mapping names to groups created on first write, released
/// groups deleted everywhere, membership reconciled into every group, leaderships balanced. Three (or four) nodes in
/// one process on the in-memory network (every message through the MessagePack codec), each with a shared log on disk.
module Raft.Host.Tests.MultiRaftTests

open System
open System.IO
open System.Collections.Concurrent
open System.Collections.Generic
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.MultiRaft
open Raft.Node
open Raft.Serialization
open Raft.Storage
open Raft.Transport.InMemory
open Raft.Tests
open Raft.Host.Tests.ClusterKit

type Placed = MultiRaftNode<string, int64>

let private endpoint (id: int64) = $"127.0.0.1:{19000L + id}"
let private member' (id: int64) = ClusterMember(id, endpoint id, $"http://127.0.0.1:{18000L + id}")

/// Placement nodes on one in-memory network; `Machines[node][group]` is the user's state machine of a data group.
type PlacementCluster(initial: int64 list, configure: MultiRaftOptions -> unit, electionTicks: int) =
    let root = Path.Combine(Path.GetTempPath(), "raft-placement-tests", Guid.NewGuid().ToString("N"))
    let network = InMemoryNetwork<RaftEnvelope<PlacedCommand<string>>[]>(RaftBatchCodec<PlacedCommand<string>>(RaftMessageCodec<PlacedCommand<string>>()))
    let nodes = ConcurrentDictionary<int64, Placed>()
    let machines = ConcurrentDictionary<int64, ConcurrentDictionary<int64, RecordingMachine>>()

    member _.Nodes = nodes.Values |> Seq.sortBy (fun n -> n.NodeId) |> Array.ofSeq
    member _.Node(id: int64) = nodes[id]
    member _.Machine(node: int64, group: int64) = machines[node][group]
    /// Where node `id` keeps its files.
    member _.DataDirectory(id: int64) = Path.Combine(root, $"node-{id}")

    /// Starts (or restarts from its files) node `id`; a node outside `initial` joins and waits to be added.
    member this.Start(id: int64) =
        task {
            let options = MultiRaftOptions(InitialMembers = List(initial |> List.map member'), ReconcileInterval = TimeSpan.FromMilliseconds 100.0)
            configure options
            let mine = machines.GetOrAdd(id, fun _ -> ConcurrentDictionary())
            mine.Clear()
            let factory = Func<int64, IStateMachine<string, int64>>(fun g -> mine.GetOrAdd(g, fun _ -> RecordingMachine()) :> _)
            let nodeOptions = testOptions id
            nodeOptions.ElectionTicks <- electionTicks
            let node = new Placed(options, nodeOptions, network.CreateTransport id, SharedLogStorageProvider(this.DataDirectory id),
                                  factory, loggerFactory = new StderrLoggerFactory())
            do! node.StartAsync()
            nodes[id] <- node
            return node
        }

    /// A graceful stop (leaderships handed off first).
    member _.Stop(id: int64) =
        task {
            match nodes.TryRemove id with
            | true, node -> do! node.DisposeAsync()
            | _ -> ()
        }

    /// Leaderships per node as node `viewer` sees them, over every group it has.
    member this.Leading(viewer: int64) =
        let counts = Dictionary<int64, int>()
        for g in this.Node(viewer).Host.Groups do
            if g.Status.Leader <> 0L then counts[g.Status.Leader] <- (match counts.TryGetValue g.Status.Leader with | true, n -> n + 1 | _ -> 1)
        counts

    /// `electionTicks`: 10 (elections in 100-200 ms) unless given.
    static member StartAll(ids: int64 list, ?configure, ?electionTicks) =
        task {
            let c = new PlacementCluster(ids, defaultArg configure ignore, defaultArg electionTicks 10)
            for id in ids do
                let! _ = c.Start id
                ()
            return c
        }

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            ValueTask(task {
                for n in nodes.Values do
                    do! n.DisposeAsync()
                nodes.Clear()
                try Directory.Delete(root, true) with _ -> ()
            })

let private voters (g: RaftGroup<PlacedCommand<string>, PlacedResult<int64>>) = g.Membership.Voters |> Seq.map int64 |> Seq.sort |> List.ofSeq

[<Fact>]
let ``concurrent first writes of one name on every node create one group holding every write`` () =
    task {
        let! c = PlacementCluster.StartAll [ 1L; 2L; 3L ]
        use _ = { new IDisposable with member _.Dispose() = (c :> IAsyncDisposable).DisposeAsync().AsTask().Wait() }
        let! written = Task.WhenAll [ for n in c.Nodes -> n.ProposeAsync("k", $"from {n.NodeId}") ]
        let! placements = Task.WhenAll [ for n in c.Nodes -> n.FindAsync "k" ]
        let groups = placements |> Array.map (fun p -> (nonNull p).GroupId) |> Array.distinct
        groups |> should haveLength 1
        for n in c.Nodes do n.Directory.Count |> should equal 1
        written |> Array.map (fun r -> r.Result) |> Array.sort |> should equal [| 1L; 2L; 3L |]
        do! Wait.until "every node applied the three writes in one order" Wait.standard (fun () ->
            c.Nodes |> Array.forall (fun n -> n.Host.TryGetGroup(groups[0]) |> fst && c.Machine(n.NodeId, groups[0]).Count = 3))
        let orders = c.Nodes |> Array.map (fun n -> c.Machine(n.NodeId, groups[0]).Commands)
        orders |> Array.distinct |> should haveLength 1
    }

[<Fact>]
let ``a released name's group is deleted on every node and the name placed again in a new group`` () =
    task {
        let! c = PlacementCluster.StartAll [ 1L; 2L; 3L ]
        use _ = { new IDisposable with member _.Dispose() = (c :> IAsyncDisposable).DisposeAsync().AsTask().Wait() }
        let n1, n2 = c.Node 1L, c.Node 2L
        let! first = n1.ProposeAsync("k", "v1")
        let! before = n1.FindAsync "k"
        let old = (nonNull before).GroupId
        // A release conditioned on an older index than the last write is refused: the write is never discarded.
        let! refused = n2.ReleaseAsync("k", unchangedSince = first.Index - 1L)
        refused |> should equal false
        let! released = n2.ReleaseAsync("k", unchangedSince = first.Index)
        released |> should equal true
        do! Wait.until "every node closed the released group" Wait.standard (fun () -> c.Nodes |> Array.forall (fun n -> not (fst (n.Host.TryGetGroup old))))
        let! gone = n1.ReadAsync("k", (fun sm -> (sm :?> RecordingMachine).Count))
        gone.Found |> should equal false
        let! again = n2.ProposeAsync("k", "v2")
        again.Result |> should equal 1L // a fresh state machine: v1 is gone with its group
        let! after = n1.FindAsync "k"
        (nonNull after).GroupId |> should be (greaterThan old)
        let! read = n1.ReadAsync("k", (fun sm -> (sm :?> RecordingMachine).Commands))
        read.Value |> should equal [| "v2" |]
    }

[<Fact>]
let ``reads of a name: linearizable on any node sees the last write, stale reads this node's state`` () =
    task {
        let! c = PlacementCluster.StartAll [ 1L; 2L; 3L ]
        use _ = { new IDisposable with member _.Dispose() = (c :> IAsyncDisposable).DisposeAsync().AsTask().Wait() }
        for i in 1 .. 20 do
            let! _ = c.Node(int64 (i % 3 + 1)).ProposeAsync("k", $"w{i}")
            ()
        for n in c.Nodes do
            let! read = n.ReadAsync("k", (fun sm -> (sm :?> RecordingMachine).Commands |> Array.last))
            read |> should equal (NamedRead<string>(true, "w20"))
        let! missing = c.Node(2L).ReadAsync("never-written", (fun sm -> 0))
        missing.Found |> should equal false
        let! stale = Wait.untilValue "a stale read on node 3 catches up" Wait.standard (fun () ->
                         c.Node(3L).ReadAsync("k", (fun sm -> (sm :?> RecordingMachine).Count), stale = true).Result) (fun r -> r.Value = 20)
        stale.Found |> should equal true
    }

[<Fact>]
let ``a node added to and removed from a cluster of 1,000 groups ends in exactly the right members of every group`` () =
    task {
        // Elections in 300-600 ms: a thousand groups on two cores shared with other test classes' processes must not
        // lose leaders to a starved loop while the writes are set up.
        let! c = PlacementCluster.StartAll([ 1L; 2L; 3L ], (fun o -> o.MaxConfChangesPerPass <- 256; o.Balance <- false), 30)
        use _ = { new IDisposable with member _.Dispose() = (c :> IAsyncDisposable).DisposeAsync().AsTask().Wait() }
        let names = [| for i in 1 .. 1000 -> $"key-{i}" |]
        for batch in Array.chunkBySize 100 names do
            let! _ = Task.WhenAll [ for name in batch -> c.Node(int64 (name.GetHashCode() &&& 1) + 1L).ProposeAsync(name, "v") ]
            ()
        let groupsOn (id: int64) = c.Node(id).Host.Groups |> Seq.filter (fun g -> g.GroupId >= 1L) |> Array.ofSeq
        do! Wait.until "every node opened the 1,000 groups" Wait.standard (fun () -> [ 1L; 2L; 3L ] |> List.forall (fun id -> (groupsOn id).Length = 1000))
        let! _ = c.Start 4L
        do! c.Node(1L).AddMemberAsync(member' 4L)
        // Observed: per node, how many groups have each voter set (the failure message says how far it got).
        let spread (ids: int64 list) () =
            [ for id in ids -> id, c.Node(id).Host.Groups |> Seq.countBy voters |> Seq.sortBy fst |> List.ofSeq ]
        let settled (expected: int64 list) (observed: (int64 * (int64 list * int) list) list) =
            observed |> List.forall (fun (_, counts) -> counts |> List.forall (fun (v, _) -> v = expected))
        let! _ = Wait.untilValue "node 4 opened the 1,000 groups" Wait.standard (fun () -> (groupsOn 4L).Length) (fun n -> n = 1000)
        let! _ = Wait.untilValue "every group (and the directory) has voters 1-4 on every node" (TimeSpan.FromSeconds 90.0) (spread [ 1L; 2L; 3L; 4L ]) (settled [ 1L; 2L; 3L; 4L ])
        (groupsOn 4L).Length |> should equal 1000
        let! r = c.Node(4L).ReadAsync("key-7", (fun sm -> (sm :?> RecordingMachine).Commands))
        r.Value |> should equal [| "v" |]
        do! c.Node(2L).RemoveMemberAsync 4L
        let! _ = Wait.untilValue "every group has voters 1-3 again on nodes 1-3" (TimeSpan.FromSeconds 90.0) (spread [ 1L; 2L; 3L ]) (settled [ 1L; 2L; 3L ])
        let changes = c.Nodes |> Array.sumBy (fun n -> n.ConfChangesStarted)
        changes |> should be (greaterThanOrEqualTo 2002L) // one add and one removal per group, the directory's too
        let! bad = Assert.ThrowsAsync<PlacementException>(fun () -> c.Node(1L).RemoveMemberAsync 9L)
        bad.Reason |> should equal "not a member"
    }

[<Fact>]
let ``the balancer spreads leaderships within one of each other, again after a node restarts`` () =
    task {
        let configure (o: MultiRaftOptions) =
            o.BalanceSettle <- TimeSpan.Zero
            o.BalanceInterval <- TimeSpan.FromMilliseconds 100.0
        let! c = PlacementCluster.StartAll([ 1L; 2L; 3L ], configure)
        use _ = { new IDisposable with member _.Dispose() = (c :> IAsyncDisposable).DisposeAsync().AsTask().Wait() }
        // The balancer runs from the first instant, so a proposal forwarded to a leader that is handing its group over
        // can end ambiguous (ForwardingFailedException: it may have applied); writing "v" again is harmless here.
        let rec write (name: string) : Task =
            task {
                try
                    let! _ = c.Node(1L).ProposeAsync(name, "v")
                    ()
                with :? ForwardingFailedException -> do! write name
            }
        do! Task.WhenAll [ for i in 1 .. 30 -> write $"k{i}" ]
        let balanced (viewer: int64) () =
            let counts = c.Leading viewer
            let per = [ for id in 1L .. 3L -> match counts.TryGetValue id with | true, n -> n | _ -> 0 ]
            List.sum per = 31 && List.max per - List.min per <= 1
        do! Wait.until "31 leaderships spread 11/10/10 as node 1 sees them" Wait.standard (balanced 1L)
        // A graceful stop hands node 2's leaderships off; after its restart the balancer gives it its share back.
        do! c.Stop 2L
        do! Wait.until "nodes 1 and 3 lead every group" Wait.standard (fun () ->
            let counts = c.Leading 1L
            (match counts.TryGetValue 1L with | true, n -> n | _ -> 0) + (match counts.TryGetValue 3L with | true, n -> n | _ -> 0) = 31)
        let before = c.Nodes |> Array.sumBy (fun n -> n.TransfersStarted)
        let! _ = c.Start 2L
        do! Wait.until "balanced again after the restart" Wait.standard (balanced 3L)
        let after = c.Nodes |> Array.sumBy (fun n -> n.TransfersStarted)
        after - before |> should be (greaterThanOrEqualTo 9L) // node 2 leads at least 10 again, each by a transfer or an election
    }

[<Fact>]
let ``idle nodes skip the reconciler's and balancer's walk over every group until a group changes, then act on it`` () =
    task {
        let configure (o: MultiRaftOptions) =
            o.ReconcileInterval <- TimeSpan.FromMilliseconds 20.0
            o.BalanceSettle <- TimeSpan.Zero
            o.BalanceInterval <- TimeSpan.FromMilliseconds 20.0
        let! c = PlacementCluster.StartAll([ 1L; 2L; 3L ], configure, 30)
        use _ = { new IDisposable with member _.Dispose() = (c :> IAsyncDisposable).DisposeAsync().AsTask().Wait() }
        let rec write (node: int64) (name: string) : Task =
            task {
                try
                    let! _ = c.Node(node).ProposeAsync(name, "v")
                    ()
                with :? ForwardingFailedException -> do! write node name
            }
        do! Task.WhenAll [ for i in 1 .. 20 -> write (int64 (i % 3 + 1)) $"k{i}" ]
        // Idle: 25 passes in a row (each 20 ms apart) on every node without one walk of the reconciler or the balancer.
        // Without the skip every pass and every round walks, and this never holds.
        let marks = Dictionary<int64, int64 * int64 * int64>()
        let stillFor (passes: int64) (n: Placed) =
            let ran, walked = n.ReconcilePasses, n.ReconcilePassesWalked
            match marks.TryGetValue n.NodeId with
            | true, (ran0, walked0, rounds0) when walked = walked0 && n.BalanceRoundsWalked = rounds0 -> ran - ran0 >= passes
            | _ ->
                marks[n.NodeId] <- (ran, walked, n.BalanceRoundsWalked)
                false
        do! Wait.until "every node ran 25 reconciler passes without walking its groups" (TimeSpan.FromSeconds 60.0) (fun () ->
            c.Nodes |> Array.map (stillFor 25L) |> Array.forall id)
        // A leadership moved by hand unbalances the spread: the moved-to node's balancer sees its groups changed, walks
        // and hands one back.
        let spread () =
            let counts = c.Leading 1L
            let per = [ for id in 1L .. 3L -> match counts.TryGetValue id with | true, n -> n | _ -> 0 ]
            List.sum per = 21, List.max per - List.min per
        do! Wait.until "21 leaderships within one of each other" Wait.standard (fun () -> spread () = (true, 0) || spread () = (true, 1))
        let counts = c.Leading 1L
        let most = [ 1L; 2L; 3L ] |> List.maxBy (fun id -> match counts.TryGetValue id with | true, n -> n | _ -> 0)
        let target = [ 1L; 2L; 3L ] |> List.filter ((<>) most) |> List.maxBy (fun id -> match counts.TryGetValue id with | true, n -> n | _ -> 0)
        let movable = c.Node(most).Host.Groups |> Seq.find (fun g -> g.GroupId >= 1L && g.Status.IsLeader)
        let roundsBefore = c.Node(target).BalanceRoundsWalked
        do! movable.TransferLeadershipAsync(target, Threading.CancellationToken.None)
        do! Wait.until "node the leadership moved to walks its groups and the spread evens out again" Wait.standard (fun () ->
            c.Node(target).BalanceRoundsWalked > roundsBefore && (spread () = (true, 0) || spread () = (true, 1)))
        // A new name: the directory change wakes every reconciler, which walks and opens the new group everywhere.
        let walkedBefore = c.Nodes |> Array.map (fun n -> n.ReconcilePassesWalked)
        do! write 2L "fresh"
        let! placed = c.Node(1L).FindAsync "fresh"
        let group = (nonNull placed).GroupId
        do! Wait.until "every node opened the new name's group" Wait.standard (fun () -> c.Nodes |> Array.forall (fun n -> fst (n.Host.TryGetGroup group)))
        Array.map2 (fun (n: Placed) before -> n.ReconcilePassesWalked > before) c.Nodes walkedBefore |> should equal [| true; true; true |]
    }
