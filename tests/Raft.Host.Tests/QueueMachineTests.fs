/// The queue server's state machine alone: deliveries and receipts, visibility expiry, nack, max deliveries and the
/// dead-letter outbox, idempotent publishes, limits, snapshots, and its commands on the wire.
module Raft.Host.Tests.QueueMachineTests

open System.IO
open System.Text
open Xunit
open FsUnit.Xunit
open MessagePack
open Raft.Queue.Server

let private bytes (s: string) = Encoding.UTF8.GetBytes s

/// A created queue with `settings`, and a counter of log indexes for its commands.
type private Q(settings: QueueSettings) =
    let machine = QueueMachine()
    let mutable index = 0L
    do machine.Apply(1L, 1L, CreateQueue("q", settings, Now = 0L)) |> ignore
    member _.Machine = machine
    member _.Do(op: QueueOp) =
        index <- index + 1L
        machine.Apply(index + 1L, 1L, op)
    member this.Publish(now: int64, ?key: string, ?bodies: string list) =
        this.Do(Publish(defaultArg bodies [ "m" ] |> List.map bytes |> Array.ofList, defaultArg key null, Now = now))
    member this.Receive(now: int64, max: int, ?visibility: int64) =
        (this.Do(Receive(max, defaultArg visibility 0L, Now = now))).Deliveries |> nonNull |> Array.map (fun d -> d.Id, d.Delivery)
    member this.Ack(now, id, delivery) = (this.Do(Ack(id, delivery, Now = now))).Status
    member this.Nack(now, id, delivery) = (this.Do(Nack(id, delivery, Now = now))).Status

let private defaults = QueueSettings(VisibilityTimeoutMs = 100L)

[<Fact>]
let ``messages go out in order, each delivery with its own receipt; an ack removes the message and a second ack finds it gone`` () =
    let q = Q defaults
    q.Publish(10L, bodies = [ "a"; "b"; "c" ]).FirstId |> should equal 1L
    q.Receive(20L, 2) |> should equal [| 1L, 1; 2L, 1 |]
    q.Machine.InFlight |> should equal 2
    q.Ack(30L, 1L, 1) |> should equal QueueStatus.Ok
    q.Ack(31L, 1L, 1) |> should equal QueueStatus.ReceiptGone
    q.Receive(32L, 5) |> should equal [| 3L, 1 |]
    (q.Machine.Waiting, q.Machine.InFlight, q.Machine.AckedTotal) |> should equal (0, 2, 1L)

[<Fact>]
let ``a delivery not acked by its deadline ends: the message goes out again, first, and the old receipt is refused`` () =
    let q = Q defaults
    q.Publish(0L, bodies = [ "a"; "b" ]) |> ignore
    q.Receive(1000L, 1, 50L) |> should equal [| 1L, 1 |]
    q.Receive(1010L, 1) |> should equal [| 2L, 1 |] // 1 is invisible until 1050
    q.Receive(1049L, 1) |> should be Empty
    q.Machine.AvailableAt 1050L |> should equal 1
    q.Receive(1050L, 1) |> should equal [| 1L, 2 |]
    q.Ack(1051L, 1L, 1) |> should equal QueueStatus.ReceiptExpired
    q.Ack(1052L, 1L, 2) |> should equal QueueStatus.Ok
    // 2's deadline (1010 + the default 100) passed: acking it late is refused, and it waits again.
    q.Ack(1111L, 2L, 1) |> should equal QueueStatus.ReceiptExpired
    q.Machine.Waiting |> should equal 1

[<Fact>]
let ``time comes from the commands and never runs backwards: an earlier clock does not make an expired delivery valid again`` () =
    let q = Q defaults
    q.Publish(0L) |> ignore
    q.Receive(1000L, 1) |> ignore
    q.Publish(2000L) |> ignore // expires the delivery of 1 (deadline 1100)
    q.Ack(500L, 1L, 1) |> should equal QueueStatus.ReceiptExpired
    q.Machine.Clock |> should equal 2000L

