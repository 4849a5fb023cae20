/// InstallSnapshot, linearizable reads, leadership transfer and membership changes through the node host's public
/// API, on the in-memory network (exact partitions) with real files in a temp directory.
module Raft.Host.Tests.SnapshotMembershipTests

open System
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Core
open Raft.Node
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// Snapshots every 10 applied entries, compacting everything they cover, sent in 64-byte chunks (many per snapshot).
let private snapshotting (o: RaftNodeOptions) =
    o.SnapshotEntries <- 10L
    o.CompactionTrailing <- 0L
    o.SnapshotChunkBytes <- 64

let private has (n: int64) (members: Set<NodeId>) = members |> Set.exists (fun m -> int64 m = n)

let private machine (cluster: Cluster) (id: int64) = cluster.Node(id).Machines[1L]

/// Partitions a follower while the leader commits and compacts past it, heals, and waits until the follower's state
/// equals the leader's. Returns (leader, follower).
let private lagAndInstall (cluster: Cluster) =
    task {
        let! leader = cluster.WaitLeader 1L
        let! _ = cluster.Propose(1L, "first")
        let follower = cluster.Ids |> Array.find (fun id -> id <> leader)
        do! cluster.WaitApplied(1L, 1)
        cluster.Network.Isolate follower
        let lagAt = (machine cluster follower).Count
        for i in 1..60 do
            let! _ = cluster.Propose(1L, $"lag-{i}")
            ()
        let! leader = cluster.WaitLeader 1L
        // The leader's log no longer holds what the follower needs next: only a snapshot can bring it up to date.
        do! Wait.until "the leader snapshots and compacts past the partitioned follower" Wait.standard (fun () ->
            cluster.SnapshotIndexes(leader, 1L) |> Array.exists (fun i -> i > int64 lagAt + 20L))
        (machine cluster follower).Restores |> should equal 0
        cluster.Network.HealAll()
        do! Wait.until "the follower installs the snapshot and catches up" Wait.standard (fun () ->
            (machine cluster follower).Applied = (machine cluster leader).Applied && (machine cluster follower).Count >= 61)
        (machine cluster follower).Restores |> should be (greaterThanOrEqualTo 1)
        cluster.SnapshotIndexes(follower, 1L) |> should not' (be Empty)
        return leader, follower
    }

[<Fact>]
let ``a partitioned follower behind the leader's compacted log catches up by InstallSnapshot with the leader's state`` () =
    task {
        use cluster = new Cluster(3, 1, false, configure = snapshotting)
        do! cluster.StartAll()
        let! leader, follower = lagAndInstall cluster
        // And it keeps replicating normally after the install.
        let! _ = cluster.Propose(1L, "after-install")
        do! Wait.until "every node applies the next command" Wait.standard (fun () ->
            cluster.Nodes |> Array.forall (fun n -> n.Machines[1L].Commands |> Array.contains "after-install"))
        (machine cluster follower).Applied |> should equal (machine cluster leader).Applied
        (machine cluster follower).Commands |> Array.filter (fun c -> c.StartsWith "lag-") |> Array.distinct |> Array.length |> should equal 60
    }

[<Fact>]
let ``a follower restarted right after installing a snapshot keeps its state and its log continues after the snapshot`` () =
    task {
        use cluster = new Cluster(3, 1, false, configure = snapshotting)
        do! cluster.StartAll()
        let! _, follower = lagAndInstall cluster
        let before = (machine cluster follower).Applied
        let installedAt = cluster.SnapshotIndexes(follower, 1L) |> Array.max
        do! cluster.StopNode follower
        do! cluster.StartNode follower
        // The restarted state machine starts from the snapshot file, then applies the log after it.
        (machine cluster follower).Restores |> should equal 1
        do! Wait.until "the restarted follower is back where it was" Wait.standard (fun () -> (machine cluster follower).Count >= before.Length)
        (machine cluster follower).Applied[.. before.Length - 1] |> should equal before
        cluster.Group(follower, 1L).Status.LastIndex |> should be (greaterThanOrEqualTo installedAt)
        for i in 1..5 do
            let! _ = cluster.Propose(1L, $"post-restart-{i}")
            ()
        let! leader = cluster.WaitLeader 1L
        do! Wait.until "the restarted follower appends and applies after the snapshot index" Wait.standard (fun () ->
            (machine cluster follower).Applied = (machine cluster leader).Applied
            && (machine cluster follower).Commands |> Array.contains "post-restart-5")
        cluster.Group(follower, 1L).Status.LastIndex |> should be (greaterThan installedAt)
    }

