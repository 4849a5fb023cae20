/// The node loop on a fake clock: in-memory network and storage, logical time advanced by the test, so request
/// bookkeeping, forwarding, quiescence and input ordering are tested without sockets and without real time.
module Raft.Host.Tests.NodeLoopTests

open System
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.Time.Testing
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Serialization
open Raft.Storage
open Raft.Transport.InMemory
open Raft.Host.Tests.ClusterKit
open Raft.Tests

let private tick = TimeSpan.FromMilliseconds 10.0

let private options (id: int64) (configure: RaftNodeOptions -> unit) =
    let o = RaftNodeOptions(NodeId = id, TickInterval = tick, ElectionTicks = 10, HeartbeatTicks = 2, RequestTimeout = TimeSpan.FromSeconds 1.0)
    configure o
    o

/// Nodes sharing one fake clock and one in-memory network, each with group 1 over all of them.
type private FakeClockCluster(size: int, configure: RaftNodeOptions -> unit, ?machine: unit -> IStateMachine<string, int64>) =
    let clock = FakeTimeProvider(DateTimeOffset(2026, 12, 4, 0, 0, 0, TimeSpan.Zero))
    let network = InMemoryNetwork<RaftEnvelope<string>[]>()
    let ids = [ 1L .. int64 size ]
    let newMachine = defaultArg machine (fun () -> RecordingMachine() :> IStateMachine<string, int64>)
    let hosts =
        ids
        |> List.map (fun id ->
            id, new Host(options id configure, network.CreateTransport id, MemoryRaftStorageProvider(),
                         Func<int64, IStateMachine<string, int64>>(fun _ -> newMachine ()), timeProvider = clock,
                         loggerFactory = new StderrLoggerFactory()))
        |> dict
    member _.Clock = clock
    member _.Network = network
    member _.Host(id: int64) = hosts[id]
    member _.Group(id: int64) = hosts[id].GetGroup 1L
    member this.StartAsync() =
        task {
            for id in ids do
                let! _ = hosts[id].CreateGroupAsync(1L, ids)
                do! hosts[id].StartAsync()
        }
    /// Every message delivered and every loop waiting for input: nothing happens until the clock moves.
    member _.Quiet = network.InFlight = 0 && hosts.Values |> Seq.forall (fun h -> h.Idle)
    /// Advances the clock a tick at a time until `condition` holds, each tick only once the cluster is quiet, so logical
    /// time never outruns message delivery; the whole wait is bounded by a real deadline.
    member this.AdvanceUntil (what: string) (condition: unit -> bool) =
        Wait.until what Wait.standard (fun () ->
            condition () || (if this.Quiet then clock.Advance tick
                             false))
    member this.WaitLeader() =
        task {
            do! this.AdvanceUntil "a leader known to every node" (fun () ->
                let leaders = ids |> List.map (fun id -> (hosts[id].GetGroup 1L).Status.Leader) |> List.distinct
                leaders.Length = 1 && leaders.Head <> 0L)
            return (hosts[1L].GetGroup 1L).Status.Leader
        }
    member _.Ids = ids
    interface IAsyncDisposable with
        member _.DisposeAsync() =
            task { for h in hosts.Values do do! h.DisposeAsync() } |> ValueTask

/// Completes `t` by advancing logical time; fails after the real deadline (Wait.standard).
let private advanceUntilDone (cluster: FakeClockCluster) (what: string) (t: Task) =
    cluster.AdvanceUntil what (fun () -> t.IsCompleted)

[<Fact>]
let ``a proposal made while no leader is known is held and forwarded once one is elected`` () =
    task {
        use cluster = new FakeClockCluster(3, fun o -> o.ForwardProposals <- true)
        do! cluster.StartAsync()
        // No tick has run: no node knows a leader, so the core refuses with no hint and the host holds the proposal.
        let held = (cluster.Group 2L).ProposeAsync "held"
        do! cluster.AdvanceUntil "the proposal held for a leader" (fun () -> (cluster.Group 2L).Runtime.Requests.WaitingForLeader.Count = 1)
        do! advanceUntilDone cluster "the held proposal's outcome" held
        held.IsCompletedSuccessfully |> should equal true
        held.Result.Index |> should be (greaterThan 0L)
        (cluster.Group 2L).Runtime.Requests.WaitingForLeader.Count |> should equal 0
    }

