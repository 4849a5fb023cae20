namespace Raft.Simulation

open Raft.Core

/// What the simulator's clock delivers next. Node events carry the node's incarnation: events scheduled
/// before a crash are void afterwards.
type internal SimEvent<'T> =
    | TickNode of node: int * incarnation: int
    | Deliver of Message<'T>
    | DiskDone of node: int * incarnation: int
    | Feed of node: int * incarnation: int * Input<'T>
    | Restart of node: int
    | CrashNode of node: int * incarnation: int
    /// Crash or isolate the node if it still leads this term.
    | StrikeLeader of node: int * incarnation: int * term: Term
    | Heal
    | FaultTick
    | ClientTick

/// One node as its host sees it: the core state (none while crashed), its disk and its state machine.
type internal Host<'T> =
    {
        Id: int
        Disk: Disk<'T>
        mutable State: State<'T> voption
        mutable Machine: IStateMachine<'T>
        mutable Incarnation: int
        /// A crash waits for this node's next write, to land while the write is in flight (a torn write).
        mutable CrashArmed: bool
        /// This incarnation's clock: ticks counted from `ClockStart`, each lasting TickTime * RatePermille / 1000
        /// (computed from the count, so rounding never accumulates).
        mutable ClockStart: int64
        mutable ClockTicks: int64
        mutable RatePermille: int64
    }
