/// The node's instruments on the `Raft` meter, read with MetricCollector from a meter factory of the test's own (so
/// tests running beside it do not count), and the status document of `GetStatus`.
module Raft.Host.Tests.ObservabilityTests

open System
open System.Text.Json
open Microsoft.Extensions.DependencyInjection
open System.Collections.Generic
open System.Diagnostics
open System.Diagnostics.Metrics
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// A meter factory of the test's own: its meters are the only ones the recorder sees.
let private newMeterFactory () =
    let services = ServiceCollection().AddMetrics().BuildServiceProvider()
    services, services.GetRequiredService<IMeterFactory>()

/// One measurement of an instrument of the `Raft` meter.
type private Measured = { Value: float; Tags: Map<string, string> }

/// Records every measurement of every `Raft` meter the factory made (one meter per node: a MetricCollector follows
/// one instrument, and each node has its own).
type private Recorder(factory: IMeterFactory) =
    let seen = Collections.Concurrent.ConcurrentDictionary<string, Collections.Concurrent.ConcurrentQueue<Measured>>()
    let listener = new MeterListener()
    let record (instrument: Instrument) (value: float) (tags: ReadOnlySpan<KeyValuePair<string, obj | null>>) =
        let mutable m = Map.empty
        for t in tags do m <- m.Add(t.Key, string t.Value)
        seen.GetOrAdd(instrument.Name, fun _ -> Collections.Concurrent.ConcurrentQueue()).Enqueue { Value = value; Tags = m }
    do
        listener.InstrumentPublished <- fun instrument l ->
            if obj.ReferenceEquals(instrument.Meter.Scope, factory) && instrument.Meter.Name = RaftMetrics.MeterName then
                l.EnableMeasurementEvents instrument
        listener.SetMeasurementEventCallback<int64>(fun i v tags _ -> record i (float v) tags)
        listener.SetMeasurementEventCallback<int>(fun i v tags _ -> record i (float v) tags)
        listener.SetMeasurementEventCallback<float>(fun i v tags _ -> record i v tags)
        listener.Start()
    /// Every measurement of `name` so far.
    member _.Of(name: string) = match seen.TryGetValue name with | true, q -> q.ToArray() | _ -> [||]
    /// Calls the observable instruments' callbacks once.
    member _.Observe() = listener.RecordObservableInstruments()
    member _.Clear(name: string) = seen.TryRemove name |> ignore
    interface IDisposable with
        member _.Dispose() = listener.Dispose()

let private tag (m: Measured) (key: string) = defaultArg (m.Tags.TryFind key) ""

let private sumWhere (r: Recorder) (name: string) (holds: Measured -> bool) =
    r.Of name |> Seq.filter holds |> Seq.sumBy (fun m -> int64 m.Value)

[<Fact>]
let ``an election moves elections started and won, role transitions, votes granted and the term gauge on the nodes that did it`` () =
    task {
        let services, meters = newMeterFactory ()
        use _ = services
        use r = new Recorder(meters)
        use cluster = new Cluster(3, 1, false, meterFactory = meters)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let onLeader (m: Measured) = tag m "raft.node" = string leader
        sumWhere r "raft.elections.won" onLeader |> should be (greaterThanOrEqualTo 1L)
        sumWhere r "raft.elections.started" onLeader |> should be (greaterThanOrEqualTo (sumWhere r "raft.elections.won" onLeader))
        sumWhere r "raft.role.transitions" (fun m -> onLeader m && tag m "raft.role" = "leader" && tag m "raft.role.previous" = "candidate")
        |> should be (greaterThanOrEqualTo 1L)
        // The leader's votes came from its peers: at least one other node granted one.
        sumWhere r "raft.votes" (fun m -> not (onLeader m) && tag m "result" = "granted") |> should be (greaterThanOrEqualTo 1L)
        r.Observe()
        let terms = r.Of "raft.term.max" |> Array.filter onLeader
        terms |> should not' (be Empty)
        int64 (Array.last terms).Value |> should equal (cluster.Group(leader, 1L).Status.Term)
        (r.Of "raft.groups.leading" |> Array.filter onLeader |> Array.last).Value |> should equal 1.0
    }

