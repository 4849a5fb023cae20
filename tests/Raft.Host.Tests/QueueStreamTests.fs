/// The queue server's streaming consume (GET /queues/{name}/stream, server-sent events) on three real processes,
/// opened on a node that does not lead the queue's group: credit bounds the unacked deliveries, acks on any node return
/// credit, every message arrives once when acked, and a stream closed unacked leaves its messages to their visibility.
module Raft.Host.Tests.QueueStreamTests

open System
open System.IO
open System.Net.Http
open System.Text
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.QueueClusterKit


/// One server-sent event: its type and its data (one JSON line here).
type private Event = { Type: string; Data: JsonElement }

/// A delivery as the stream sends it.
type private Delivery = { Id: int64; Receipt: string; Delivery: int; Deadline: int64; Body: string; At: DateTimeOffset }

/// A stream read line by line, each event within a deadline; disposing it closes the connection at once (the server
/// sees the client go).
type private Stream(response: HttpResponseMessage, reader: StreamReader, client: HttpClient) =
    static member Open(url: string) =
        task {
            // No draining of an unread response on dispose: the connection closes at once, as a browser's EventSource.close() does.
            let client = new HttpClient(new SocketsHttpHandler(MaxResponseDrainSize = 0), Timeout = Timeout.InfiniteTimeSpan)
            let! response = client.GetAsync(url, HttpCompletionOption.ResponseHeadersRead)
            if int response.StatusCode <> 200 then
                let! body = response.Content.ReadAsStringAsync()
                failwithf "the stream %s answered %d: %s" url (int response.StatusCode) body
            (nonNull response.Content.Headers.ContentType).MediaType |> should equal "text/event-stream"
            let! body = response.Content.ReadAsStreamAsync()
            return new Stream(response, new StreamReader(body, Encoding.UTF8), client)
        }

    /// The next event (comments and the retry line skipped); fails after `within`.
    member _.Next(within: TimeSpan) =
        task {
            use deadline = new CancellationTokenSource(within)
            let data = StringBuilder()
            let mutable kind = "message"
            let mutable event = None
            while event.IsNone do
                let! line =
                    try reader.ReadLineAsync(deadline.Token).AsTask()
                    with :? OperationCanceledException -> failwithf "no event within %O" within
                match line with
                | null -> failwith "the stream ended"
                | "" when data.Length > 0 -> event <- Some { Type = kind; Data = JsonDocument.Parse(string data).RootElement.Clone() }
                | "" -> kind <- "message"
                | l when l.StartsWith "event: " -> kind <- l.Substring 7
                | l when l.StartsWith "data: " -> data.Append(l.Substring 6) |> ignore
                | _ -> () // ": keep-alive", "retry: ..."
            return event.Value
        }

    /// The next event, which must be a delivery.
    member this.NextDelivery(within: TimeSpan) =
        task {
            let! e = this.Next within
            if e.Type <> "message" then failwithf "expected a message, got %s: %O" e.Type e.Data
            let d = e.Data
            return { Id = d.GetProperty("id").GetInt64(); Receipt = d.GetProperty("receipt").GetString() |> nonNull
                     Delivery = d.GetProperty("delivery").GetInt32(); Deadline = d.GetProperty("deadline").GetInt64()
                     Body = d.GetProperty("body").GetString() |> nonNull; At = DateTimeOffset.UtcNow }
        }

    interface IDisposable with
        member _.Dispose() =
            reader.Dispose()
            response.Dispose()
            client.Dispose()

/// A node other than the leader of the queue's group.
let private follower (c: QueueCluster) (name: string) =
    task {
        let! group = c.GroupOf(1, name)
        let! leader = c.WaitLeaderOf(1, group)
        return leader, [ 1 .. c.Size ] |> List.find ((<>) leader)
    }

/// Queue `name`'s depth and in-flight count as node i lists them.
let private counts (c: QueueCluster) (i: int) (name: string) =
    task {
        let! a = c.UntilAnswered(i, HttpMethod.Get, "/queues")
        use doc = JsonDocument.Parse a.Body
        let q = doc.RootElement.EnumerateArray() |> Seq.find (fun q -> q.GetProperty("name").GetString() = name)
        return q.GetProperty("depth").GetInt32(), q.GetProperty("inFlight").GetInt32()
    }

