/// Storage benchmark (`dotnet run -c Release --project tests/Raft.Benchmarks -- storage [--size-mb N] [--dir PATH]`):
/// raw fdatasync as the baseline, one appender at a time, 64 concurrent appenders through group commit, and the time to
/// open a large log, all in one run on the same disk.
module Raft.Benchmarks.StorageBench

open System
open System.Diagnostics
open System.IO
open System.Threading
open System.Threading.Tasks
open Raft.Storage

let private median (xs: float[]) =
    let s = Array.sort xs
    if s.Length = 0 then nan else s[s.Length / 2]

let private micros (ticks: int64) = float ticks * 1e6 / float Stopwatch.Frequency

let private freshDir (root: string) (name: string) =
    let d = Path.Combine(root, name)
    if Directory.Exists d then Directory.Delete(d, true)
    Directory.CreateDirectory d |> ignore
    d

/// Write one small record-sized block at the end of a file and fdatasync it, `n` times: the floor for one durable append.
let rawFdatasync (root: string) (n: int) =
    let dir = freshDir root "raw"
    let path = Path.Combine(dir, "raw.dat")
    use h = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite)
    let block = Array.create (128 + 28) 7uy
    let lat = Array.zeroCreate n
    let mutable offset = 0L
    for i in 0 .. n - 1 do
        let t = Stopwatch.GetTimestamp()
        RandomAccess.Write(h, ReadOnlySpan block, offset)
        NativeMethods.DataSync(h, path)
        lat[i] <- micros (Stopwatch.GetTimestamp() - t)
        offset <- offset + int64 block.Length
    median lat

/// One appender at a time, three ways interleaved op by op so each sees the same disk conditions: raw write+fdatasync,
/// FileLogStorage Append+Flush, and GroupCommitLog (awaiting each append's durability). Returns the three medians.
let singleAppender (root: string) (n: int) =
    let rawDir = freshDir root "raw1"
    let rawPath = Path.Combine(rawDir, "raw.dat")
    use raw = File.OpenHandle(rawPath, FileMode.Create, FileAccess.ReadWrite)
    let block = Array.create (128 + 28) 7uy
    use log = FileLogStorage.Open(freshDir root "direct")
    use group = new GroupCommitLog(FileLogStorage.Open(freshDir root "single"))
    let payload = ReadOnlyMemory(Array.create 128 1uy)
    let r, d, g = Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate n
    for i in 0 .. n - 1 do
        let t0 = Stopwatch.GetTimestamp()
        RandomAccess.Write(raw, ReadOnlySpan block, int64 i * int64 block.Length)
        NativeMethods.DataSync(raw, rawPath)
        let t1 = Stopwatch.GetTimestamp()
        log.Append(ReadOnlySpan [| LogRecord(int64 i + 1L, 1L, payload) |])
        log.Flush()
        let t2 = Stopwatch.GetTimestamp()
        group.AppendNextAsync(1L, payload).AsTask().Wait()
        let t3 = Stopwatch.GetTimestamp()
        r[i] <- micros (t1 - t0)
        d[i] <- micros (t2 - t1)
        g[i] <- micros (t3 - t2)
    median r, median d, median g

/// `appenders` concurrent appenders, each awaiting durability before its next 128-byte append.
let groupConcurrent (root: string) (appenders: int) (seconds: float) =
    let dir = freshDir root "concurrent"
    let mutable batches = 0L
    use group = new GroupCommitLog(FileLogStorage.Open(dir), (fun _ -> Interlocked.Increment &batches |> ignore))
    let payload = ReadOnlyMemory(Array.create 128 1uy)
    let mutable stop = false
    let mutable total = 0L
    let appender () =
        task {
            let mutable mine = 0L
            while not (Volatile.Read &stop) do
                let! _ = group.AppendNextAsync(1L, payload)
                mine <- mine + 1L
            Interlocked.Add(&total, mine) |> ignore
        }
        :> Task
    // Warm up, then measure.
    let warm = [| for _ in 1..appenders -> Task.Run(fun () -> appender ()) |]
    Thread.Sleep 500
    Volatile.Write(&stop, true)
    Task.WaitAll warm
    Volatile.Write(&stop, false)
    total <- 0L
    let batches0 = Interlocked.Read &batches
    let sw = Stopwatch.StartNew()
    let tasks = [| for _ in 1..appenders -> Task.Run(fun () -> appender ()) |]
    Thread.Sleep(TimeSpan.FromSeconds seconds)
    Volatile.Write(&stop, true)
    Task.WaitAll tasks
    let elapsed = sw.Elapsed.TotalSeconds
    let b = Interlocked.Read &batches - batches0
    float total / elapsed, float total / float (max b 1L), float b / elapsed