[<Fact>]
let ``proposals move the log, group-commit, fsync and latency instruments, and a follower's refusal is counted with its reason`` () =
    task {
        let services, meters = newMeterFactory ()
        use _ = services
        use r = new Recorder(meters)
        // Figures are read on one leader: an election timeout of 0.5-1 s keeps a loaded machine from electing another.
        use cluster = new Cluster(3, 1, false, electionTicks = 50, configure = (fun o -> o.ForwardProposals <- false), meterFactory = meters)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        for i in 1..10 do
            let! _ = cluster.Propose(1L, $"c{i}")
            ()
        do! cluster.WaitApplied(1L, 10)
        let onLeader (m: Measured) = tag m "raft.node" = string leader
        // 10 commands and the leader's no-op, on every node.
        for id in cluster.Ids do
            sumWhere r "raft.log.entries.appended" (fun m -> tag m "raft.node" = string id) |> should be (greaterThanOrEqualTo 11L)
        sumWhere r "raft.log.bytes.appended" onLeader |> should be (greaterThan 0L)
        sumWhere r "raft.group_commit.rounds" onLeader |> should be (greaterThanOrEqualTo 1L)
        let syncs = r.Of "raft.log.sync.duration" |> Array.filter onLeader
        syncs.Length |> should be (greaterThanOrEqualTo 1)
        syncs |> Array.forall (fun m -> m.Value > 0.0 && m.Value < 10.0) |> should equal true
        // One latency per acknowledged proposal (retries may add a few), apply never before commit.
        let commits = r.Of "raft.proposal.commit.duration" |> Array.filter onLeader
        let applies = r.Of "raft.proposal.apply.duration" |> Array.filter onLeader
        commits.Length |> should be (greaterThanOrEqualTo 10)
        applies.Length |> should equal commits.Length
        Array.forall2 (fun (c: Measured) (a: Measured) -> c.Value > 0.0 && a.Value >= c.Value) commits applies |> should equal true
        // Proposed to durable in the leader's own log: one per proposal it appended (the no-op has no caller).
        let persists = r.Of "raft.proposal.persist.duration" |> Array.filter onLeader
        persists.Length |> should be (greaterThanOrEqualTo 10)
        persists |> Array.forall (fun m -> m.Value > 0.0 && m.Value < 10.0) |> should equal true
        // Entries went to both followers, tagged with the peer.
        for id in cluster.Ids |> Array.filter ((<>) leader) do
            sumWhere r "raft.replication.entries.sent" (fun m -> onLeader m && tag m "raft.peer" = string id) |> should be (greaterThanOrEqualTo 10L)
        // A proposal on a follower (forwarding off) is refused as not_leader.
        let follower = cluster.Ids |> Array.find ((<>) leader)
        let! refused = Assert.ThrowsAsync<NotLeaderException>(fun () -> cluster.Group(follower, 1L).ProposeAsync("x") :> Threading.Tasks.Task)
        refused.GroupId |> should equal 1L
        sumWhere r "raft.proposals.dropped" (fun m -> tag m "raft.node" = string follower && tag m "reason" = "not_leader") |> should equal 1L
    }

