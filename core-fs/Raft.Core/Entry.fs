namespace Raft.Core

/// What a log entry carries.
type Payload<'T> =
    /// A user command, applied to the state machine.
    | Command of 'T
    /// The empty entry a new leader appends to commit entries of earlier terms (§5.4.2).
    | Noop
    /// A configuration entry: the complete configuration that takes effect when appended.
    | Config of Membership

/// One log entry.
type Entry<'T> =
    {
        Index: Index
        Term: Term
        Payload: Payload<'T>
        /// Encoded size of the payload in bytes, as given by the host; drives the byte limits.
        Size: int
    }

/// Persistent state that must be durable before votes or acknowledgements leave the node.
type HardState =
    {
        Term: Term
        /// The node voted for in `Term` (0 when none).
        Vote: NodeId
        /// The commit index known when written; not fsynced on every advance.
        Commit: Index
        Config: ConfigState
    }

/// Describes a state-machine snapshot: the last index and term it covers and the configuration at that index.
type SnapshotMeta =
    {
        Index: Index
        Term: Term
        Config: ConfigState
    }
