/// Whole clusters in one process over real sockets on 127.0.0.1 with real files: election, replication,
/// leader loss and restart, partitions, and many groups on one transport.
module Raft.Host.Tests.ClusterTests

open System
open System.Collections.Concurrent
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Serialization
open Raft.Transport
open Raft.Host.Tests.ClusterKit
open Raft.Tests

let private sameOnEveryNode (cluster: Cluster) (group: int64) =
    let logs = cluster.Nodes |> Array.map (fun n -> n.Machines[group].Applied)
    for l in logs do
        l |> should equal logs[0]

[<Fact>]
let ``three nodes over TCP elect a leader and replicate every acknowledged command in order`` () =
    task {
        // A longer election timeout (0.3-0.6 s) keeps a loaded machine from deposing the leader mid-test; should it still
        // happen, cluster.Propose retries on the current leader like a real client (NotLeader, lost, timeout).
        use cluster = new Cluster(3, 1, true, electionTicks = 30)
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader 1L
        let acknowledged = Collections.Generic.List<ProposeResult<int64>>()
        for i in 1..50 do
            let! r = cluster.Propose(1L, $"c{i}")
            acknowledged.Add r
        // Acknowledgements come in proposal order, at increasing log indexes.
        acknowledged |> Seq.pairwise |> Seq.forall (fun (a, b) -> a.Index < b.Index) |> should equal true
        do! cluster.WaitApplied(1L, 50)
        do! Wait.until "identical state machines" Wait.standard (fun () ->
            let logs = cluster.Nodes |> Array.map (fun n -> n.Machines[1L].Applied)
            logs |> Array.forall (fun l -> l = logs[0]))
        sameOnEveryNode cluster 1L
        let applied = cluster.Nodes[0].Machines[1L].Applied
        // Every acknowledged command is applied at the index it was acknowledged with, in order. A retried command
        // whose first attempt timed out but committed may appear twice; its first copy still precedes the next command.
        for r, i in Seq.zip acknowledged [ 1..50 ] do
            applied |> Array.exists (fun struct (index, c) -> index = r.Index && c = $"c{i}") |> should equal true
        applied |> Array.map (fun struct (_, c) -> c) |> Array.distinct |> should equal [| for i in 1..50 -> $"c{i}" |]
        if applied.Length = 50 then
            acknowledged |> Seq.map (fun r -> r.Result) |> Array.ofSeq |> should equal [| 1L .. 50L |]
    }

[<Fact>]
let ``five nodes over TCP elect one leader and replicate to all`` () =
    task {
        use cluster = new Cluster(5, 1, true)
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader 1L
        for i in 1..20 do
            let! _ = cluster.Propose(1L, $"c{i}")
            ()
        do! cluster.WaitApplied(1L, 20)
        sameOnEveryNode cluster 1L
        cluster.Nodes |> Array.filter (fun n -> n.Host.GetGroup(1L).Status.IsLeader) |> Array.length |> should equal 1
    }

[<Fact>]
let ``a stopped leader is replaced, restarts from its files, and no acknowledged command is lost`` () =
    task {
        use cluster = new Cluster(3, 1, true)
        do! cluster.StartAll()
        let acknowledged = Collections.Generic.List<string>()
        for i in 1..30 do
            let! _ = cluster.Propose(1L, $"a{i}")
            acknowledged.Add $"a{i}"
        let! old = cluster.WaitLeader 1L
        do! cluster.StopNode old
        let! leader = cluster.WaitLeader 1L
        leader |> should not' (equal old)
        for i in 1..30 do
            let! _ = cluster.Propose(1L, $"b{i}")
            acknowledged.Add $"b{i}"
        do! cluster.StartNode old
        do! cluster.WaitApplied(1L, 60)
        for n in cluster.Nodes do
            let applied = Set.ofArray n.Machines[1L].Commands
            for c in acknowledged do
                applied.Contains c |> should equal true
        sameOnEveryNode cluster 1L
    }

[<Fact>]
let ``a partitioned minority leader cannot commit; the majority elects a new leader and the minority converges after healing`` () =
    task {
        // The in-memory network (with real files) makes the partition exact; TCP is covered by the other tests.
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartAll()
        let! _ = cluster.Propose(1L, "before")
        let! old = cluster.WaitLeader 1L
        cluster.Network.Isolate old
        let stale = cluster.Group(old, 1L).ProposeAsync("minority", Nullable(TimeSpan.FromMilliseconds 500.0))
        do! Wait.forTask "the isolated leader's outcome of the minority proposal" (TimeSpan.FromSeconds 10.0) stale
        stale.IsFaulted |> should equal true
        do! Wait.until "a majority leader" Wait.standard (fun () ->
            cluster.Nodes |> Array.exists (fun n -> n.Id <> old && n.Host.GetGroup(1L).Status.IsLeader))
        let majority = cluster.Nodes |> Array.find (fun n -> n.Id <> old && n.Host.GetGroup(1L).Status.IsLeader)
        let! r = majority.Host.GetGroup(1L).ProposeAsync("majority")
        r.Index |> should be (greaterThan 1L)
        cluster.Node(old).Machines[1L].Commands |> should not' (contain "majority")
        cluster.Network.HealAll()
        do! Wait.until "the old leader applies the majority's command" Wait.standard (fun () -> cluster.Node(old).Machines[1L].Commands |> Array.contains "majority")
        for n in cluster.Nodes do
            n.Machines[1L].Commands |> should not' (contain "minority")
        do! Wait.until "identical logs" Wait.standard (fun () ->
            let logs = cluster.Nodes |> Array.map (fun n -> n.Machines[1L].Applied)
            logs |> Array.forall (fun l -> l = logs[0]))
    }

