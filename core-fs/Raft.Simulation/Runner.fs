namespace Raft.Simulation

open System.Threading.Tasks

/// Totals over many seeds.
type Summary =
    {
        Seeds: int
        Steps: int64
        Faults: int64
        Commits: int64
        Elections: int64
        Acknowledged: int64
        Crashes: int64
        Partitions: int64
        /// The seeds that broke an invariant, in seed order.
        Failed: SeedResult list
    }

    /// Number of seeds with a violation.
    member s.Violations = s.Failed.Length

    /// The one-line account: "N seeds, M steps, F faults, C commits, V violations".
    member s.Line = $"{s.Seeds} seeds, {s.Steps} steps, {s.Faults} faults, {s.Commits} commits, {s.Violations} violations"

/// Entry points: run one seed or a range of seeds, with the built-in key-value state machine or your own.
module Simulator =
    /// Runs one seed against a user's state machine. With `trace`, the result lists notable events.
    let runWith (spec: StateMachineSpec<'T>) (options: SimOptions) (seed: uint64) (trace: bool) : SeedResult =
        match SimOptions.validate options with
        | Error e -> invalidArg (nameof options) e
        | Ok options -> Cluster<'T>(spec, options, seed, trace).Run()

    /// Runs one seed with the built-in key-value state machine.
    let run (options: SimOptions) (seed: uint64) : SeedResult = runWith Kv.spec options seed false

    /// Runs `count` seeds from `first`, in parallel when asked (results are identical either way), calling
    /// `onResult` for every seed in seed order. Returns the totals.
    let runManyWith
        (spec: StateMachineSpec<'T>)
        (options: SimOptions)
        (first: uint64)
        (count: int)
        (parallel': bool)
        (trace: bool)
        (onResult: SeedResult -> unit)
        : Summary =
        let mutable summary =
            { Seeds = 0; Steps = 0L; Faults = 0L; Commits = 0L; Elections = 0L; Acknowledged = 0L; Crashes = 0L; Partitions = 0L; Failed = [] }

        let failed = ResizeArray()
        // Batches keep the output streaming in seed order while both cores work.
        let batch = if parallel' then 32 else 1
        let mutable start = 0

        while start < count do
            let size = min batch (count - start)
            let results = Array.zeroCreate<SeedResult> size
            let one i = results[i] <- runWith spec options (first + uint64 (start + i)) trace

            if parallel' then Parallel.For(0, size, one) |> ignore
            else for i in 0 .. size - 1 do one i

            for r in results do
                let s = r.Stats

                summary <-
                    { summary with
                        Seeds = summary.Seeds + 1
                        Steps = summary.Steps + s.Steps
                        Faults = summary.Faults + s.Faults
                        Commits = summary.Commits + s.Commits
                        Elections = summary.Elections + s.Elections
                        Acknowledged = summary.Acknowledged + s.Acknowledged
                        Crashes = summary.Crashes + s.Crashes
                        Partitions = summary.Partitions + s.Partitions }

                if r.Failure.IsSome then failed.Add r
                onResult r

            start <- start + size

        { summary with Failed = List.ofSeq failed }

    /// The first of `count` seeds from `first` that breaks an invariant (seeds run one by one, stopping there).
    let findViolationWith (spec: StateMachineSpec<'T>) (options: SimOptions) (first: uint64) (count: int) : SeedResult option =
        Seq.init count (fun i -> first + uint64 i)
        |> Seq.map (fun seed -> runWith spec options seed false)
        |> Seq.tryFind (fun r -> r.Failure.IsSome)

    /// Runs `count` seeds from `first` with the built-in key-value state machine, in parallel.
    let runMany (options: SimOptions) (first: uint64) (count: int) : Summary =
        runManyWith Kv.spec options first count true false ignore
