namespace Raft.Simulation

open System
open System.Globalization
open Raft.Core

/// What the command line asks for: the options of every run, which seeds, and how much to print.
type RunRequest =
    {
        Options: SimOptions
        /// First seed of the range.
        FirstSeed: uint64
        /// Number of consecutive seeds.
        Seeds: int
        /// Print each seed's account and its notable events.
        Verbose: bool
        /// Run seeds on every core (results are still reported in seed order and are identical).
        Parallel: bool
    }

/// The simulator's command line: parsing, usage, and the exact replay command of a seed. Parsing and printing
/// share one table of flags, so a printed replay command always parses back to the same options.
module Args =
    let private inv = CultureInfo.InvariantCulture
    let private float' (s: string) = Double.Parse(s, NumberStyles.Float, inv)
    // "R" round-trips every double exactly, so a replayed run draws the very same fault decisions.
    let private showFloat (f: float) = f.ToString("R", inv)

    type private Flag =
        {
            Name: string
            Help: string
            Set: string -> SimOptions -> SimOptions
            Get: SimOptions -> string
            /// A switch takes no value: given means on ("true"), absent means off.
            Switch: bool
        }

    let private intFlag name help (get: SimOptions -> int) set =
        { Name = name; Help = help; Set = (fun v o -> set o (Int32.Parse(v, inv))); Get = (fun o -> string (get o)); Switch = false }

    let private longFlag name help (get: SimOptions -> int64) set =
        { Name = name; Help = help; Set = (fun v o -> set o (Int64.Parse(v, inv))); Get = (fun o -> string (get o)); Switch = false }

    let private rateFlag name help (get: FaultRates -> float) set =
        { Name = name
          Help = help
          Set = (fun v o -> { o with Faults = set o.Faults (float' v) })
          Get = (fun o -> showFloat (get o.Faults))
          Switch = false }

    let private optionRate name help (get: SimOptions -> float) set =
        { Name = name; Help = help; Set = (fun v o -> set o (float' v)); Get = (fun o -> showFloat (get o)); Switch = false }

    let private switch name help (get: SimOptions -> bool) set =
        { Name = name; Help = help; Set = (fun v o -> set o (v = "true")); Get = (fun o -> if get o then "true" else "false"); Switch = true }

    // Planted bugs by case name, read off the union so that bugs the core adds later work without a change here.
    let private bugCases = FSharp.Reflection.FSharpType.GetUnionCases(typeof<PlantedBug>)

    let private parseBug (s: string) =
        match bugCases |> Array.tryFind (fun c -> c.Name = s.Trim()) with
        | Some c -> unbox<PlantedBug> (FSharp.Reflection.FSharpValue.MakeUnion(c, [||]))
        | None ->
            let known = bugCases |> Array.map (fun c -> c.Name) |> String.concat ", "
            failwith $"unknown planted bug '{s}' ({known})"

    let private showBug (b: PlantedBug) =
        let case, _ = FSharp.Reflection.FSharpValue.GetUnionFields(b, typeof<PlantedBug>)
        case.Name

    let private flags: Flag list =
        [
            intFlag "nodes" "cluster size" (fun o -> o.Nodes) (fun o v -> { o with Nodes = v })
            intFlag "steps" "simulator events per seed" (fun o -> o.Steps) (fun o v -> { o with Steps = v })
            rateFlag "drop" "chance a message is lost" (fun f -> f.Drop) (fun f v -> { f with Drop = v })
            rateFlag "dup" "chance a message is delivered twice" (fun f -> f.Duplicate) (fun f v -> { f with Duplicate = v })
            rateFlag "delay" "chance a message is held back (reordering)" (fun f -> f.Delay) (fun f v -> { f with Delay = v })
            rateFlag "crash" "per tick: chance a node crashes" (fun f -> f.Crash) (fun f v -> { f with Crash = v })
            rateFlag "torn" "on a crash: chance the write in progress is torn" (fun f -> f.TornWrite) (fun f v -> { f with TornWrite = v })
            rateFlag "partition" "per tick: chance a partition starts" (fun f -> f.Partition) (fun f v -> { f with Partition = v })
            rateFlag "one-way" "fraction of partitions that are one-way" (fun f -> f.OneWay) (fun f v -> { f with OneWay = v })
            rateFlag "leader-bias" "chance a crash/partition targets the leader" (fun f -> f.LeaderBias) (fun f v -> { f with LeaderBias = v })
            rateFlag "churn" "chance a new leader is struck within a few ticks" (fun f -> f.LeaderChurn) (fun f v -> { f with LeaderChurn = v })
            optionRate "propose" "per tick: chance a client proposes" (fun o -> o.ProposeRate) (fun o v -> { o with ProposeRate = v })
            optionRate "reads" "per tick: chance a client reads a key (0: no reads, no linearizability check)" (fun o -> o.ReadRate) (fun o v -> { o with ReadRate = v })
            switch "lease" "serve reads under the leader lease (ReadMode LeaseBased)" (fun o -> o.LeaseReads) (fun o v -> { o with LeaseReads = v })
            intFlag "lease-drift-ticks" "the lease's clock-drift margin in ticks" (fun o -> o.LeaseDriftTicks) (fun o v -> { o with LeaseDriftTicks = v })
            intFlag "clock-drift" "each node's clock runs up to this many per mille fast or slow" (fun o -> o.ClockDriftPermille) (fun o v -> { o with ClockDriftPermille = v })
            switch "no-check-quorum" "leaders keep leading without a quorum (CheckQuorum off)" (fun o -> not o.CheckQuorum) (fun o v -> { o with CheckQuorum = not v })
            optionRate "reconfig" "per tick: chance the leader is asked for a membership change" (fun o -> o.ReconfigRate) (fun o v -> { o with ReconfigRate = v })
            optionRate "transfer" "per tick: chance the leader is asked to transfer leadership" (fun o -> o.TransferRate) (fun o v -> { o with TransferRate = v })
            intFlag "spares" "extra nodes that start empty (Node.join) for membership changes to add" (fun o -> o.Spares) (fun o v -> { o with Spares = v })
            intFlag "history" "client operations recorded for the linearizability check" (fun o -> o.HistoryLimit) (fun o v -> { o with HistoryLimit = v })
            intFlag "batch" "largest number of commands per proposal" (fun o -> o.MaxBatch) (fun o v -> { o with MaxBatch = v })
            longFlag "tick-time" "time units per Raft tick" (fun o -> o.TickTime) (fun o v -> { o with TickTime = v })
            longFlag "min-latency" "shortest message latency" (fun o -> o.MinLatency) (fun o v -> { o with MinLatency = v })
            longFlag "max-latency" "longest normal message latency" (fun o -> o.MaxLatency) (fun o v -> { o with MaxLatency = v })
            longFlag "long-delay" "largest extra delay of a held-back message" (fun o -> o.LongDelay) (fun o v -> { o with LongDelay = v })
            longFlag "min-disk" "shortest disk write latency" (fun o -> o.MinDiskLatency) (fun o v -> { o with MinDiskLatency = v })
            longFlag "max-disk" "longest disk write latency" (fun o -> o.MaxDiskLatency) (fun o v -> { o with MaxDiskLatency = v })
            longFlag "apply-latency" "longest apply/load completion latency" (fun o -> o.MaxApplyLatency) (fun o v -> { o with MaxApplyLatency = v })
            intFlag "downtime" "largest ticks a crashed node stays down" (fun o -> o.DowntimeTicks) (fun o v -> { o with DowntimeTicks = v })
            intFlag "partition-ticks" "largest ticks a partition lasts" (fun o -> o.PartitionTicks) (fun o v -> { o with PartitionTicks = v })
            intFlag "election-ticks" "Raft election timeout in ticks" (fun o -> o.ElectionTicks) (fun o v -> { o with ElectionTicks = v })
            intFlag "heartbeat-ticks" "Raft heartbeat interval in ticks" (fun o -> o.HeartbeatTicks) (fun o v -> { o with HeartbeatTicks = v })
            intFlag "window" "entry payloads the core keeps in memory" (fun o -> o.WindowEntries) (fun o v -> { o with WindowEntries = v })
            longFlag "max-msg-bytes" "byte budget of one AppendEntries" (fun o -> o.MaxMsgBytes) (fun o v -> { o with MaxMsgBytes = v })
            longFlag "snapshot-entries" "applied entries between snapshots (0: none)" (fun o -> o.SnapshotEntries) (fun o v -> { o with SnapshotEntries = v })
            longFlag "trailing" "entries kept behind a snapshot" (fun o -> o.CompactionTrailing) (fun o v -> { o with CompactionTrailing = v })
            intFlag "restore-tail" "entries handed back on restart" (fun o -> o.RestoreTail) (fun o v -> { o with RestoreTail = v })
            intFlag "settle" "calm ticks at the end, then liveness checks (0: none)" (fun o -> o.SettleTicks) (fun o v -> { o with SettleTicks = v })
            { Name = "plant"; Help = "comma-separated planted bugs, e.g. CommitOldTermByCounting,VoteWithoutLogCheck"
              Set = (fun v o -> { o with PlantedBugs = v.Split(',', StringSplitOptions.RemoveEmptyEntries) |> Seq.map parseBug |> List.ofSeq })
              Get = (fun o -> o.PlantedBugs |> List.map showBug |> String.concat ",")
              Switch = false }
        ]

    /// The flags of `options` that differ from the defaults, after `--nodes`, `--seed` and `--steps` (always given).
    let replayArgs (options: SimOptions) (seed: uint64) : string =
        let d = SimOptions.defaults
        let always = [ $"--nodes {options.Nodes}"; $"--seed {seed}"; $"--steps {options.Steps}" ]

        let changed =
            flags
            |> List.filter (fun f -> f.Name <> "nodes" && f.Name <> "steps" && f.Get options <> f.Get d)
            |> List.map (fun f -> if f.Switch then $"--{f.Name}" else $"--{f.Name} {f.Get options}")

        String.Join(" ", always @ changed)

    /// The exact command that replays one seed from the repository root.
    let replayCommand (options: SimOptions) (seed: uint64) : string =
        "dotnet run --project examples/Raft.Simulator -c Release -- " + replayArgs options seed

    /// The usage text.
    let usage: string =
        let lines =
            [
                "Raft.Simulator: runs whole Raft clusters under faults from seeds and checks safety after every step."
                ""
                "  --seed S            run the single seed S"
                "  --seeds N           run N consecutive seeds (default 1000)"
                "  --first-seed S      first seed of the range (default 1)"
                "  --no-faults         turn every fault off"
                "  --figure8           3 nodes, busy clients, most new leaders struck at once (finds old-term commits)"
                "  --everything        reads checked for linearizability, membership changes with 2 spares, transfers,"
                "                      snapshots every 40 entries (later flags override)"
                "  --verbose           print each seed's account and notable events"
                "  --sequential        run seeds on one core"
                "  --help              this text"
            ]
            @ (flags
               |> List.map (fun f ->
                   if f.Switch then sprintf "  --%-18s %s" f.Name f.Help
                   else sprintf "  --%-18s %s (default %s)" (f.Name + " X") f.Help (f.Get SimOptions.defaults)))

        String.Join(Environment.NewLine, lines)

    /// Parses a command line; the error explains the first bad argument. `--help` is reported as Error usage.
    let parse (argv: string[]) : Result<RunRequest, string> =
        let rec go (request: RunRequest) (args: string list) =
            match args with
            | [] -> Ok request
            | "--help" :: _
            | "-h" :: _ -> Error usage
            | "--verbose" :: rest -> go { request with Verbose = true } rest
            | "--sequential" :: rest -> go { request with Parallel = false } rest
            | "--figure8" :: rest ->
                let f = SimOptions.figure8
                let o = request.Options
                go { request with Options = { o with Nodes = f.Nodes; ProposeRate = f.ProposeRate; Faults = f.Faults } } rest
            | "--everything" :: rest ->
                let e = SimOptions.everything
                let o = request.Options

                let o =
                    { o with
                        Spares = e.Spares
                        ReadRate = e.ReadRate
                        ReconfigRate = e.ReconfigRate
                        TransferRate = e.TransferRate
                        SnapshotEntries = e.SnapshotEntries }

                go { request with Options = o } rest
            | name :: rest when flags |> List.exists (fun f -> f.Switch && "--" + f.Name = name) ->
                let f = flags |> List.find (fun f -> "--" + f.Name = name)
                go { request with Options = f.Set "true" request.Options } rest
            | "--no-faults" :: rest -> go { request with Options = { request.Options with Faults = FaultRates.none } } rest
            | "--seed" :: v :: rest -> go { request with FirstSeed = UInt64.Parse(v, inv); Seeds = 1 } rest
            | "--seeds" :: v :: rest -> go { request with Seeds = Int32.Parse(v, inv) } rest
            | "--first-seed" :: v :: rest -> go { request with FirstSeed = UInt64.Parse(v, inv) } rest
            | name :: v :: rest when name.StartsWith "--" ->
                match flags |> List.tryFind (fun f -> "--" + f.Name = name) with
                | Some f -> go { request with Options = f.Set v request.Options } rest
                | None -> Error $"unknown option {name}{Environment.NewLine}{usage}"
            | arg :: _ -> Error $"unexpected argument '{arg}' (missing value?){Environment.NewLine}{usage}"

        let initial = { Options = SimOptions.defaults; FirstSeed = 1UL; Seeds = 1000; Verbose = false; Parallel = true }

        try
            match go initial (List.ofArray argv) with
            | Ok r ->
                match SimOptions.validate r.Options with
                | Ok _ when r.Seeds < 0 -> Error "--seeds must not be negative"
                | Ok _ -> Ok r
                | Error e -> Error e
            | Error e -> Error e
        with
        | :? FormatException as e -> Error $"bad number: {e.Message}"
        | :? OverflowException as e -> Error $"number out of range: {e.Message}"
        | Failure message -> Error message