let private lastCommand (sm: IStateMachine<string, int64>) = (sm :?> RecordingMachine).Commands |> Array.last

[<Fact>]
let ``linearizable ReadAsync on the leader and on a follower returns the latest acknowledged value`` () =
    task {
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartAll()
        for i in 1..5 do
            let! _ = cluster.Propose(1L, $"v{i}")
            ()
        let! leader = cluster.WaitLeader 1L
        let follower = cluster.Ids |> Array.find (fun id -> id <> leader)
        let! onLeader = cluster.Group(leader, 1L).ReadAsync(Func<_, _>(lastCommand))
        onLeader |> should equal "v5"
        let! onFollower = cluster.Group(follower, 1L).ReadAsync(Func<_, _>(lastCommand))
        onFollower |> should equal "v5"
        // A read issued right after an acknowledgement sees it, on any node, without waiting for replication first.
        for i in 6..10 do
            let! _ = cluster.Propose(1L, $"v{i}")
            let! leader = cluster.WaitLeader 1L
            for id in cluster.Ids do
                let! seen = cluster.Group(id, 1L).ReadAsync(Func<_, _>(lastCommand))
                seen |> should equal $"v{i}"
            ignore leader
    }

[<Fact>]
let ``leadership moves to a named node, and a transfer to the leader itself is refused with a reason`` () =
    task {
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartAll()
        let! _ = cluster.Propose(1L, "before")
        let! leader = cluster.WaitLeader 1L
        let target = cluster.Ids |> Array.find (fun id -> id <> leader)
        do! cluster.Group(leader, 1L).TransferLeadershipAsync(target)
        do! Wait.until $"node {target} leads" Wait.standard (fun () -> cluster.Leader 1L = Some target)
        let! r = cluster.Group(target, 1L).ProposeAsync("after-transfer")
        r.Index |> should be (greaterThan 1L)
        let! e = Assert.ThrowsAsync<LeadershipTransferException>(fun () -> cluster.Group(target, 1L).TransferLeadershipAsync(target))
        e.Reason.IsInvalidTransfer |> should equal true
        e.Target |> should equal target
        e.Message |> should haveSubstring "already the leader"
        // A follower cannot hand over leadership it does not hold.
        let! e2 = Assert.ThrowsAsync<LeadershipTransferException>(fun () -> cluster.Group(leader, 1L).TransferLeadershipAsync(leader))
        e2.Reason.IsNotLeader |> should equal true
    }

[<Fact>]
let ``a node joins as a learner, is promoted to voter and removed again through the membership API`` () =
    task {
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartAll()
        for i in 1..5 do
            let! _ = cluster.Propose(1L, $"m{i}")
            ()
        do! cluster.JoinNode 4L
        let! leader = cluster.WaitLeader 1L
        let g = cluster.Group(leader, 1L)
        let! learnerAt = g.AddLearnerAsync 4L
        learnerAt |> should be (greaterThan 5L)
        g.Membership.Learners |> has 4L |> should equal true
        g.Membership.Voters |> has 4L |> should equal false
        do! Wait.until "the learner receives the log" Wait.standard (fun () ->
            (machine cluster 4L).Commands |> Array.contains "m5")
        let! voterAt = g.AddVoterAsync 4L
        voterAt |> should be (greaterThan learnerAt)
        g.Membership.Voters |> has 4L |> should equal true
        do! Wait.until "node 4 sees itself a voter" Wait.standard (fun () -> cluster.Group(4L, 1L).Membership.Voters |> has 4L)
        let! _ = cluster.Propose(1L, "with-four")
        do! Wait.until "node 4 applies with-four" Wait.standard (fun () -> (machine cluster 4L).Commands |> Array.contains "with-four")
        let! leader = cluster.WaitLeader 1L
        let g = cluster.Group(leader, 1L)
        let! _ = g.RemoveNodeAsync 4L
        g.Membership.Voters |> has 4L |> should equal false
        g.Membership.Learners |> has 4L |> should equal false
        let! _ = cluster.Propose(1L, "without-four")
        (machine cluster leader).Commands |> should contain "without-four"
    }

