namespace Raft.Simulation

open System.Collections.Generic
open Raft.Core

/// A broken property: which one, and the evidence.
type Violation =
    {
        /// "election safety", "log matching", "leader completeness", "state machine safety",
        /// "acknowledged write lost", "state machine determinism", "configuration safety",
        /// "snapshot/log agreement", "linearizability", "host contract", "core assertion", "liveness".
        Property: string
        Detail: string
    }

/// The entry first decided (committed or applied) at an index by any node, and the state machine digest after it.
type private Decided<'T> =
    {
        Entry: Entry<'T>
        Node: int
        mutable Fingerprint: uint64
    }

/// Configuration safety: consecutive configurations of one leader must not allow two disjoint majorities.
module ConfigSafety =
    /// True when some majority of `a` and some majority of `b` share no node. Nodes only in `a` can fill a's
    /// majority for free, likewise for `b`; the rest of each majority must come from the common nodes.
    let disjointMajorities (a: Set<NodeId>) (b: Set<NodeId>) =
        if a.IsEmpty || b.IsEmpty then
            false
        else
            let common = (Set.intersect a b).Count
            let need (all: int) (own: int) = max 0 (all / 2 + 1 - own)
            need a.Count (a.Count - common) + need b.Count (b.Count - common) <= common

    /// Whether a leader may move from configuration `p` to `q` (thesis §4.1, §4.3): non-joint configurations
    /// whose majorities always overlap (at most one voter added or removed); entering joint consensus from
    /// exactly the current voters; leaving it to exactly its incoming voters. Learner changes are free.
    let safeTransition (p: Membership) (q: Membership) =
        match p.Outgoing.IsEmpty, q.Outgoing.IsEmpty with
        | true, true -> not (disjointMajorities p.Voters q.Voters)
        | true, false -> q.Outgoing = p.Voters
        | false, true -> q.Voters = p.Voters
        | false, false -> p.Voters = q.Voters && p.Outgoing = q.Outgoing

