namespace Raft.Simulation

open Raft.Core

/// Fault probabilities; 0 turns a fault off. Message faults are drawn per message, node and network faults
/// per tick of the simulated clock.
type FaultRates =
    {
        /// Chance that a message is lost.
        Drop: float
        /// Chance that a message is delivered twice (the copy at an independent delay).
        Duplicate: float
        /// Chance that a message is held back by an extra delay of up to `SimOptions.LongDelay`, so later
        /// messages overtake it (reordering).
        Delay: float
        /// Per tick: chance that one node crashes, losing every write not yet durable.
        Crash: float
        /// On a crash: chance that the write in progress is torn (a durable prefix of its entries survives).
        TornWrite: float
        /// Per tick: chance that a network partition starts (one at a time).
        Partition: float
        /// Fraction of partitions that cut links in one direction only.
        OneWay: float
        /// Chance that a crash or partition singles out the current leader (Figure-8 style schedules).
        LeaderBias: float
        /// Chance that a newly elected leader is struck (crashed or isolated) within a few ticks of its election,
        /// before its own entries reach a majority: the schedule behind the paper's Figure 8.
        LeaderChurn: float
    }

/// Fault rate presets.
module FaultRates =
    /// No faults at all: a perfect network and disks that never crash.
    let none =
        { Drop = 0.0; Duplicate = 0.0; Delay = 0.0; Crash = 0.0; TornWrite = 0.0; Partition = 0.0; OneWay = 0.0; LeaderBias = 0.0; LeaderChurn = 0.0 }

    /// Every fault on at rates that keep a 5-node cluster making progress most of the time.
    let defaults =
        { Drop = 0.02; Duplicate = 0.02; Delay = 0.05; Crash = 0.01; TornWrite = 0.5; Partition = 0.01; OneWay = 0.3; LeaderBias = 0.5; LeaderChurn = 0.1 }

/// Everything that shapes one simulated run besides the seed. Times are in simulated time units; a tick of
/// every node's Raft clock is `TickTime` units (think of a unit as a millisecond).
type SimOptions =
    {
        /// Cluster size (voters).
        Nodes: int
        /// Simulator events processed per seed (each delivery, tick, disk completion, ... is one step).
        Steps: int
        Faults: FaultRates
        /// Time units per Raft tick.
        TickTime: int64
        /// Network latency range of a normal delivery.
        MinLatency: int64
        MaxLatency: int64
        /// Largest extra delay of a delayed message.
        LongDelay: int64
        /// Time for a write to become durable (a write also waits for every earlier write).
        MinDiskLatency: int64
        MaxDiskLatency: int64
        /// Largest time the state machine takes to report an Apply done (and the log to answer a load).
        MaxApplyLatency: int64
        /// Largest number of ticks a crashed node stays down.
        DowntimeTicks: int
        /// Largest number of ticks a partition lasts.
        PartitionTicks: int
        /// Per tick: chance that a client proposes.
        ProposeRate: float
        /// Largest number of commands in one proposal.
        MaxBatch: int
        /// Raft election timeout T, in ticks.
        ElectionTicks: int
        /// Raft heartbeat interval, in ticks.
        HeartbeatTicks: int
        /// Entry payloads the core keeps in memory; small values exercise LoadEntries.
        WindowEntries: int
        /// Byte budget of one AppendEntries; small values split catch-up into several messages, so a follower
        /// can acknowledge an old entry before the new leader's own (the Figure 8 situation).
        MaxMsgBytes: int64
        /// Applied entries between snapshots the core asks for (0: never); small values exercise compaction,
        /// InstallSnapshot and restarts from a snapshot.
        SnapshotEntries: int64
        /// Entries kept behind a snapshot for slow followers.
        CompactionTrailing: int64
        /// Newest entries handed back in RestoreInfo.Tail on restart; older ones are loaded on demand.
        RestoreTail: int
        /// Ticks of calm (faults off, everyone up, network healed) after the steps, ending in liveness checks;
        /// 0 skips the calm phase and its checks.
        SettleTicks: int
        /// Bugs planted in every node (to prove that the checks catch them).
        PlantedBugs: PlantedBug list
        /// Extra nodes beyond `Nodes` that start with `Node.join`: members of nothing until a membership change
        /// adds them. Node ids run 1..Nodes+Spares.
        Spares: int
        /// Per tick: chance that a client reads a key (ReadIndex, or a lease read with `LeaseReads`); 0 turns
        /// reads and the linearizability check off.
        ReadRate: float
        /// Serve reads under the leader lease (ReadMode LeaseBased; needs CheckQuorum).
        LeaseReads: bool
        /// The lease's clock-drift margin in ticks (RaftOptions.LeaseDriftTicks).
        LeaseDriftTicks: int
        /// Each node's clock runs up to this many parts per thousand fast or slow (a new rate per
        /// incarnation, drawn from the seed). Lease reads are safe only while the drift stays inside the
        /// margin `LeaseDriftTicks` leaves; 0 keeps every clock exact.
        ClockDriftPermille: int
        /// Leaders step down without a quorum (RaftOptions.CheckQuorum).
        CheckQuorum: bool
        /// Per tick: chance that the leader is asked for a membership change (0: never).
        ReconfigRate: float
        /// Per tick: chance that the leader is asked to transfer leadership (0: never).
        TransferRate: float
        /// Client operations recorded for the linearizability check (reads stop being recorded past it), which
        /// keeps the check fast.
        HistoryLimit: int
    }

