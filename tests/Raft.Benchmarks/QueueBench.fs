/// `queue`: the queue server as deployed, three processes on 127.0.0.1 (examples/Raft.Queue.Server), loaded over HTTP
/// the way ../shared/peers/rabbitmq-bench loads a RabbitMQ quorum queue (1 KiB messages, 64 in flight), and RabbitMQ
/// itself through that harness in the same run, before our servers start. Modes, one after another, each on a queue
/// of its own (so a mode never receives another's messages), every request sent to the queue's leader:
/// sequential publish; publish with C in flight; publish in batches of C messages per request, one request in flight
/// (the same C messages in flight); end to end: C publishes in flight while consumers long-poll receive up to C
/// messages each and ack every one (one DELETE per receipt), measured from the first publish to the last delivery.
module Raft.Benchmarks.QueueBench

open System
open System.Collections.Concurrent
open System.Diagnostics
open System.Net.Http
open System.Text
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Raft.Benchmarks.HttpLoad

/// RabbitMQ through its harness: figures by mode (pub, pubseq, e2e).
let private runRabbit (n: int) (size: int) (conc: int) (args: string list) =
    if args |> List.contains "--no-rabbitmq" then
        eprintfn "--no-rabbitmq: no RabbitMQ figures in this run"
        Map.empty
    else
        match PeerHarness.find "rabbitmq-bench" "RABBITMQ_BENCH" with
        | None -> failwith "RabbitMQ harness not found (set RABBITMQ_BENCH=/path/to/rabbitmq-bench/run.sh, or pass --no-rabbitmq)"
        | Some path -> PeerHarness.run path $"--n {n} --size {size} --inflight {conc} --mode all"

/// A message body of `size` bytes whose text starts with its index and send time (Stopwatch ticks).
let private body (size: int) (index: int) =
    let head = $"{index}:{Stopwatch.GetTimestamp()}:"
    head + String('x', max 0 (size - head.Length))

