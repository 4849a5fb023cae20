/// `kv --failover`: how long the keys of a killed leader stay unwritable. Three key-value server processes, `--keys`
/// keys with balanced leaderships; each round kills (SIGKILL) the node leading most of them and, from that instant,
/// writes every key it led through the surviving nodes until each write succeeds; a key's failover time is the time
/// to its first acknowledged write. The node is restarted and leaderships rebalance before the next round. The
/// target: p99 within two election timeouts (the servers' default: 10 ticks of 20 ms, so 400 ms).
module Raft.Benchmarks.KvFailover

open System
open System.Diagnostics
open System.Net.Http
open System.Threading
open System.Threading.Tasks

let run (keys: int) (rounds: int) =
    let electionTimeoutMs = 10.0 * 20.0
    let loadBefore = PeerHarness.loadAverage ()
    use servers = KvServers.start 3
    use http = new HttpClient(new SocketsHttpHandler(MaxConnectionsPerServer = 256), Timeout = TimeSpan.FromSeconds 30.0)
    servers.WaitHealthy http
    let put (node: int) (key: string) =
        task {
            try
                use content = new ByteArrayContent(Text.Encoding.UTF8.GetBytes "v")
                use! r = http.PutAsync($"{servers.Url node}/kv/{key}", content)
                return r.IsSuccessStatusCode
            with _ -> return false
        }
    let key i = $"fo{i:D5}"
    let created = Text.Encoding.UTF8.GetBytes "v"
    Task.WaitAll [| for i in 0 .. keys - 1 -> servers.PutUntilAcknowledged(http, i % 3 + 1, key i, created) :> Task |]
    let balanced (survivorView: int) =
        let leaders = servers.Leaders(http, "fo", keys, survivorView)
        let counts = [ for id in 1 .. 3 -> leaders.Values |> Seq.filter ((=) id) |> Seq.length ]
        leaders.Count = keys && List.min counts > 0 && List.max counts - List.min counts <= 1
    let all = Collections.Generic.List<float>()
    printfn "kv server failover: 3 processes on 127.0.0.1, %d keys, election timeout %.0f ms (randomised in [T, 2T)), %s" keys electionTimeoutMs (DateTime.UtcNow.ToString "u")
    printfn "| round | killed node | its keys | p50 ms | p99 ms | max ms | over 2 election timeouts |"
    printfn "|---|--:|--:|--:|--:|--:|--:|"
    for round in 1 .. rounds do
        let settle = Stopwatch.StartNew()
        while not (try balanced 1 with _ -> false) && settle.Elapsed < TimeSpan.FromSeconds 60.0 do Thread.Sleep 200 // between rounds, outside any measurement
        let leaders = servers.Leaders(http, "fo", keys)
        let victim = [ 1 .. 3 ] |> List.maxBy (fun id -> leaders.Values |> Seq.filter ((=) id) |> Seq.length)
        let led = [ for kv in leaders do if kv.Value = victim then kv.Key ]
        let survivors = [ 1 .. 3 ] |> List.filter ((<>) victim) |> Array.ofList
        let killed = Stopwatch.StartNew()
        servers.Kill victim
        let times =
            Task.WhenAll([ for j, k in List.indexed led ->
                             task {
                                 let mutable attempt = j
                                 let mutable ok = false
                                 while not ok do
                                     let! done' = put survivors[attempt % 2] k
                                     ok <- done'
                                     attempt <- attempt + 1
                                 return killed.Elapsed.TotalMilliseconds
                             } ]).Result
            |> Array.sort
        all.AddRange times
        let p (q: float) (xs: float[]) = xs[min (xs.Length - 1) (int (q * float xs.Length))]
        printfn "| %d | %d | %d | %.0f | %.0f | %.0f | %d |" round victim times.Length (p 0.5 times) (p 0.99 times) (Array.last times)
            (times |> Array.filter (fun t -> t > 2.0 * electionTimeoutMs) |> Array.length)
        servers.Restart victim
        servers.WaitHealthy http
    let xs = all.ToArray() |> Array.sort
    let p (q: float) = xs[min (xs.Length - 1) (int (q * float xs.Length))]
    printfn "all rounds: %d keys, p50 %.0f ms, p99 %.0f ms, max %.0f ms (target: p99 <= %.0f ms); load average before %s, after %s"
        xs.Length (p 0.5) (p 0.99) (Array.last xs) (2.0 * electionTimeoutMs) loadBefore (PeerHarness.loadAverage ())