[<Fact>]
let ``a stream with credit 5 on a follower: never more than 5 unacked, each ack (on any node) grants one more, all 60 received once`` () =
    task {
        let total, credit = 60, 5
        use c = new QueueCluster(3)
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/flow")
        created.Status |> should equal 200
        let bodies = [ for i in 1 .. total -> $"m{i}" ]
        let! published = c.UntilAnswered(1, post, "/queues/flow/messages", JsonSerializer.Serialize bodies, json)
        published.Status |> should equal 201
        let! leader, node = follower c "flow"
        use! stream = Stream.Open(c.Url node + $"/queues/flow/stream?credit={credit}&visibility=60s")
        let! hello = stream.Next Wait.standard
        (hello.Type, hello.Data.GetProperty("credit").GetInt32(), hello.Data.GetProperty("node").GetInt64()) |> should equal ("stream", credit, int64 node)
        let received = Collections.Generic.List<Delivery>()
        let outstanding = Collections.Generic.Queue<Delivery>()
        let mutable maxOutstanding = 0
        let mutable acks = 0
        while received.Count < total do
            // Read until the credit is used up (or every message came), never seeing more than the credit unacked.
            while outstanding.Count < credit && received.Count < total do
                let! d = stream.NextDelivery Wait.standard
                received.Add d
                outstanding.Enqueue d
                maxOutstanding <- max maxOutstanding outstanding.Count
                if outstanding.Count > credit then failwithf "%d deliveries outstanding on a stream with credit %d" outstanding.Count credit
            // The leader's copy counts every delivery the stream made: none beyond the ones it sent and the credit.
            let! _, inFlight = counts c leader "flow"
            if inFlight > credit then failwithf "the leader has %d in flight for a stream with credit %d" inFlight credit
            // Ack some (1 to 3), through a rotating node, not only the stream's: each returns its credit.
            for _ in 1 .. min outstanding.Count (1 + acks % 3) do
                let d = outstanding.Dequeue()
                let! a = c.Send(1 + acks % c.Size, HttpMethod.Delete, $"/queues/flow/messages/{d.Receipt}")
                if a.Status <> 204 then failwithf "ack of %s answered %d: %s" d.Receipt a.Status a.Body
                acks <- acks + 1
        for d in outstanding do
            let! a = c.Send(node, HttpMethod.Delete, $"/queues/flow/messages/{d.Receipt}")
            a.Status |> should equal 204
        maxOutstanding |> should equal credit
        received |> Seq.map (fun d -> d.Body) |> List.ofSeq |> should equal bodies
        received |> Seq.map (fun d -> d.Id) |> Seq.distinct |> Seq.length |> should equal total
        received |> Seq.forall (fun d -> d.Delivery = 1) |> should equal true
        let! depth, inFlight = counts c leader "flow"
        (depth, inFlight) |> should equal (0, 0)
    }

[<Fact>]
let ``a stream closed unacked leaves its deliveries to their visibility: a new stream gets them again after it, as delivery 2`` () =
    task {
        use c = new QueueCluster(3)
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/left")
        created.Status |> should equal 200
        let! published = c.UntilAnswered(2, post, "/queues/left/messages", """["a","b","c"]""", json)
        published.Status |> should equal 201
        let! _, node = follower c "left"
        let! first =
            task {
                use! stream = Stream.Open(c.Url node + "/queues/left/stream?credit=3&visibility=3s")
                let! hello = stream.Next Wait.standard
                hello.Type |> should equal "stream"
                let got = Collections.Generic.List<Delivery>()
                for _ in 1 .. 3 do
                    let! d = stream.NextDelivery Wait.standard
                    got.Add d
                return List.ofSeq got
            } // closed here, nothing acked
        first |> List.map (fun d -> d.Body, d.Delivery) |> should equal [ "a", 1; "b", 1; "c", 1 ]
        use! again = Stream.Open(c.Url node + "/queues/left/stream?credit=10")
        let! _ = again.Next Wait.standard
        let second = Collections.Generic.List<Delivery>()
        for _ in 1 .. 3 do
            let! d = again.NextDelivery Wait.standard
            second.Add d
        second |> Seq.map (fun d -> d.Body, d.Delivery) |> List.ofSeq |> should equal [ "a", 2; "b", 2; "c", 2 ]
        // Not before the first deliveries' visibility ended (the deadline is the proposer's clock, this machine's).
        let deadline = first |> List.map (fun d -> d.Deadline) |> List.min
        for d in second do d.At.ToUnixTimeMilliseconds() |> should be (greaterThanOrEqualTo deadline)
        // The first deliveries' receipts are over; the second ones ack.
        let! stale = c.Send(1, HttpMethod.Delete, $"/queues/left/messages/{first.Head.Receipt}")
        stale.Status |> should equal 409
        for d in second do
            let! a = c.Send(3, HttpMethod.Delete, $"/queues/left/messages/{d.Receipt}")
            a.Status |> should equal 204
    }

