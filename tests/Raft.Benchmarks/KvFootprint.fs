/// `kv --footprint K`: what K idle keys (per-key placement, so K groups) cost three key-value server processes:
/// resident memory per key on each node (against the same node before the keys were written), idle CPU as a share of
/// one core, and disk bytes. The keys are written 64 at a time, then leaderships balance and the groups go quiet
/// before the idle window is measured.
module Raft.Benchmarks.KvFootprint

open System
open System.Diagnostics
open System.IO
open System.Net.Http
open System.Threading
open System.Threading.Tasks

let private residentBytes (p: Process) =
    File.ReadAllLines $"/proc/{p.Id}/status"
    |> Array.find (fun l -> l.StartsWith "VmRSS:")
    |> fun l -> int64 (l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024L

let private cpuSeconds (p: Process) = p.Refresh(); p.TotalProcessorTime.TotalSeconds

let private diskBytes (dir: string) =
    if Directory.Exists dir then Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories) |> Seq.sumBy (fun f -> FileInfo(f).Length) else 0L

let run (keys: int) (idleSeconds: int) =
    let loadBefore = PeerHarness.loadAverage ()
    use servers = KvServers.start 3
    use http = new HttpClient(new SocketsHttpHandler(MaxConnectionsPerServer = 64), Timeout = TimeSpan.FromSeconds 30.0)
    servers.WaitHealthy http
    let value = Text.Encoding.UTF8.GetBytes "v"
    let put (node: int) (key: string) : Task = servers.PutUntilAcknowledged(http, node, key, value)
    (put 1 "warm-up").Wait()
    Thread.Sleep(TimeSpan.FromSeconds 5.0) // the JIT and the first allocations settle before the baseline
    let baseline = servers.Processes |> List.map residentBytes
    let clock = Stopwatch.StartNew()
    let mutable next = -1
    let writer () =
        task {
            let mutable i = Interlocked.Increment &next
            while i < keys do
                do! put (i % 3 + 1) $"f{i:D7}"
                if (i + 1) % 1000 = 0 then eprintfn "%d keys written in %.0f s" (i + 1) clock.Elapsed.TotalSeconds
                i <- Interlocked.Increment &next
        }
    Task.WhenAll([ for _ in 1 .. 64 -> Task.Run<unit>(fun () -> writer ()) :> Task ]).Wait()
    let written = clock.Elapsed
    // Balancing moves at most 32 leaderships a second per node; then the groups go quiet.
    Thread.Sleep(TimeSpan.FromSeconds(float (max 20 (keys / 200))))
    let cpu0 = servers.Processes |> List.map cpuSeconds
    let idle = Stopwatch.StartNew()
    Thread.Sleep(TimeSpan.FromSeconds(float idleSeconds))
    let cpu = List.map2 (fun p c0 -> (cpuSeconds p - c0) / idle.Elapsed.TotalSeconds * 100.0) servers.Processes cpu0
    let resident = servers.Processes |> List.map residentBytes
    printfn "kv server footprint: 3 processes on 127.0.0.1, %d keys (per-key placement: %d groups) written in %.0f s, idle window %d s, %s"
        keys keys written.TotalSeconds idleSeconds (DateTime.UtcNow.ToString "u")
    printfn "load average before: %s, after: %s" loadBefore (PeerHarness.loadAverage ())
    printfn "| node | RSS before MB | RSS after MB | bytes per key | idle CPU %% of a core | disk MB |"
    printfn "|---|--:|--:|--:|--:|--:|"
    for i in 0 .. 2 do
        printfn "| %d | %.1f | %.1f | %.0f | %.1f | %.1f |" (i + 1) (float baseline[i] / 1e6) (float resident[i] / 1e6)
            (float (resident[i] - baseline[i]) / float keys) cpu[i] (float (diskBytes (servers.DataDirectory(i + 1))) / 1e6)
