/// A test harness for whole clusters of node hosts in one process: real TCP sockets on 127.0.0.1 (or the in-memory
/// network), real files in a temp directory, a recording state machine, and waits on conditions with deadlines.
module Raft.Host.Tests.ClusterKit

open System
open System.IO
open System.Collections.Generic
open System.Threading.Tasks
open Raft.Node
open Raft.Serialization
open Raft.Transport
open Raft.Transport.Tcp
open Raft.Transport.InMemory
open Raft.Tests

/// A state machine recording every applied command; its result is the number of commands applied so far.
type RecordingMachine() =
    let applied = List<struct (int64 * string)>()
    let mutable restores = 0
    /// How many times the state was replaced from a snapshot (install or restart).
    member _.Restores = restores
    member _.Applied = lock applied (fun () -> applied.ToArray())
    member _.Commands = lock applied (fun () -> applied |> Seq.map (fun struct (_, c) -> c) |> Array.ofSeq)
    member _.Count = lock applied (fun () -> applied.Count)
    interface IStateMachine<string, int64> with
        member _.Apply(index, _term, command) =
            lock applied (fun () ->
                applied.Add(struct (index, command))
                int64 applied.Count)
        member _.Snapshot(output) =
            use w = new StreamWriter(output, leaveOpen = true)
            for struct (i, c) in lock applied (fun () -> applied.ToArray()) do w.WriteLine($"{i} {c}")
        member _.Restore(input) =
            use r = new StreamReader(input)
            restores <- restores + 1
            lock applied (fun () ->
                applied.Clear()
                let mutable line = r.ReadLine()
                while not (isNull line) do
                    let text = nonNull line
                    let sp = text.IndexOf ' '
                    applied.Add(struct (int64 text[.. sp - 1], text[sp + 1 ..]))
                    line <- r.ReadLine())
    /// The names written ("put NAME") and not deleted since ("del NAME"): the placement tests' groups of many names.
    interface Raft.MultiRaft.INamedKeys with
        member _.Names(prefix) =
            let live = SortedSet<string>(StringComparer.Ordinal)
            for struct (_, c) in lock applied (fun () -> applied.ToArray()) do
                if c.StartsWith "put " then live.Add c[4..] |> ignore
                elif c.StartsWith "del " then live.Remove c[4..] |> ignore
            live |> Seq.filter (fun n -> n.StartsWith(prefix, StringComparison.Ordinal))

/// Writes warnings and worse to stderr (a failed test's output then says why a group stopped).
type StderrLoggerFactory() =
    interface Microsoft.Extensions.Logging.ILoggerFactory with
        member _.AddProvider(_) = ()
        member _.Dispose() = ()
        member _.CreateLogger(category) =
            { new Microsoft.Extensions.Logging.ILogger with
                member _.BeginScope(_) = null
                member _.IsEnabled(level) = level >= Microsoft.Extensions.Logging.LogLevel.Warning
                member _.Log(level, _, state, ex, formatter) =
                    if level >= Microsoft.Extensions.Logging.LogLevel.Warning then
                        let line = sprintf "[%O %s] %s %O" level category (formatter.Invoke(state, ex)) ex
                        eprintfn "%s" line
                        match Environment.GetEnvironmentVariable "RAFT_TEST_LOG" with
                        | null | "" -> ()
                        | path -> lock typeof<StderrLoggerFactory> (fun () -> File.AppendAllText(path, line + "\n")) }

type Host = RaftNodeHost<string, int64>
type Group = RaftGroup<string, int64>

