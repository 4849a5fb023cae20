namespace Raft.Core

/// The part of a log that changes only with a new term or a snapshot, kept apart so the copies of
/// <see cref="RaftLog{T}"/> made for every entry are smaller.
type LogTerms =
    {
        /// Last index covered by the latest snapshot (0 when none); entries at or below are compacted.
        SnapIndex: Index
        /// Term of SnapIndex.
        SnapTerm: Term
        /// Terms of (SnapIndex, LastIndex].
        Runs: TermRuns
    }

/// A node's view of its log: terms of every retained index, payloads of a bounded window of the newest
/// entries, and the durable / committed / applied marks.
/// Invariants: Applied <= Applying <= Committed <= LastIndex, SnapIndex <= Applying (Applied trails an installed
/// snapshot until the host reports it restored); Stable <= LastIndex;
/// the window is [Window.First, LastIndex] with Window.First > SnapIndex.
type RaftLog<'T> =
    {
        /// The snapshot point and the terms of the retained indexes.
        Terms: LogTerms
        /// Index of the last entry.
        LastIndex: Index
        /// Payloads of the newest entries; older ones live only in the host's log.
        Window: EntryWindow<'T>
        /// Highest index known durable on this node's disk.
        Stable: Index
        /// Highest index known committed.
        Committed: Index
        /// Highest index handed to the host in an Apply effect.
        Applying: Index
        /// Highest index the host reported applied.
        Applied: Index
        /// Approximate bytes of payload retained since the snapshot (drives SnapshotLogBytes).
        Bytes: int64
    }

    /// Last index covered by the latest snapshot (0 when none); entries at or below are compacted.
    member l.SnapIndex = l.Terms.SnapIndex
    /// Term of SnapIndex.
    member l.SnapTerm = l.Terms.SnapTerm
    /// Terms of (SnapIndex, LastIndex].
    member l.Runs = l.Terms.Runs

