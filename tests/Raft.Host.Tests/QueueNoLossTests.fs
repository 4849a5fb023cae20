/// No loss across crashes: three queue server processes; producers publish a few thousand messages with idempotency
/// keys, retrying on any error, while nodes are SIGKILLed (the queue group's leader first) and restarted; consumers
/// receive and sometimes stop mid-message (never ack: the message must come again). At the end every answered publish
/// was delivered and acked, none was delivered after its ack was answered, and the duplicates are counted and printed.
module Raft.Host.Tests.QueueNoLossTests

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Net.Http
open System.Threading
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.QueueClusterKit

/// How many messages (RAFT_QUEUE_NOLOSS_MESSAGES overrides).
let private messageCount =
    match Environment.GetEnvironmentVariable "RAFT_QUEUE_NOLOSS_MESSAGES" with
    | null | "" -> 2000
    | n -> int n

type QueueNoLossTests(output: ITestOutputHelper) =
    [<Fact>]
    member _.``every answered publish is delivered and acked despite SIGKILLed nodes and consumers that stop mid-message; none is delivered after its ack``() =
        task {
            use c = new QueueCluster(3)
            do! c.StartAll()
            let! _ = c.UntilAnswered(1, HttpMethod.Put, "/queues/work", """{"visibilityTimeoutMs":2000,"idempotencyWindow":100000,"maxLength":1000000}""", "application/json")
            let! group = c.GroupOf(1, "work")
            let clock = Stopwatch.StartNew()
            let up = [| true; true; true |]
            let pick (k: int) = [ 1 .. 3 ] |> List.filter (fun i -> Volatile.Read &up[i - 1]) |> fun live -> if live.IsEmpty then 1 else live[k % live.Length]
            let answered = ConcurrentDictionary<string, bool>()
            let publishErrors = ref 0
            let mutable next = 0
            let publishing = CancellationTokenSource()
            let producer (p: int) =
                task {
                    let mutable n = Interlocked.Increment &next
                    let mutable attempt = p
                    while n <= messageCount do
                        let body = $"m-{n}"
                        attempt <- attempt + 1
                        let! ok =
                            task {
                                try
                                    let! a = c.Send(pick attempt, HttpMethod.Post, "/queues/work/messages", body, [ "Idempotency-Key", body ])
                                    return a.Status = 201
                                with _ -> return false
                            }
                        if ok then
                            answered[body] <- true
                            n <- Interlocked.Increment &next
                        else Interlocked.Increment publishErrors |> ignore
                }
            // (body, receive started at, delivery) of every delivery; the time each ack was answered.
            let deliveries = ConcurrentBag<string * TimeSpan * int>()
            let ackedAt = ConcurrentDictionary<string, TimeSpan>()
            let abandoned = ref 0
            let ackConflicts = ref 0
            let consuming = new CancellationTokenSource()
            let consumer (k: int) =
                task {
                    let rnd = Random(k)
                    let mutable attempt = k
                    while not consuming.IsCancellationRequested do
                        attempt <- attempt + 1
                        let node = pick attempt
                        let started = clock.Elapsed
                        let! got = task { try return Some(c.Send(node, HttpMethod.Post, "/queues/work/receive?max=20&wait=1s").Result) with _ -> return None }
                        match got with
                        | Some a when a.Status = 200 ->
                            for (_, receipt, delivery, body) in messagesOf a do
                                deliveries.Add((body, started, delivery))
                                // One in ten: the consumer "crashes" holding the message; it must be delivered again.
                                if rnd.Next 10 = 0 then Interlocked.Increment abandoned |> ignore
                                else
                                    let mutable definite = false
                                    let mutable tries = 0
                                    while not definite && tries < 20 do
                                        tries <- tries + 1
                                        let! ack = task { try return Some(c.Send(pick (attempt + tries), HttpMethod.Delete, $"/queues/work/messages/{receipt}").Result) with _ -> return None }
                                        match ack with
                                        | Some r when r.Status = 204 ->
                                            ackedAt.TryAdd(body, clock.Elapsed) |> ignore
                                            definite <- true
                                        | Some r when r.Status = 409 || r.Status = 410 ->
                                            Interlocked.Increment ackConflicts |> ignore
                                            definite <- true
                                        | _ -> do! Task.Delay 100
                        | _ -> do! Task.Delay 100
                }
            // The chaos: while publishing, SIGKILL the queue group's leader, restart it, then another node, and so on.
            let kills = Collections.Generic.List<string>()
            let chaos =
                task {
                    let mutable round = 0
                    while not publishing.IsCancellationRequested do
                        do! Task.Delay(TimeSpan.FromSeconds 3.0)
                        if not publishing.IsCancellationRequested then
                            round <- round + 1
                            let! leader = c.WaitLeaderOf((if round % 2 = 0 then 2 else 1), group)
                            let victim = if round % 2 = 1 then leader else (leader % 3) + 1
                            Volatile.Write(&up[victim - 1], false)
                            c.Kill victim
                            let role = if victim = leader then " (leader)" else ""
                            kills.Add $"{clock.Elapsed.TotalSeconds:F1}s node {victim}{role}"
                            do! Task.Delay(TimeSpan.FromSeconds 1.5)
                            do! c.Start victim
                            Volatile.Write(&up[victim - 1], true)
                }
            let consumers = [| for k in 1 .. 3 -> consumer k :> Task |]
            do! Task.WhenAll [| for p in 1 .. 4 -> producer p :> Task |]
            publishing.Cancel()
            do! chaos
            let published = clock.Elapsed
            do! Wait.until $"every answered publish acked ({ackedAt.Count} of {answered.Count})" (TimeSpan.FromSeconds 180.0) (fun () ->
                answered.Keys |> Seq.forall ackedAt.ContainsKey)
            consuming.Cancel()
            do! Task.WhenAll consumers
            let all = deliveries.ToArray()
            let perBody = all |> Array.countBy (fun (b, _, _) -> b)
            let afterAck =
                all |> Array.filter (fun (b, started, _) -> match ackedAt.TryGetValue b with | true, at -> started > at | _ -> false)
            let unexpected = perBody |> Array.filter (fun (b, _) -> not (answered.ContainsKey b))
            let duplicates = all.Length - perBody.Length
            let killed = String.Join(", ", kills)
            output.WriteLine(
                $"{answered.Count} published in {published.TotalSeconds:F1}s ({publishErrors.Value} publish attempts failed and were retried); "
                + $"{all.Length} deliveries of {perBody.Length} messages: {duplicates} duplicates ({abandoned.Value} abandoned by consumers, "
                + $"{ackConflicts.Value} acks refused as expired or gone); kills: {killed}")
            kills.Count |> should be (greaterThanOrEqualTo 1)
            kills |> Seq.exists (fun k -> k.EndsWith "(leader)") |> should equal true
            answered.Count |> should equal messageCount
            unexpected |> should be Empty
            afterAck |> Array.truncate 5 |> should be Empty
        }
