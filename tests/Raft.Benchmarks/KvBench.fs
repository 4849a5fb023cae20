/// `kv`: the key-value server as deployed, three processes on 127.0.0.1 (examples/Raft.KeyValue.Server), loaded over
/// HTTP the way ../shared/peers/etcd-bench loads etcd (a .NET client in one process, C requests in flight), and etcd
/// itself through that harness in the same run: sequential PUT, PUT with C in flight, linearizable and stale GET with C
/// in flight, one mode after another. Keys: `--keys` of them (64 by default, so 64 groups), created and their
/// leaderships balanced before anything is measured. `--target leader` (the default, like etcd-bench's) sends each
/// request to its key's leader; `--target spread` sends them round-robin over the nodes, so two in three are forwarded.
module Raft.Benchmarks.KvBench

open System
open System.Diagnostics
open System.Net.Http
open System.Text.Json
open System.Threading
open System.Threading.Tasks

open Raft.Benchmarks.HttpLoad

/// etcd through its harness, before our servers start (so the two never share the machine): figures by mode.
let private runEtcd (n: int) (size: int) (conc: int) (args: string list) =
    if args |> List.contains "--no-etcd" then
        eprintfn "--no-etcd: no etcd figures in this run"
        Map.empty
    else
        match PeerHarness.find "etcd-bench" "ETCD_BENCH" with
        | None -> failwith "etcd harness not found (set ETCD_BENCH=/path/to/etcd-bench/run.sh, or pass --no-etcd)"
        | Some path -> PeerHarness.run path $"--n {n} --size {size} --conc {conc} --mode all"

let run (args: string list) =
    let n = int (arg "--n" "5000" args)
    let conc = int (arg "--conc" "64" args)
    let size = int (arg "--size" "128" args)
    let keys = int (arg "--keys" "64" args)
    let target = arg "--target" "leader" args
    if target <> "leader" && target <> "spread" then failwithf "--target must be leader or spread (is '%s')" target
    let loadBefore = PeerHarness.loadAverage ()
    let etcd = runEtcd n size conc args
    use servers = KvServers.start 3
    let url = servers.Url
    let processes = servers.Processes
    let handler = new SocketsHttpHandler(MaxConnectionsPerServer = conc, PooledConnectionLifetime = TimeSpan.FromMinutes 10.0)
    use http = new HttpClient(handler, Timeout = TimeSpan.FromSeconds 30.0)
    let mutable retries = 0
    servers.WaitHealthy http
    let value = Array.init size (fun i -> byte (i % 251))
    let put (node: int) (key: string) : Task =
        task {
            let! refused = servers.PutUntilAcknowledged(http, node, key, value)
            if refused > 0 then Interlocked.Add(&retries, refused) |> ignore
        }
    let get (node: int) (query: string) (key: string) =
        task {
            use! r = http.GetAsync($"{url node}/kv/{key}{query}")
            if not r.IsSuccessStatusCode then failwith $"GET {key}: {r.StatusCode}"
        }
    let key i = $"k{i % keys:D6}"
    // Every key (group) created, then leaderships given time to balance before measuring.
    Task.WaitAll [| for i in 0 .. keys - 1 -> put (i % 3 + 1) (key i) :> Task |]
    let leaders () = servers.Leaders(http, "k", keys)
    let spread () =
        let now = leaders ()
        let counts = [ for id in 1 .. 3 -> now.Values |> Seq.filter ((=) id) |> Seq.length ]
        List.max counts - List.min counts
    let balancing = Stopwatch.StartNew()
    while spread () > 1 && balancing.Elapsed < TimeSpan.FromSeconds 30.0 do Thread.Sleep 200 // outside any measurement
    let route = leaders ()
    eprintfn "leaderships spread within %d after %.1f s" (spread ()) balancing.Elapsed.TotalSeconds
    let node i =
        match target with
        | "leader" -> (match route.TryGetValue(key i) with | true, l when l > 0 -> l | _ -> i % 3 + 1)
        | _ -> i % 3 + 1
    let measure = measure processes
    measure "warm-up" "" (min 2000 n) (min conc 16) (fun i -> put (node i) (key i)) |> ignore
    let rows =
        [ measure "sequential PUT" "seq" n 1 (fun i -> put (node i) (key i))
          measure $"{conc} in flight PUT" "conc" n conc (fun i -> put (node i) (key i))
          measure $"{conc} in flight linearizable GET" "getlin" n conc (fun i -> get (node i) "" (key i))
          measure $"{conc} in flight stale GET (etcd: serializable)" "getser" n conc (fun i -> get (node i) "?consistency=stale" (key i)) ]
    let moved = leaders () |> Seq.filter (fun kv -> route[kv.Key] <> kv.Value) |> Seq.length
    printfn "kv server, 3 processes on 127.0.0.1, %d keys (groups), %d-byte values, requests to %s, n = %d, %d cores, %s"
        keys size (if target = "leader" then "each key's leader" else "the nodes in turn") n Environment.ProcessorCount (DateTime.UtcNow.ToString "u")
    printfn "load average before: %s, after: %s; PUTs retried: %d; leaderships moved during the run: %d of %d" loadBefore (PeerHarness.loadAverage ()) retries moved keys
    printfn "| mode | kv ops/s | p50 µs | p99 µs | server CPU s / 1k ops | client CPU s / 1k ops | etcd ops/s | etcd p50 µs | ops/s kv / etcd | p50 kv / etcd |"
    printfn "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    for r in rows do
        let e, ratio, p50Ratio =
            match etcd.TryFind r.PeerMode with
            | Some e -> $"| {e.OpsPerSecond:N0} | {e.P50:N0} ", $"{r.OpsPerSecond / e.OpsPerSecond:F2}x", $"{r.P50 / e.P50:F2}x"
            | None -> "| - | - ", "-", "-"
        printfn "| %s | %.0f | %.0f | %.0f | %.3f | %.3f %s| %s | %s |" r.Name r.OpsPerSecond r.P50 r.P99 r.ServerCpu r.ClientCpu e ratio p50Ratio
