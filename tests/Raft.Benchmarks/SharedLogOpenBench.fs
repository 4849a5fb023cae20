/// Opening a large shared log (`dotnet run -c Release --project tests/Raft.Benchmarks -- shared-open [--mb N]
/// [--groups G] [--runs R] [--dir PATH] [--cold]`): writes N MiB (1,024) of 1 KiB entries spread over G groups (1,000),
/// written in group-commit rounds of 64 groups, then reopens it R times (5) and prints the median open time, the files,
/// and the managed memory the open index holds. `--cold` drops the page cache before each open (root only), so the
/// files are read from the device as after a reboot.
module Raft.Benchmarks.SharedLogOpenBench

open System
open System.Diagnostics
open System.IO
open Raft.Storage

let private arg (name: string) (fallback: string) (args: string list) =
    match List.tryFindIndex ((=) name) args with
    | Some i when i + 1 < args.Length -> args[i + 1]
    | Some _ -> failwithf "%s needs a value" name
    | None -> fallback

let run (args: string list) =
    let mb = int (arg "--mb" "1024" args)
    let groups = int (arg "--groups" "1000" args)
    let runs = int (arg "--runs" "5" args)
    let cold = List.contains "--cold" args
    let dropCaches () =
        try File.WriteAllText("/proc/sys/vm/drop_caches", "3")
        with e -> failwithf "--cold needs root to write /proc/sys/vm/drop_caches: %s" e.Message
    let root = arg "--dir" (Path.Combine(Path.GetTempPath(), "raft-bench-shared-open")) args
    let dir = Path.Combine(root, "log")
    if Directory.Exists dir then Directory.Delete(dir, true)
    let payload = Array.init 1024 byte
    let entries = int64 mb * 1024L
    let written = Stopwatch.StartNew()
    do
        use log = SharedLog.Open dir
        let rnd = Random 7
        let mutable total = 0L
        let records = Array.zeroCreate<LogRecord> 16
        while total < entries do
            for _ in 1 .. 64 do
                let view = log.Group(int64 (rnd.Next groups) + 1L)
                for k in 0 .. records.Length - 1 do
                    records[k] <- LogRecord(view.LastIndex + 1L + int64 k, 1L, ReadOnlyMemory payload)
                view.Append(ReadOnlySpan records)
                total <- total + int64 records.Length
            log.Commit()
    let files = Directory.GetFiles(dir, "*.rlog")
    let bytes = files |> Array.sumBy (fun f -> FileInfo(f).Length)
    printfn "shared-open: wrote %d entries (%.0f MiB in %d files, %d groups) in %.1f s" entries (float bytes / 1048576.0) files.Length groups written.Elapsed.TotalSeconds
    let times =
        [| for _ in 1 .. runs do
               if cold then dropCaches ()
               GC.Collect()
               GC.WaitForPendingFinalizers()
               let before = GC.GetTotalMemory true
               let t = Stopwatch.StartNew()
               let log = SharedLog.Open dir
               let seconds = t.Elapsed.TotalSeconds
               let held = GC.GetTotalMemory true - before
               if log.GroupIds.Count <> groups then failwithf "reopened %d groups, wrote %d" log.GroupIds.Count groups
               log.Dispose()
               printfn "  open: %.3f s, index %.1f MiB" seconds (float held / 1048576.0)
               seconds |]
    let median = (Array.sort times)[times.Length / 2]
    printfn "shared-open: median open %.3f s over %d runs (%d MiB, %d groups, page cache %s)" median runs mb groups (if cold then "dropped" else "warm")
    Directory.Delete(root, true)
