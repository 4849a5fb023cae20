/// No loss under chaos: three queue server processes with the chaos admin endpoints on; producers publish 10,000
/// messages in batches, each batch under its own idempotency key (a retry reuses it), while the queue group's leader
/// and then a follower are SIGKILLed and restarted, paused (POST /admin/pause, /admin/resume) and partitioned from the
/// other two (POST /admin/partition, /admin/heal); consumers receive and sometimes crash in the middle of a batch (the
/// message in hand and the rest are never acked: their visibility timeout brings them back). At the end every answered
/// publish was delivered and acked, the queue holds each message once, and what the consumers saw keeps the queue's
/// promises (QueueDeliveryCheck: none delivered after its ack, none twice while a receipt is valid); duplicates are
/// counted and printed.
module Raft.Host.Tests.QueueNoLossTests

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Net.Http
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.QueueClusterKit
open Raft.Host.Tests.QueueDeliveryCheck

/// How many messages (RAFT_QUEUE_NOLOSS_MESSAGES overrides).
let private messageCount =
    match Environment.GetEnvironmentVariable "RAFT_QUEUE_NOLOSS_MESSAGES" with
    | null | "" -> 10_000
    | n -> int n

let private batchSize = 25
let private batches = (messageCount + batchSize - 1) / batchSize
/// Long enough that a consumer on a loaded machine usually acks in time, short enough that abandoned messages come
/// back well within the test.
let private visibilityMs = 3000L
let private token = "queue-noloss-chaos-token-0123456789"
let private bearer = [ "Authorization", $"Bearer {token}" ]
/// Every wait of this test: generous, as the machine running it may be loaded.
let private patience = TimeSpan.FromSeconds 90.0

type private Fault =
    | Kill
    | Pause
    | Partition

/// The chaos, one fault at a time (so a majority is always there): each kind on the queue group's leader and on a
/// follower. Each round releases its share of the batches once its fault is in place, so publishing (and consuming)
/// happens during every fault.
let private rounds = [ Kill, true; Pause, false; Partition, true; Kill, false; Pause, true; Partition, false ]