[<Fact>]
let ``a follower's proposal is forwarded to the leader and completes with the leader's result`` () =
    task {
        use cluster = new FakeClockCluster(3, fun o -> o.ForwardProposals <- true)
        do! cluster.StartAsync()
        let! leader = cluster.WaitLeader()
        let follower = cluster.Ids |> List.find (fun id -> id <> leader)
        let proposal = (cluster.Group follower).ProposeAsync "via follower"
        do! advanceUntilDone cluster "the forwarded proposal's outcome" proposal
        let result = proposal.Result
        // RecordingMachine's result is the number of commands it applied: the leader's no-op is not one.
        result.Result |> should equal 1L
        do! cluster.AdvanceUntil "every node applied it" (fun () ->
            cluster.Ids |> List.forall (fun id -> (cluster.Group id).Status.AppliedIndex >= result.Index))
        ()
    }

[<Fact>]
let ``an appended proposal that cannot commit times out on the node's clock, not on wall time`` () =
    task {
        use cluster = new FakeClockCluster(3, fun o -> o.ForwardProposals <- false)
        do! cluster.StartAsync()
        let! leader = cluster.WaitLeader()
        cluster.Network.Isolate leader
        let started = cluster.Clock.GetUtcNow()
        let stuck = (cluster.Group leader).ProposeAsync "never commits"
        do! advanceUntilDone cluster "the proposal's timeout" stuck
        let waited = cluster.Clock.GetUtcNow() - started
        match stuck.Exception with
        | null -> failwith "a proposal that cannot commit completed"
        | e -> nonNull e.InnerException |> should be instanceOfType<RaftTimeoutException>
        // The 1 s limit, on the fake clock: not before it, and within a few ticks after it.
        waited |> should be (greaterThanOrEqualTo (TimeSpan.FromSeconds 1.0))
        waited |> should be (lessThan (TimeSpan.FromSeconds 1.0 + tick * 5.0))
    }

[<Fact>]
let ``an idle caught-up group goes quiet on every node and a proposal wakes it`` () =
    task {
        use cluster = new FakeClockCluster(3, fun o -> o.Quiescence <- true)
        do! cluster.StartAsync()
        let! leader = cluster.WaitLeader()
        let! _ = (cluster.Group leader).ProposeAsync "before"
        let allQuiet () = cluster.Ids |> List.forall (fun id -> (cluster.Group id).Status.Quiescent)
        do! cluster.AdvanceUntil "the group quiescent on every node" allQuiet
        let proposal = (cluster.Group leader).ProposeAsync "wakes it"
        do! advanceUntilDone cluster "the proposal on a quiescent group" proposal
        proposal.IsCompletedSuccessfully |> should equal true
        do! cluster.AdvanceUntil "quiescent again once every node applied it" (fun () ->
            allQuiet () && cluster.Ids |> List.forall (fun id -> (cluster.Group id).Status.AppliedIndex >= proposal.Result.Index))
        ()
    }

[<Fact>]
let ``a quiescent group whose leader falls silent elects within the random part of its timeout after noticing`` () =
    task {
        // T = 50 ticks. Noticing the silence takes about T ticks (no liveness ping for T); the woken followers are then
        // T ticks into their election timers (the ticks they missed), so the first of them campaigns within the
        // random part [0, T) of its [T, 2T) timeout: at most about 2T after the leader went silent. Without the
        // missed ticks each would wait a whole timeout more, never under 2T - 4.
        let electionTicks = 50
        use cluster = new FakeClockCluster(3, fun o -> o.Quiescence <- true; o.ElectionTicks <- electionTicks)
        do! cluster.StartAsync()
        let allQuiet () = cluster.Ids |> List.forall (fun id -> (cluster.Group id).Status.Quiescent)
        let ticksTaken = ResizeArray<float>()
        for round in 1 .. 7 do
            let! leader = cluster.WaitLeader()
            let! _ = (cluster.Group leader).ProposeAsync $"round {round}"
            do! cluster.AdvanceUntil "the group quiescent on every node" allQuiet
            let silentAt = cluster.Clock.GetUtcNow()
            cluster.Network.Isolate leader
            let others = cluster.Ids |> List.filter ((<>) leader)
            do! cluster.AdvanceUntil "a new leader known to the two others" (fun () ->
                others |> List.map (fun id -> (cluster.Group id).Status.Leader) |> fun ls -> List.distinct ls = [ ls.Head ] && ls.Head <> 0L && ls.Head <> leader)
            ticksTaken.Add((cluster.Clock.GetUtcNow() - silentAt) / tick)
            cluster.Network.HealAll()
        eprintfn "ticks from the silence to a new leader, per round: %A" (List.ofSeq ticksTaken)
        let median = ticksTaken |> Seq.sort |> Seq.item 3
        // With the missed ticks the ticks taken spread over [T, 2T]; the median is near 1.5T.
        (median, Seq.max ticksTaken <= 2.0 * float electionTicks + 4.0) |> should equal (median, true)
        median |> should be (lessThan (1.8 * float electionTicks))
    }