[<Fact>]
let ``a nack returns the message at once and its next delivery counts one more`` () =
    let q = Q defaults
    q.Publish(0L, bodies = [ "a"; "b" ]) |> ignore
    q.Receive(1L, 1) |> should equal [| 1L, 1 |]
    q.Nack(2L, 1L, 1) |> should equal QueueStatus.Ok
    q.Nack(3L, 1L, 1) |> should equal QueueStatus.ReceiptExpired
    q.Receive(4L, 2) |> should equal [| 1L, 2; 2L, 1 |]

[<Fact>]
let ``after max deliveries a message is dead: held for its dead-letter queue until forwarded, or dropped without one`` () =
    let q = Q(QueueSettings(VisibilityTimeoutMs = 100L, MaxDeliveries = 2, DeadLetterQueue = "q-dead"))
    q.Publish(0L, bodies = [ "poison"; "fine" ]) |> ignore
    q.Receive(1L, 1) |> should equal [| 1L, 1 |]
    q.Nack(2L, 1L, 1) |> ignore
    q.Receive(3L, 1) |> should equal [| 1L, 2 |]
    q.Machine.DeadPending |> should equal 0
    q.Receive(200L, 5) |> should equal [| 2L, 1 |] // 1's second delivery expired: dead, not delivered a third time
    (q.Machine.DeadPending, q.Machine.DeadTotal) |> should equal (1, 1L)
    q.Machine.DeadToForward 10 |> Seq.map (fun struct (id, body) -> id, Encoding.UTF8.GetString body) |> List.ofSeq |> should equal [ 1L, "poison" ]
    q.Do(DeadForwarded(1L, Now = 201L)).Count |> should equal 1
    q.Machine.DeadPending |> should equal 0
    let dropped = Q(QueueSettings(VisibilityTimeoutMs = 100L, MaxDeliveries = 1))
    dropped.Publish(0L) |> ignore
    dropped.Receive(1L, 1) |> ignore
    dropped.Nack(2L, 1L, 1) |> ignore
    (dropped.Machine.DeadPending, dropped.Machine.DeadTotal, dropped.Machine.Waiting) |> should equal (0, 1L, 0)

[<Fact>]
let ``a publish retried with its idempotency key takes effect once, while the key is in the window`` () =
    let q = Q(QueueSettings(IdempotencyWindow = 2))
    let first = q.Publish(0L, "k1", [ "a"; "b" ])
    let again = q.Publish(1L, "k1", [ "a"; "b" ])
    (again.FirstId, again.Count, again.Repeated, first.Repeated) |> should equal (first.FirstId, 2, true, false)
    q.Machine.Waiting |> should equal 2
    q.Publish(2L, "k2") |> ignore
    q.Publish(3L, "k3") |> ignore // k1 is the oldest of three: forgotten
    (q.Publish(4L, "k1")).Repeated |> should equal false
    (q.Publish(5L, "k3")).Repeated |> should equal true
    q.Machine.Waiting |> should equal 5

[<Fact>]
let ``a full queue refuses a whole batch naming its max length, and a message over the size limit names that`` () =
    let q = Q(QueueSettings(MaxLength = 2, MaxMessageBytes = 4))
    let full = q.Publish(0L, bodies = [ "a"; "b"; "c" ])
    (full.Status, full.Limit, q.Machine.Waiting) |> should equal (QueueStatus.Full, 2L, 0)
    q.Publish(1L, bodies = [ "a"; "b" ]).Status |> should equal QueueStatus.Ok
    q.Receive(2L, 1) |> ignore
    q.Publish(3L).Status |> should equal QueueStatus.Full // in flight counts
    q.Ack(4L, 1L, 1) |> ignore
    q.Publish(5L).Status |> should equal QueueStatus.Ok
    let big = q.Do(Publish([| bytes "12345" |], null, Now = 6L))
    (big.Status, big.Count, big.Limit) |> should equal (QueueStatus.TooLarge, 5, 4L)