/// Runs `attempt` until it gives Some, waiting a moment after each None (a node that refuses at once is not
/// hammered by a hundred retrying clients); fails after `patience`.
let private retrying (what: string) (attempt: unit -> Task<'T option>) =
    Wait.untilSome what patience (fun () ->
        task {
            let! r = attempt ()
            if r.IsNone then do! Task.Delay 100
            return r
        })

let private nowMs () = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()

/// The deliveries of a receive's answer, stamped with the client's clock around the request.
let private deliveriesOf (answer: Answer) (sent: int64) (answered: int64) =
    use doc = JsonDocument.Parse answer.Body
    [ for m in doc.RootElement.GetProperty("messages").EnumerateArray() ->
        m.GetProperty("receipt").GetString() |> nonNull,
        { Id = m.GetProperty("id").GetInt64(); Body = m.GetProperty("body").GetString() |> nonNull; Delivery = m.GetProperty("delivery").GetInt32()
          Deadline = m.GetProperty("deadline").GetInt64(); Sent = sent; Answered = answered } ]

type QueueNoLossTests(output: ITestOutputHelper) =
    [<Fact>]
    member _.``every answered publish is delivered and acked despite nodes killed, paused and partitioned and consumers crashing mid-batch; none delivered after its ack or twice within a receipt's validity``() =
        task {
            use c = new QueueCluster(3, [ "--Queue:Chaos:Enabled=true"; $"--Queue:Chaos:Token={token}" ])
            do! c.StartAll()
            let settings = $"""{{"visibilityTimeoutMs":{visibilityMs},"idempotencyWindow":100000,"maxLength":1000000}}"""
            let! _ = c.UntilAnswered(1, HttpMethod.Put, "/queues/work", settings, json)
            let! group = c.GroupOf(1, "work")
            let clock = Stopwatch.StartNew()
            let rotation = ref 0
            // Requests go round the three nodes, faulty ones included: a client does not know which node is paused or
            // cut off. As a client with a circuit breaker does, it passes over for 2 s a node that just failed it (a
            // paused node holds each request for the request timeout, 5 s), unless every node did.
            let suspectUntil = [| 0L; 0L; 0L |]
            let next () =
                let now = nowMs ()
                let first = Interlocked.Increment rotation
                [ 0 .. 2 ] |> List.map (fun k -> ((first + k) % 3) + 1)
                |> List.tryFind (fun i -> Volatile.Read &suspectUntil[i - 1] <= now)
                |> Option.defaultValue ((first % 3) + 1)
            let tryOn (node: int) (work: int -> Task<Answer>) =
                task {
                    let! a =
                        task {
                            try
                                let! a = work node
                                return Some a
                            with _ -> return None
                        }
                    match a with
                    | Some a when a.Status < 500 -> ()
                    | _ -> Volatile.Write(&suspectUntil[node - 1], nowMs () + 2000L)
                    return a
                }
            let tryOnce (work: int -> Task<Answer>) = tryOn (next ()) work

            // ---- producers: batch b holds messages m-((b-1)*25+1) .. m-(b*25), published under key batch-b until answered
            let released = ref 0
            let taken = ref 0
            let answeredBatches = ref 0
            let idOf = ConcurrentDictionary<string, int64>()
            let publishRetries = ref 0
            let repeated = ref 0
            let publish (b: int) =
                task {
                    let bodies = [| for k in (b - 1) * batchSize + 1 .. min messageCount (b * batchSize) -> $"m-{k}" |]
                    let payload = JsonSerializer.Serialize bodies
                    let! answer =
                        retrying $"an answer to the publish of batch {b}" (fun () ->
                            task {
                                let! a = tryOnce (fun node -> c.Send(node, post, "/queues/work/messages", payload, [ "Idempotency-Key", $"batch-{b}" ], json))
                                match a with
                                | Some a when a.Status = 201 -> return Some a
                                | _ ->
                                    Interlocked.Increment publishRetries |> ignore
                                    return None
                            })
                    use doc = JsonDocument.Parse answer.Body
                    if doc.RootElement.GetProperty("repeated").GetBoolean() then Interlocked.Increment repeated |> ignore
                    let ids = [| for i in doc.RootElement.GetProperty("ids").EnumerateArray() -> i.GetInt64() |]
                    ids.Length |> should equal bodies.Length
                    Array.iter2 (fun body id -> idOf[body] <- id) bodies ids
                    Interlocked.Increment answeredBatches |> ignore
                }
            let producer () =
                task {
                    let mutable b = Interlocked.Increment taken
                    while b <= batches do
                        do! Wait.until $"batch {b} released by the chaos" (TimeSpan.FromSeconds 300.0) (fun () -> Volatile.Read &released.contents >= b)
                        do! publish b
                        b <- Interlocked.Increment taken
                }

            // ---- consumers: receive up to 25, ack them all at once; one receive in eight the consumer crashes at a
            // random message of the batch: that message and the ones after it are never acked.
            let seen = ConcurrentBag<Seen>()
            let ackAnswers = ConcurrentBag<AckAnswer>()
            let gone = ConcurrentDictionary<int64, bool>()
            let abandoned = ref 0
            let crashes = ref 0
            let ackRetries = ref 0
            let consuming = new CancellationTokenSource()
            let ack (receipt: string) (s: Seen) =
                task {
                    let! status =
                        retrying $"a definite answer to the ack of {receipt}" (fun () ->
                            task {
                                let! a = tryOnce (fun node -> c.Send(node, HttpMethod.Delete, $"/queues/work/messages/{receipt}"))
                                match a with
                                | Some a when a.Status = 204 || a.Status = 409 || a.Status = 410 -> return Some a.Status
                                | _ ->
                                    Interlocked.Increment ackRetries |> ignore
                                    return None
                            })
                    ackAnswers.Add { Id = s.Id; Delivery = s.Delivery; Status = status; Answered = nowMs () }
                    // 410: gone, and with no max deliveries only an ack removes a message (this one's lost answer, or another's).
                    if status <> 409 then gone[s.Id] <- true
                }
            let consumer (k: int) =
                task {
                    let rnd = Random k
                    while not consuming.IsCancellationRequested do
                        let sent = nowMs ()
                        let! got = tryOnce (fun node -> c.Send(node, post, "/queues/work/receive?max=25&wait=1s"))
                        match got with
                        | Some a when a.Status = 200 ->
                            let delivered = deliveriesOf a sent (nowMs ())
                            for _, s in delivered do seen.Add s
                            let crashAt = if not delivered.IsEmpty && rnd.Next 8 = 0 then rnd.Next delivered.Length else delivered.Length
                            if crashAt < delivered.Length then
                                Interlocked.Increment crashes |> ignore
                                Interlocked.Add(abandoned, delivered.Length - crashAt) |> ignore
                            do! delivered |> List.take crashAt |> List.map (fun (receipt, s) -> ack receipt s :> Task) |> Task.WhenAll
                        | _ -> do! Task.Delay 50 // refused or unanswered (a node down, paused or cut off): try another
                }

            // ---- the chaos
            let faults = Collections.Generic.List<string>()
            let admin (node: int) (path: string) =
                retrying $"POST {path} answered 200 by node {node}" (fun () ->
                    task {
                        let! a = tryOn node (fun node -> c.Send(node, post, path, headers = bearer))
                        return a |> Option.filter (fun a -> a.Status = 200)
                    })
            let othersAgreeOnAnotherLeader (victim: int) () =
                task {
                    let others = [ 1; 2; 3 ] |> List.filter ((<>) victim)
                    let! leaders = others |> List.map (fun i -> c.LeaderOf(i, group)) |> Task.WhenAll
                    return if leaders |> Array.forall (fun l -> l > 0L && l <> int64 victim) then Some() else None
                }
            let chaos =
                task {
                    for r, (fault, onLeader) in List.indexed rounds do
                        let! leader = c.WaitLeaderOf((r % 3) + 1, group)
                        let victim = if onLeader then leader else (leader % 3) + 1
                        match fault with
                        | Kill -> c.Kill victim
                        | Pause ->
                            let! _ = admin victim "/admin/pause"
                            ()
                        | Partition ->
                            let peers = String.Join(",", [ 1; 2; 3 ] |> List.filter ((<>) victim))
                            let! _ = admin victim $"/admin/partition?peers={peers}"
                            ()
                        let role = if victim = leader then "leader" else "follower"
                        faults.Add $"{clock.Elapsed.TotalSeconds:F1}s {fault} node {victim} ({role})"
                        Volatile.Write(&released.contents, batches * (r + 1) / rounds.Length)
                        do! Wait.until $"round {r + 1}'s batches answered ({answeredBatches.Value} of {released.Value})" patience (fun () ->
                            Volatile.Read &answeredBatches.contents >= Volatile.Read &released.contents)
                        if victim = leader then
                            do! Wait.untilSome $"nodes other than {victim} agree on another leader of group {group}" patience (othersAgreeOnAnotherLeader victim)
                        match fault with
                        | Kill -> do! c.Start victim
                        | Pause ->
                            let! _ = admin victim "/admin/resume"
                            ()
                        | Partition ->
                            let! _ = admin victim "/admin/heal"
                            ()
                        let! _ = c.WaitLeaderOf(victim, group)
                        ()
                }

            let consumers = [| for k in 1 .. 4 -> consumer k :> Task |]
            let producers = [| for _ in 1 .. 4 -> producer () :> Task |]
            do! chaos
            do! Task.WhenAll producers
            let published = clock.Elapsed
            do! Wait.until $"every answered publish acked ({gone.Count} of {idOf.Count})" patience (fun () ->
                match consumers |> Array.tryFind (fun t -> t.IsFaulted) with
                | Some failed -> raise (nonNull failed.Exception)
                | None -> idOf.Values |> Seq.forall gone.ContainsKey)
            consuming.Cancel()
            do! Task.WhenAll consumers
            // Every copy of the queue agrees it held each message once and has none left.
            for i in 1 .. 3 do
                do! retrying $"node {i}'s copy: every message acked, none waiting or in flight" (fun () ->
                    task {
                        let! a = tryOn i (fun i -> c.Send(i, HttpMethod.Get, "/queues"))
                        match a with
                        | Some a when a.Status = 200 ->
                            use doc = JsonDocument.Parse a.Body
                            let q = doc.RootElement.EnumerateArray() |> Seq.find (fun q -> q.GetProperty("name").GetString() = "work")
                            let counts = q.GetProperty("acked").GetInt64(), q.GetProperty("depth").GetInt32(), q.GetProperty("inFlight").GetInt32()
                            return if counts = (int64 messageCount, 0, 0) then Some() else None
                        | _ -> return None
                    })

            let all = seen.ToArray()
            let acks = ackAnswers.ToArray()
            let broken = violations visibilityMs all acks
            let perMessage = all |> Array.countBy (fun s -> s.Id)
            let misattributed = all |> Array.filter (fun s -> match idOf.TryGetValue s.Body with | true, id -> id <> s.Id | _ -> true)
            let duplicates = all.Length - perMessage.Length
            let status code = acks |> Array.filter (fun a -> a.Status = code) |> Array.length
            let faultList = String.Join(", ", faults)
            output.WriteLine(
                $"{idOf.Count} messages in {batches} batches published in {published.TotalSeconds:F1}s ({publishRetries.Value} publish attempts "
                + $"failed and were retried, {repeated.Value} answered as repeats of an earlier attempt); all acked at {clock.Elapsed.TotalSeconds:F1}s")
            output.WriteLine(
                $"{all.Length} deliveries seen of {perMessage.Length} messages: {duplicates} duplicates ({abandoned.Value} messages abandoned in "
                + $"{crashes.Value} consumer crashes; acks: {status 204} 204, {status 409} 409 expired, {status 410} 410 gone, {ackRetries.Value} "
                + $"attempts retried); {unseenDeliveries all} deliveries no consumer saw (receive answers lost)")
            output.WriteLine $"faults: {faultList}"
            for v in broken |> List.truncate 20 do output.WriteLine $"VIOLATION message {v.Id}: {v.What}"
            faults.Count |> should equal rounds.Length
            idOf.Count |> should equal messageCount
            misattributed |> Array.truncate 5 |> should be Empty
            idOf.Values |> Seq.filter (gone.ContainsKey >> not) |> Seq.truncate 5 |> List.ofSeq |> should be Empty
            broken |> List.truncate 5 |> should be Empty
        }
