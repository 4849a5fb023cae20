/// Helpers for transport tests: an inbox that records deliveries (wait on them with `Wait`), and Raft envelopes to send.
module Raft.Host.Tests.TransportTestKit

open System
open System.Threading.Tasks
open Raft.Core
open Raft.Serialization
open Raft.Transport
open Raft.Tests

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

/// Records every delivery.
type Inbox<'T>() =
    let items = ResizeArray<int64 * 'T>()

    /// The receive handler to pass to StartAsync.
    member _.Handler =
        TransportReceiveHandler<'T>(fun from message _ ->
            lock items (fun () -> items.Add((from, message)))
            ValueTask.CompletedTask)

    /// Everything received so far, in arrival order.
    member _.Items = lock items (fun () -> items.ToArray())

    /// Waits until the received items satisfy `condition`, calling `resend` every 100 ms meanwhile
    /// (the transport is best effort: a message sent while connections settle may be lost, as Raft allows).
    member this.WaitResending(what, resend: unit -> unit, condition: (int64 * 'T)[] -> bool) =
        let sinceResend = Diagnostics.Stopwatch.StartNew()
        resend ()
        Wait.until what Wait.standard (fun () ->
            condition this.Items
            || (if sinceResend.ElapsedMilliseconds >= 100L then
                    resend ()
                    sinceResend.Restart()
                false))