[<Fact>]
let ``snapshot settings are validated with messages naming the key`` () =
    let node = RaftNodeOptions(NodeId = 1L, SnapshotEntries = -1L, SnapshotLogBytes = -5L, CompactionTrailing = -1L, SnapshotChunkBytes = 0)
    let errors = node.Validate() |> String.concat " "
    for key in [ "SnapshotEntries"; "SnapshotLogBytes"; "CompactionTrailing"; "SnapshotChunkBytes" ] do
        errors |> should haveSubstring key
    let host = Raft.Hosting.RaftHostOptions(NodeId = 1L, ClusterId = "c", InMemoryStorage = true, SnapshotEntries = -1L, SnapshotChunkBytes = 0)
    let errors = host.Validate() |> String.concat " "
    errors |> should haveSubstring "Raft:SnapshotEntries"
    errors |> should haveSubstring "Raft:SnapshotChunkBytes"
    let ok = Raft.Hosting.RaftHostOptions(NodeId = 1L, ClusterId = "c", InMemoryStorage = true, SnapshotEntries = 100L, CompactionTrailing = 0L)
    ok.Validate() |> should be Empty
    ok.ToNodeOptions().CoreOptions(1L).SnapshotEntries |> should equal 100L

[<Fact>]
let ``a deposed leader's waiting proposal fails with OutcomeUnknownException when a snapshot replaces its log`` () =
    task {
        use cluster = new Cluster(3, 1, false, configure = snapshotting)
        do! cluster.StartAll()
        let! old = cluster.WaitLeader 1L
        let! _ = cluster.Propose(1L, "first")
        do! cluster.WaitApplied(1L, 1)
        // Appended on the isolated leader only: it can neither commit nor learn that it was overwritten.
        cluster.Network.Isolate old
        let stranded = cluster.Group(old, 1L).ProposeAsync("stranded", Nullable(TimeSpan.FromSeconds 60.0))
        do! Wait.until "a majority leader" Wait.standard (fun () ->
            cluster.Nodes |> Array.exists (fun n -> n.Id <> old && n.Host.GetGroup(1L).Status.IsLeader))
        for i in 1..40 do
            let! _ = cluster.Propose(1L, $"majority-{i}")
            ()
        let! leader = cluster.WaitLeader 1L
        do! Wait.until "the new leader compacts past the stranded entry" Wait.standard (fun () ->
            cluster.SnapshotIndexes(leader, 1L) |> Array.exists (fun i -> i > 20L))
        stranded.IsCompleted |> should equal false
        cluster.Network.HealAll()
        // The old leader installs the new leader's snapshot: the snapshot holds the state, not the stranded entry's fate.
        do! Wait.forTask "the outcome of the stranded proposal" Wait.standard stranded
        match stranded.Exception with
        | null -> failwith "the stranded proposal completed instead of failing"
        | e ->
            match e.InnerException with
            | :? OutcomeUnknownException as u ->
                u.GroupId |> should equal 1L
                u.SnapshotIndex |> should be (greaterThanOrEqualTo u.Index)
            | other -> failwithf "expected OutcomeUnknownException, got %O" other
        (machine cluster old).Commands |> should not' (contain "stranded")
    }

/// The follower's record of the snapshot it is receiving (which snapshot, how many bytes are durable), if any.
let private receivingRecord (cluster: Cluster) (id: int64) =
    let path = IO.Path.Combine(cluster.NodeDirectory id, "group-1", "snapshots", "receiving")
    let bytes = try Some(IO.File.ReadAllBytes path) with :? IO.FileNotFoundException | :? IO.DirectoryNotFoundException -> None
    bytes |> Option.bind (fun b ->
        let record, _, _ = Raft.Storage.ReceivingRecord.TryDecode(ReadOnlySpan b)
        Option.ofObj record)

