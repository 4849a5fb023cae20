/// What a crash between a write's parts may leave, and what the host does so that it is safe: the log is made
/// durable before the hard state that describes it, and a restart takes the configuration from the log.
module Raft.Host.Tests.DurabilityOrderTests

open System
open System.Collections.Generic
open Xunit
open FsUnit.Xunit
open Raft.Core
open Raft.Node
open Raft.Serialization
open Raft.Storage
open Raft.Transport.InMemory
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// A log and a hard-state store that write the calls that change durability into one shared list.
type private RecordingLog(events: List<string>) =
    inherit DelegatingLogStorage(new MemoryLogStorage())
    override _.Append(records) =
        lock events (fun () -> events.Add "append")
        base.Append(records)
    override _.Flush() =
        lock events (fun () -> events.Add "flush")
        base.Flush()

type private RecordingHardState(events: List<string>) =
    let inner = MemoryHardStateStore()
    interface IHardStateStore with
        member _.Load() = (inner :> IHardStateStore).Load()
        member _.Save(state) =
            lock events (fun () -> events.Add "save")
            (inner :> IHardStateStore).Save(state)

type private RecordingStorage(events: List<string>) =
    interface IRaftStorageProvider with
        member _.Open _ = new GroupStorage(new RecordingLog(events), RecordingHardState(events), null)
        member _.Delete _ = ()

/// A provider handing out one prepared storage.
type private PreparedStorage(storage: GroupStorage) =
    interface IRaftStorageProvider with
        member _.Open _ = storage
        member _.Delete _ = ()

let private newHost (storage: IRaftStorageProvider) =
    let network = InMemoryNetwork<RaftEnvelope<string>[]>()
    let factory = Func<int64, IStateMachine<string, int64>>(fun _ -> RecordingMachine() :> IStateMachine<string, int64>)
    new Host(testOptions 1L, network.CreateTransport 1L, storage, factory, loggerFactory = new StderrLoggerFactory())

[<Fact>]
let ``a hard state is saved only after the log entries written before it are flushed`` () =
    task {
        // A hard state's commit index may cover the entries of its own write: saved first, a crash before the log's
        // fsync would leave a commit index over entries the disk does not hold (or over the ones they overwrote).
        let events = List<string>()
        use host = newHost (RecordingStorage events)
        do! host.StartAsync()
        let! group = host.CreateGroupAsync(1L, [ 1L ])
        do! Wait.until "node 1 leads" Wait.standard (fun () -> group.Status.IsLeader)
        for i in 1..5 do
            let! _ = group.ProposeAsync($"c{i}", Nullable(TimeSpan.FromSeconds 5.0))
            ()
        do! host.StopAsync()
        let events = lock events (fun () -> List.ofSeq events)
        events |> should contain "save"
        let mutable unflushed = false
        for e in events do
            match e with
            | "append" -> unflushed <- true
            | "flush" -> unflushed <- false
            | _ -> if unflushed then failwithf "a hard state was saved before the appended entries were flushed: %A" events
    }

[<Fact>]
let ``a group restarted from a log whose newest configuration entry its hard state never saw runs with that configuration`` () =
    task {
        // The disk after a crash between a write's entries and its hard state: the log holds the change that made
        // node 1 the only voter, the hard state still the bootstrap configuration (1 2 3).
        let codec = RaftMessageCodec<string>()
        let log = new MemoryLogStorage()
        let only1 = { Voters = set [ Ids.node 1L ]; Outgoing = Set.empty; Learners = Set.empty; LearnersNext = Set.empty; AutoLeave = false }
        let entry i payload = { Index = Ids.index i; Term = Ids.term 1L; Payload = payload; Size = 0 }
        log.Append([| LogRecord(1L, 1L, codec.EncodeEntry(entry 1L Noop)); LogRecord(2L, 1L, codec.EncodeEntry(entry 2L (Config only1))) |].AsSpan())
        let hard = MemoryHardStateStore()
        let bootstrap = Node.initialConfig [ Ids.node 1L; Ids.node 2L; Ids.node 3L ]
        (hard :> IHardStateStore).Save(RaftStateCodec.EncodeHardState { Term = Ids.term 1L; Vote = Ids.node 1L; Commit = Ids.index 1L; Config = bootstrap })
        use host = newHost (PreparedStorage(new GroupStorage(log, hard, null)))
        do! host.StartAsync()
        let! group = host.CreateGroupAsync(1L, [ 1L; 2L; 3L ])
        // With the hard state's configuration node 1 would wait forever for votes from 2 and 3.
        do! Wait.until "node 1, the only voter, leads" Wait.standard (fun () -> group.Status.IsLeader)
        let! r = group.ProposeAsync("x", Nullable(TimeSpan.FromSeconds 5.0))
        r.Index |> should be (greaterThan 2L)
        do! host.StopAsync()
    }
