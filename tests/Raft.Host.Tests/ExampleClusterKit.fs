/// A 3-node cluster on 127.0.0.1 running any state machine (ClusterKit's, over real TCP on ephemeral ports with real
/// files in a temp directory): the example tests run the examples' own state machines and command types on it.
module Raft.Host.Tests.ExampleClusterKit

open System
open System.Threading.Tasks
open Raft.Node
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// Snapshots every 10 applied entries and compacts everything they cover: a node that misses a few dozen commands can
/// only catch up from a snapshot, and a restart restores the state machine from one.
let snapshotEvery10 (o: RaftNodeOptions) =
    o.SnapshotEntries <- 10L
    o.CompactionTrailing <- 0L

/// Three node hosts of group 1 over TCP whose state machines are made by `newMachine` (ClusterKit's cluster), with the
/// calls the example tests need: a propose that never retries a timeout, reads by the machine's own type, and moving
/// leadership to a chosen node so its state can be read. `configure` adjusts the node options.
type ExampleCluster<'C, 'R, 'M when 'M :> IStateMachine<'C, 'R>>(newMachine: unit -> 'M, ?configure: RaftNodeOptions -> unit) =
    // 0.3-0.6 s elections keep a loaded machine from deposing the leader mid-test (as in ClusterTests).
    let cluster = new ClusterOf<'C, 'R, 'M>(3, 1, true, newMachine, clusterId = "example-tests", electionTicks = 30, ?configure = configure)

    member _.Ids = cluster.Ids

    /// The running node hosts.
    member _.Hosts = cluster.Nodes |> Array.map (fun n -> n.Host)

    member _.Group(id: int64) = cluster.Group(id, 1L)

    /// Starts (or restarts from its files) node `id`, on a new ephemeral port that the other nodes are told about.
    member _.StartNode(id: int64) = cluster.StartNode id

    member _.StartAll() = cluster.StartAll()

    /// Stops node `id` gracefully (its writes finish; the others see it vanish).
    member _.StopNode(id: int64) = cluster.StopNode id

    /// The node that a majority of the running nodes agree leads, if any.
    member _.Leader() = cluster.Leader 1L

    member _.WaitLeader() = cluster.WaitLeader 1L

    /// Proposes on the leader, retrying only when the command certainly was not applied (not leader, refused,
    /// overwritten): a retried compare-and-swap would otherwise report the outcome of its own first attempt wrongly.
    member this.Propose(command: 'C) =
        Wait.untilSome $"a commit of %A{command}" Wait.standard (fun () ->
            task {
                match this.Leader() with
                | None -> return None
                | Some leader ->
                    try
                        let! r = this.Group(leader).ProposeAsync(command)
                        return Some r
                    with
                    | :? NotLeaderException
                    | :? ProposalLostException
                    | :? ProposalDroppedException -> return None
            })

    /// A linearizable read on node `id` (it must lead).
    member this.ReadOn(id: int64, query: 'M -> 'T) =
        this.Group(id).ReadAsync(fun sm -> query (sm :?> 'M))

    /// A linearizable read on whichever node leads, retrying while leadership moves.
    member this.Read(query: 'M -> 'T) =
        Wait.untilSome "a leader to serve the read" Wait.standard (fun () ->
            task {
                match this.Leader() with
                | None -> return None
                | Some leader ->
                    try
                        let! r = this.ReadOn(leader, query)
                        return Some r
                    with :? NotLeaderException -> return None
            })

    /// Waits until node `id` applied everything the leader committed, then makes it the leader (a transfer only
    /// succeeds to a caught-up voter), so that linearizable reads run on its state machine.
    member this.MakeLeader(id: int64) =
        task {
            do!
                Wait.untilSome $"node {id} to become leader" Wait.standard (fun () ->
                    task {
                        match this.Leader() with
                        | Some l when l = id -> return Some()
                        | None -> return None
                        | Some leader ->
                            let commit = this.Group(leader).Status.CommitIndex
                            do! Wait.until $"node {id} applies up to {commit}" Wait.standard (fun () -> this.Group(id).Status.AppliedIndex >= commit)
                            try
                                do! this.Group(leader).TransferLeadershipAsync(id)
                                return None // looked at again: the transfer may not have reached a majority yet
                            with
                            | :? LeadershipTransferException
                            | :? RaftTimeoutException
                            | :? NotLeaderException -> return None
                    })
            do! Wait.until $"a majority agrees node {id} leads" Wait.standard (fun () -> this.Leader() = Some id)
        }

    /// Indexes of the snapshot files node `id` holds.
    member _.SnapshotIndexes(id: int64) = cluster.SnapshotIndexes(id, 1L)

    interface IAsyncDisposable with
        member _.DisposeAsync() = (cluster :> IAsyncDisposable).DisposeAsync()