[<Fact>]
let ``a group without a created queue refuses every command; creating again with the same settings changes nothing`` () =
    let m = QueueMachine()
    m.Apply(1L, 1L, Publish([| bytes "x" |], null, Now = 0L)).Status |> should equal QueueStatus.NoSuchQueue
    m.Apply(2L, 1L, CreateQueue("q", defaults, Now = 0L)).Status |> should equal QueueStatus.Ok
    m.Apply(3L, 1L, CreateQueue("q", defaults, Now = 0L)).Status |> should equal QueueStatus.Ok
    m.Apply(4L, 1L, CreateQueue("q", QueueSettings(MaxLength = 5), Now = 0L)).Status |> should equal QueueStatus.Exists
    m.CreatedAt |> should equal 2L

let private image (m: QueueMachine) =
    use s = new MemoryStream()
    m.Snapshot s
    s.ToArray()

[<Fact>]
let ``a snapshot holds the whole state: a restored machine writes the same snapshot and goes on exactly as the original`` () =
    let q = Q(QueueSettings(VisibilityTimeoutMs = 100L, MaxDeliveries = 2, DeadLetterQueue = "dlq", IdempotencyWindow = 3))
    q.Publish(0L, "k1", [ "a"; "b"; "c"; "d" ]) |> ignore
    q.Publish(1L, "k2", [ "e" ]) |> ignore
    q.Receive(10L, 2) |> ignore
    q.Nack(11L, 1L, 1) |> ignore
    q.Receive(12L, 1) |> ignore
    q.Nack(13L, 1L, 2) |> ignore // dead
    q.Ack(14L, 2L, 1) |> ignore
    let restored = QueueMachine()
    use s = new MemoryStream(image q.Machine)
    restored.Restore s
    image restored |> should equal (image q.Machine)
    (restored.Name, restored.Waiting, restored.InFlight, restored.DeadPending, restored.NextDeadline)
    |> should equal (q.Machine.Name, q.Machine.Waiting, q.Machine.InFlight, q.Machine.DeadPending, q.Machine.NextDeadline)
    let next (m: QueueMachine) =
        [ m.Apply(100L, 1L, Publish([| bytes "x" |], "k1", Now = 50L)).Repeated |> box
          m.Apply(101L, 1L, Receive(10, 0L, Now = 60L)).Deliveries |> nonNull |> Array.map (fun d -> d.Receipt) |> box ]
    next restored |> should equal (next q.Machine)
    image restored |> should equal (image q.Machine)

[<Fact>]
let ``commands and replies cross the wire unchanged (MessagePack, the standard resolver)`` () =
    let ops: QueueOp list =
        [ CreateQueue("q", QueueSettings(MaxDeliveries = 3, DeadLetterQueue = "d"), Now = 7L); Publish([| bytes "a" |], "key", Now = 8L)
          Receive(5, 1000L, Now = 9L); Ack(3L, 2, Now = 10L); Nack(4L, 1, Now = 11L); DeadForwarded(9L, Now = 12L) ]
    for op in ops do
        let back = MessagePackSerializer.Deserialize<QueueOp>(MessagePackSerializer.Serialize<QueueOp> op)
        (back.GetType(), back.Now) |> should equal (op.GetType(), op.Now)
        match back, op with
        | (:? Publish as b), (:? Publish as o) -> (b.IdempotencyKey, b.Bodies[0]) |> should equal (o.IdempotencyKey, o.Bodies[0])
        | (:? CreateQueue as b), (:? CreateQueue as o) -> b.Settings |> should equal o.Settings
        | _ -> back |> should equal op
    let reply = QueueReply(QueueStatus.Ok, Deliveries = [| Delivered(1L, 2, bytes "b", 99L) |])
    let back = MessagePackSerializer.Deserialize<QueueReply>(MessagePackSerializer.Serialize reply)
    (Array.head (nonNull back.Deliveries)).Receipt |> should equal "1.2"