/// Operations on <see cref="RaftLog{T}"/>.
module RaftLog =
    /// A log that starts after a snapshot at (index, term) (0, 0 for an empty log).
    let afterSnapshot (index: Index) (term: Term) : RaftLog<'T> =
        {
            Terms = { SnapIndex = index; SnapTerm = term; Runs = TermRuns.empty }
            LastIndex = index
            Window = EntryWindow.empty (index + 1L<index>)
            Stable = index
            Committed = index
            Applying = index
            Applied = index
            Bytes = 0L
        }

    /// First retained index.
    let firstIndex (log: RaftLog<'T>) = log.SnapIndex + 1L<index>

    /// The term at `index`, or ValueNone when it is compacted or beyond the last index.
    let termAt (log: RaftLog<'T>) (index: Index) : Term voption =
        if index = log.SnapIndex then ValueSome log.SnapTerm
        elif index < log.SnapIndex || index > log.LastIndex then ValueNone
        else TermRuns.termAt log.Runs index

    /// The last entry's term.
    let lastTerm (log: RaftLog<'T>) =
        match termAt log log.LastIndex with
        | ValueSome t -> t
        | ValueNone -> invalidOp "log: last index has no term"

    /// True when the entry at `index` exists with `term`.
    let matchTerm (log: RaftLog<'T>) (index: Index) (term: Term) =
        match termAt log index with
        | ValueSome t -> t = term
        | ValueNone -> false

    /// §5.4.1: a candidate's log (lastIndex, lastTerm) is at least as up to date as ours.
    let isUpToDate (log: RaftLog<'T>) (candidateIndex: Index) (candidateTerm: Term) =
        let ours = lastTerm log
        candidateTerm > ours || (candidateTerm = ours && candidateIndex >= log.LastIndex)

    /// No bound on what eviction may drop.
    let private noBound = System.Int64.MaxValue * 1L<index>

    /// Where evicting down to `maxEntries` moves the window's first index: never past an entry that is not yet
    /// durable or applied, nor to `keepFrom` or beyond (the window's first index when nothing goes).
    let private evictTarget (log: RaftLog<'T>) (first: Index) (count: int) (maxEntries: int) (keepFrom: Index) =
        let excess = count - maxEntries

        if excess <= 0 then
            first
        else
            let limit = min (min log.Applied log.Stable + 1L<index>) keepFrom
            max first (min (first + int64 excess * 1L<index>) limit)

    /// Appends entries whose first index is LastIndex+1, then evicts like `evict` but keeps every entry at or
    /// after `keepFrom` (entries the same step may still read), and raises the commit index to `commit` as
    /// `commitTo` would. Doing all at once copies the log once per appending step instead of two or three times.
    let private appendCommitting (log: RaftLog<'T>) (entries: Entry<'T>[]) (maxEntries: int) (keepFrom: Index) (commit: Index) : RaftLog<'T> =
        if entries.Length = 0 then
            log
        else
            let mutable runs = log.Runs
            let mutable bytes = log.Bytes

            for e in entries do
                runs <- TermRuns.append runs e.Index e.Term
                bytes <- bytes + int64 e.Size

            let lastIndex = entries[entries.Length - 1].Index

            let committed =
                if commit <= log.Committed then log.Committed
                elif commit > lastIndex then invalidOp $"log: commit {commit} is beyond the last index {lastIndex}"
                else commit

            // Eviction depends only on the first index and the count after appending: known before appending.
            let target = evictTarget log log.Window.First (EntryWindow.count log.Window + entries.Length) maxEntries keepFrom
            let window = EntryWindow.appendAll log.Window entries target

            { log with
                Terms = if LanguagePrimitives.PhysicalEquality runs log.Runs then log.Terms else { log.Terms with Runs = runs }
                Window = window
                Bytes = bytes
                LastIndex = lastIndex
                Committed = committed }

    /// Appends entries whose first index is LastIndex+1, then evicts like `evict` but keeps every entry at or
    /// after `keepFrom` (entries the same step may still read): one copy of the log instead of two.
    let appendEvicting (log: RaftLog<'T>) (entries: Entry<'T>[]) (maxEntries: int) (keepFrom: Index) : RaftLog<'T> =
        appendCommitting log entries maxEntries keepFrom 0L<index>

    /// Appends entries whose first index is LastIndex+1.
    let append (log: RaftLog<'T>) (entries: Entry<'T>[]) : RaftLog<'T> =
        appendEvicting log entries System.Int32.MaxValue noBound

    /// Forgets every entry >= `index` (a conflict). Committed entries can never be truncated.
    let truncateFrom (log: RaftLog<'T>) (index: Index) : RaftLog<'T> =
        if index <= log.Committed then
            invalidOp $"log: truncating at {index} would remove committed entries (committed {log.Committed})"

        let mutable removed = 0L
        let mutable i = max index log.Window.First

        while i <= log.LastIndex do
            removed <- removed + int64 (EntryWindow.get log.Window i).Size
            i <- i + 1L<index>

        { log with
            Terms = { log.Terms with Runs = TermRuns.truncateFrom log.Runs index }
            Window = EntryWindow.truncateFrom log.Window index
            LastIndex = index - 1L<index>
            Stable = min log.Stable (index - 1L<index>)
            Bytes = max 0L (log.Bytes - removed) }

    /// The follower side of AppendEntries, evicting like `evict` and committing up to `commit` (at most the
    /// last new entry) in the same copy of the log when anything is appended; the commit index is left to the
    /// caller otherwise.
    let tryAppendAfterEvicting (log: RaftLog<'T>) (prevIndex: Index) (prevTerm: Term) (entries: Entry<'T>[]) (maxEntries: int) (commit: Index) =
        if not (matchTerm log prevIndex prevTerm) then
            ValueNone
        else
            // Skip entries we already hold with the same term; the first mismatch is the conflict.
            let mutable k = 0

            while k < entries.Length && matchTerm log entries[k].Index entries[k].Term do
                k <- k + 1

            if k = entries.Length then
                ValueSome(struct (log, 0L<index>))
            else
                let first = entries[k].Index
                let log' = if first <= log.LastIndex then truncateFrom log first else log
                let fresh = if k = 0 then entries else Array.sub entries k (entries.Length - k)
                ValueSome(struct (appendCommitting log' fresh maxEntries noBound commit, first))

    /// The follower side of AppendEntries (§5.3): when (prevIndex, prevTerm) matches, appends what is new
    /// (truncating at the first conflict) and returns the log and the first index written (0 when nothing was).
    let tryAppendAfter (log: RaftLog<'T>) (prevIndex: Index) (prevTerm: Term) (entries: Entry<'T>[]) =
        tryAppendAfterEvicting log prevIndex prevTerm entries System.Int32.MaxValue 0L<index>

    /// True when the payload of `index` is in memory.
    let hasPayload (log: RaftLog<'T>) (index: Index) = EntryWindow.contains log.Window index

    /// Entries [from, upTo] from memory, at most `maxBytes` (but at least one), or ValueNone when `from`
    /// is no longer in the window and the host must load it.
    let entries (log: RaftLog<'T>) (from: Index) (upTo: Index) (maxBytes: int64) : Entry<'T>[] voption =
        if from > upTo then ValueSome(System.Array.Empty())
        elif EntryWindow.contains log.Window from then ValueSome(EntryWindow.slice log.Window from upTo maxBytes)
        else ValueNone

    /// `entries`, returning `shared` itself instead of a copy when it holds exactly the entries to return.
    let entriesSharing (log: RaftLog<'T>) (from: Index) (upTo: Index) (maxBytes: int64) (shared: Entry<'T>[] | null) : Entry<'T>[] voption =
        if from > upTo then ValueSome(System.Array.Empty())
        elif EntryWindow.contains log.Window from then ValueSome(EntryWindow.sliceSharing log.Window from upTo maxBytes shared)
        else ValueNone

    /// Marks entries up to `position` durable when it still names an entry of this log (the ABA guard:
    /// a completion for an entry since overwritten by another leader's entry is ignored).
    let stableTo (log: RaftLog<'T>) (position: LogPosition) =
        if position.Index > log.Stable && matchTerm log position.Index position.Term then
            { log with Stable = position.Index }
        else
            log

    /// Raises the commit index (never lowers it).
    let commitTo (log: RaftLog<'T>) (index: Index) =
        if index > log.Committed then
            if index > log.LastIndex then
                invalidOp $"log: commit {index} is beyond the last index {log.LastIndex}"

            { log with Committed = index }
        else
            log

    /// Entries committed and durable here but not yet handed to the host for applying.
    let applicableUpTo (log: RaftLog<'T>) = min log.Committed log.Stable

    /// Drops payloads the host no longer needs from memory until the window holds at most `maxEntries`
    /// (never an entry that is not yet durable or applied).
    let evict (log: RaftLog<'T>) (maxEntries: int) =
        let target = evictTarget log log.Window.First (EntryWindow.count log.Window) maxEntries noBound

        if target <= log.Window.First then log
        else { log with Window = EntryWindow.dropBefore log.Window target }

    /// Compacts the log behind a snapshot at (index, term); entries after it are kept when they agree.
    let compactTo (log: RaftLog<'T>) (index: Index) (term: Term) =
        if index <= log.SnapIndex then
            log
        elif index <= log.LastIndex && matchTerm log index term then
            { log with
                Terms = { SnapIndex = index; SnapTerm = term; Runs = TermRuns.dropBefore log.Runs (index + 1L<index>) }
                Window = EntryWindow.dropBefore log.Window (index + 1L<index>)
                Bytes = 0L }
        else
            invalidOp $"log: compacting to ({index}, {term}) which this log does not hold"

    /// The log after installing a snapshot received from the leader: empty after the snapshot, with the
    /// snapshot's index committed and applied (the state machine was restored from it).
    let installSnapshot (index: Index) (term: Term) : RaftLog<'T> = afterSnapshot index term

    /// The largest index <= `index` whose term is <= `term` (SnapIndex at the lowest): where a follower's and
    /// a leader's logs can agree, found one term per round trip instead of one index.
    let findConflictByTerm (log: RaftLog<'T>) (index: Index) (term: Term) : Index =
        let index = min index log.LastIndex
        if index <= log.SnapIndex then index
        else TermRuns.lastIndexWithTermAtMost log.Runs log.SnapIndex index term