/// Apply of a command starting with "stall" blocks the loop until the test releases it.
type private StallingMachine() =
    let applied = Collections.Generic.List<string>()
    member val Entered = new SemaphoreSlim(0)
    member val Release = new SemaphoreSlim(0)
    member _.Applied = lock applied (fun () -> applied.ToArray())
    interface IStateMachine<string, int64> with
        member this.Apply(index, _, command) =
            lock applied (fun () -> applied.Add command)
            if command.StartsWith "stall" then
                this.Entered.Release() |> ignore
                if not (this.Release.Wait(timeout = Wait.standard)) then failwith "the test never released the stalled Apply"
            index
        member _.Snapshot _ = ()
        member _.Restore _ = ()

[<Fact>]
let ``calls keep the order they were made in when the input queue is full`` () =
    task {
        let machine = StallingMachine()
        // One input from the channel per iteration and room for sixteen: calls overflow and are taken a few at a time.
        use cluster = new FakeClockCluster(1, (fun o -> o.InputQueueCapacity <- 16; o.MaxInputsPerIteration <- 1), (fun () -> machine))
        do! cluster.StartAsync()
        let! _ = cluster.WaitLeader()
        let group = cluster.Group 1L
        let entered () = task { let! ok = machine.Entered.WaitAsync(timeout = Wait.standard) in if not ok then failwith "the loop never reached the stalled Apply" }
        let first = group.ProposeAsync "stall-1"
        do! entered ()
        // The loop is held in Apply: these fill the submission queue, then wait in (and beyond) the channel.
        let early = [| for i in 1 .. 40 -> group.ProposeAsync(if i = 1 then "stall-2" else $"early-{i}") |]
        machine.Release.Release() |> ignore
        // Held again with some of them taken and the rest still waiting for room: a new call must queue behind them.
        do! entered ()
        let late = group.ProposeAsync "late"
        machine.Release.Release() |> ignore
        let all = Array.append (Array.append [| first |] early) [| late |]
        let! _ = Task.WhenAll(all |> Array.map (fun t -> t :> Task)).WaitAsync(timeout = Wait.standard)
        let expected = Array.append (Array.append [| "stall-1"; "stall-2" |] [| for i in 2 .. 40 -> $"early-{i}" |]) [| "late" |]
        machine.Applied |> should equal expected
        // Indexes follow the calls too.
        let indexes = all |> Array.map (fun t -> t.Result.Index)
        indexes |> should equal (Array.sort indexes)
    }

/// Storage without a snapshot store.
type private NoSnapshotStorage() =
    interface IRaftStorageProvider with
        member _.Open _ = new GroupStorage(new MemoryLogStorage(), new MemoryHardStateStore(), null)
        member _.Delete _ = ()

[<Fact>]
let ``a group that takes snapshots is refused when its storage has no snapshot store`` () =
    task {
        let network = InMemoryNetwork<RaftEnvelope<string>[]>()
        use host = new Host(options 1L (fun o -> o.SnapshotEntries <- 100L), network.CreateTransport 1L, NoSnapshotStorage(),
                            Func<int64, IStateMachine<string, int64>>(fun _ -> RecordingMachine()))
        let! e = Assert.ThrowsAsync<InvalidOperationException>(fun () -> host.CreateGroupAsync(1L, [ 1L ]) :> Task)
        e.Message |> should haveSubstring "no snapshot store"
        host.Groups.Count |> should equal 0
    }
