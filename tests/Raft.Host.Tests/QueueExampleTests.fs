/// The work-queue example (examples/Raft.Queue): its state machine alone (FIFO order, client sessions, snapshot round
/// trip, the MessagePack command union), then producers and consumers on a real 3-node cluster over loopback TCP.
module Raft.Host.Tests.QueueExampleTests

open System
open System.IO
open System.Collections.Concurrent
open System.Threading
open System.Threading.Tasks
open MessagePack
open Xunit
open FsUnit.Xunit
open Raft.Queue
open Raft.Host.Tests.ClusterKit
open Raft.Host.Tests.ExampleClusterKit
open Raft.Tests

let private apply (queue: WorkQueue) (index: int64) (command: QueueCommand) = queue.Apply(index, 1L, command)

let private roundTrip (queue: WorkQueue) =
    use ms = new MemoryStream()
    queue.Snapshot ms
    let copy = WorkQueue()
    copy.Restore(new MemoryStream(ms.ToArray()))
    copy

[<Fact>]
let ``items come out in enqueue order with their enqueue's log index as id; an empty queue gives none`` () =
    let q = WorkQueue()
    apply q 1L (Enqueue("p", 1L, "a")) |> should equal (QueueResult(QueueItem(1L, "a"), 1, 1L))
    apply q 2L (Enqueue("p", 2L, "b")) |> ignore
    apply q 3L (Enqueue("p", 3L, "c")) |> ignore
    q.Length |> should equal 3
    nonNull (q.Peek()) |> should equal (QueueItem(1L, "a"))
    apply q 4L (Dequeue("c", 1L)) |> should equal (QueueResult(QueueItem(1L, "a"), 2, 4L))
    apply q 5L (Dequeue("c", 2L)) |> should equal (QueueResult(QueueItem(2L, "b"), 1, 5L))
    apply q 6L (Dequeue("c", 3L)) |> should equal (QueueResult(QueueItem(3L, "c"), 0, 6L))
    apply q 7L (Dequeue("c", 4L)) |> should equal (QueueResult(null, 0, 7L))
    isNull (q.Peek()) |> should equal true

[<Fact>]
let ``a retried request gets its first answer and changes nothing; an older request number is refused`` () =
    let q = WorkQueue()
    apply q 1L (Enqueue("p", 1L, "a")) |> ignore
    apply q 2L (Enqueue("p", 1L, "a")) |> should equal (QueueResult(QueueItem(1L, "a"), 1, 1L)) // no second copy
    apply q 3L (Enqueue("p", 2L, "b")) |> ignore
    let first = apply q 4L (Dequeue("c", 1L))
    apply q 5L (Dequeue("c", 1L)) |> should equal first // the retry does not take "b"
    q.Length |> should equal 1
    (fun () -> apply q 6L (Enqueue("p", 1L, "late")) |> ignore) |> should throw typeof<InvalidOperationException>
    q.Length |> should equal 1
    q.Sessions |> should equal 2

[<Fact>]
let ``a snapshot keeps the items in order and the sessions, so a retry after a restore is still answered once`` () =
    let q = WorkQueue()
    for i in 1..5 do
        apply q (int64 i) (Enqueue("p", int64 i, $"item-{i}")) |> ignore
    let taken = apply q 6L (Dequeue("c", 1L))
    let copy = roundTrip q
    copy.Length |> should equal 4
    copy.Sessions |> should equal 2
    // The consumer's reply was lost and it retries after the node restarted from the snapshot: same item, no loss.
    apply copy 7L (Dequeue("c", 1L)) |> should equal taken
    [ for s in 2L..5L -> (apply copy (6L + s) (Dequeue("c", s))).Item ]
    |> should equal [ for i in 2..5 -> QueueItem(int64 i, $"item-{i}") ]
    // An empty queue and a session without an item round-trip too.
    let empty = roundTrip copy
    empty.Length |> should equal 0
    apply empty 20L (Dequeue("c", 5L)) |> should equal (QueueResult(QueueItem(5L, "item-5"), 0, 11L))