/// Defaults and validation for <see cref="SimOptions"/>.
module SimOptions =
    /// A 5-node cluster with every fault on, 20,000 steps per seed.
    let defaults =
        {
            Nodes = 5
            Steps = 20_000
            Faults = FaultRates.defaults
            TickTime = 10L
            MinLatency = 1L
            MaxLatency = 6L
            LongDelay = 60L
            MinDiskLatency = 1L
            MaxDiskLatency = 6L
            MaxApplyLatency = 3L
            DowntimeTicks = 60
            PartitionTicks = 80
            ProposeRate = 0.5
            MaxBatch = 3
            ElectionTicks = 10
            HeartbeatTicks = 2
            WindowEntries = 32
            MaxMsgBytes = 256L
            SnapshotEntries = 0L
            CompactionTrailing = 8L
            RestoreTail = 16
            SettleTicks = 150
            PlantedBugs = []
            Spares = 0
            ReadRate = 0.0
            LeaseReads = false
            LeaseDriftTicks = 2
            ClockDriftPermille = 0
            CheckQuorum = true
            ReconfigRate = 0.0
            TransferRate = 0.0
            HistoryLimit = 600
        }

    /// Node slots of a run: the initial voters and the spares.
    let total (o: SimOptions) = o.Nodes + o.Spares

    /// Every feature on: reads checked for linearizability, membership changes (two spare nodes that join
    /// fresh), leader transfers, and snapshots with compaction every 40 entries.
    let everything =
        { defaults with
            Spares = 2
            ReadRate = 0.5
            ReconfigRate = 0.04
            TransferRate = 0.02
            SnapshotEntries = 40L }

    /// A schedule under which the paper's Figure 8 is likely: 3 nodes, busy clients, and most new leaders
    /// struck within a few ticks of their election, so logs diverge across terms and old entries get
    /// re-replicated by later leaders. Finds a leader that commits an old term's entry by counting.
    let figure8 =
        { defaults with
            Nodes = 3
            ProposeRate = 1.0
            Faults = { FaultRates.defaults with LeaderChurn = 0.8 } }

    /// Checks every field; the error names the first bad one.
    let validate (o: SimOptions) : Result<SimOptions, string> =
        let rate (r: float) = r >= 0.0 && r <= 1.0
        let f = o.Faults

        let checks =
            [
                o.Nodes >= 1 && o.Nodes <= 64, "Nodes must be in [1, 64]"
                o.Steps >= 0, "Steps must not be negative"
                List.forall rate [ f.Drop; f.Duplicate; f.Delay; f.Crash; f.TornWrite; f.Partition; f.OneWay; f.LeaderBias; f.LeaderChurn ],
                "fault rates must be in [0, 1]"
                o.TickTime >= 1L, "TickTime must be at least 1"
                o.MinLatency >= 0L && o.MaxLatency >= o.MinLatency, "latency range must be non-negative and ordered"
                o.LongDelay >= 0L, "LongDelay must not be negative"
                o.MinDiskLatency >= 0L && o.MaxDiskLatency >= o.MinDiskLatency, "disk latency range must be non-negative and ordered"
                o.MaxApplyLatency >= 0L, "MaxApplyLatency must not be negative"
                o.DowntimeTicks >= 1, "DowntimeTicks must be at least 1"
                o.PartitionTicks >= 1, "PartitionTicks must be at least 1"
                rate o.ProposeRate, "ProposeRate must be in [0, 1]"
                o.MaxBatch >= 1, "MaxBatch must be at least 1"
                o.ElectionTicks >= 2, "ElectionTicks must be at least 2"
                o.HeartbeatTicks >= 1 && o.HeartbeatTicks < o.ElectionTicks, "HeartbeatTicks must be in [1, ElectionTicks)"
                o.WindowEntries >= 1, "WindowEntries must be at least 1"
                o.MaxMsgBytes >= 1L, "MaxMsgBytes must be at least 1"
                o.RestoreTail >= 0, "RestoreTail must not be negative"
                o.SnapshotEntries >= 0L, "SnapshotEntries must not be negative"
                o.CompactionTrailing >= 0L, "CompactionTrailing must not be negative"
                o.SettleTicks >= 0, "SettleTicks must not be negative"
                o.Spares >= 0 && o.Nodes + o.Spares <= 64, "Spares must be non-negative and Nodes + Spares at most 64"
                rate o.ReadRate, "ReadRate must be in [0, 1]"
                rate o.ReconfigRate, "ReconfigRate must be in [0, 1]"
                rate o.TransferRate, "TransferRate must be in [0, 1]"
                not o.LeaseReads || o.CheckQuorum, "LeaseReads requires CheckQuorum"
                o.LeaseDriftTicks >= 0 && o.LeaseDriftTicks < o.ElectionTicks, "LeaseDriftTicks must be in [0, ElectionTicks)"
                o.ClockDriftPermille >= 0 && o.ClockDriftPermille < 1000, "ClockDriftPermille must be in [0, 1000)"
                o.HistoryLimit >= 0, "HistoryLimit must not be negative"
            ]

        match checks |> List.tryFind (fst >> not) with
        | Some(_, message) -> Error message
        | None -> Ok o

    /// The core options of node `id` in a run of `seed`: the simulator's timing, a small payload window, and a
    /// PRNG seed that differs per node and per incarnation (a restarted node draws new election timeouts).
    let raftOptions (o: SimOptions) (seed: uint64) (id: NodeId) (incarnation: int) : RaftOptions =
        { RaftOptions.defaults id with
            ElectionTicks = o.ElectionTicks
            HeartbeatTicks = o.HeartbeatTicks
            MaxWindowEntries = o.WindowEntries
            MaxSizePerMsg = o.MaxMsgBytes
            SnapshotEntries = o.SnapshotEntries
            CompactionTrailing = o.CompactionTrailing
            SnapshotChunkBytes = 24
            CheckQuorum = o.CheckQuorum
            ReadMode = if o.LeaseReads then LeaseBased else ReadIndexQuorum
            LeaseDriftTicks = o.LeaseDriftTicks
            Seed = Rng.mix (Rng.mix seed (uint64 id)) (uint64 incarnation) }
