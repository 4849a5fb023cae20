/// Storage benchmark (`dotnet run -c Release --project tests/Raft.Benchmarks -- storage [--size-mb N] [--dir PATH]`):
/// raw fdatasync as the baseline, one appender at a time, 64 concurrent proposers on a one-node host (whose loop runs
/// the group commit), and the time to open a large log, all in one run on the same disk.
module Raft.Benchmarks.StorageBench

open System
open System.Diagnostics
open System.IO
open System.Threading
open System.Threading.Tasks
open Raft.Node
open Raft.Serialization
open Raft.Storage
open Raft.Transport.InMemory

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

/// Times each Flush of the wrapped log (called by the node loop's group commit only), to split a round into the flush
/// and the rest.
type private TimedLog(inner: ILogStorage) =
    inherit DelegatingLogStorage(inner)
    let mutable flushTicks = 0L
    let mutable flushes = 0L
    member _.FlushTicks = Volatile.Read &flushTicks
    member _.Flushes = Volatile.Read &flushes
    override _.Flush() =
        let t = Stopwatch.GetTimestamp()
        inner.Flush()
        Volatile.Write(&flushTicks, flushTicks + (Stopwatch.GetTimestamp() - t))
        Volatile.Write(&flushes, flushes + 1L)

/// The files FileRaftStorageProvider writes for a group (log and hard state; no snapshots), with the given log options
/// and the log timed.
type private TimedFileStorage(root: string, options: FileLogOptions) =
    let mutable log: TimedLog option = None
    member _.Log = log.Value
    interface IRaftStorageProvider with
        member _.Open groupId =
            let dir = Path.Combine(root, $"group-{groupId}")
            let timed = new TimedLog(FileLogStorage.Open(dir, options))
            log <- Some timed
            new GroupStorage(timed, FileHardStateStore(dir), null)
        member _.Delete _ = ()

/// A one-node host whose only group it leads, on files: every proposal is durable on this node (the loop's group
/// commit) before it commits.
type private OneNode =
    { Host: RaftNodeHost<byte[], int64>; Group: RaftGroup<byte[], int64>; Storage: TimedFileStorage }
    interface IDisposable with
        member this.Dispose() = this.Host.DisposeAsync().AsTask().Wait()

let private startOneNode (dir: string) (options: FileLogOptions) =
    task {
        let network = InMemoryNetwork<RaftEnvelope<byte[]>[]>()
        let storage = TimedFileStorage(dir, options)
        let o = RaftNodeOptions(NodeId = 1L, TickInterval = TimeSpan.FromMilliseconds 20.0, ElectionTicks = 25, HeartbeatTicks = 2,
                                Quiescence = false)
        let host = new RaftNodeHost<byte[], int64>(o, network.CreateTransport 1L, storage, (fun _ -> ClusterBench.NullMachine()))
        do! host.StartAsync()
        let! group = host.CreateGroupAsync(1L, [ 1L ])
        do! group.CampaignAsync()
        let sw = Stopwatch.StartNew()
        while not group.Status.IsLeader do
            if sw.Elapsed > TimeSpan.FromSeconds 30.0 then failwith "the one-node group elects no leader within 30 s"
            do! Task.Delay 5
        return { Host = host; Group = group; Storage = storage }
    }

/// One appender at a time, three ways interleaved op by op so each sees the same disk conditions: raw write+fdatasync,
/// FileLogStorage Append+Flush, and one proposal awaited on a one-node host (the node loop appends it, its group commit
/// flushes the log, the entry commits and applies). Returns the three medians.
let singleAppender (root: string) (n: int) =
    let rawDir = freshDir root "raw1"
    let rawPath = Path.Combine(rawDir, "raw.dat")
    use raw = File.OpenHandle(rawPath, FileMode.Create, FileAccess.ReadWrite)
    let block = Array.create (128 + 28) 7uy
    use log = FileLogStorage.Open(freshDir root "direct")
    let node = (startOneNode (freshDir root "single") (FileLogOptions(CreateIfMissing = true))).Result
    use _ = node
    let payload = ReadOnlyMemory(Array.create 128 1uy)
    let command = Array.create 128 1uy
    let r, d, g = Array.zeroCreate n, Array.zeroCreate n, Array.zeroCreate n
    for i in 0 .. n - 1 do
        let t0 = Stopwatch.GetTimestamp()
        RandomAccess.Write(raw, ReadOnlySpan block, int64 i * int64 block.Length)
        NativeMethods.DataSync(raw, rawPath)
        let t1 = Stopwatch.GetTimestamp()
        log.Append(ReadOnlySpan [| LogRecord(int64 i + 1L, 1L, payload) |])
        log.Flush()
        let t2 = Stopwatch.GetTimestamp()
        node.Group.ProposeAsync(command).Wait()
        let t3 = Stopwatch.GetTimestamp()
        r[i] <- micros (t1 - t0)
        d[i] <- micros (t2 - t1)
        g[i] <- micros (t3 - t2)
    median r, median d, median g