[<Fact>]
let ``commands survive MessagePack as the base type, each as its own kind with its session`` () =
    let commands: QueueCommand[] = [| Enqueue("producer-1", 7L, "job"); Dequeue("consumer-2", 9L) |]
    for c in commands do
        let bytes = MessagePackSerializer.Serialize<QueueCommand>(c)
        MessagePackSerializer.Deserialize<QueueCommand>(bytes) |> should equal c

let private newCluster () = new ExampleCluster<QueueCommand, QueueResult, WorkQueue>(WorkQueue, snapshotEvery10)

[<Fact>]
let ``producers and consumers on a 3-node cluster over loopback TCP: every item delivered exactly once, in order`` () =
    task {
        use cluster = newCluster ()
        do! cluster.StartAll()
        let! _ = cluster.WaitLeader()
        let producers, perProducer, consumers = 3, 40, 3
        let total = producers * perProducer
        let delivered = ConcurrentBag<QueueResult>()
        use cts = new CancellationTokenSource(Wait.standard)
        let produce p =
            task {
                let client = QueueClient($"producer-{p}", cluster.Hosts)
                for i in 1..perProducer do
                    let! _ = client.EnqueueAsync($"p{p}-{i:D3}", cts.Token)
                    ()
            }
        let consume c =
            task {
                let client = QueueClient($"consumer-{c}", cluster.Hosts)
                while delivered.Count < total do
                    let! r = client.DequeueAsync(cts.Token)
                    match r.Result.Item with
                    | null -> do! Task.Yield() // empty for now: the producers are behind
                    | _ -> delivered.Add r.Result
            }
        let! _ =
            Task.WhenAll [| for p in 1..producers do yield Task.Run<unit>(fun () -> produce p)
                            for c in 1..consumers do yield Task.Run<unit>(fun () -> consume c) |]
        let items = delivered.ToArray()
        let payloads = items |> Array.map (fun r -> (nonNull r.Item).Payload)
        payloads |> Array.sort
        |> should equal [| for p in 1..producers do for i in 1..perProducer -> $"p{p}-{i:D3}" |]
        // In the log order of the Dequeues the items' ids (their Enqueue's index) only grow: first in, first out.
        let ids = items |> Array.sortBy (fun r -> r.AppliedAt) |> Array.map (fun r -> (nonNull r.Item).Id)
        ids |> Array.pairwise |> Array.forall (fun (a, b) -> a < b) |> should equal true
        let! length = cluster.Read(fun q -> q.Length)
        length |> should equal 0
    }

[<Fact>]
let ``a follower restarted after the leader compacted past it holds the same queue and sessions`` () =
    task {
        use cluster = newCluster ()
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader()
        let follower = cluster.Ids |> Array.find (fun id -> id <> leader)
        do! cluster.StopNode follower
        for i in 1..40 do
            let! _ = cluster.Propose(Enqueue("p", int64 i, $"item-{i}"))
            ()
        let! taken = cluster.Propose(Dequeue("c", 1L))
        let! leader = cluster.WaitLeader()
        do! Wait.until "the leader snapshots past the stopped follower" Wait.standard (fun () ->
            cluster.SnapshotIndexes leader |> Array.exists (fun i -> i > 20L))
        do! cluster.StartNode follower
        do! cluster.MakeLeader follower
        let! length, head = cluster.ReadOn(follower, fun q -> q.Length, q.Peek())
        length |> should equal 39
        nonNull head |> should equal (QueueItem((nonNull taken.Result.Item).Id + 1L, "item-2"))
        // The consumer's session came along in the snapshot: its retry is answered, not applied again.
        let! retry = cluster.Propose(Dequeue("c", 1L))
        retry.Result |> should equal taken.Result
        let! next = cluster.Propose(Dequeue("c", 2L))
        (nonNull next.Result.Item).Payload |> should equal "item-2"
    }
