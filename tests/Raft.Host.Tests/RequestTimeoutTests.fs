/// Calls end with a reason even when the node loop is stuck: timeouts come from the node's timer, not the loop.
module Raft.Host.Tests.RequestTimeoutTests

open System
open System.Threading
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Serialization
open Raft.Storage
open Raft.Transport.InMemory
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// A state machine whose Apply of "block" waits on a gate, holding the node loop (a hung user callback).
type private GatedMachine(gate: ManualResetEventSlim, entered: ManualResetEventSlim) =
    interface IStateMachine<string, int64> with
        member _.Apply(index, _, command) =
            if command = "block" then
                entered.Set()
                gate.Wait(TimeSpan.FromSeconds 60.0) |> ignore
            index
        member _.Snapshot _ = ()
        member _.Restore _ = ()

let private expectFault<'E when 'E :> exn> (what: string) (t: Task) =
    task {
        do! Wait.forTask $"an outcome of {what}" Wait.standard t
        if t.IsCanceled then (OperationCanceledException() :> exn) |> should be instanceOfType<'E>
        else
            match t.Exception with
            | null -> failwithf "%s: completed instead of failing" what
            | e -> nonNull e.InnerException |> should be instanceOfType<'E>
    }

[<Fact>]
let ``proposals and reads time out, and tokens cancel them, while the loop is stuck in the state machine`` () =
    task {
        use gate = new ManualResetEventSlim(false)
        use entered = new ManualResetEventSlim(false)
        let network = InMemoryNetwork<RaftEnvelope<string>[]>()
        let factory = Func<int64, IStateMachine<string, int64>>(fun _ -> GatedMachine(gate, entered) :> IStateMachine<string, int64>)
        use host = new Host(testOptions 1L, network.CreateTransport 1L, MemoryRaftStorageProvider(), factory, loggerFactory = new StderrLoggerFactory())
        do! host.StartAsync()
        let! group = host.CreateGroupAsync(1L, [ 1L ])
        let! _ = group.WaitForLeaderAsync()
        let! first = group.ProposeAsync "first"
        first.Index |> should be (greaterThan 0L)
        // The single voter commits "block" at once and its Apply holds the loop.
        let blocked = group.ProposeAsync("block", Nullable(TimeSpan.FromMilliseconds 300.0))
        use _release = { new IDisposable with member _.Dispose() = gate.Set() } // a failing assertion must not leave the loop stuck
        entered.Wait(Wait.standard) |> should equal true
        let queued = group.ProposeAsync("queued", Nullable(TimeSpan.FromMilliseconds 200.0))
        let read = group.ReadAsync((fun _ -> 1), Nullable(TimeSpan.FromMilliseconds 200.0))
        use cts = new CancellationTokenSource()
        let cancelled = group.ProposeAsync("cancelled", cts.Token)
        cts.Cancel()
        do! expectFault<RaftTimeoutException> "the proposal being applied" blocked
        do! expectFault<RaftTimeoutException> "a proposal queued behind the stuck loop" queued
        do! expectFault<RaftTimeoutException> "a read queued behind the stuck loop" read
        do! expectFault<OperationCanceledException> "a cancelled proposal" cancelled
        // Released, the loop carries on: the timed-out commands still commit (a timeout is not a refusal).
        gate.Set()
        let! after = group.ProposeAsync "after"
        after.Index |> should be (greaterThan first.Index)
        do! host.StopAsync()
    }