/// Writes into stopped node `id`'s snapshot directory what a node that stopped while receiving snapshot (index, term)
/// leaves behind: 100 durable bytes of it and its `receiving` record. Returns the directory.
let private leavePartialSnapshot (cluster: Cluster) (id: int64) (index: int64) (term: int64) =
    let dir = IO.Path.Combine(cluster.NodeDirectory id, "group-1", "snapshots")
    let meta = { Index = Ids.index index; Term = Ids.term term; Config = Node.initialConfig (cluster.Ids |> Seq.map Ids.node) }
    let w = Raft.Storage.FileSnapshotStore(dir).BeginReceive(index, term, ReadOnlySpan(Raft.Serialization.RaftStateCodec.EncodeSnapshotMeta meta), 7L)
    w.Write(ReadOnlySpan(Array.create 100 1uy))
    w.Checkpoint 7L
    w.Close()
    dir

/// Starts the cluster, partitions a follower while the leader commits some 12 KB of state (about 200 chunks of 64
/// bytes) and compacts past it, then heals: the follower now needs a snapshot. Returns (leader, follower).
let private fallBehindSnapshot (cluster: Cluster) =
    task {
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! _ = cluster.Propose(1L, "first")
        let follower = cluster.Ids |> Array.find (fun id -> id <> leader)
        do! cluster.WaitApplied(1L, 1)
        cluster.Network.Isolate follower
        for i in 1..40 do
            let! _ = cluster.Propose(1L, $"big-{i}-" + String('x', 300))
            ()
        let! leader = cluster.WaitLeader 1L
        do! Wait.until "the leader snapshots and compacts past the partitioned follower" Wait.standard (fun () ->
            cluster.SnapshotIndexes(leader, 1L) |> Array.exists (fun i -> i > 30L))
        cluster.Network.HealAll()
        return leader, follower
    }

/// Stops a follower in the middle of receiving a snapshot of some 200 chunks, applies `damage` to its files, restarts
/// it and waits until it caught up. Returns (durable bytes recorded at the stop, the snapshot's data length, bytes the
/// follower wrote after the restart).
let private restartMidTransfer (damage: string -> unit) =
    task {
        use cluster = new Cluster(3, 1, false, configure = snapshotting)
        let! leader, follower = fallBehindSnapshot cluster
        do! Wait.until "the follower makes part of the snapshot durable" Wait.standard (fun () ->
            match receivingRecord cluster follower with
            | Some r -> r.Length >= 3L * 64L
            | None -> false)
        do! cluster.StopNode follower
        let record = (receivingRecord cluster follower).Value
        let dir = IO.Path.Combine(cluster.NodeDirectory follower, "group-1", "snapshots")
        damage dir
        do! cluster.StartNode follower
        do! Wait.until "the restarted follower installs the snapshot and catches up" Wait.standard (fun () ->
            (machine cluster follower).Applied = (machine cluster leader).Applied && (machine cluster follower).Count >= 41)
        // It installed the snapshot it was receiving.
        cluster.SnapshotIndexes(follower, 1L) |> should contain record.Index
        let file = IO.Path.Combine(dir, $"{record.Index:D20}-{record.Term:D20}.snap")
        let dataLength = IO.FileInfo(file).Length - 48L - int64 record.Configuration.Length
        (machine cluster follower).Restores |> should equal 1
        (receivingRecord cluster follower).IsNone |> should equal true
        IO.Directory.GetFiles(dir, "*.partial") |> should be Empty
        let written = cluster.Group(follower, 1L).Runtime.Receiver.BytesWritten
        let! _ = cluster.Propose(1L, "after-resume")
        do! Wait.until "the follower applies the next command" Wait.standard (fun () -> (machine cluster follower).Commands |> Array.contains "after-resume")
        return record.Length, dataLength, written
    }

[<Fact>]
let ``a follower restarted in the middle of receiving a snapshot resumes the transfer at its durable offset`` () =
    task {
        let! durable, dataLength, written = restartMidTransfer ignore
        durable |> should be (lessThan dataLength)
        // Only the bytes after the durable ones were sent again.
        written |> should equal (dataLength - durable)
    }