[<Fact>]
let ``heartbeats give each peer's round-trip time, and the transport's traffic and drops are observed per peer and reason`` () =
    task {
        let services, meters = newMeterFactory ()
        use _ = services
        use r = new Recorder(meters)
        use cluster = new Cluster(3, 1, false, meterFactory = meters)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let onLeader (m: Measured) = tag m "raft.node" = string leader
        let followers = cluster.Ids |> Array.filter ((<>) leader)
        do! Wait.until "a round trip to each follower" Wait.standard (fun () ->
            followers |> Array.forall (fun f ->
                r.Of "raft.peer.round_trip.duration" |> Array.exists (fun m -> onLeader m && tag m "raft.peer" = string f)))
        r.Of "raft.peer.round_trip.duration" |> Array.forall (fun m -> m.Value > 0.0 && m.Value < 2.0) |> should equal true
        r.Observe()
        for f in followers do
            sumWhere r "raft.transport.peer.frames" (fun m -> onLeader m && tag m "raft.peer" = string f && tag m "network.io.direction" = "transmit")
            |> should be (greaterThan 0L)
            sumWhere r "raft.transport.peer.frames" (fun m -> onLeader m && tag m "raft.peer" = string f && tag m "network.io.direction" = "receive")
            |> should be (greaterThan 0L)
        let reasons = r.Of "raft.transport.messages.dropped" |> Array.filter onLeader |> Array.map (fun m -> tag m "reason") |> Set.ofArray
        reasons |> should equal (set [ "queue_full"; "unknown_peer"; "stopped"; "too_large"; "encode_failed"; "partitioned" ])
    }

[<Fact>]
let ``a follower that missed entries rejects the new leader's AppendEntries: counted per peer with reason log_mismatch, and its lag is gauged`` () =
    task {
        let services, meters = newMeterFactory ()
        use _ = services
        use r = new Recorder(meters)
        // A window of 4 AppendEntries: the stopped follower's fills within the ten proposals below.
        use cluster = new Cluster(3, 1, false, meterFactory = meters, configure = fun o -> o.MaxInflightMsgs <- 4)
        do! cluster.StartAll()
        let! first = cluster.WaitLeader 1L
        let behind = cluster.Ids |> Array.find ((<>) first)
        let other = cluster.Ids |> Array.find (fun id -> id <> first && id <> behind)
        let lagOn (leader: int64) =
            r.Clear "raft.replication.follower_lag.max"
            r.Observe()
            r.Of "raft.replication.follower_lag.max"
            |> Array.filter (fun m -> tag m "raft.node" = string leader && tag m "raft.peer" = string behind)
            |> Array.map (fun m -> int64 m.Value)
        do! cluster.StopNode behind
        for i in 1..10 do
            let! _ = cluster.Propose(1L, $"c{i}")
            ()
        // The stopped node's lag on the leader covers the ten commands it missed.
        do! Wait.until "the leader gauges the stopped follower's lag" Wait.standard (fun () -> lagOn first |> Array.exists (fun l -> l >= 10L))
        // Flow control holds replication to the stopped node (window full or a probe outstanding), not to the live one.
        let pausedOn (leader: int64) (peer: int64) =
            r.Clear "raft.replication.paused"
            r.Observe()
            sumWhere r "raft.replication.paused" (fun m -> tag m "raft.node" = string leader && tag m "raft.peer" = string peer)
        do! Wait.until "the stopped follower's replication paused" Wait.standard (fun () -> pausedOn first behind = 1L)
        pausedOn first other |> should equal 0L
        // A new leader starts every peer at its own last index: the lagging node rejects that AppendEntries.
        do! cluster.Group(first, 1L).TransferLeadershipAsync(other)
        do! cluster.StartNode behind
        do! cluster.WaitApplied(1L, 10)
        do! Wait.until "a rejection counted on the new leader" Wait.standard (fun () ->
            sumWhere r "raft.append.rejected" (fun m -> tag m "raft.node" = string other && tag m "raft.peer" = string behind && tag m "reason" = "log_mismatch") >= 1L)
        do! Wait.until "the follower's lag back to 0" Wait.standard (fun () -> lagOn other = [| 0L |])
        do! Wait.until "replication to it no longer paused" Wait.standard (fun () -> pausedOn other behind = 0L)
    }

