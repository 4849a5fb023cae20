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
    let inner = new MemoryLogStorage()
    member val Failed = new ManualResetEventSlim()
    member val Disposed = false with get, set
    interface ILogStorage with
        member _.FirstIndex = (inner :> ILogStorage).FirstIndex
        member _.LastIndex = (inner :> ILogStorage).LastIndex
        member _.TermAt i = (inner :> ILogStorage).TermAt i
        member _.Append rs = (inner :> ILogStorage).Append rs
        member _.ReadRange(a, b, c) = (inner :> ILogStorage).ReadRange(a, b, c)
        member _.TruncateSuffix i = (inner :> ILogStorage).TruncateSuffix i
        member _.CompactPrefix(i, t) = (inner :> ILogStorage).CompactPrefix(i, t)
        member this.Flush() =
            this.Failed.Set()
            raise (IOException "fsync failed: Input/output error")
        member this.FlushAsync _ =
            (this :> ILogStorage).Flush()
            Threading.Tasks.ValueTask.CompletedTask
        member this.Dispose() = this.Disposed <- true

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
