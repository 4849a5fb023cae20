namespace Raft.Core

/// How the leader replicates to one peer.
type ProgressMode =
    /// Unknown match: one AppendEntries at a time until the peer accepts one.
    | Probe
    /// Known match: AppendEntries are pipelined up to the in-flight limits.
    | Replicate
    /// The peer needs a snapshot; nothing else is sent until it reports the install.
    | SnapshotTransfer of transferId: int64 * meta: SnapshotMeta * nextOffset: int64

/// The leader's knowledge of one peer (thesis §3.5 plus etcd-style flow control).
/// Invariant: Match < Next.
type Progress =
    {
        /// Highest index known replicated on the peer.
        Match: Index
        /// Next index to send.
        Next: Index
        Mode: ProgressMode
        /// Probe mode: a message is outstanding, wait for its answer (or a heartbeat answer).
        ProbeSent: bool
        Inflights: Inflights
        /// Heard from the peer since the last CheckQuorum round.
        RecentActive: bool
        /// A LoadEntries for this peer is outstanding.
        Loading: bool
        /// A snapshot chunk read or write for this peer is outstanding.
        ChunkPending: bool
    }

/// Transitions of <see cref="Progress"/>, all in one place.
module Progress =
    /// Progress for a peer about to be probed from `next`.
    let create (next: Index) =
        {
            Match = 0L<index>
            Next = next
            Mode = Probe
            ProbeSent = false
            Inflights = Inflights.empty
            RecentActive = false
            Loading = false
            ChunkPending = false
        }

    /// True when nothing more may be sent now.
    let isPaused (maxMsgs: int) (maxBytes: int64) (p: Progress) =
        match p.Mode with
        | Probe -> p.ProbeSent || p.Loading
        | Replicate -> p.Loading || Inflights.isFull maxMsgs maxBytes p.Inflights
        | SnapshotTransfer _ -> true

    /// Back to probing from Match+1.
    let becomeProbe (p: Progress) =
        { p with Mode = Probe; Next = p.Match + 1L<index>; ProbeSent = false; Inflights = Inflights.empty; Loading = false }

    /// Pipelining from Match+1.
    let becomeReplicate (p: Progress) =
        { p with Mode = Replicate; Next = p.Match + 1L<index>; ProbeSent = false; Inflights = Inflights.empty }

    /// Records that an AppendEntries ending at `last` with `bytes` of entries was sent.
    let sentEntries (last: Index) (bytes: int64) (p: Progress) =
        match p.Mode with
        | Replicate when last >= p.Next -> { p with Next = last + 1L<index>; Inflights = Inflights.add last bytes p.Inflights }
        | Replicate -> p
        | Probe -> { p with ProbeSent = true }
        | SnapshotTransfer _ -> p

    /// An acknowledgement up to `index`; false when it told us nothing new.
    let acknowledge (index: Index) (p: Progress) : struct (bool * Progress) =
        let updated = index > p.Match
        let inflights = Inflights.freeTo index p.Inflights
        let next = max p.Next (index + 1L<index>)

        // A duplicate or commit-only acknowledgement changes nothing: keep the value (no copy for the caller to store).
        if not updated && next = p.Next && Inflights.same inflights p.Inflights then
            struct (false, p)
        else
            let p =
                { p with
                    Match = max p.Match index
                    ProbeSent = p.ProbeSent && not updated
                    Next = next
                    Inflights = inflights }

            struct (updated, p)

    /// A rejection of the AppendEntries whose PrevIndex was `rejected`; `retryFrom` is where the leader's
    /// log agrees with the peer's hint. Returns None for a stale rejection.
    let reject (rejected: Index) (retryFrom: Index) (p: Progress) : Progress voption =
        match p.Mode with
        | Replicate ->
            if rejected <= p.Match then ValueNone
            else ValueSome(becomeProbe p |> fun q -> { q with Next = max (p.Match + 1L<index>) (min rejected retryFrom) })
        | Probe ->
            if p.Next - 1L<index> <> rejected then ValueNone
            else ValueSome { p with Next = max (p.Match + 1L<index>) (min rejected retryFrom); ProbeSent = false }
        | SnapshotTransfer _ -> ValueNone