[<Fact>]
let ``GetStatus shows the leader's replicas caught up, followers knowing the leader, serialises to JSON, and says when the node stopped`` () =
    task {
        use cluster = new Cluster(3, 2, false)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! _ = cluster.WaitLeader 2L
        for i in 1..5 do
            let! _ = cluster.Propose(1L, $"c{i}")
            ()
        do! cluster.WaitApplied(1L, 5)
        let host = cluster.Node(leader).Host
        do! Wait.until "the leader sees both replicas caught up" Wait.standard (fun () ->
            let g = host.GetStatus().Groups |> Seq.find (fun g -> g.GroupId = 1L)
            g.Replicas.Count = 2 && g.Replicas |> Seq.forall (fun r -> r.Match = g.LastIndex && r.Lag = 0L && r.Mode = "Replicate"))
        let status = host.GetStatus()
        status.NodeId |> should equal leader
        status.Running |> should equal true
        isNull status.StorageFailure |> should equal true
        status.Groups |> Seq.map (fun g -> g.GroupId) |> List.ofSeq |> should equal [ 1L; 2L ]
        let g1 = status.Groups[0]
        g1.Role |> should equal RaftRole.Leader
        g1.Leader |> should equal leader
        g1.LeaderlessSince.HasValue |> should equal false
        g1.CommitIndex |> should be (greaterThanOrEqualTo 6L)
        g1.AppliedIndex |> should equal g1.CommitIndex
        isNull g1.Fault |> should equal true
        g1.Replicas |> Seq.map (fun r -> r.NodeId) |> Seq.sort |> List.ofSeq |> should equal (cluster.Ids |> Seq.filter ((<>) leader) |> List.ofSeq)
        let follower = cluster.Ids |> Array.find ((<>) leader)
        do! Wait.until "the follower applied what the leader did" Wait.standard (fun () ->
            (cluster.Node(follower).Host.GetStatus().Groups[0]).AppliedIndex >= g1.CommitIndex)
        let f1 = cluster.Node(follower).Host.GetStatus().Groups[0]
        f1.Role |> should equal RaftRole.Follower
        f1.Leader |> should equal leader
        f1.Replicas |> should be Empty
        let json = JsonSerializer.Serialize(status)
        use doc = JsonDocument.Parse json
        let groups = doc.RootElement.GetProperty "Groups"
        groups[0].GetProperty("Replicas").GetArrayLength() |> should equal 2
        doc.RootElement.GetProperty("Transport").GetProperty("FramesSent").GetInt64() |> should be (greaterThan 0L)
        do! cluster.StopNode follower
        for i in 1..3 do
            let! _ = cluster.Propose(1L, $"d{i}")
            ()
        // The leader's document shows the stopped follower falling behind by what it missed.
        let g = host.GetStatus().Groups[0]
        let r = g.Replicas |> Seq.find (fun r -> r.NodeId = follower)
        r.Lag |> should be (greaterThanOrEqualTo 3L)
        r.Lag |> should equal (g.LastIndex - r.Match)
    }

[<Fact>]
let ``GetStatus of a stopped node says it is not running; a leaderless group says since when`` () =
    task {
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartNode 1L
        let host = cluster.Node(1L).Host
        let before = host.GetStatus().Groups[0]
        before.Leader |> should equal 0L
        before.LeaderlessSince.HasValue |> should equal true
        before.LeaderlessSince.Value |> should be (lessThanOrEqualTo DateTimeOffset.UtcNow)
        host.GetStatus().Running |> should equal true
        do! host.StopAsync()
        host.GetStatus().Running |> should equal false
    }

