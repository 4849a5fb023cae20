/// HTTP load for the server benchmarks (`kv`, `queue`): a mode runs n operations with C in flight and is measured
/// for throughput, latency and the CPU the servers and this client spent.
module Raft.Benchmarks.HttpLoad

open System
open System.Diagnostics
open System.Threading
open System.Threading.Tasks

/// The value of `--name` in `args`, or `fallback`.
let arg (name: string) (fallback: string) (args: string list) =
    match args |> List.skipWhile (fun a -> a <> name) with
    | _ :: v :: _ -> v
    | _ -> fallback

/// One measured mode: ops/s, latency percentiles in µs, and the CPU seconds the servers and this client spent per
/// 1,000 operations (a steadier figure than latency on a shared machine).
type Row = { Name: string; PeerMode: string; OpsPerSecond: float; P50: float; P99: float; ServerCpu: float; ClientCpu: float }

/// Runs `n` operations with `conc` in flight, one mode at a time (each awaited before the next starts).
let measure (servers: Process list) (name: string) (peerMode: string) (n: int) (conc: int) (op: int -> Task) =
    let cpu (p: Process) = p.Refresh(); p.TotalProcessorTime.TotalSeconds
    let self = Process.GetCurrentProcess()
    let server0 = servers |> List.sumBy cpu
    let client0 = cpu self
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
    Task.WhenAll([ for _ in 1 .. conc -> Task.Run<unit>(fun () -> worker ()) :> Task ]).Wait()
    let seconds = clock.Elapsed.TotalSeconds
    let perThousand x = x * 1000.0 / float n
    let serverCpu = perThousand ((servers |> List.sumBy cpu) - server0)
    let clientCpu = perThousand (cpu self - client0)
    Array.sortInPlace latencies
    let p (q: float) = latencies[min (n - 1) (int (q * float n))]
    { Name = name; PeerMode = peerMode; OpsPerSecond = float n / seconds; P50 = p 0.5; P99 = p 0.99; ServerCpu = serverCpu; ClientCpu = clientCpu }

