namespace Raft.Simulation

/// Counters of one simulated run.
type RunStats =
    {
        /// Simulator events processed (ticks, deliveries, disk completions, completions, faults, clients).
        mutable Steps: int64
        /// Calls of the core's step function.
        mutable CoreSteps: int64
        mutable Messages: int64
        mutable Dropped: int64
        mutable Duplicated: int64
        mutable Delayed: int64
        mutable Crashes: int64
        mutable TornWrites: int64
        mutable Partitions: int64
        mutable Proposals: int64
        mutable ProposalsAccepted: int64
        mutable ProposalsDropped: int64
        /// Proposals whose proposing leader applied them in their term: the writes that must never be lost.
        mutable Acknowledged: int64
        /// Indexes decided (committed somewhere).
        mutable Commits: int64
        /// Terms that had a leader.
        mutable Elections: int64
        /// Snapshots saved and log compactions (once the core takes snapshots).
        mutable Snapshots: int64
        mutable Compactions: int64
        /// Reads served and dropped (once the core serves reads).
        mutable ReadsReady: int64
        mutable ReadsDropped: int64
        /// Client reads issued.
        mutable Reads: int64
        /// Operations in the history checked for linearizability.
        mutable Operations: int64
        /// Configuration changes appended and leader transfers asked for.
        mutable ConfChanges: int64
        mutable Transfers: int64
    }

    /// Faults injected: lost, duplicated and delayed messages, crashes, torn writes and partitions.
    member s.Faults = s.Dropped + s.Duplicated + s.Delayed + s.Crashes + s.TornWrites + s.Partitions

/// Operations on <see cref="RunStats"/>.
module RunStats =
    /// All zeros.
    let zero () =
        {
            Steps = 0L; CoreSteps = 0L; Messages = 0L; Dropped = 0L; Duplicated = 0L; Delayed = 0L; Crashes = 0L
            TornWrites = 0L; Partitions = 0L; Proposals = 0L; ProposalsAccepted = 0L; ProposalsDropped = 0L
            Acknowledged = 0L; Commits = 0L; Elections = 0L; Snapshots = 0L; Compactions = 0L; ReadsReady = 0L; ReadsDropped = 0L
            Reads = 0L; Operations = 0L; ConfChanges = 0L; Transfers = 0L
        }

/// A violation with where it happened.
type Failure =
    {
        Violation: Violation
        /// Simulator step (1-based) at which it was found.
        Step: int64
        /// Simulated time at which it was found.
        Time: int64
    }

/// The outcome of one seed.
type SeedResult =
    {
        Seed: uint64
        Options: SimOptions
        Stats: RunStats
        /// The first violation, if any.
        Failure: Failure option
        /// A digest of every event of the run: equal seeds and options give equal fingerprints.
        Fingerprint: uint64
        /// Notable events (elections, crashes, partitions, ...), oldest first, when tracing was on.
        Events: string list
    }

    /// The exact command that replays this seed.
    member r.ReplayCommand = Args.replayCommand r.Options r.Seed

    /// A short account of the run, e.g. for --verbose.
    member r.Account =
        let s = r.Stats
        let verdict =
            match r.Failure with
            | None -> "ok"
            | Some f -> $"VIOLATION of {f.Violation.Property} at step {f.Step}"

        $"seed {r.Seed}: {verdict}; {s.Steps} steps, {s.Elections} elections, {s.Commits} commits, {s.Acknowledged} acknowledged of {s.Proposals} proposals, "
        + $"{s.Crashes} crashes ({s.TornWrites} torn writes), {s.Partitions} partitions, {s.Dropped} dropped / {s.Duplicated} duplicated / {s.Delayed} delayed of {s.Messages} messages, "
        + $"{s.ReadsReady} reads served of {s.Reads}, {s.Operations} operations checked, {s.ConfChanges} configuration changes, {s.Transfers} transfers, {s.Snapshots} snapshots"

    /// The report printed for a violation: what broke, where, and the replay command.
    member r.ViolationReport =
        match r.Failure with
        | None -> ""
        | Some f ->
            String.concat
                System.Environment.NewLine
                [ $"VIOLATION seed {r.Seed}: {f.Violation.Property} at step {f.Step} (time {f.Time})"
                  "  " + f.Violation.Detail.ReplaceLineEndings(System.Environment.NewLine + "  ")
                  $"  replay: {r.ReplayCommand}" ]
