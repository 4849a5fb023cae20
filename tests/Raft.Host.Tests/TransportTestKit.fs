/// Helpers for transport tests: an inbox that records deliveries and lets a test wait on a condition with a
/// deadline (never a fixed sleep), and Raft envelopes to send.
module Raft.Host.Tests.TransportTestKit

open System
open System.Threading.Tasks
open Raft.Core
open Raft.Serialization
open Raft.Transport

/// How long any test waits for a condition before failing; generous so slow CI machines do not flake.
let deadline = TimeSpan.FromSeconds 15.0

/// A heartbeat of group `group` from `from` to `to_`, its context tagging the message.
let envelope (group: int64) (from: int64) (to_: int64) (context: int64) =
    RaftEnvelope<string>(group,
        { From = Ids.node from; To = Ids.node to_; Term = Ids.term 1L
          Body = Heartbeat { Commit = Ids.index 0L; Context = context } })

/// The context of an envelope's heartbeat.
let contextOf (e: RaftEnvelope<string>) =
    match e.Message.Body with
    | Heartbeat h -> h.Context
    | _ -> -1L

/// Waits until `condition ()` holds, re-checking whenever `changed ()` completes or `period` passes
/// (calling `onTick` each period, e.g. to resend), and fails with `what` after the deadline.
let waitFor (what: string) (changed: unit -> Task) (period: TimeSpan) (onTick: unit -> unit) (condition: unit -> bool) =
    task {
        let until = DateTime.UtcNow + deadline
        let mutable ok = condition ()
        while not ok do
            if DateTime.UtcNow > until then failwithf "timed out after %O waiting for: %s" deadline what
            let! _ = Task.WhenAny(changed (), Task.Delay period)
            ok <- condition ()
            if not ok then onTick ()
    }

let private never : Task = TaskCompletionSource().Task

/// Waits for a condition on counters (which have no change event), checking every 10 ms.
let waitUntil what condition = waitFor what (fun () -> never) (TimeSpan.FromMilliseconds 10.0) ignore condition

/// Records every delivery; completes a fresh signal task on each one.
type Inbox<'T>() =
    let items = ResizeArray<int64 * 'T>()
    let mutable signal = TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)

    /// The receive handler to pass to StartAsync.
    member _.Handler =
        TransportReceiveHandler<'T>(fun from message _ ->
            let s =
                lock items (fun () ->
                    items.Add((from, message))
                    let s = signal
                    signal <- TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
                    s)
            s.TrySetResult() |> ignore
            ValueTask.CompletedTask)

    /// Everything received so far, in arrival order.
    member _.Items = lock items (fun () -> items.ToArray())

    /// A task completing at the next delivery.
    member _.Changed() : Task = lock items (fun () -> signal.Task)

    /// Waits until the received items satisfy `condition`.
    member this.WaitUntil(what, condition: (int64 * 'T)[] -> bool) =
        waitFor what this.Changed (TimeSpan.FromMilliseconds 100.0) ignore (fun () -> condition this.Items)

    /// Waits until the received items satisfy `condition`, calling `resend` every 100 ms meanwhile
    /// (the transport is best effort: a message sent while connections settle may be lost, as Raft allows).
    member this.WaitResending(what, resend: unit -> unit, condition: (int64 * 'T)[] -> bool) =
        resend ()
        waitFor what this.Changed (TimeSpan.FromMilliseconds 100.0) resend (fun () -> condition this.Items)
