/// `kv`: the key-value server as deployed, three processes on 127.0.0.1 (examples/Raft.KeyValue.Server), loaded over
/// HTTP like tests/../peers/etcd-bench loads etcd: sequential PUT, PUT with C in flight, linearizable and stale GET
/// with C in flight. Keys: `--keys` of them (64 by default, so 64 groups), created before the measured runs.
module Raft.Benchmarks.KvBench

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Http
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks

let private serverDll () =
    let rec up (dir: DirectoryInfo | null) =
        match dir with
        | null -> failwith "Raft.sln not found above the benchmark's folder"
        | d when File.Exists(Path.Combine(d.FullName, "Raft.sln")) -> d.FullName
        | d -> up d.Parent
    let root = up (DirectoryInfo AppContext.BaseDirectory)
    let dll = Path.Combine(root, "examples", "Raft.KeyValue.Server", "bin", "Release", "net10.0", "Raft.KeyValue.Server.dll")
    if not (File.Exists dll) then failwithf "%s is missing: build the solution in Release first" dll
    dll

let private freePort () =
    use s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
    s.Bind(IPEndPoint(IPAddress.Loopback, 0))
    (s.LocalEndPoint :?> IPEndPoint).Port

let private arg (name: string) (fallback: string) (args: string list) =
    match args |> List.skipWhile (fun a -> a <> name) with
    | _ :: v :: _ -> v
    | _ -> fallback

/// Runs `n` operations with `conc` in flight; returns ops/s and the latency percentiles in µs.
let private measure (n: int) (conc: int) (op: int -> Task) =
    task {
        let latencies = Array.zeroCreate<float> n
        let mutable next = -1
        let clock = Stopwatch.StartNew()
        let worker () =
            task {
                let mutable i = Interlocked.Increment &next
                while i < n do
                    let started = Stopwatch.GetTimestamp()
                    do! op i
                    latencies[i] <- Stopwatch.GetElapsedTime(started).TotalMicroseconds
                    i <- Interlocked.Increment &next
            }
        let! _ = Task.WhenAll [ for _ in 1 .. conc -> worker () :> Task ]
        let seconds = clock.Elapsed.TotalSeconds
        Array.sortInPlace latencies
        let p (q: float) = latencies[min (n - 1) (int (q * float n))]
        return float n / seconds, p 0.5, p 0.99
    }

let run (args: string list) =
    let n = int (arg "--n" "5000" args)
    let conc = int (arg "--conc" "64" args)
    let size = int (arg "--size" "128" args)
    let keys = int (arg "--keys" "64" args)
    let root = Path.Combine(Path.GetTempPath(), "raft-kv-bench-" + Guid.NewGuid().ToString("N")[..7])
    let httpPorts = [| for _ in 1 .. 3 -> freePort () |]
    let raftPorts = [| for _ in 1 .. 3 -> freePort () |]
    let url i = $"http://127.0.0.1:{httpPorts[i - 1]}"
    let dll = serverDll ()
    let processes =
        [ for i in 1 .. 3 ->
            let a = Collections.Generic.List<string>([ dll; $"--Kv:NodeId={i}"; $"--Kv:RaftEndpoint=127.0.0.1:{raftPorts[i - 1]}"; $"--Kv:HttpUrl={url i}"
                                                       $"--Kv:DataDirectory={Path.Combine(root, string i)}"; "--Logging:LogLevel:Default=Warning" ])
            for m in 1 .. 3 do
                a.Add $"--Kv:Members:{m - 1}:Id={m}"
                a.Add $"--Kv:Members:{m - 1}:RaftEndpoint=127.0.0.1:{raftPorts[m - 1]}"
                a.Add $"--Kv:Members:{m - 1}:ApiUrl={url m}"
            Process.Start(ProcessStartInfo("dotnet", a)) |> nonNull ]
    let handler = new SocketsHttpHandler(MaxConnectionsPerServer = conc * 2, PooledConnectionLifetime = TimeSpan.FromMinutes 10.0)
    use http = new HttpClient(handler, Timeout = TimeSpan.FromSeconds 30.0)
    try
        let deadline = Stopwatch.StartNew()
        for i in 1 .. 3 do
            while not (try http.GetAsync($"{url i}/health").Result.IsSuccessStatusCode with _ -> false) do
                if deadline.Elapsed > TimeSpan.FromSeconds 60.0 then failwith $"node {i} not healthy within 60 s"
                Thread.Sleep 50 // start-up polling outside any measurement
        let value = Array.init size (fun i -> byte (i % 251))
        let put (node: int) (key: string) =
            task {
                use content = new ByteArrayContent(value)
                let mutable ok = false
                while not ok do
                    use! r = http.PutAsync($"{url node}/kv/{key}", content)
                    ok <- r.IsSuccessStatusCode
            }
        let get (node: int) (query: string) (key: string) =
            task {
                use! r = http.GetAsync($"{url node}/kv/{key}{query}")
                if not r.IsSuccessStatusCode then failwith $"GET {key}: {r.StatusCode}"
            }
        let key i = $"k{i % keys:D6}"
        // Every key (group) created, then leaderships given time to balance before measuring.
        Task.WaitAll [| for i in 0 .. keys - 1 -> put (i % 3 + 1) (key i) :> Task |]
        let spread () =
            use doc = Text.Json.JsonDocument.Parse(http.GetStringAsync($"{url 1}/raft/status").Result)
            let leaders = [ for g in doc.RootElement.GetProperty("groups").EnumerateArray() -> g.GetProperty("leader").GetInt64() ]
            let counts = [ for id in 1L .. 3L -> leaders |> List.filter ((=) id) |> List.length ]
            List.max counts - List.min counts
        let balancing = Stopwatch.StartNew()
        while spread () > 1 && balancing.Elapsed < TimeSpan.FromSeconds 30.0 do Thread.Sleep 200
        eprintfn "leaderships spread within %d after %.1f s" (spread ()) balancing.Elapsed.TotalSeconds
        let node i = i % 3 + 1 // requests spread over the three nodes; two in three go to a node that forwards
        let warm = measure (min 1000 n) conc (fun i -> put (node i) (key i)) |> fun t -> t.Result
        ignore warm
        let rows =
            [ "sequential PUT", measure (n / 5) 1 (fun i -> put (node i) (key i))
              $"{conc} in flight PUT", measure n conc (fun i -> put (node i) (key i))
              $"{conc} in flight linearizable GET", measure n conc (fun i -> get (node i) "" (key i))
              $"{conc} in flight stale GET", measure n conc (fun i -> get (node i) "?consistency=stale" (key i)) ]
        printfn "kv server, 3 processes on 127.0.0.1, %d keys (groups), %d-byte values, requests spread over the nodes (%s)" keys size (DateTime.UtcNow.ToString "u")
        printfn "| mode | ops/s | p50 µs | p99 µs |"
        printfn "|---|---:|---:|---:|"
        for (name, t) in rows do
            let opsPerSecond, p50, p99 = t.Result
            printfn "| %s | %.0f | %.0f | %.0f |" name opsPerSecond p50 p99
    finally
        for p in processes do
            try p.Kill() ; p.WaitForExit 10_000 |> ignore with _ -> ()
        try Directory.Delete(root, true) with _ -> ()