/// One node of a test cluster; `Machines` holds the state machine of each group of the current incarnation.
type TestNodeOf<'C, 'R, 'M> =
    { Id: int64
      Host: RaftNodeHost<'C, 'R>
      Tcp: TcpTransport<RaftEnvelope<'C>[]> option
      Machines: Dictionary<int64, 'M> }

/// A node of the string-command clusters most tests use.
type TestNode = TestNodeOf<string, int64, RecordingMachine>

/// Node options suited to tests: 10 ms ticks, elections in 100-200 ms.
let testOptions (id: int64) =
    RaftNodeOptions(NodeId = id, TickInterval = TimeSpan.FromMilliseconds 10.0, ElectionTicks = 10, HeartbeatTicks = 2,
                    RequestTimeout = TimeSpan.FromSeconds 5.0)

/// A cluster of `size` nodes with `groups` groups (ids 1..groups), every node in every group, each group's state
/// machine made by `newMachine`.
type ClusterOf<'C, 'R, 'M when 'M :> IStateMachine<'C, 'R>>(size: int, groups: int, useTcp: bool, newMachine: unit -> 'M,
        ?clusterId: string, ?quiescence: bool, ?electionTicks: int, ?configure: RaftNodeOptions -> unit,
        ?wrapTransport: int64 -> ITransport<RaftEnvelope<'C>[]> -> ITransport<RaftEnvelope<'C>[]>,
        ?meterFactory: Diagnostics.Metrics.IMeterFactory, ?configureTcp: int64 -> TcpTransportOptions -> unit) =
    let root = Path.Combine(Path.GetTempPath(), "raft-host-tests", Guid.NewGuid().ToString("N"))
    let clusterId = defaultArg clusterId "test-cluster"
    let ids = [| 1L .. int64 size |]
    let network = InMemoryNetwork<RaftEnvelope<'C>[]>()
    let nodes = Dictionary<int64, TestNodeOf<'C, 'R, 'M>>()
    let endpoints = Dictionary<int64, Net.EndPoint>()
    let codec = RaftBatchCodec<'C>(RaftMessageCodec<'C>())

    member _.Root = root
    member _.Ids = ids
    member _.Network = network
    member _.ClusterId = clusterId
    member _.Nodes = nodes.Values |> Seq.sortBy (fun n -> n.Id) |> Array.ofSeq
    member _.Node(id: int64) = nodes[id]
    member _.IsUp(id: int64) = nodes.ContainsKey id

    /// Starts (or restarts from its files) node `id` and opens every group.
    member this.StartNode(id: int64) = this.StartNode(id, false)

    /// Starts node `id` (outside the initial voters) that joins every group: it waits to be added by the leader.
    member this.JoinNode(id: int64) = this.StartNode(id, true)

    member this.StartNode(id: int64, join: bool) =
        task {
            let machines = Dictionary<int64, 'M>()
            let options = testOptions id
            options.Quiescence <- defaultArg quiescence true
            options.ElectionTicks <- defaultArg electionTicks 10
            match configure with
            | Some f -> f options
            | None -> ()
            let transport, tcp =
                if useTcp then
                    let o = TcpTransportOptions(NodeId = id, ClusterId = clusterId, ListenEndpoint = "127.0.0.1:0",
                                                ReconnectBackoffMin = TimeSpan.FromMilliseconds 10.0,
                                                ReconnectBackoffMax = TimeSpan.FromMilliseconds 200.0)
                    for KeyValue(peer, ep) in endpoints do
                        if peer <> id then o.Peers[peer] <- string ep
                    match configureTcp with
                    | Some f -> f id o
                    | None -> ()
                    let t = new TcpTransport<RaftEnvelope<'C>[]>(o, codec)
                    (t :> ITransport<_>), Some t
                else
                    (network.CreateTransport id :> ITransport<_>), None
            let transport = match wrapTransport with Some wrap -> wrap id transport | None -> transport
            // The default layout of a deployed node: every group of the node in one shared log.
            let storage = SharedLogStorageProvider(Path.Combine(root, $"node-{id}"))
            let factory = Func<int64, IStateMachine<'C, 'R>>(fun g ->
                let m = newMachine ()
                lock machines (fun () -> machines[g] <- m)
                m :> IStateMachine<'C, 'R>)
            let host = new RaftNodeHost<'C, 'R>(options, transport, storage, factory, loggerFactory = new StderrLoggerFactory(),
                                                ?meterFactory = meterFactory)
            // Groups open before the transport starts, as a restarted production node does (no early message dropped).
            for g in 1L .. int64 groups do
                let! _ = if join then host.JoinGroupAsync(g, ids) else host.CreateGroupAsync(g, ids)
                ()
            do! host.StartAsync()
            match tcp with
            | Some t ->
                endpoints[id] <- nonNull t.LocalEndPoint
                // Tell every running node where this one listens now (its port changes on restart).
                for n in nodes.Values do
                    match n.Tcp with
                    | Some other when n.Id <> id -> other.SetPeer(id, nonNull t.LocalEndPoint); t.SetPeer(n.Id, endpoints[n.Id])
                    | _ -> ()
            | None -> ()
            nodes[id] <- { Id = id; Host = host; Tcp = tcp; Machines = machines }
        }

    member this.StartAll() =
        task {
            for id in ids do
                do! this.StartNode id
        }

    /// Stops a node (its in-flight writes finish; the others see it vanish).
    member _.StopNode(id: int64) =
        task {
            let n = nodes[id]
            nodes.Remove id |> ignore
            do! n.Host.DisposeAsync()
        }

    member this.Group(id: int64, group: int64) : RaftGroup<'C, 'R> = nodes[id].Host.GetGroup group

    /// The data directory of node `id`.
    member _.NodeDirectory(id: int64) = Path.Combine(root, $"node-{id}")

    /// Indexes of the snapshot files node `id` holds for `group`.
    member this.SnapshotIndexes(id: int64, group: int64) =
        let dir = Path.Combine(root, $"node-{id}", $"group-{group}", "snapshots")
        if Directory.Exists dir then
            Directory.GetFiles(dir, "*.snap") |> Array.map (fun f -> int64 ((nonNull (Path.GetFileName f)).Substring(0, 20)))
        else [||]

    /// The node every running node agrees leads `group` (a majority of running nodes must know it).
    member this.Leader(group: int64) =
        let statuses = nodes.Values |> Seq.map (fun n -> n.Host.GetGroup(group).Status) |> Array.ofSeq
        statuses
        |> Array.tryFind (fun s -> s.IsLeader && nodes.ContainsKey s.NodeId)
        |> Option.filter (fun l ->
            statuses |> Array.filter (fun s -> s.Leader = l.NodeId && s.Term = l.Term) |> Array.length > size / 2)
        |> Option.map (fun l -> l.NodeId)

    member this.WaitLeader(group: int64) =
        task {
            try
                do! Wait.until $"a leader of group {group}" Wait.standard (fun () -> (this.Leader group).IsSome)
            with e ->
                let statuses = nodes.Values |> Seq.map (fun n -> string (n.Host.GetGroup(group).Status)) |> String.concat "; "
                failwithf "%s (statuses: %s)" e.Message statuses
            return (this.Leader group).Value
        }

    /// Proposes on whichever node leads, retrying on NotLeader/lost/timeouts until the deadline.
    member this.Propose(group: int64, command: 'C) =
        Wait.untilSome $"a commit of %A{command}" Wait.standard (fun () ->
            task {
                match this.Leader group with
                | None -> return None
                | Some leader ->
                    try
                        let! r = this.Group(leader, group).ProposeAsync(command, Nullable(TimeSpan.FromSeconds 2.0))
                        return Some r
                    with
                    | :? NotLeaderException
                    | :? ProposalLostException
                    | :? RaftTimeoutException
                    | :? RaftShutdownException
                    | :? ProposalDroppedException -> return None
            })

    interface IAsyncDisposable with
        member this.DisposeAsync() =
            ValueTask(task {
                for n in List.ofSeq nodes.Values do
                    try do! n.Host.DisposeAsync() with _ -> ()
                nodes.Clear()
                try Directory.Delete(root, true) with _ -> ()
            })

/// The string-command cluster most tests use: every group's state machine records the commands it applied.
type Cluster(size: int, groups: int, useTcp: bool, ?clusterId: string, ?quiescence: bool, ?electionTicks: int,
             ?configure: RaftNodeOptions -> unit, ?wrapTransport: int64 -> ITransport<RaftEnvelope<string>[]> -> ITransport<RaftEnvelope<string>[]>,
             ?meterFactory: Diagnostics.Metrics.IMeterFactory, ?configureTcp: int64 -> TcpTransportOptions -> unit) =
    inherit ClusterOf<string, int64, RecordingMachine>(size, groups, useTcp, RecordingMachine, ?clusterId = clusterId,
                                                       ?quiescence = quiescence, ?electionTicks = electionTicks, ?configure = configure,
                                                       ?wrapTransport = wrapTransport, ?meterFactory = meterFactory,
                                                       ?configureTcp = configureTcp)

    /// Waits until every running node applied at least `count` commands in `group`.
    member this.WaitApplied(group: int64, count: int) =
        Wait.until $"every node applies {count} commands in group {group}" Wait.standard (fun () ->
            this.Nodes |> Array.forall (fun n -> n.Machines.ContainsKey group && n.Machines[group].Count >= count))