[<Fact>]
let ``a stream's bad parameters answer 400 problem+json naming the parameter; an unknown queue 404`` () =
    task {
        use c = new QueueCluster(3)
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/params")
        created.Status |> should equal 200
        for query, named in [ "credit=0", "bad credit"; "credit=many", "bad credit"; "credit=1000000", "bad credit"
                              "visibility=soon", "bad visibility"; "visibility=0", "bad visibility"; "credit=2&visibility=99999m", "bad visibility" ] do
            let! a = c.Send(2, HttpMethod.Get, $"/queues/params/stream?{query}")
            (query, a.Status, a.Body.Contains $"\"title\":\"{named}\"") |> should equal (query, 400, true)
        let! badName = c.Send(2, HttpMethod.Get, "/queues/no%20spaces/stream")
        badName.Status |> should equal 400
        let! unknown = c.UntilAnswered(3, HttpMethod.Get, "/queues/nothing-here/stream?credit=2")
        (unknown.Status, unknown.Body.Contains "does not exist") |> should equal (404, true)
    }

/// Whether node i holds a copy of group `group` (its /raft/status lists it).
let private holds (c: QueueCluster) (i: int) (group: int64) =
    task {
        let! a = c.Send(i, HttpMethod.Get, "/raft/status")
        use doc = JsonDocument.Parse a.Body
        return doc.RootElement.GetProperty("groups").EnumerateArray() |> Seq.exists (fun g -> g.GetProperty("groupId").GetInt64() = group)
    }

[<Fact>]
let ``a stream opened on a node holding no copy of the queue (replication factor 2) is forwarded to a member, flows with its credit, and outlives the request timeout`` () =
    task {
        use c = new QueueCluster(3, [ "--Queue:ReplicationFactor=2" ])
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/elsewhere")
        created.Status |> should equal 200
        let! group = c.GroupOf(1, "elsewhere")
        let! outside =
            Wait.untilSome "the node holding no copy of the queue's group" Wait.standard (fun () ->
                task {
                    let! copies = Task.WhenAll [ for i in 1 .. 3 -> holds c i group ]
                    return if (copies |> Array.filter id).Length = 2 then Some(1 + Array.findIndex not copies) else None
                })
        let! published = c.UntilAnswered(outside, post, "/queues/elsewhere/messages", """["x","y","z"]""", json)
        published.Status |> should equal 201
        use! stream = Stream.Open(c.Url outside + "/queues/elsewhere/stream?credit=2&visibility=6s")
        let! hello = stream.Next Wait.standard
        hello.Data.GetProperty("node").GetInt64() |> should not' (equal (int64 outside)) // a member serves it
        let! x = stream.NextDelivery Wait.standard
        let! y = stream.NextDelivery Wait.standard
        let! ack = c.Send(outside, HttpMethod.Delete, $"/queues/elsewhere/messages/{x.Receipt}")
        ack.Status |> should equal 204
        let! z = stream.NextDelivery Wait.standard
        [ x.Body; y.Body; z.Body ] |> should equal [ "x"; "y"; "z" ]
        // y left unacked: its visibility (6 s, past the 5 s request timeout that bounds a forward's start) ends, which
        // returns its credit, and the same forwarded stream delivers it again.
        let! again = stream.NextDelivery(TimeSpan.FromSeconds 30.0)
        (again.Body, again.Delivery) |> should equal ("y", 2)
    }
