namespace Raft.Core

/// Why a proposal, read or request was refused.
type DropReason =
    /// This node is not the leader; the effect carries a leader hint when one is known.
    | NotLeader
    /// A leadership transfer is in progress.
    | TransferInProgress
    /// The leader's uncommitted bytes would exceed MaxUncommittedBytes.
    | UncommittedLimit
    /// A configuration change is already pending.
    | ConfigChangePending
    /// The configuration change is unsafe or malformed; the text says why.
    | InvalidConfigChange of string
    /// Leadership was lost (or the node stepped down) before the request completed.
    | LeadershipLost
    /// A leadership transfer request that cannot be honoured; the text says why.
    | InvalidTransfer of string
    /// A leadership transfer that was started and then given up; the text says why.
    | TransferAborted of string

/// Commands proposed together; each command carries its encoded size for the byte limits.
type Proposal<'T> =
    {
        /// The host's correlation tag, echoed in ProposalAccepted / ProposalDropped.
        Tag: int64
        Commands: struct ('T * int)[]
    }

/// Who asked the host to load entries.
type LoadPurpose =
    /// Entries to replicate to a peer whose next index fell behind the in-memory window.
    | ForPeer of NodeId
    /// Committed entries to apply that are no longer in memory (after a restart).
    | ForApply

/// Where a host write ended: the last (index, term) of a Persist's entries, echoed back to the core.
[<Struct>]
type LogPosition = { Index: Index; Term: Term }

/// A host's answer to LoadEntries.
type LoadedEntries<'T> =
    {
        Purpose: LoadPurpose
        /// Entries from the requested first index on (possibly fewer than asked, never none unless compacted).
        Entries: Entry<'T>[]
        /// True when the requested range was compacted away (the peer needs a snapshot).
        Compacted: bool
    }

/// Everything that can happen to a node: the core's only inputs.
type Input<'T> =
    /// One unit of logical time.
    | Tick
    /// A message from another node.
    | Receive of Message<'T>
    /// Commands to append (leader) or to refuse with a reason.
    | Propose of Proposal<'T>
    /// A configuration change to append (leader only).
    | ProposeConfChange of tag: int64 * change: ConfChange
    /// Start an election now (tests and operators).
    | Campaign
    /// A linearizable read; completes with ReadReady or ReadDropped carrying the tag.
    | ReadIndex of tag: int64
    /// Hand leadership to the given node.
    | TransferLeadership of target: NodeId
    /// A Persist effect's entries are durable (the ABA guard checks the position still holds).
    | Persisted of LogPosition
    /// The state machine applied everything up to this index.
    | Applied of Index
    /// Entries the core asked for with LoadEntries.
    | EntriesLoaded of LoadedEntries<'T>
    /// The state machine wrote the snapshot the core asked for.
    | SnapshotSaved of SnapshotMeta
    /// Snapshot bytes for a chunk the core asked for with ReadSnapshotChunk.
    | SnapshotChunkLoaded of To: NodeId * chunk: SnapshotChunk
    /// The transport could not reach the peer; it is probed again rather than streamed to.
    | Unreachable of NodeId

/// A write the host must make durable, in order with every earlier Persist, before sending ThenSend. A crash may
/// tear it, but only in this order: its entries (a prefix of them), then its snapshot (whole or not at all), then its
/// hard state. The hard state must never be durable without the entries and the snapshot of its own write: its
/// commit index may count on them. The entries may be durable without their hard state; a restart therefore takes
/// the configuration from the log (RestoreInfo.Configs), not from the hard state.
type PersistRequest<'T> =
    {
        /// New hard state, when term, vote or configuration changed (commit alone never asks for one).
        HardState: HardState voption
        /// Entries to append; the log is truncated at Entries[0].Index first. Empty when none.
        Entries: Entry<'T>[]
        /// A received snapshot chunk to write; on the last chunk the snapshot replaces the log and state machine.
        Snapshot: SnapshotChunk voption
        /// Messages that may leave only after this write (and every earlier one) is durable: votes and acks.
        ThenSend: Message<'T> list
    }

/// What the role of a node is, for reporting.
type RoleKind =
    | FollowerRole
    | PreCandidateRole
    | CandidateRole
    | LeaderRole

/// Everything the core asks the host to do: data, never closures.
type Effect<'T> =
    /// Make entries / hard state / a snapshot chunk durable, then send the attached messages.
    | Persist of PersistRequest<'T>
    /// Send a message now.
    | Send of Message<'T>
    /// Apply committed entries, in order; answer with Applied.
    | Apply of Entry<'T>[]
    /// Read entries [From, To] from the host log; answer with EntriesLoaded.
    | LoadEntries of purpose: LoadPurpose * from: Index * upTo: Index
    /// The proposal with this tag was appended at FirstIndex.. in Term.
    | ProposalAccepted of tag: int64 * firstIndex: Index * term: Term
    /// The proposal with this tag will not be appended.
    | ProposalDropped of tag: int64 * reason: DropReason * leader: NodeId
    /// A read may now be served: the state machine has applied at least `index`.
    | ReadReady of tag: int64 * index: Index
    /// A read cannot complete.
    | ReadDropped of tag: int64 * reason: DropReason * leader: NodeId
    /// A leadership transfer was refused or aborted.
    | TransferDropped of target: NodeId * reason: DropReason
    /// The role, term or leader changed.
    | RoleChanged of role: RoleKind * term: Term * leader: NodeId
    /// Write a state-machine snapshot at the applied index; answer with SnapshotSaved.
    | SaveSnapshot of SnapshotMeta
    /// Entries up to and including this index may be deleted from the host log (a snapshot covers them).
    | CompactLog of upTo: Index
    /// Read a chunk of the current snapshot for a peer; answer with SnapshotChunkLoaded.
    | ReadSnapshotChunk of To: NodeId * meta: SnapshotMeta * transferId: int64 * offset: int64 * maxBytes: int
    /// The core gave up the snapshot it was receiving without installing it: the host deletes that transfer's
    /// partial snapshot data and its progress record (what it would hand back as RestoreInfo.Receiving), and must
    /// never install it. The log and the state machine are untouched; nothing is answered. Emitted exactly once per
    /// abandoned transfer, ahead of the step's Persist (which may carry the first chunk of the transfer replacing
    /// it), when: the log came to hold the snapshot's last entry (the leader's entries overtook the transfer, even
    /// if the leader is told the snapshot is installed); the commit index reached the snapshot's index; or the
    /// first chunk of another snapshot started a new transfer. Never for the last chunk, which installs the
    /// snapshot, and never on a restart (a RestoreInfo.Receiving that Node.restore does not adopt, State.Incoming
    /// being none, is the host's to delete).
    | AbandonSnapshot of SnapshotMeta