[<Fact>]
let ``garbage frames and a node of another cluster are refused while the cluster keeps committing`` () =
    task {
        use cluster = new Cluster(3, 1, true)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let target = cluster.Node(leader)
        let endpoint = nonNull target.Tcp.Value.LocalEndPoint
        // Garbage on a raw socket.
        use raw = new Net.Sockets.Socket(Net.Sockets.SocketType.Stream, Net.Sockets.ProtocolType.Tcp)
        do! raw.ConnectAsync(endpoint)
        let! _ = raw.SendAsync(ReadOnlyMemory(Array.init 4096 (fun i -> byte (i * 7 + 3))), Net.Sockets.SocketFlags.None)
        // A well-formed node of another cluster.
        let foreignOptions =
            Raft.Transport.Tcp.TcpTransportOptions(NodeId = 99L, ClusterId = "someone-else", ListenEndpoint = "127.0.0.1:0",
                                                   ReconnectBackoffMin = TimeSpan.FromMilliseconds 20.0)
        foreignOptions.Peers[leader] <- endpoint.ToString()
        let codec = RaftBatchCodec<string>(RaftMessageCodec<string>())
        use foreign = new Raft.Transport.Tcp.TcpTransport<RaftEnvelope<string>[]>(foreignOptions, codec)
        do! foreign.StartAsync(Raft.Transport.TransportReceiveHandler(fun _ _ _ -> ValueTask.CompletedTask), Threading.CancellationToken.None)
        do! Wait.until "the bad frame and the foreign handshake are counted" Wait.standard (fun () ->
            let s = target.Host.TransportStats
            let f = foreign.Stats
            s.BadFrames >= 1L && s.RefusedHandshakes + f.RefusedHandshakes >= 1L)
        do! foreign.StopAsync(Threading.CancellationToken.None)
        for i in 1..10 do
            let! _ = cluster.Propose(1L, $"after-{i}")
            ()
        do! cluster.WaitApplied(1L, 10)
        sameOnEveryNode cluster 1L
    }

[<Fact>]
let ``100 groups on 3 nodes share one transport and all make progress`` () =
    task {
        // Elections of 100 groups start at once and every vote is an atomic hard-state write: a longer
        // election timeout (0.4-0.8 s) keeps a slow shared disk from turning them into repeated elections.
        use cluster = new Cluster(3, 100, true, electionTicks = 40)
        do! cluster.StartAll()
        let! _ = Task.WhenAll [| for g in 1L .. 100L -> task { let! _ = cluster.WaitLeader g in return () } |]
        let! _ = Task.WhenAll [| for g in 1L .. 100L -> task { let! _ = cluster.Propose(g, $"g{g}") in return () } |]
        for g in 1L .. 100L do
            do! cluster.WaitApplied(g, 1)
            for n in cluster.Nodes do
                n.Machines[g].Commands |> should equal [| $"g{g}" |]
        // Idle groups quiesce: no ticks, no heartbeats.
        do! Wait.until "most groups quiescent" Wait.standard (fun () ->
            cluster.Nodes |> Array.forall (fun n -> n.Host.Groups |> Seq.filter (fun g -> g.Status.Quiescent) |> Seq.length >= 90))
        // A quiescent group wakes up for a proposal.
        let! r = cluster.Propose(42L, "wake")
        r.Result |> should equal 2L
    }

[<Fact>]
let ``quiescent groups elect a new leader without any proposal when their leader's node falls silent`` () =
    task {
        use cluster = new Cluster(3, 6, false)
        do! cluster.StartAll()
        for g in 1L .. 6L do
            let! _ = cluster.Propose(g, $"g{g}")
            ()
        do! Wait.until "every group quiescent on every node" Wait.standard (fun () ->
            cluster.Nodes |> Array.forall (fun n -> n.Host.Groups |> Seq.forall (fun g -> g.Status.Quiescent)))
        let victim = (cluster.Leader 1L).Value
        let led = [ for g in 1L .. 6L do if cluster.Leader g = Some victim then g ]
        do! cluster.StopNode victim
        // Nothing is proposed: only the silence of the victim's node can wake these groups.
        for g in led do
            let! leader = cluster.WaitLeader g
            leader |> should not' (equal victim)
    }

