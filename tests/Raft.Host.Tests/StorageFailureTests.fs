/// A group whose storage fails: it faults, and can still be removed.
module Raft.Host.Tests.StorageFailureTests

open System
open System.IO
open System.Threading
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Serialization
open Raft.Storage
open Raft.Transport.InMemory
open Raft.Host.Tests.ClusterKit

/// A log whose flush always fails, as after an fsync error; records its first failure and its disposal.
type private FailingLog() =
    inherit DelegatingLogStorage(new MemoryLogStorage())
    member val Failed = new ManualResetEventSlim()
    member val Disposed = false with get, set
    override this.Flush() =
        this.Failed.Set()
        raise (IOException "fsync failed: Input/output error")
    override this.FlushAsync _ =
        this.Flush()
        Threading.Tasks.ValueTask.CompletedTask
    override this.Dispose() = this.Disposed <- true

type private FailingStorage(log: FailingLog) =
    interface IRaftStorageProvider with
        member _.Open _ = new GroupStorage(log, MemoryHardStateStore(), null)
        member _.Delete _ = ()

[<Fact>]
let ``a group whose log flush failed is closed when removed`` () =
    task {
        let log = new FailingLog()
        let network = InMemoryNetwork<RaftEnvelope<string>[]>()
        let factory = Func<int64, IStateMachine<string, int64>>(fun _ -> RecordingMachine() :> IStateMachine<string, int64>)
        use host = new Host(testOptions 1L, network.CreateTransport 1L, FailingStorage log, factory, loggerFactory = new StderrLoggerFactory())
        do! host.StartAsync()
        let! _ = host.CreateGroupAsync(1L, [ 1L ])
        // The single voter elects itself and persists its no-op: the flush fails and the group faults.
        log.Failed.Wait(TimeSpan.FromSeconds 30.0) |> should equal true
        do! host.RemoveGroupAsync 1L
        log.Disposed |> should equal true
        host.TryGetGroup(1L) |> fst |> should equal false
        do! host.StopAsync()
    }

/// A log whose flushes fail once `Failing` is set.
type private SwitchedLog() =
    inherit DelegatingLogStorage(new MemoryLogStorage())
    member val Failing = false with get, set
    override this.Flush() =
        if this.Failing then raise (IOException "fsync failed: Input/output error")
        base.Flush()

[<Fact>]
let ``a failed group-commit flush fails the proposal waiting on it and every later one`` () =
    task {
        let log = new SwitchedLog()
        let storage =
            { new IRaftStorageProvider with
                member _.Open _ = new GroupStorage(log, MemoryHardStateStore(), null)
                member _.Delete _ = () }
        let network = InMemoryNetwork<RaftEnvelope<string>[]>()
        let factory = Func<int64, IStateMachine<string, int64>>(fun _ -> RecordingMachine() :> IStateMachine<string, int64>)
        use host = new Host(testOptions 1L, network.CreateTransport 1L, storage, factory, loggerFactory = new StderrLoggerFactory())
        do! host.StartAsync()
        let! group = host.CreateGroupAsync(1L, [ 1L ])
        do! Raft.Tests.Wait.until "node 1 leads" Raft.Tests.Wait.standard (fun () -> group.Status.IsLeader)
        let! _ = group.ProposeAsync("durable", Nullable(TimeSpan.FromSeconds 5.0))
        log.Failing <- true
        let failed (command: string) =
            task {
                try
                    let! _ = group.ProposeAsync(command, Nullable(TimeSpan.FromSeconds 5.0))
                    return failwithf "%s was acknowledged although its flush failed" command
                with :? GroupFaultedException as e -> return e
            }
        let! waiting = failed "not durable"
        waiting.Message |> should haveSubstring "fsync failed"
        let! later = failed "later"
        later.Message |> should haveSubstring "fsync failed"
        do! host.StopAsync()
    }

/// The shared log's file layer with a switch that makes its fdatasyncs fail, as a failing disk does.
type private FailingSyncs() =
    inherit SharedLogDisk()
    member val Failing = false with get, set
    override this.DataSync(handle, path) =
        if this.Failing then raise (IOException "fdatasync: Input/output error")
        base.DataSync(handle, path)

[<Fact>]
let ``a failed fdatasync of the node's shared log stops every group on it, idle ones too`` () =
    task {
        let root = Path.Combine(Path.GetTempPath(), "raft-host-tests", Guid.NewGuid().ToString("N"))
        let disk = FailingSyncs()
        let storage = SharedLogStorageProvider(root, SharedLogOptions(Disk = disk))
        let network = InMemoryNetwork<RaftEnvelope<string>[]>()
        let factory = Func<int64, IStateMachine<string, int64>>(fun _ -> RecordingMachine() :> IStateMachine<string, int64>)
        try
            use host = new Host(testOptions 1L, network.CreateTransport 1L, storage, factory, loggerFactory = new StderrLoggerFactory())
            do! host.StartAsync()
            let groups = [| for g in 1L .. 3L -> host.CreateGroupAsync(g, [ 1L ]) |]
            let! groups = Threading.Tasks.Task.WhenAll groups
            for g in groups do
                do! Raft.Tests.Wait.until $"node 1 leads group {g.GroupId}" Raft.Tests.Wait.standard (fun () -> g.Status.IsLeader)
                let! _ = g.ProposeAsync("durable", Nullable(TimeSpan.FromSeconds 5.0))
                ()
            disk.Failing <- true
            let! e = Assert.ThrowsAsync<GroupFaultedException>(fun () -> groups[0].ProposeAsync("lost", Nullable(TimeSpan.FromSeconds 5.0)) :> Threading.Tasks.Task)
            e.InnerException |> should be instanceOfType<StorageException>
            e.Message |> should haveSubstring "Input/output error"
            // Groups 2 and 3 wrote nothing in the failed round. A read needs no write, so without stopping them they
            // would still answer from a log that may have lost a suffix.
            for g in groups[1..] do
                let! e = Assert.ThrowsAsync<GroupFaultedException>(fun () -> g.ReadAsync(Func<IStateMachine<string, int64>, int>(fun m -> (m :?> RecordingMachine).Count), Nullable(TimeSpan.FromSeconds 5.0)) :> Threading.Tasks.Task)
                e.Message |> should haveSubstring "shared log"
                e.Message |> should haveSubstring "Input/output error"
            storage.Log |> Option.ofObj |> Option.bind (fun l -> Option.ofObj l.Failure) |> Option.isSome |> should equal true
            do! host.StopAsync()
        finally
            try Directory.Delete(root, true) with _ -> ()
    }
