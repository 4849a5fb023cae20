namespace Raft.Core

/// RequestVote (or PreVote) arguments (§5.2, thesis §9.6).
type VoteRequest =
    {
        /// A pre-vote asks "would you vote for me at Term?" without changing anyone's term.
        PreVote: bool
        LastIndex: Index
        LastTerm: Term
        /// Set by a leadership transfer: the leader lease does not suppress this request.
        Transfer: bool
    }

/// The answer to a vote request.
type VoteResponse = { PreVote: bool; Granted: bool }

/// AppendEntries arguments (§5.3).
[<Struct>]
type AppendRequest<'T> =
    {
        PrevIndex: Index
        PrevTerm: Term
        /// Entries following PrevIndex; treated as immutable.
        Entries: Entry<'T>[]
        /// The leader's commit index.
        Commit: Index
    }

/// The answer to AppendEntries.
[<Struct>]
type AppendResponse =
    {
        /// False when the follower's log does not contain PrevIndex/PrevTerm.
        Success: bool
        /// On success the follower's match index; on rejection the rejected PrevIndex.
        Index: Index
        /// On rejection: the follower's hint of where to retry (largest index <= PrevIndex whose term <= HintTerm).
        HintIndex: Index
        HintTerm: Term
    }

/// A heartbeat: keeps followers quiet, carries the commit index and confirms pending reads.
[<Struct>]
type HeartbeatRequest =
    {
        Commit: Index
        /// The newest read-index context when sent (0 when none).
        Context: int64
    }

/// The answer to a heartbeat, echoing its context.
[<Struct>]
type HeartbeatResponse = { Context: int64 }

/// One chunk of a snapshot sent by the leader (InstallSnapshot, §7).
type SnapshotChunk =
    {
        Meta: SnapshotMeta
        /// Identifies one transfer: a chunk from another transfer resets or is discarded.
        TransferId: int64
        /// Byte offset of Data in the snapshot file.
        Offset: int64
        Data: byte[]
        /// True on the last chunk.
        Done: bool
    }

/// A follower's answer to a snapshot chunk: how far it has durably written that transfer.
type SnapshotResponse =
    {
        SnapshotIndex: Index
        TransferId: int64
        /// The offset the follower expects next (equals the file size after the last chunk).
        NextOffset: int64
        /// True once the snapshot has been installed.
        Installed: bool
    }

/// A read forwarded by a follower to its leader.
type ReadIndexRequest = { Context: int64 }

/// The leader's answer to a forwarded read.
type ReadIndexResponse =
    {
        Context: int64
        /// The read index, or 0 when Rejected.
        Index: Index
        Rejected: bool
    }

/// The body of a Raft message: one case per kind, each carrying only its own fields.
/// The per-entry messages (AppendEntries, heartbeats and their answers) are struct records held inline in
/// their case, so a message allocates one object fewer.
type MessageBody<'T> =
    | RequestVote of VoteRequest
    | RequestVoteResponse of VoteResponse
    | AppendEntries of AppendRequest<'T>
    | AppendEntriesResponse of AppendResponse
    | Heartbeat of HeartbeatRequest
    | HeartbeatResponse of HeartbeatResponse
    | InstallSnapshot of SnapshotChunk
    | InstallSnapshotResponse of SnapshotResponse
    /// Tells a caught-up transfer target to start an election at once.
    | TimeoutNow
    | ReadIndex of ReadIndexRequest
    | ReadIndexReply of ReadIndexResponse

/// A message between two nodes of one Raft group.
type Message<'T> =
    {
        From: NodeId
        To: NodeId
        /// The sender's term (a pre-vote request carries the term it would campaign at).
        Term: Term
        Body: MessageBody<'T>
    }
