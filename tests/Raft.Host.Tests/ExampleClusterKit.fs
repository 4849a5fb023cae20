/// A 3-node cluster on 127.0.0.1 running any state machine (real TCP on ephemeral ports, real files in a temp
/// directory): the example tests run the examples' own state machines and command types on it.
module Raft.Host.Tests.ExampleClusterKit

open System
open System.IO
open System.Collections.Generic
open System.Threading.Tasks
open Raft.Node
open Raft.Serialization
open Raft.Transport.Tcp
open Raft.Host.Tests.ClusterKit

/// Snapshots every 10 applied entries and compacts everything they cover: a node that misses a few dozen commands can
/// only catch up from a snapshot, and a restart restores the state machine from one.
let snapshotEvery10 (o: RaftNodeOptions) =
    o.SnapshotEntries <- 10L
    o.CompactionTrailing <- 0L

/// Three node hosts of group 1 whose state machines are made by `newMachine`; `configure` adjusts the node options.
type ExampleCluster<'C, 'R, 'M when 'M :> IStateMachine<'C, 'R>>(newMachine: unit -> 'M, ?configure: RaftNodeOptions -> unit) =
    let root = Path.Combine(Path.GetTempPath(), "raft-example-tests", Guid.NewGuid().ToString("N"))
    let ids = [| 1L; 2L; 3L |]
    let hosts = Dictionary<int64, RaftNodeHost<'C, 'R>>()
    let transports = Dictionary<int64, TcpTransport<RaftEnvelope<'C>[]>>()
    let machines = Dictionary<int64, 'M>()
    let endpoints = Dictionary<int64, Net.EndPoint>()
    let codec = RaftBatchCodec<'C>(RaftMessageCodec<'C>())

    member _.Ids = ids

    /// The running node hosts, by id.
    member _.Hosts = ids |> Array.filter hosts.ContainsKey |> Array.map (fun id -> hosts[id])

    member _.Group(id: int64) = hosts[id].GetGroup 1L

    /// The state machine of node `id`'s current (or last) incarnation. Runs on the node's loop: read it directly only
    /// once the node is stopped; otherwise through `Read`.
    member _.Machine(id: int64) = lock machines (fun () -> machines[id])

    /// Starts (or restarts from its files) node `id`, on a new ephemeral port that the other nodes are told about.
    member _.StartNode(id: int64) =
        task {
            let options = testOptions id
            // 0.3-0.6 s elections keep a loaded machine from deposing the leader mid-test (as in ClusterTests).
            options.ElectionTicks <- 30
            configure |> Option.iter (fun f -> f options)
            let o = TcpTransportOptions(NodeId = id, ClusterId = "example-tests", ListenEndpoint = "127.0.0.1:0",
                                        ReconnectBackoffMin = TimeSpan.FromMilliseconds 10.0,
                                        ReconnectBackoffMax = TimeSpan.FromMilliseconds 200.0)
            for KeyValue(peer, ep) in endpoints do
                if peer <> id then o.Peers[peer] <- string ep
            let transport = new TcpTransport<RaftEnvelope<'C>[]>(o, codec)
            let storage = FileRaftStorageProvider(Path.Combine(root, $"node-{id}"), 16 <<< 10)
            let factory = Func<int64, IStateMachine<'C, 'R>>(fun _ ->
                let m = newMachine ()
                lock machines (fun () -> machines[id] <- m)
                m :> IStateMachine<'C, 'R>)
            let host = new RaftNodeHost<'C, 'R>(options, transport, storage, factory, loggerFactory = new StderrLoggerFactory())
            do! host.StartAsync()
            let here = nonNull transport.LocalEndPoint
            endpoints[id] <- here
            for KeyValue(other, t) in transports do
                if other <> id then
                    t.SetPeer(id, here)
                    transport.SetPeer(other, endpoints[other])
            let! _ = host.CreateGroupAsync(1L, ids)
            hosts[id] <- host
            transports[id] <- transport
        }

    member this.StartAll() =
        task {
            for id in ids do
                do! this.StartNode id
        }

    /// Stops node `id` gracefully (its writes finish; the others see it vanish).
    member _.StopNode(id: int64) =
        task {
            let host = hosts[id]
            hosts.Remove id |> ignore
            transports.Remove id |> ignore
            do! host.DisposeAsync()
        }

    /// The node that a majority of the running nodes agree leads, if any.
    member _.Leader() =
        let statuses = hosts.Values |> Seq.map (fun h -> h.GetGroup(1L).Status) |> Array.ofSeq
        statuses
        |> Array.tryFind (fun s -> s.IsLeader)
        |> Option.filter (fun l -> statuses |> Array.filter (fun s -> s.Leader = l.NodeId && s.Term = l.Term) |> Array.length >= 2)
        |> Option.map (fun l -> l.NodeId)

    member this.WaitLeader() =
        task {
            do! waitUntil "a leader agreed by a majority" (fun () -> (this.Leader()).IsSome)
            return (this.Leader()).Value
        }

    /// Proposes on the leader, retrying only when the command certainly was not applied (not leader, refused,
    /// overwritten): a retried compare-and-swap would otherwise report the outcome of its own first attempt wrongly.
    member this.Propose(command: 'C) =
        task {
            let until = DateTime.UtcNow + deadline
            let mutable result = None
            while result.IsNone do
                if DateTime.UtcNow > until then failwithf "could not commit %A" command
                match this.Leader() with
                | None -> do! Task.Delay 10
                | Some leader ->
                    try
                        let! r = this.Group(leader).ProposeAsync(command)
                        result <- Some r
                    with
                    | :? NotLeaderException
                    | :? ProposalLostException
                    | :? ProposalDroppedException -> do! Task.Delay 10
            return result.Value
        }

    /// A linearizable read on node `id` (it must lead).
    member this.ReadOn(id: int64, query: 'M -> 'T) =
        this.Group(id).ReadAsync(fun sm -> query (sm :?> 'M))

    /// A linearizable read on whichever node leads, retrying while leadership moves.
    member this.Read(query: 'M -> 'T) =
        task {
            let until = DateTime.UtcNow + deadline
            let mutable result = None
            while result.IsNone do
                if DateTime.UtcNow > until then failwith "no leader served the read"
                match this.Leader() with
                | None -> do! Task.Delay 10
                | Some leader ->
                    try
                        let! r = this.ReadOn(leader, query)
                        result <- Some r
                    with :? NotLeaderException -> do! Task.Delay 10
            return result.Value
        }

    /// Waits until node `id` applied everything the leader committed, then makes it the leader (a transfer only
    /// succeeds to a caught-up voter), so that linearizable reads run on its state machine.
    member this.MakeLeader(id: int64) =
        task {
            let until = DateTime.UtcNow + deadline
            while this.Leader() <> Some id do
                if DateTime.UtcNow > until then failwithf "node %d did not become leader" id
                match this.Leader() with
                | None -> do! Task.Delay 10
                | Some leader ->
                    let commit = this.Group(leader).Status.CommitIndex
                    do! waitUntil $"node {id} applies up to {commit}" (fun () -> this.Group(id).Status.AppliedIndex >= commit)
                    try do! this.Group(leader).TransferLeadershipAsync(id)
                    with
                    | :? LeadershipTransferException
                    | :? RaftTimeoutException
                    | :? NotLeaderException -> do! Task.Delay 10
            do! waitUntil $"a majority agrees node {id} leads" (fun () -> this.Leader() = Some id)
        }

    /// Indexes of the snapshot files node `id` holds.
    member _.SnapshotIndexes(id: int64) =
        let dir = Path.Combine(root, $"node-{id}", "group-1", "snapshots")
        if Directory.Exists dir then
            Directory.GetFiles(dir, "*.snap") |> Array.map (fun f -> int64 ((nonNull (Path.GetFileName f)).Substring(0, 20)))
        else [||]

    interface IAsyncDisposable with
        member _.DisposeAsync() =
            ValueTask(task {
                for h in List.ofSeq hosts.Values do
                    try do! h.DisposeAsync() with _ -> ()
                hosts.Clear()
                try Directory.Delete(root, true) with _ -> ()
            })