/// Raw write+fdatasync of 156-byte blocks into a file that already holds zeros there (no file-size change): the floor
/// for a flush that writes inside the zeros FileLogStorage keeps ahead of its records.
let rawOverwrite (root: string) (n: int) =
    let dir = freshDir root "raw-overwrite"
    let path = Path.Combine(dir, "raw.dat")
    use h = File.OpenHandle(path, FileMode.Create, FileAccess.ReadWrite)
    let block = Array.create (128 + 28) 7uy
    RandomAccess.Write(h, ReadOnlySpan(Array.zeroCreate<byte> (n * block.Length + 4096)), 0L)
    NativeMethods.DataSync(h, path)
    let lat = Array.zeroCreate n
    for i in 0 .. n - 1 do
        let t = Stopwatch.GetTimestamp()
        RandomAccess.Write(h, ReadOnlySpan block, int64 i * int64 block.Length)
        NativeMethods.DataSync(h, path)
        lat[i] <- micros (Stopwatch.GetTimestamp() - t)
    median lat

/// One round's figures for the concurrent case.
type ConcurrentRound =
    { Rate: float; PerFsync: float; CycleUs: float; FlushUs: float
      /// The same slice on a log with PreallocateSize = 0 (every flush grows the file).
      RateNoZeros: float; FlushUsNoZeros: float
      RawAppendUs: float; RawOverwriteUs: float }

/// `proposers` concurrent callers of a one-node host, each awaiting its 128-byte proposal's commit (durable through
/// the loop's group commit) before the next, in `rounds` slices of `seconds`, each followed by the same slice on a log
/// without zeros ahead of its records and by raw fdatasync measurements on the same disk (interleaved, so all see the
/// same load). A group-commit round that writes entries flushes the log once, so log flushes count the rounds.
let groupConcurrent (root: string) (proposers: int) (rounds: int) (seconds: float) =
    let command = Array.create 128 1uy
    let slicer (node: OneNode) =
      fun (duration: float) ->
          let mutable stop = false
          let mutable total = 0L
          let proposer () =
              task {
                  let mutable mine = 0L
                  while not (Volatile.Read &stop) do
                      let! _ = node.Group.ProposeAsync(command)
                      mine <- mine + 1L
                  Interlocked.Add(&total, mine) |> ignore
              }
              :> Task
          let log = node.Storage.Log
          let flushTicks0, flushes0 = log.FlushTicks, log.Flushes
          let sw = Stopwatch.StartNew()
          let tasks = [| for _ in 1..proposers -> Task.Run(fun () -> proposer ()) |]
          Thread.Sleep(TimeSpan.FromSeconds duration)
          Volatile.Write(&stop, true)
          Task.WaitAll tasks
          let elapsed = sw.Elapsed.TotalSeconds
          let f = float (max 1L (log.Flushes - flushes0))
          float total / elapsed, float total / f, elapsed * 1e6 / f, micros (log.FlushTicks - flushTicks0) / f
    use node = (startOneNode (freshDir root "concurrent") (FileLogOptions(CreateIfMissing = true))).Result
    use nodeNoZeros = (startOneNode (freshDir root "concurrent-nozeros") (FileLogOptions(CreateIfMissing = true, PreallocateSize = 0))).Result
    let slice, sliceNoZeros = slicer node, slicer nodeNoZeros
    slice 0.5 |> ignore // warm-up
    sliceNoZeros 0.5 |> ignore
    [ for _ in 1..rounds ->
          let rate, perFsync, cycle, flush = slice seconds
          let rate0, _, _, flush0 = sliceNoZeros seconds
          { Rate = rate; PerFsync = perFsync; CycleUs = cycle; FlushUs = flush; RateNoZeros = rate0; FlushUsNoZeros = flush0
            RawAppendUs = rawFdatasync root 100; RawOverwriteUs = rawOverwrite root 100 } ]

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
        printfn "  one-node host, one proposal awaited          %8.1f us   %.2fx raw (target <= 1.5x)" g (g / raw)
        let rounds = groupConcurrent root 64 8 0.5
        let med f = rounds |> List.map f |> Array.ofList |> median
        let rawA, rawO = med _.RawAppendUs, med _.RawOverwriteUs
        printfn "one-node host (group commit in its loop), 64 proposers x 128 B, 8 slices of 0.5 s interleaved with raw fdatasync and with a log without zeros ahead (medians of the slices):"
        printfn "  %.0f durable commits/s (target >= 200000); slices %s" (med _.Rate)
            (rounds |> List.map (fun r -> sprintf "%.0fk" (r.Rate / 1000.0)) |> String.concat " ")
        printfn "  %.1f commits per fsync, group-commit cycle %.0f us, of which Flush (write + fdatasync) %.0f us"
            (med _.PerFsync) (med _.CycleUs) (med _.FlushUs)
        printfn "  the same with PreallocateSize = 0 (every flush grows the file): %.0f commits/s, Flush %.0f us"
            (med _.RateNoZeros) (med _.FlushUsNoZeros)
        printfn "  raw write+fdatasync: %.0f us appending (file grows), %.0f us overwriting zeros already in the file" rawA rawO
        printfn "  64 commits per fsync at those raw costs would be %.0f / %.0f commits/s" (64.0 * 1e6 / rawA) (64.0 * 1e6 / rawO)
        let openMs, bytes, segments, writeS, cold = openLarge root sizeMb
        printfn "open a %d MiB log (%d segments, %s page cache)  median %8.1f ms   (target < 1000 ms; written in %.1f s)"
            (bytes >>> 20) segments (if cold then "cold" else "warm") openMs writeS
    finally
        try Directory.Delete(root, true) with _ -> ()
