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
