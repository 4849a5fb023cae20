/// Crash tests: a child process (tests/Raft.CrashWorker) appends in group-commit rounds shaped like the node host's (one
/// loop appends what several appenders queued, flushes the log once, then saves the hard state), printing what is
/// durable; it is killed with SIGKILL at random moments, and after each kill the storage is reopened and checked:
/// everything reported durable is present and intact, the log has no hole, the hard state is the old or the new one.
namespace Raft.Storage.Tests

open System
open System.Buffers.Binary
open System.Diagnostics
open System.IO
open System.Threading
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support
open Raft.Tests

module CrashHarness =
    // The worker's workload (tests/Raft.CrashWorker/Program.cs, CrashWorkload), restated.
    let workerOptions () = FileLogOptions(SegmentSize = 65536L, IndexInterval = 1024, CreateIfMissing = true)
    let termOf (index: int64) = 1L + index / 2000L

    let payloadIsIntact (index: int64) (p: ReadOnlySpan<byte>) =
        let len = 16 + int (((index * 2654435761L) % 200L + 200L) % 200L)
        let mutable ok =
            p.Length = len
            && BinaryPrimitives.ReadInt64LittleEndian(p) = index
            && BinaryPrimitives.ReadInt64LittleEndian(p.Slice 8) = termOf index
        let mutable k = 16
        while ok && k < len do
            ok <- p[k] = byte (index * 31L + int64 k)
            k <- k + 1
        ok

    let workerDll =
        let baseDir = Path.TrimEndingDirectorySeparator AppContext.BaseDirectory // tests/Raft.Storage.Tests/bin/<config>/<tfm>
        let tfm = Path.GetFileName baseDir
        let config = Path.GetFileName(Path.GetDirectoryName baseDir)
        Path.GetFullPath(Path.Combine(baseDir, "..", "..", "..", "..", "Raft.CrashWorker", "bin", config, tfm, "Raft.CrashWorker.dll"))

    /// What the worker has reported, updated by the stdout reader.
    type Reports() =
        member val Opened = false with get, set
        member val Ready = false with get, set
        member val Durable = 0L with get, set
        member val DurableLines = 0 with get, set
        member val HardState = 0L with get, set

    /// A running crash worker: its process, the thread reading its report lines, and its stderr.
    type Worker = { Process: Process; Reader: Thread; Stderr: Tasks.Task<string> }

    /// Starts the worker with `args`; each complete report line goes to `onLine` without its ';' (a line cut by the
    /// kill lacks its ';' and is ignored).
    let launch (args: string list) (onLine: string -> unit) =
        let psi = ProcessStartInfo("dotnet", workerDll :: args)
        psi.RedirectStandardOutput <- true
        psi.RedirectStandardError <- true
        psi.UseShellExecute <- false
        let p = Process.Start psi
        let reader =
            Thread(fun () ->
                let mutable line = p.StandardOutput.ReadLine()
                while not (isNull line) do
                    if line.EndsWith ';' then onLine (line.TrimEnd ';')
                    line <- p.StandardOutput.ReadLine())
        reader.IsBackground <- true
        reader.Start()
        { Process = p; Reader = reader; Stderr = p.StandardError.ReadToEndAsync() }

    /// Waits for `cond`, failing if the worker exits (checked on every poll, so a dead worker's stderr is reported at
    /// once) or 20 s pass.
    let waitFor (w: Worker) (what: string) (cond: unit -> bool) =
        Wait.until what (TimeSpan.FromSeconds 20.0) (fun () ->
            cond ()
            || (if w.Process.HasExited then failwithf "the crash worker exited with %d: %s" w.Process.ExitCode w.Stderr.Result
                false))

    /// Kills the worker with SIGKILL and waits for it and for its reader to see the end of its output.
    let kill (w: Worker) =
        if not w.Process.HasExited then w.Process.Kill()
        w.Process.WaitForExit()
        w.Reader.Join(TimeSpan.FromSeconds 5.0) |> ignore

    let startWorker (dir: string) (seed: int) =
        let reports = Reports()
        let worker =
            launch [ dir; string seed ] (fun body ->
                lock reports (fun () ->
                    match body[0] with
                    | 'O' -> reports.Opened <- true
                    | 'R' -> reports.Ready <- true
                    | 'D' ->
                        reports.Durable <- max reports.Durable (int64 (body.Substring 2))
                        reports.DurableLines <- reports.DurableLines + 1
                    | 'H' -> reports.HardState <- max reports.HardState (int64 (body.Substring 2))
                    | _ -> ()))
        worker, reports

    let verify (dir: string) (reports: Reports) (previousHardState: int64) =
        use log = FileLogStorage.Open(dir, workerOptions ())
        if log.LastIndex < reports.Durable then
            failwithf "index %d was reported durable but the log ends at %d" reports.Durable log.LastIndex
        let mutable next = log.FirstIndex
        while next <= log.LastIndex do
            let batch = log.ReadRange(next, log.LastIndex, 1L <<< 20)
            for r in batch do
                if r.Index <> next then failwithf "hole: expected index %d, got %d" next r.Index
                if r.Term <> termOf r.Index then failwithf "index %d has term %d" r.Index r.Term
                if not (payloadIsIntact r.Index r.Payload.Span) then failwithf "index %d has a damaged payload" r.Index
                next <- next + 1L
        log.Verify()
        let hard = FileHardStateStore(dir).Load()
        let counter =
            if isNull hard then 0L
            else
                let c = BinaryPrimitives.ReadInt64LittleEndian(ReadOnlySpan hard)
                for k in 0..8 .. hard.Length - 8 do
                    if BinaryPrimitives.ReadInt64LittleEndian(ReadOnlySpan(hard, k, 8)) <> c then failwith "hard state is a mix of two saves"
                c
        let floor = max reports.HardState previousHardState
        if counter <> floor && counter <> floor + 1L then
            failwithf "hard state %d, but %d was the last reported durable (before: %d)" counter reports.HardState previousHardState
        counter, log.LastIndex, log.Recovery


    /// Starts the worker `kills` times on one directory, kills it at a random moment each time, and checks the files.
    let runKills (seed: int) (kills: int) : Tasks.Task =
      task {
        File.Exists workerDll |> should equal true
        use dir = new TempDir()
        let rnd = Random seed
        let mutable hardState = 0L
        let mutable maxDurable = 0L
        for _ in 1..kills do
            let worker, reports = startWorker dir.Path (rnd.Next())
            try
                let moment = rnd.Next 10
                let reached =
                    if moment = 0 then fun (r: Reports) -> r.Opened // during start-up and recovery
                    else
                        let lines = rnd.Next(1, 200)
                        fun r -> r.DurableLines >= lines && (moment > 2 || r.HardState > 0L)
                do! waitFor worker "the crash worker's reports to reach the kill moment" (fun () -> lock reports (fun () -> reached reports))
            finally
                kill worker
            let counter, last, _ = verify dir.Path reports hardState
            hardState <- counter
            maxDurable <- max maxDurable last
            worker.Process.Dispose()
        maxDurable |> should be (greaterThan 500L)
        hardState |> should be (greaterThan 5L)
      }

// Two classes so xunit runs the two kill sequences in parallel (the children mostly wait on start-up).

type CrashTestsA() =
    [<Fact>]
    member _.``records and hard state reported durable survive SIGKILL at random moments (26 kills)``() =
        CrashHarness.runKills 20240601 26

type CrashTestsB() =
    [<Fact>]
    member _.``records and hard state reported durable survive SIGKILL at random moments (26 more kills)``() =
        CrashHarness.runKills 777 26
