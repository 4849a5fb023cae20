/// The queue server's HTTP API on three real processes: create, publish (one, a batch, idempotent), receive with
/// receipts, ack, nack, visibility expiry, max deliveries into the dead-letter queue, a full queue, long-poll timing,
/// snapshots per queue group, and every bad input answered with a problem naming it.
module Raft.Host.Tests.QueueServerTests

open System
open System.Diagnostics
open System.Net.Http
open System.Text.Json
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.QueueClusterKit


[<Fact>]
let ``three queue server processes: publish, receive, ack, nack, visibility expiry, the dead-letter queue, a full queue and every bad input`` () =
    task {
        use c = new QueueCluster(3, [ "--Queue:Raft:SnapshotEntries=20"; "--Queue:Raft:CompactionTrailing=0" ])
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/jobs", """{"maxLength":6,"visibilityTimeoutMs":1500,"maxDeliveries":2,"deadLetterQueue":"jobs-dead"}""", json)
        created.Status |> should equal 200
        let! dlq = c.UntilAnswered(2, HttpMethod.Put, "/queues/jobs-dead")
        dlq.Status |> should equal 200
        let! again = c.UntilAnswered(3, HttpMethod.Put, "/queues/jobs", """{"maxLength":7}""", json)
        (again.Status, again.Body.Contains "other settings") |> should equal (409, true)
        // Publish through any node: one message, a retried one (same key: once), a batch.
        let! one = c.Send(2, post, "/queues/jobs/messages", "first", [ "Idempotency-Key", "k-1" ])
        (one.Status, one.Body) |> should equal (201, """{"ids":[1],"repeated":false}""")
        let! retried = c.Send(3, post, "/queues/jobs/messages", "first", [ "Idempotency-Key", "k-1" ])
        (retried.Status, retried.Body) |> should equal (201, """{"ids":[1],"repeated":true}""")
        let! batch = c.Send(1, post, "/queues/jobs/messages", """["second", "third", {"n": 4}]""", contentType = json)
        (batch.Status, batch.Body.Contains "[2,3,4]") |> should equal (201, true)
        // Receive two, ack one (twice: the second finds it gone), nack the other: it comes back first, delivery 2.
        let! got = c.Send(3, post, "/queues/jobs/receive?max=2&visibility=30s")
        let received = messagesOf got
        received |> List.map (fun (id, _, d, body) -> id, d, body) |> should equal [ 1L, 1, "first"; 2L, 1, "second" ]
        let (_, r1, _, _), (_, r2, _, _) = received[0], received[1]
        let! ack = c.Send(1, HttpMethod.Delete, $"/queues/jobs/messages/{r1}")
        ack.Status |> should equal 204
        let! ackAgain = c.Send(2, HttpMethod.Delete, $"/queues/jobs/messages/{r1}")
        (ackAgain.Status, ackAgain.Body.Contains "no longer in queue") |> should equal (410, true)
        let! nack = c.Send(2, post, $"/queues/jobs/messages/{r2}/nack")
        nack.Status |> should equal 204
        let! staleNack = c.Send(1, post, $"/queues/jobs/messages/{r2}/nack")
        (staleNack.Status, staleNack.Body.Contains "is over") |> should equal (409, true)
        let! back = c.Send(1, post, "/queues/jobs/receive?max=1&visibility=300ms")
        messagesOf back |> List.map (fun (id, _, d, _) -> id, d) |> should equal [ 2L, 2 ]
        // Its second delivery expires unacked: it was delivered max (2) times, so it moves to the dead-letter queue.
        let! dead = c.Send(2, post, "/queues/jobs-dead/receive?wait=20s")
        messagesOf dead |> List.map (fun (_, _, _, body) -> body) |> should equal [ "second" ]
        // Visibility expiry: received and not acked, a message is delivered again after its timeout (1.5 s by default here).
        let! third = c.Send(3, post, "/queues/jobs/receive?max=2")
        let _, r3, _, body3 = (messagesOf third).Head
        body3 |> should equal "third"
        let watch = Stopwatch.StartNew()
        let! redelivered = c.Send(1, post, "/queues/jobs/receive?wait=20s")
        messagesOf redelivered |> List.map (fun (id, _, d, _) -> id, d) |> should equal [ 3L, 2 ]
        let! fourth = c.Send(1, post, "/queues/jobs/receive?wait=5s")
        messagesOf fourth |> List.map (fun (id, _, d, _) -> id, d) |> should equal [ 4L, 2 ]
        watch.Elapsed.TotalSeconds |> should be (greaterThan 0.5)
        let! expired = c.Send(2, HttpMethod.Delete, $"/queues/jobs/messages/{r3}")
        expired.Status |> should equal 409
        // A full queue refuses naming its limit (2 in flight of 6: a batch of 5 does not fit).
        let! full = c.Send(1, post, "/queues/jobs/messages", """["a","b","c","d","e"]""", contentType = json)
        (full.Status, full.Body.Contains "maxLength is 6") |> should equal (429, true)
        // A long poll of an empty queue answers an empty list once its wait is over, not later.
        let! _ = c.UntilAnswered(1, HttpMethod.Put, "/queues/empty")
        let watch = Stopwatch.StartNew()
        let! nothing = c.Send(3, post, "/queues/empty/receive?wait=1500ms")
        (nothing.Status, nothing.Body) |> should equal (200, """{"messages":[]}""")
        watch.Elapsed.TotalSeconds |> should be (greaterThanOrEqualTo 1.4)
        watch.Elapsed.TotalSeconds |> should be (lessThan 10.0)
        // Bad input: each a problem document naming what is wrong.
        for verb, path, body, named in
            [ HttpMethod.Put, "/queues/bad%20name", "", "queue name"
              HttpMethod.Put, "/queues/x", """{"maxLenght":3}""", "maxLenght"
              HttpMethod.Put, "/queues/x", """{"maxLength":0}""", "maxLength must be"
              HttpMethod.Put, "/queues/x", """{"deadLetterQueue":"x"}""", "deadLetterQueue"
              post, "/queues/jobs/receive?max=0", "", "max must be"
              post, "/queues/jobs/receive?wait=forever", "", "wait must be"
              post, "/queues/jobs/receive?visibility=50000s", "", "visibility may be"
              HttpMethod.Delete, "/queues/jobs/messages/nonsense", "", "receipt"
              post, "/queues/jobs/messages", "[1,", "JSON batch" ] do
            let! a = c.Send(1, verb, path, body, contentType = json)
            (a.Status, a.Body.Contains named, a.Body.Contains "\"status\":400") |> should equal (400, true, true)
        let! unknown = c.Send(2, post, "/queues/nope/messages", "x")
        unknown.Status |> should equal 404
        let! unknownReceive = c.Send(2, post, "/queues/nope/receive")
        unknownReceive.Status |> should equal 404
        // GET /queues: depth and in flight; then a delete removes the queue everywhere.
        let! listed = c.UntilAnswered(2, HttpMethod.Get, "/queues")
        use doc = JsonDocument.Parse listed.Body
        let jobs = doc.RootElement.EnumerateArray() |> Seq.find (fun q -> q.GetProperty("name").GetString() = "jobs")
        // 3 and 4 are on their last delivery: in flight, or dead once it expired; none waits.
        (jobs.GetProperty("depth").GetInt32(), jobs.GetProperty("inFlight").GetInt32() <= 2) |> should equal (0, true)
        let! deleted = c.Send(3, HttpMethod.Delete, "/queues/empty")
        deleted.Status |> should equal 204
        let! gone = c.Send(1, post, "/queues/empty/messages", "x")
        gone.Status |> should equal 404
    }

[<Fact>]
let ``a queue group snapshots at its threshold, and a node killed with SIGKILL restarts from its snapshot with every message`` () =
    task {
        use c = new QueueCluster(3, [ "--Queue:Raft:SnapshotEntries=20"; "--Queue:Raft:CompactionTrailing=0" ])
        do! c.StartAll()
        let! _ = c.UntilAnswered(1, HttpMethod.Put, "/queues/snap", """{"visibilityTimeoutMs":600000}""", json)
        let! group = c.GroupOf(1, "snap")
        for n in 1 .. 60 do
            let! a = c.UntilAnswered(n % 3 + 1, post, "/queues/snap/messages", $"m{n}")
            a.Status |> should equal 201
        // Ten in flight (delivered, not acked) go into the snapshot too.
        let! inFlight = c.UntilAnswered(2, post, "/queues/snap/receive?max=10")
        messagesOf inFlight |> should haveLength 10
        let snapshotIndex i =
            task {
                let! a = c.Send(i, HttpMethod.Get, "/raft/status")
                use doc = JsonDocument.Parse a.Body
                return doc.RootElement.GetProperty("groups").EnumerateArray()
                       |> Seq.find (fun g -> g.GetProperty("groupId").GetInt64() = group)
                       |> fun g -> g.GetProperty("snapshotIndex").GetInt64(), g.GetProperty("firstIndex").GetInt64()
            }
        do! Wait.until "node 3 snapshots the queue's group and compacts its log" Wait.standard (fun () ->
            let s, first = (snapshotIndex 3).Result
            s >= 40L && first > 20L)
        c.Kill 3
        do! c.Start 3
        // Node 3's copy, restored from its snapshot and log: 50 waiting, 10 in flight.
        do! Wait.until "node 3 lists the queue as before" (TimeSpan.FromSeconds 60.0) (fun () ->
            let a = c.Send(3, HttpMethod.Get, "/queues").Result
            a.Body.Contains "\"depth\":50" && a.Body.Contains "\"inFlight\":10")
        let! rest = c.UntilAnswered(3, post, "/queues/snap/receive?max=100")
        messagesOf rest |> List.map (fun (_, _, _, body) -> body) |> should equal [ for n in 11 .. 60 -> $"m{n}" ]
    }