[<Fact>]
let ``a node whose transport cannot start releases its groups' files, and a new node opens them`` () =
    task {
        let dir = IO.Path.Combine(IO.Path.GetTempPath(), $"raft-start-{Guid.NewGuid():N}")
        let taken = new Net.Sockets.TcpListener(Net.IPAddress.Loopback, 0)
        taken.Start()
        try
            let endpoint = string taken.LocalEndpoint
            let options = RaftNodeOptions(NodeId = 1L, TickInterval = TimeSpan.FromMilliseconds 10.0)
            let newNode (transport: Raft.Transport.ITransport<RaftEnvelope<string>[]>) =
                new RaftNodeHost<string, int64>(options, transport, Raft.Node.FileRaftStorageProvider dir, fun _ -> RecordingMachine())
            let tcp = new Raft.Transport.Tcp.TcpTransport<RaftEnvelope<string>[]>(
                        Raft.Transport.Tcp.TcpTransportOptions(NodeId = 1L, ClusterId = "start", ListenEndpoint = endpoint),
                        RaftBatchCodec<string>(RaftMessageCodec<string>(MessagePack.MessagePackSerializerOptions.Standard)))
            let failing = newNode tcp
            let! _ = failing.CreateGroupAsync(1L, [ 1L ])
            let! _ = Assert.ThrowsAnyAsync<Net.Sockets.SocketException>(fun () -> failing.StartAsync())
            // Not disposed: the failed start itself must have closed the files.
            let network = Raft.Transport.InMemory.InMemoryNetwork<RaftEnvelope<string>[]>()
            let retry = newNode (network.CreateTransport 1L)
            let! group = retry.CreateGroupAsync(1L, [ 1L ])
            do! retry.StartAsync()
            let! leader = group.WaitForLeaderAsync(Nullable(TimeSpan.FromSeconds 10.0))
            leader |> should equal 1L
            do! retry.DisposeAsync()
            do! failing.DisposeAsync()
        finally
            taken.Stop()
            if IO.Directory.Exists dir then IO.Directory.Delete(dir, true)
    }

/// Records every batch a node hands to its transport: the peer and the groups whose messages it carries.
type RecordingTransport(inner: ITransport<RaftEnvelope<string>[]>) =
    let batches = ConcurrentQueue<struct (int64 * int64[])>()
    member _.Batches = batches.ToArray()
    member _.Clear() = batches.Clear()
    interface ITransport<RaftEnvelope<string>[]> with
        member _.LocalId = inner.LocalId
        member _.StartAsync(onReceive, ct) = inner.StartAsync(onReceive, ct)
        member _.TrySend(peer, batch) =
            batches.Enqueue(struct (peer, batch |> Array.map (fun e -> e.GroupId) |> Array.distinct))
            inner.TrySend(peer, batch)
        member _.StopAsync ct = inner.StopAsync ct
        member _.Stats = inner.Stats
        member _.DisposeAsync() = inner.DisposeAsync()

[<Fact>]
let ``the messages of all groups to one peer leave in one batch per iteration`` () =
    task {
        let recorders = ConcurrentDictionary<int64, RecordingTransport>()
        // Heartbeats on every tick and no quiescence: every tick, a leader of several groups has a message for each
        // follower in each of them, produced in the same iteration.
        use cluster = new Cluster(3, 20, false, quiescence = false, electionTicks = 40,
                                  configure = (fun o -> o.HeartbeatTicks <- 1),
                                  wrapTransport = (fun id inner -> recorders.GetOrAdd(id, fun _ -> RecordingTransport inner) :> _))
        do! cluster.StartAll()
        let! _ = Task.WhenAll [| for g in 1L .. 20L -> task { let! _ = cluster.WaitLeader g in return () } |]
        let led (n: TestNode) = [| for g in 1L .. 20L do if n.Host.GetGroup(g).Status.IsLeader then g |]
        let busiest = cluster.Nodes |> Array.maxBy (fun n -> (led n).Length)
        let groups = led busiest
        groups.Length |> should be (greaterThanOrEqualTo 7) // 20 groups over 3 nodes
        let recorder = recorders[busiest.Id]
        let followers = cluster.Ids |> Array.filter ((<>) busiest.Id)
        let carriesAll (peer: int64) =
            recorder.Batches |> Array.exists (fun struct (p, gs) -> p = peer && groups |> Array.forall (fun g -> Array.contains g gs))
        // One batch to each follower holds the messages of every group the node leads (a batch per group would
        // never hold more than one).
        do! Wait.until "one batch to each follower carrying every group the node leads" Wait.standard (fun () ->
            followers |> Array.forall carriesAll)
        // While proposals of every group are replicated, sends stay far fewer than the groups' messages.
        recorder.Clear()
        let! _ = Task.WhenAll [| for g in groups -> task { let! _ = cluster.Propose(g, $"g{g}") in return () } |]
        let sent = recorder.Batches
        let messages = sent |> Array.sumBy (fun struct (_, gs) -> gs.Length)
        sent.Length |> should be (lessThan messages)
    }
