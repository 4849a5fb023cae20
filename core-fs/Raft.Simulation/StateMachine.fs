namespace Raft.Simulation

open Raft.Core

/// A user state machine under test. The simulator keeps one instance per node and per incarnation: a crash
/// discards it and the node re-applies the committed log into a fresh one (or restores a snapshot).
type IStateMachine<'T> =
    /// Applies one committed command written in `term` (called in index order, exactly once per index per
    /// instance) and returns what the proposing client is told (null when the state machine returns nothing).
    abstract Apply: index: Index * term: Term * command: 'T -> obj | null
    /// A digest of the whole state once everything up to `index` is applied, or 0 to opt out at this index. Nodes
    /// at the same index must report the same digest; a difference means the state machine is not deterministic
    /// (the simulator flags it). Called after every apply and after every snapshot taken or installed.
    abstract Fingerprint: index: Index -> uint64
    /// The state as bytes, for snapshots.
    abstract Snapshot: unit -> byte[]
    /// Replaces the state with one produced by `Snapshot`.
    abstract Restore: snapshot: byte[] -> unit

/// Client reads of a user state machine. Queries and answers are opaque to the simulator: the spec draws them,
/// a node's state machine answers them, and the spec's history check reads them.
type ReadView<'T> =
    {
        /// The next query a client sends, drawn from the clients' generator.
        Next: Rng -> obj
        /// A node's answer to a query, read from its state machine.
        Answer: IStateMachine<'T> -> obj -> obj | null
        /// Served at once by the node asked, from its own state machine, without ReadIndex: the read path of a
        /// service that reads its local replica. Not linearizable; the history check is expected to catch it.
        Local: bool
        /// Renders a query for traces.
        Describe: obj -> string
    }

/// How the simulator builds and exercises a user's state machine.
type StateMachineSpec<'T> =
    {
        /// A fresh, empty state machine for a node.
        Create: NodeId -> IStateMachine<'T>
        /// The next client command and its encoded size in bytes. `sequence` is unique within a run; putting it
        /// in the command makes every proposed entry distinct, so two different entries never compare equal.
        NextCommand: Rng -> int64 -> struct ('T * int)
        /// Renders a command for violation reports.
        Describe: 'T -> string
        /// Client reads (issued at `SimOptions.ReadRate`); ValueNone: clients only propose.
        Reads: ReadView<'T> voption
        /// Judges a seed's client history once the run is over (a violation fails the seed as "linearizability");
        /// ValueNone: no history check.
        CheckHistory: (ClientHistory<'T> -> HistoryVerdict) voption
    }
