/// Crash tests of the shared log: the worker (tests/Raft.CrashWorker, `shared` mode) writes 40 groups into one
/// SharedLog with 64 KiB files, in rounds shaped like the node host's group commit (entries, then each group's hard
/// state, one commit), compacting groups as they grow so that files rotate and are deleted every few seconds, except
/// four groups that never compact, whose entries the log relocates so old files can go. It is
/// killed with SIGKILL at random moments, including during start-up and recovery; after each kill the log is reopened
/// and checked: every entry reported durable is present and intact in its group, no group has a hole, and each
/// group's hard state is the one last reported or the one staged after it.
namespace Raft.Storage.Tests

open System
open System.Buffers.Binary
open System.Collections.Generic
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support
open Raft.Tests

module SharedCrashHarness =
    let groups = 40L
    let options () = SharedLogOptions(FileSize = 65536L, ZeroAheadBytes = 16384)

    /// What the worker reported durable, per group.
    type Reports() =
        member val Opened = false with get, set
        member val Lines = 0 with get, set
        member val Relocated = 0L with get, set
        member val Durable = Dictionary<int64, int64>()
        member val HardState = Dictionary<int64, int64>()

    let start (dir: string) (seed: int) =
        let reports = Reports()
        let worker =
            CrashHarness.launch [ dir; string seed; "shared" ] (fun body ->
                let parts = body.Split ' '
                lock reports (fun () ->
                    match parts[0] with
                    | "O" -> reports.Opened <- true
                    | "D" ->
                        reports.Durable[int64 parts[1]] <- int64 parts[2]
                        reports.Lines <- reports.Lines + 1
                    | "H" -> reports.HardState[int64 parts[1]] <- int64 parts[2]
                    | "M" -> reports.Relocated <- int64 parts[1]
                    | _ -> ()))
        worker, reports

    /// Reopens the log and checks it against the reports; returns each group's hard state counter.
    let verify (dir: string) (reports: Reports) (previous: Dictionary<int64, int64>) =
        use log = SharedLog.Open(dir, options ())
        let counters = Dictionary<int64, int64>()
        for g in 1L .. groups do
            let reported = match reports.Durable.TryGetValue g with | true, i -> i | _ -> 0L
            if reported > 0L && not (log.Contains g) then failwithf "group %d was reported durable up to %d but is not in the log" g reported
            if log.Contains g then
                let view = log.Group g
                if view.LastIndex < reported then failwithf "group %d: index %d was reported durable but its log ends at %d" g reported view.LastIndex
                let mutable next = view.FirstIndex
                while next <= view.LastIndex do
                    for r in view.ReadRange(next, view.LastIndex, 1L <<< 20) do
                        if r.Index <> next then failwithf "group %d: hole, expected index %d, got %d" g next r.Index
                        if r.Term <> CrashHarness.termOf r.Index then failwithf "group %d: index %d has term %d" g r.Index r.Term
                        if not (CrashHarness.payloadIsIntact r.Index r.Payload.Span) then failwithf "group %d: index %d has a damaged payload" g r.Index
                        next <- next + 1L
                let counter = match log.HardState(g).Load() with | null -> 0L | h -> BinaryPrimitives.ReadInt64LittleEndian(ReadOnlySpan h)
                let floor = max (match reports.HardState.TryGetValue g with | true, c -> c | _ -> 0L) (match previous.TryGetValue g with | true, c -> c | _ -> 0L)
                if counter <> floor && counter <> floor + 1L then
                    failwithf "group %d: hard state %d, but %d was the last reported durable" g counter floor
                counters[g] <- counter
        counters, log.FilesDeleted, log.EntriesRelocated

    let runKills (seed: int) (kills: int) : System.Threading.Tasks.Task =
        task {
            File.Exists CrashHarness.workerDll |> should equal true
            use dir = new TempDir()
            let rnd = Random seed
            let mutable counters = Dictionary<int64, int64>()
            let mutable deleted = 0L
            let mutable relocated = 0L
            for _ in 1 .. kills do
                let worker, reports = start dir.Path (rnd.Next())
                try
                    let lines = if rnd.Next 10 = 0 then 0 else rnd.Next(1, 400) // 0: during start-up and recovery
                    do! CrashHarness.waitFor worker "the shared-log crash worker to reach the kill moment" (fun () ->
                        lock reports (fun () -> reports.Opened && reports.Lines >= lines))
                finally
                    CrashHarness.kill worker
                let c, d, m = verify dir.Path reports counters
                counters <- c
                deleted <- deleted + d
                relocated <- relocated + m + reports.Relocated
                worker.Process.Dispose()
            // The kills fell among rotations, relocations and deletions, and the groups made progress.
            Seq.sum counters.Values |> should be (greaterThan 200L)
            deleted |> should be (greaterThan 0L)
            relocated |> should be (greaterThan 0L)
        }

type SharedCrashTests() =
    [<Fact>]
    member _.``every group's entries and hard state reported durable survive SIGKILL at random moments (50 kills)``() =
        SharedCrashHarness.runKills 5150 50