[<Fact>]
let ``a follower whose partial snapshot record is damaged starts the transfer over and installs the snapshot`` () =
    task {
        let! _, dataLength, written = restartMidTransfer (fun dir -> IO.File.AppendAllText(IO.Path.Combine(dir, "receiving"), "torn"))
        written |> should equal dataLength
    }

[<Fact>]
let ``a partially received snapshot the restored log already commits is deleted at restart, not resumed`` () =
    task {
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartAll()
        for i in 1..5 do
            let! _ = cluster.Propose(1L, $"c{i}")
            ()
        do! cluster.WaitApplied(1L, 5)
        // A new term makes every node save its hard state with the commit index it knows (at least 5).
        let! leader = cluster.WaitLeader 1L
        let target = cluster.Ids |> Array.find (fun id -> id <> leader)
        do! cluster.Group(leader, 1L).TransferLeadershipAsync(target)
        let follower = cluster.Ids |> Array.find (fun id -> id <> target)
        do! Wait.until "the follower follows the new leader" Wait.standard (fun () -> cluster.Group(follower, 1L).Status.Leader = target)
        do! cluster.StopNode follower
        // What a node that stopped while receiving a snapshot of index 2 would have left behind.
        let dir = leavePartialSnapshot cluster follower 2L 1L
        IO.Directory.GetFiles dir |> should not' (be Empty)
        do! cluster.StartNode follower
        IO.Directory.GetFiles dir |> should be Empty
        let! _ = cluster.Propose(1L, "after")
        do! Wait.until "the follower applies the next command" Wait.standard (fun () -> (machine cluster follower).Commands |> Array.contains "after")
    }

[<Fact>]
let ``a partially received snapshot whose last entry the restored log holds is deleted at restart, even when the saved commit index lags`` () =
    task {
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartAll()
        let mutable last = Unchecked.defaultof<ProposeResult<int64>>
        for i in 1..5 do
            let! r = cluster.Propose(1L, $"c{i}")
            last <- r
        do! cluster.WaitApplied(1L, 5)
        // No term change since the election: the follower's saved hard state still has the commit index of then.
        let! leader = cluster.WaitLeader 1L
        let follower = cluster.Ids |> Array.find (fun id -> id <> leader)
        do! cluster.StopNode follower
        let dir = leavePartialSnapshot cluster follower last.Index last.Term
        do! cluster.StartNode follower
        IO.Directory.GetFiles dir |> should be Empty
        let! _ = cluster.Propose(1L, "after")
        do! Wait.until "the follower applies the next command" Wait.standard (fun () -> (machine cluster follower).Commands |> Array.contains "after")
    }

[<Fact>]
let ``a snapshot transfer finishes while the leader takes newer snapshots, instead of starting over with each one`` () =
    task {
        // A snapshot every 10 commands, 64-byte chunks: the transfer of about 12 KB takes some 200 round trips. The
        // trailing log (25 entries) is short enough that the lagging follower needs a snapshot, and long enough that after
        // installing the one it is sent it can catch up from the log even when the leader has taken newer ones.
        use cluster = new Cluster(3, 1, false, configure = fun o -> snapshotting o; o.CompactionTrailing <- 25L)
        let! leader, follower = fallBehindSnapshot cluster
        do! Wait.until "the follower starts receiving the snapshot" Wait.standard (fun () -> (receivingRecord cluster follower).IsSome)
        let receiving = (receivingRecord cluster follower).Value.Index
        for i in 1..25 do
            let! _ = cluster.Propose(1L, $"more-{i}")
            ()
        do! Wait.until "the leader has taken a newer snapshot" Wait.standard (fun () -> cluster.SnapshotIndexes(leader, 1L) |> Array.exists (fun i -> i > receiving))
        do! Wait.until "the follower catches up" Wait.standard (fun () -> (machine cluster follower).Applied = (machine cluster leader).Applied)
        // One transfer, finished from the file the leader kept open; replacing the file used to restart it from offset 0.
        cluster.Group(follower, 1L).Runtime.Receiver.Starts |> should equal 1
        (machine cluster follower).Restores |> should equal 1
    }
