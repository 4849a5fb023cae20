/// What a queue client saw, checked against at-least-once delivery with visibility timeouts: every delivery and every
/// definite ack answer a consumer got, with its own clock readings, turned into the violations of the queue's promises.
/// Pure: the no-loss test records, this module judges (and is tested alone on hand-made histories).
module Raft.Host.Tests.QueueDeliveryCheck

open System

/// One delivery a receive answered: the message (id and body), which delivery of it the receipt names, the deadline the
/// server gave it (Unix ms, the server's clock), and the client's clock (Unix ms) before sending the receive and once
/// its answer was read.
type Seen = { Id: int64; Body: string; Delivery: int; Deadline: int64; Sent: int64; Answered: int64 }

/// A definite answer to an ack: 204 (acked now), 409 (that delivery is over: not acked), 410 (the message is gone:
/// acked earlier, by a retry of this ack whose answer was lost, or by another consumer), read at `Answered` (Unix ms).
type AckAnswer = { Id: int64; Delivery: int; Status: int; Answered: int64 }

/// A broken promise, said in words with the records behind it.
type Violation = { Id: int64; What: string }

/// How far the test's clock may trail a server's (ms). The servers and the test run on one host and read the same
/// system clock (DateTimeOffset.UtcNow), so their skew is zero; what remains is NTP slewing (at most 500 ppm, 1.5 ms
/// over a 3 s visibility), the millisecond rounding of each reading, and a step of the clock by an NTP daemon. 100 ms
/// covers the first two many times over and a step seldom happens during a test; a double delivery that the queue
/// really makes inside a receipt's validity lands seconds inside it (a visibility is 3 s here), far past this margin.
/// On separate machines this margin would be the bound on their clocks' skew.
let skewMarginMs = 100L

/// The violations of these promises, per message:
/// - no delivery after its ack: once an ack answered 204, no later delivery of the message exists (a delivery with a
///   higher count, or any receive sent after that answer);
/// - no second delivery while a receipt is valid: a delivery's next one is only made once its deadline passed on the
///   server's clock (which never runs ahead of the host's), so it cannot be answered before that deadline (less the
///   skew margin); the same receipt handed out twice counts too;
/// - the server's own numbers agree: the next delivery's deadline is at least the previous one's plus the visibility.
let violations (visibilityMs: int64) (seen: Seen seq) (acks: AckAnswer seq) : Violation list =
    let acked =
        acks |> Seq.filter (fun a -> a.Status = 204) |> Seq.groupBy (fun a -> a.Id)
        |> Seq.map (fun (id, xs) -> id, xs |> Seq.minBy (fun a -> a.Answered)) |> dict
    [ for id, deliveries in seen |> Seq.groupBy (fun s -> s.Id) do
        let ordered = deliveries |> Seq.sortBy (fun s -> s.Delivery, s.Answered) |> Array.ofSeq
        match acked.TryGetValue id with
        | true, ack ->
            for s in ordered do
                if s.Delivery > ack.Delivery then
                    yield { Id = id; What = $"delivery {s.Delivery} made after delivery {ack.Delivery} was acked (204 at {ack.Answered})" }
                elif s.Sent > ack.Answered then
                    yield { Id = id; What = $"delivery {s.Delivery} answered to a receive sent at {s.Sent}, after the ack (204 at {ack.Answered})" }
        | _ -> ()
        for a, b in Array.pairwise ordered do
            if b.Answered < a.Deadline - skewMarginMs then
                let again = if a.Delivery = b.Delivery then "the same receipt again" else $"delivery {b.Delivery}"
                yield { Id = id; What = $"{again} answered at {b.Answered} while delivery {a.Delivery}'s receipt was valid until {a.Deadline}" }
            if b.Delivery > a.Delivery && b.Deadline < a.Deadline + visibilityMs then
                yield { Id = id; What = $"delivery {b.Delivery}'s deadline {b.Deadline} is less than one visibility after delivery {a.Delivery}'s {a.Deadline}" }
            if b.Body <> a.Body then
                yield { Id = id; What = $"message {id} delivered with two bodies: '{a.Body}' and '{b.Body}'" } ]

/// Deliveries the queue made that no consumer saw: receives whose answers were lost (a timeout, a killed node) after
/// they committed, counted from the gaps in each message's delivery counts.
let unseenDeliveries (seen: Seen seq) =
    seen |> Seq.groupBy (fun s -> s.Id)
    |> Seq.sumBy (fun (_, ds) -> (ds |> Seq.map (fun s -> s.Delivery) |> Seq.max) - (ds |> Seq.distinctBy (fun s -> s.Delivery) |> Seq.length))