let private tryDropCaches () =
    try
        File.WriteAllText("/proc/sys/vm/drop_caches", "3")
        true
    with _ -> false

/// Writes a log of about `sizeMb` MiB (64 MiB segments, 1 KiB payloads) and times opening it.
let openLarge (root: string) (sizeMb: int) =
    let dir = freshDir root "large"
    let payload = ReadOnlyMemory(Array.init 1024 byte)
    let perRecord = 1024L + 28L
    let count = int64 sizeMb * (1L <<< 20) / perRecord
    let sw = Stopwatch.StartNew()
    (use log = FileLogStorage.Open(dir)
     let batch = Array.zeroCreate 1000
     let mutable next = 1L
     while next <= count do
         let n = int (min 1000L (count - next + 1L))
         for k in 0 .. n - 1 do
             batch[k] <- LogRecord(next + int64 k, 1L + (next + int64 k) / 100000L, payload)
         log.Append(ReadOnlySpan(batch, 0, n))
         next <- next + int64 n
     log.Flush())
    let writeSeconds = sw.Elapsed.TotalSeconds
    let bytes = Directory.GetFiles(dir) |> Array.sumBy (fun f -> FileInfo(f).Length)
    let times, cold =
        [| for _ in 1..5 ->
               let cold = tryDropCaches ()
               let t = Stopwatch.StartNew()
               use log = FileLogStorage.Open(dir)
               let ms = t.Elapsed.TotalMilliseconds
               if log.LastIndex <> count then failwithf "opened log ends at %d, expected %d" log.LastIndex count
               ms, cold |]
        |> Array.unzip
    let segments = Directory.GetFiles(dir, "*.seg").Length
    Directory.Delete(dir, true)
    median times, bytes, segments, writeSeconds, Array.forall id cold

let run (argv: string list) =
    let rec opt name dflt =
        function
        | n :: v :: _ when n = name -> v
        | _ :: rest -> opt name dflt rest
        | [] -> dflt
    let sizeMb = int (opt "--size-mb" "1024" argv)
    let root = Path.Combine(opt "--dir" (Path.GetTempPath()) argv, "raft-storage-bench-" + string Environment.ProcessId)
    Directory.CreateDirectory root |> ignore
    try
        printfn "Storage benchmark in %s (%d cores)" root Environment.ProcessorCount
        rawFdatasync root 300 |> ignore // warm-up
        let raw, d, g = singleAppender root 2000
        printfn "one appender at a time, interleaved op by op (medians):"
        printfn "  raw write+fdatasync of a 156-byte append     %8.1f us   (baseline)" raw
        printfn "  FileLogStorage Append+Flush                  %8.1f us   %.2fx raw (target <= 1.5x)" d (d / raw)
        printfn "  GroupCommitLog AppendNextAsync (awaited)     %8.1f us   %.2fx raw (target <= 1.5x)" g (g / raw)
        let rawBefore = rawFdatasync root 500
        let rate, batch, fsyncs = groupConcurrent root 64 3.0
        let rawAfter = rawFdatasync root 500
        printfn "GroupCommitLog, 64 appenders x 128 B: %.0f durable appends/s (target >= 200000)" rate
        printfn "  avg batch %.1f appends per fsync, %.0f fsyncs/s = %.0f us per flush cycle; raw fdatasync median %.0f us before, %.0f us after"
            batch fsyncs (1e6 / fsyncs) rawBefore rawAfter
        printfn "  at the raw fdatasync rate measured around it, 64 per fsync would be %.0f appends/s" (64.0 * 1e6 / ((rawBefore + rawAfter) / 2.0))
        let openMs, bytes, segments, writeS, cold = openLarge root sizeMb
        printfn "open a %d MiB log (%d segments, %s page cache)  median %8.1f ms   (target < 1000 ms; written in %.1f s)"
            (bytes >>> 20) segments (if cold then "cold" else "warm") openMs writeS
    finally
        try Directory.Delete(root, true) with _ -> ()