/// Raft's safety properties (Figure 3 of the paper) plus "no acknowledged write lost", checked incrementally
/// after every simulator step. Everything is O(1) per written, committed or applied entry, except the checks at
/// an election (O(terms)), so the checker can run after every one of millions of steps.
/// The first violation is kept; later ones are ignored (the run stops there anyway).
[<Sealed>]
type Invariants<'T when 'T: equality>(nodes: int, disk: int -> Disk<'T>, describe: 'T -> string) =
    // Election safety: the leader of every term, over all time.
    let leaders = Dictionary<Term, int>()
    // Log matching: every (index, term) ever written anywhere, with its payload and its predecessor's term.
    // Each (index, term) names one entry for all time, so one mismatch with any past write is a violation.
    let written = Dictionary<struct (Index * Term), struct (Term * Payload<'T>)>()
    // The entry decided at each index (first commit or apply seen).
    let decided = Dictionary<Index, Decided<'T>>()
    // Highest index known committed in a term (seen committed by a node whose term was that term), and highest
    // index acknowledged to a client by the leader of a term: every leader of a later term must hold them.
    let committedIn = Dictionary<Term, Index>()
    let ackedIn = Dictionary<Term, Index>()
    let states: State<'T> voption[] = Array.create (nodes + 1) ValueNone
    let lastCommit = Array.zeroCreate<Index> (nodes + 1)
    let lastApplied = Array.zeroCreate<Index> (nodes + 1)
    let mutable violation: Violation option = None
    // The term of every snapshot taken or installed anywhere, by index, and the node that had it first.
    let snapshotTerms = Dictionary<Index, struct (Term * int)>()
    let mutable maxAcked = 0L<index>
    let mutable acked = 0L

    let fail property detail =
        if violation.IsNone then violation <- Some { Property = property; Detail = detail }

    let showPayload (p: Payload<'T>) =
        match p with
        | Command c -> describe c
        | Noop -> "no-op"
        | Config m -> $"config %A{m.Voters}"

    let show (e: Entry<'T>) = $"({e.Index}, term {e.Term}, {showPayload e.Payload})"

    let raise' (d: Dictionary<Term, Index>) (term: Term) (index: Index) =
        match d.TryGetValue term with
        | true, i when i >= index -> ()
        | _ -> d[term] <- index

    /// Highest index recorded for a term strictly below `term`.
    let highestBelow (d: Dictionary<Term, Index>) (term: Term) =
        let mutable best = 0L<index>
        for KeyValue(t, i) in d do
            if t < term && i > best then best <- i
        best

    /// Whether the leader's log holds the decided entry at `index` (compacted indexes are covered by its snapshot).
    let holds (s: State<'T>) (index: Index) =
        index < Node.firstIndex s
        || (match decided.TryGetValue index, Node.termAt s index with
            | (true, d), ValueSome t -> t = d.Entry.Term
            | _ -> false)

    let decide (node: int) (what: string) (e: Entry<'T>) =
        match decided.TryGetValue e.Index with
        | true, d ->
            if d.Entry.Term <> e.Term || d.Entry.Payload <> e.Payload then
                fail "state machine safety" $"node {node} {what} {show e} but node {d.Node} decided {show d.Entry} at that index"
            d
        | _ ->
            let d = { Entry = e; Node = node; Fingerprint = 0UL }
            decided[e.Index] <- d

            match snapshotTerms.TryGetValue e.Index with
            | true, struct (t, other) when t <> e.Term ->
                fail "snapshot/log agreement" $"node {node} {what} {show e} but node {other} holds a snapshot at that index of term {t}"
            | _ -> ()

            d

    /// Every node that is now a leader of a term after `term` must hold the decided entry at `index`.
    let laterLeadersHold (property: string) (index: Index) (term: Term) =
        for n in 1..nodes do
            match states[n] with
            | ValueSome s when Node.role s = LeaderRole && Node.term s > term && not (holds s index) ->
                fail property $"leader {n} of term {Node.term s} lacks the entry {show decided[index].Entry}, known committed in term {term}"
            | _ -> ()

    /// The last (index, term) of node `c`'s log as it would campaign with it: the written log while it runs,
    /// the durable log while it is down.
    let lastOf (c: int) =
        match states[c] with
        | ValueSome s -> struct (Node.lastIndex s, Node.termAt s (Node.lastIndex s) |> ValueOption.defaultValue 0L<term>)
        | ValueNone ->
            let d = (disk c).Durable
            struct (d.LastIndex, d.TermAt d.LastIndex |> ValueOption.defaultValue 0L<term>)

    let holdsAt (c: int) (index: Index) (term: Term) =
        match states[c] with
        | ValueSome s -> index < Node.firstIndex s || Node.termAt s index = ValueSome term
        | ValueNone -> let d = (disk c).Durable in index <= d.SnapIndex || d.TermAt index = ValueSome term

    /// Leader completeness, looking ahead: once `index` is committed, no node lacking it may still be able to
    /// win an election. A node could win if its log is at least as up to date (§5.4.1) as the DURABLE logs of a
    /// majority of voters (any voter can crash back to its durable log). Correct Raft never allows this (the
    /// entry is durable on a majority whose logs all beat such a node's); committing an older term's entry by
    /// counting (Figure 8) does, and this finds it at the commit instead of waiting for the overwrite.
    let checkElectable (leader: State<'T>) (index: Index) =
        let e = decided[index].Entry
        let m = Node.membership leader

        let wins (c: int) (voters: Set<NodeId>) =
            let struct (ci, ct) = lastOf c

            let grants =
                voters
                |> Seq.filter (fun v ->
                    let d = (disk (int v)).Durable
                    let vt = d.TermAt d.LastIndex |> ValueOption.defaultValue 0L<term>
                    int v = c || ct > vt || (ct = vt && ci >= d.LastIndex))
                |> Seq.length

            voters.IsEmpty || grants > voters.Count / 2

        for c in 1..nodes do
            if violation.IsNone && not (holdsAt c index e.Term) && wins c m.Voters && wins c m.Outgoing then
                let struct (ci, ct) = lastOf c
                fail "leader completeness" $"node {Node.id leader} committed {show e} in term {Node.term leader}, yet node {c} lacks it and could still be elected with its log ending at ({ci}, term {ct})"

    /// The first violation found, if any.
    member _.Violation = violation
    /// Records a violation found outside the checker (a core exception, a liveness failure).
    member _.Fail(property, detail) = fail property detail
    /// Proposals acknowledged to clients so far.
    member _.Acknowledged = acked
    /// Highest acknowledged index.
    member _.MaxAcknowledged = maxAcked
    /// Highest index decided by any node.
    member _.Decided = decided.Count
    /// Terms that had a leader.
    member _.Elections = leaders.Count

    /// Log matching, on every write: entries with one (index, term) carry the same payload and follow the same
    /// predecessor term everywhere, which by induction makes the logs identical up to there.
    member _.OnWritten(node: int, batch: Entry<'T>[]) =
        let log = (disk node).Written

        for e in batch do
            let prev = log.TermAt(e.Index - 1L<index>) |> ValueOption.defaultValue 0L<term>

            match written.TryGetValue(struct (e.Index, e.Term)) with
            | true, struct (p, payload) ->
                if p <> prev || payload <> e.Payload then
                    fail "log matching" $"node {node} wrote {show e} after term {prev}; elsewhere that (index, term) holds {showPayload payload} after term {p}"
            | _ -> written[struct (e.Index, e.Term)] <- struct (prev, e.Payload)

    /// State machine safety on every apply, plus in-order, exactly-once application and determinism of the
    /// user's state machine (equal digests after equal prefixes; 0 opts out).
    member _.OnApplied(node: int, e: Entry<'T>, fingerprint: uint64) =
        if e.Index <> lastApplied[node] + 1L<index> then
            fail "host contract" $"node {node} was asked to apply {e.Index} after {lastApplied[node]}"

        lastApplied[node] <- e.Index
        let d = decide node "applied" e

        if fingerprint <> 0UL then
            if d.Fingerprint = 0UL then d.Fingerprint <- fingerprint
            elif d.Fingerprint <> fingerprint then
                fail "state machine determinism" $"node {node}'s state after applying {e.Index} differs from another node's ({fingerprint:x} vs {d.Fingerprint:x})"

    /// A read became ready at `index`: the node's state machine must already hold everything up to it, or the
    /// read would be served from a state older than the read index.
    member _.OnReadReady(node: int, index: Index) =
        if lastApplied[node] < index then
            fail "read index" $"node {node} made a read ready at {index} having applied only up to {lastApplied[node]}"

    /// A client learned that its write `e` succeeded: its leader applied it (in the proposal's term) while in
    /// term `term`. The write is known committed in `term` (not in `e.Term`: a leader re-elected later may
    /// commit its own older entry), so every leader of a term after `term` must hold it.
    member _.OnAcknowledged(node: int, e: Entry<'T>, term: Term) =
        decide node "acknowledged" e |> ignore
        raise' ackedIn term e.Index
        maxAcked <- max maxAcked e.Index
        acked <- acked + 1L
        laterLeadersHold "acknowledged write lost" e.Index term

    /// A node went down: it no longer counts as a current leader.
    member _.OnCrash(node: int) = states[node] <- ValueNone

    /// A node's state machine was replaced by a snapshot up to `index`.
    /// A snapshot's state must be the state every node reached by applying the log up to `index`.
    member _.CheckSnapshot(node: int, what: string, index: Index, fingerprint: uint64) =
        match decided.TryGetValue index with
        | true, d when fingerprint <> 0UL && d.Fingerprint <> 0UL && d.Fingerprint <> fingerprint ->
            fail "state machine determinism" $"node {node} {what} a snapshot at {index} whose state differs from the state the log gives there ({fingerprint:x} vs {d.Fingerprint:x})"
        | _ -> ()

    /// The node's state machine was replaced by a snapshot at `index`. Its state must be the log's state
    /// there (a corrupt transfer shows here).
    member _.OnSnapshotInstalled(node: int, index: Index, fingerprint: uint64) =
        lastApplied[node] <- max lastApplied[node] index

        match decided.TryGetValue index with
        | true, d when fingerprint <> 0UL && d.Fingerprint <> 0UL && d.Fingerprint <> fingerprint ->
            fail "snapshot/log agreement" $"node {node} installed a snapshot at {index} whose state differs from the state the log gives there ({fingerprint:x} vs {d.Fingerprint:x})"
        | _ -> ()

    /// Snapshot/log agreement: a snapshot's (index, term) names the entry decided at that index, every other
    /// snapshot at that index has the same term, and every node that has committed that index holds that term
    /// there (where its log still has it).
    member _.OnSnapshot(node: int, what: string, meta: SnapshotMeta) =
        match snapshotTerms.TryGetValue meta.Index with
        | true, struct (t, other) when t <> meta.Term ->
            fail "snapshot/log agreement" $"node {node} {what} a snapshot at {meta.Index} of term {meta.Term}, node {other} one of term {t}"
        | true, _ -> ()
        | _ -> snapshotTerms[meta.Index] <- struct (meta.Term, node)

        match decided.TryGetValue meta.Index with
        | true, d when d.Entry.Term <> meta.Term ->
            fail "snapshot/log agreement" $"node {node} {what} a snapshot at {meta.Index} of term {meta.Term}, but {show d.Entry} was decided there"
        | _ -> ()

        for k in 1..nodes do
            match states[k] with
            | ValueSome s when k <> node && Node.commitIndex s >= meta.Index ->
                match Node.termAt s meta.Index with
                | ValueSome t when t <> meta.Term ->
                    fail "snapshot/log agreement" $"node {node} {what} a snapshot at {meta.Index} of term {meta.Term}, but node {k} committed term {t} there"
                | _ -> ()
            | _ -> ()

    /// A node restarted from `state`; its state machine starts at the applied index the host restored.
    member _.OnRestart(node: int, state: State<'T>) =
        states[node] <- ValueSome state
        lastCommit[node] <- Node.commitIndex state
        lastApplied[node] <- Node.appliedIndex state

    /// The checks after node `node` took a step and the host carried out its effects.
    member _.AfterStep(node: int, state: State<'T>) =
        let before = states[node]
        states[node] <- ValueSome state
        let term = Node.term state
        let d = disk node

        // The host contract: the core's log is the written log, and what it counts durable is on the disk.
        let last = Node.lastIndex state

        if last <> d.Written.LastIndex || Node.termAt state last <> d.Written.TermAt last then
            fail "host contract" $"node {node}: core log ends at ({last}, {Node.termAt state last}) but the written log at ({d.Written.LastIndex}, {d.Written.TermAt d.Written.LastIndex})"

        let stable = Node.stableIndex state

        // An installed snapshot counts as stable at once (the follower acknowledges it only once durable).
        if stable >= Node.firstIndex state && (stable > d.Durable.LastIndex || d.Durable.TermAt stable <> Node.termAt state stable) then
            fail "host contract" $"node {node} counts {stable} durable but the disk holds ({d.Durable.LastIndex}, term {d.Durable.TermAt stable})"

        // Election safety, and leader completeness when a node has just become leader.
        if Node.role state = LeaderRole then
            match leaders.TryGetValue term with
            | true, other when other <> node -> fail "election safety" $"nodes {other} and {node} are both leaders of term {term}"
            | true, _ -> ()
            | _ -> leaders[term] <- node

            let wasLeader =
                match before with
                | ValueSome b -> Node.role b = LeaderRole && Node.term b = term
                | ValueNone -> false

            // Configuration safety: a leader's next configuration overlaps its previous one in every majority.
            match before with
            | ValueSome b when wasLeader && Node.membership b <> Node.membership state ->
                let p, q = Node.membership b, Node.membership state

                if not (ConfigSafety.safeTransition p q) then
                    fail "configuration safety" $"leader {node} of term {term} moved from voters %A{p.Voters} (outgoing %A{p.Outgoing}) to %A{q.Voters} (outgoing %A{q.Outgoing}): two disjoint majorities can decide"
            | _ -> ()

            if not wasLeader then
                let c = highestBelow committedIn term

                if c > 0L<index> && not (holds state c) then
                    fail "leader completeness" $"node {node} became leader of term {term} without {show decided[c].Entry}, committed in an earlier term"

                let a = highestBelow ackedIn term

                if a > 0L<index> && not (holds state a) then
                    fail "acknowledged write lost" $"node {node} became leader of term {term} without the acknowledged write {show decided[a].Entry}"

        // Commit agreement: every newly committed entry is the one decided at its index.
        let commit = Node.commitIndex state

        if commit > lastCommit[node] then
            let log = d.Written
            let mutable i = max (lastCommit[node] + 1L<index>) (log.SnapIndex + 1L<index>)

            // Entries past the written log are a host-contract failure reported above; do not index past it.
            while i <= min commit log.LastIndex && violation.IsNone do
                decide node "committed" (log.Get i) |> ignore
                i <- i + 1L<index>

            lastCommit[node] <- commit
            raise' committedIn term commit
            if Node.role state = LeaderRole && violation.IsNone then checkElectable state commit
            laterLeadersHold "leader completeness" commit term

    /// Liveness after a calm period with every node up: one leader, and every acknowledged write applied everywhere.
    /// Only the members of the newest leader's configuration must catch up: removed nodes get nothing more.
    member _.CheckSettled(live: State<'T>[]) =
        let leadersNow = live |> Array.filter (fun s -> Node.role s = LeaderRole)

        if leadersNow.Length = 0 then
            fail "liveness" "no leader after the calm period"
        else
            let m = leadersNow |> Array.maxBy Node.term |> Node.membership
            let members = Set.unionMany [ m.Voters; m.Outgoing; m.Learners; m.LearnersNext ]

            for s in live |> Array.filter (fun s -> members.Contains(Node.id s)) do
                if Node.appliedIndex s < maxAcked then
                    fail "liveness" $"node {Node.id s} applied only up to {Node.appliedIndex s} after the calm period; acknowledged writes reach {maxAcked}"