let run (args: string list) =
    let n = int (arg "--n" "5000" args)
    let conc = int (arg "--conc" "64" args)
    let size = int (arg "--size" "1024" args)
    let consumers = int (arg "--consumers" "4" args)
    let loadBefore = PeerHarness.loadAverage ()
    let rabbit = runRabbit n size conc args
    use servers = KvServers.startQueues 3
    let url = servers.Url
    let handler = new SocketsHttpHandler(MaxConnectionsPerServer = 4 * conc, PooledConnectionLifetime = TimeSpan.FromMinutes 10.0)
    use http = new HttpClient(handler, Timeout = TimeSpan.FromSeconds 30.0)
    servers.WaitHealthy http
    let queues = [ "bench-warmup"; "bench-seq"; "bench-pub"; "bench-batch"; "bench-e2e" ]
    let settings = """{"maxLength":10000000,"maxMessageBytes":65536,"visibilityTimeoutMs":60000}"""
    // `content` makes the body afresh for each attempt (a sent request's content is disposed with it).
    let send (verb: HttpMethod) (node: int) (path: string) (content: unit -> HttpContent | null) =
        task {
            let mutable answer = None
            while answer.IsNone do
                use request = new HttpRequestMessage(verb, $"{url node}{path}", Content = content ())
                use! r = http.SendAsync request
                let! text = r.Content.ReadAsStringAsync()
                match int r.StatusCode with
                | s when s < 300 -> answer <- Some text
                | 503 -> () // no leader yet: retried, as a client would
                | s -> failwith $"{verb} {path}: {s} {text}"
            return answer.Value
        }
    for q in queues do
        (send HttpMethod.Put 1 $"/queues/{q}" (fun () -> new StringContent(settings, Encoding.UTF8, "application/json"))).Wait()
    // Leaderships of the new groups given time to balance (outside any measurement), then read once.
    // Node 1's directory may trail the directory's leader for a moment: the listing is read until it has every queue.
    let listed () =
        let listing = JsonDocument.Parse((send HttpMethod.Get 1 "/queues" (fun () -> null)).Result).RootElement
        dict [ for q in listing.EnumerateArray() -> nonNull (q.GetProperty("name").GetString()), q.GetProperty("group").GetInt64() ]
    let leaderOf () =
        let groups, leaders = listed (), servers.GroupLeaders http
        fun (q: string) ->
            match groups.TryGetValue q with
            | true, g -> (match leaders.TryGetValue g with | true, l -> l | _ -> 0)
            | _ -> 0
    let settle = Stopwatch.StartNew()
    while settle.Elapsed < TimeSpan.FromSeconds 5.0 || (let l = leaderOf () in queues |> List.exists (fun q -> l q = 0)) do
        if settle.Elapsed > TimeSpan.FromSeconds 60.0 then failwith "the queues' groups have no known leader within 60 s"
        Thread.Sleep 200 // start-up polling, outside any measurement
    let leader = leaderOf ()
    let publishOne (q: string) (i: int) : Task =
        let text = body size i
        send HttpMethod.Post (leader q) $"/queues/{q}/messages" (fun () -> new StringContent(text, Encoding.UTF8, "text/plain"))
    let publishBatch (q: string) (i: int) : Task =
        let batch = JsonSerializer.Serialize [| for k in 0 .. conc - 1 -> body size (i * conc + k) |]
        send HttpMethod.Post (leader q) $"/queues/{q}/messages" (fun () -> new StringContent(batch, Encoding.UTF8, "application/json"))
    let measure = measure servers.Processes
    measure "warm-up" "" (min 2000 n) (min conc 16) (publishOne "bench-warmup") |> ignore
    let sequential = measure "sequential publish" "pubseq" n 1 (publishOne "bench-seq")
    let inFlight = measure $"{conc} in flight publish" "pub" n conc (publishOne "bench-pub")
    let batches = measure $"publish, batches of {conc}, 1 in flight" "" (max 1 (n / conc)) 1 (publishBatch "bench-batch")
    // Per message: a request carries `conc` of them (its latency stays the request's).
    let batchRow = { batches with OpsPerSecond = batches.OpsPerSecond * float conc; ServerCpu = batches.ServerCpu / float conc }
    // End to end: consumers first (long polls waiting), then the publishes; each delivery acked at once.
    let deliveredAt = ConcurrentDictionary<int, float>()
    let clock = Stopwatch.StartNew()
    use stop = new CancellationTokenSource()
    let node = leader "bench-e2e"
    let consumer () =
        task {
            while not stop.IsCancellationRequested && deliveredAt.Count < n do
                let! text = send HttpMethod.Post node $"/queues/bench-e2e/receive?max={conc}&wait=2s" (fun () -> null)
                let now = Stopwatch.GetTimestamp()
                use doc = JsonDocument.Parse text
                let acks =
                    [ for m in doc.RootElement.GetProperty("messages").EnumerateArray() ->
                        let parts = (nonNull (m.GetProperty("body").GetString())).Split(':', 3)
                        deliveredAt.TryAdd(int parts[0], Stopwatch.GetElapsedTime(int64 parts[1], now).TotalMicroseconds) |> ignore
                        let receipt = m.GetProperty("receipt").GetString()
                        send HttpMethod.Delete node $"/queues/bench-e2e/messages/{receipt}" (fun () -> null) :> Task ]
                do! Task.WhenAll acks
        }
    let cpu (p: Process) = p.Refresh(); p.TotalProcessorTime.TotalSeconds
    let server0 = servers.Processes |> List.sumBy cpu
    let consuming = [ for _ in 1 .. consumers -> Task.Run<unit>(fun () -> consumer ()) :> Task ]
    let published = measure "(e2e publishes)" "" n conc (publishOne "bench-e2e")
    let all = Task.WhenAll consuming
    if not (all.Wait(TimeSpan.FromSeconds 120.0)) then
        stop.Cancel()
        failwithf "end to end: %d of %d messages delivered within 120 s after the last publish" deliveredAt.Count n
    let e2eSeconds = clock.Elapsed.TotalSeconds
    let latencies = deliveredAt.Values |> Seq.sort |> Array.ofSeq
    let p (q: float) = latencies[min (latencies.Length - 1) (int (q * float latencies.Length))]
    let e2e = { Name = $"end to end, {conc} publishes in flight, {consumers} consumers (receive max {conc}, ack each)"; PeerMode = "e2e"
                OpsPerSecond = float n / e2eSeconds; P50 = p 0.5; P99 = p 0.99
                ServerCpu = ((servers.Processes |> List.sumBy cpu) - server0) * 1000.0 / float n; ClientCpu = nan }
    printfn "queue server, 3 processes on 127.0.0.1, one queue (group) per mode, %d-byte messages, requests to the queue's leader, n = %d, %d cores, %s"
        size n Environment.ProcessorCount (DateTime.UtcNow.ToString "u")
    printfn "load average before: %s, after: %s; e2e publishes alone: %.0f msg/s; latency of e2e is publish to delivery" loadBefore (PeerHarness.loadAverage ()) published.OpsPerSecond
    printfn "| mode | queue msg/s | p50 µs | p99 µs | server CPU s / 1k msgs | RabbitMQ msg/s | RabbitMQ p50 µs | msg/s queue / RabbitMQ | p50 queue / RabbitMQ |"
    printfn "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    for r in [ sequential; inFlight; batchRow; e2e ] do
        let peer, ratio, p50Ratio =
            match rabbit.TryFind r.PeerMode with
            | Some e -> $"| {e.OpsPerSecond:N0} | {e.P50:N0} ", $"{r.OpsPerSecond / e.OpsPerSecond:F2}x", $"{r.P50 / e.P50:F2}x"
            | None -> "| - | - ", "-", "-"
        printfn "| %s | %.0f | %.0f | %.0f | %.3f %s| %s | %s |" r.Name r.OpsPerSecond r.P50 r.P99 r.ServerCpu peer ratio p50Ratio