[<Fact>]
let ``a proposal forwarded by a follower is one trace: the follower's propose and forward spans and the leader's propose span under them`` () =
    task {
        let caller = new ActivitySource("Raft.Host.Tests.Tracing")
        let spans = Collections.Concurrent.ConcurrentQueue<Activity>()
        use listener =
            new ActivityListener(
                ShouldListenTo = (fun s -> s.Name = RaftTracing.SourceName || s.Name = caller.Name),
                Sample = (fun _ -> ActivitySamplingResult.AllDataAndRecorded),
                ActivityStopped = (fun a -> spans.Enqueue a))
        ActivitySource.AddActivityListener listener
        use cluster = new Cluster(3, 1, false)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let follower = cluster.Ids |> Array.find ((<>) leader)
        let root = nonNull (caller.StartActivity "request")
        let! result = cluster.Group(follower, 1L).ProposeAsync("traced")
        root.Stop()
        let trace = root.TraceId
        let inTrace () = spans.ToArray() |> Array.filter (fun a -> a.TraceId = trace && a.Source.Name = RaftTracing.SourceName)
        // The leader's span ends when it answers, possibly just after the follower's caller saw the answer.
        do! Wait.until "three Raft spans in the trace" Wait.standard (fun () -> inTrace().Length >= 3)
        let byName name node =
            inTrace () |> Array.filter (fun a -> a.OperationName = name && string (a.GetTagItem "raft.node") = string node) |> Array.exactlyOne
        let propose = byName "raft.propose" follower
        let forward = byName "raft.forward" follower
        let onLeader = byName "raft.propose" leader
        propose.ParentSpanId |> should equal root.SpanId
        forward.ParentSpanId |> should equal propose.SpanId
        onLeader.ParentSpanId |> should equal forward.SpanId
        onLeader.Kind |> should equal ActivityKind.Server
        string (onLeader.GetTagItem "raft.index") |> should equal (string result.Index)
        propose.Status |> should equal ActivityStatusCode.Unset
        // The caller's current activity is its own again after the call returned.
        isNull Activity.Current |> should equal true
        caller.Dispose()
    }

[<Fact>]
let ``per-group gauges are opt-in and capped: GroupMetrics 2 tags groups 1 and 2 only, the default tags none`` () =
    task {
        let services, meters = newMeterFactory ()
        use _ = services
        use r = new Recorder(meters)
        use tagged = new Cluster(3, 3, false, meterFactory = meters, configure = fun o -> o.GroupMetrics <- 2)
        do! tagged.StartAll()
        for g in 1L .. 3L do
            let! _ = tagged.WaitLeader g
            let! _ = tagged.Propose(g, "x")
            ()
        let indexes () =
            r.Clear "raft.group.index"
            r.Observe()
            r.Of "raft.group.index"
        do! Wait.until "commit gauged for groups 1 and 2" Wait.standard (fun () ->
            let commits = indexes () |> Array.filter (fun m -> tag m "kind" = "commit")
            commits.Length = 6 && commits |> Array.forall (fun m -> m.Value >= 1.0))
        indexes () |> Array.map (fun m -> tag m "raft.group") |> Set.ofArray |> should equal (set [ "1"; "2" ])
        indexes () |> Array.map (fun m -> tag m "kind") |> Set.ofArray |> should equal (set [ "first"; "last"; "commit"; "applied"; "snapshot" ])
        r.Of "raft.group.term" |> Array.map (fun m -> tag m "raft.group") |> Set.ofArray |> should equal (set [ "1"; "2" ])
        r.Of "raft.group.leader" |> Array.forall (fun m -> m.Value >= 1.0) |> should equal true
        // Validation names the key and the cap.
        let o = RaftNodeOptions(NodeId = 1L, GroupMetrics = RaftNodeOptions.MaxGroupMetrics + 1)
        String.Join("; ", o.Validate()) |> should haveSubstring "GroupMetrics must be within 0-1000"
    }

[<Fact>]
let ``by default no per-group series exist`` () =
    task {
        let services, meters = newMeterFactory ()
        use _ = services
        use r = new Recorder(meters)
        use cluster = new Cluster(3, 2, false, meterFactory = meters)
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader 1L
        r.Observe()
        r.Of "raft.groups" |> should not' (be Empty) // the observable instruments were collected
        [ r.Of "raft.group.index"; r.Of "raft.group.term"; r.Of "raft.group.leader" ] |> List.map Array.length |> should equal [ 0; 0; 0 ]
    }
