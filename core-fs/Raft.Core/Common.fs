namespace Raft.Core

/// Helpers shared by the per-role step functions: membership queries, sending, role transitions.
module internal Common =
    /// Every member that receives the log (voters of both halves and learners).
    let members (m: Membership) = Set.unionMany [ m.Voters; m.Outgoing; m.Learners ]

    /// True when `id` votes in either half of the configuration.
    let isVoter (m: Membership) (id: NodeId) = m.Voters.Contains id || m.Outgoing.Contains id

    /// Voters of both halves.
    let voters (m: Membership) = Set.union m.Voters m.Outgoing

    /// True when this node may campaign: it votes in the current configuration, or in the one before it while the
    /// current one is not committed here. A node whose log alone holds the configuration that removed it must still
    /// be able to lead (and then step down once that configuration commits): the voters of that configuration may
    /// need its vote in the outgoing half and refuse it for its longer log, so nobody else could ever win.
    let promotable (s: State<'T>) =
        isVoter s.Config.Current s.Options.Id
        || (s.Config.CurrentIndex > s.Log.Committed && isVoter s.Config.Previous s.Options.Id)

    let message (s: State<'T>) (target: NodeId) (body: MessageBody<'T>) =
        { From = s.Options.Id; To = target; Term = s.Term; Body = body }

    /// The hard state the node is in now.
    let hardState (s: State<'T>) =
        { Term = s.Term; Vote = s.Vote; Commit = s.Log.Committed; Config = s.Config }

    /// Draws a new randomized election timeout in [T, 2T) and restarts the election timer.
    let resetElectionTimer (s: State<'T>) =
        let t = s.Options.ElectionTicks
        let struct (timeout, prng) = Prng.range t (2 * t) s.Prng
        { s with ElectionElapsed = 0; Slow = { s.Slow with RandomizedTimeout = timeout; Prng = prng } }

    /// Moves to `term` (clearing the vote when the term changes) and resets the timer.
    let private enterTerm (term: Term) (s: State<'T>) =
        if term < s.Term then invalidOp $"term moving backwards from {s.Term} to {term}"
        let s = if term > s.Term then { s with Slow = { s.Slow with Term = term; Vote = Ids.none } } else s
        resetElectionTimer s

    /// Becomes a follower of `leader` (0 when unknown) in `term`.
    let becomeFollower (term: Term) (leader: NodeId) (s: State<'T>) =
        { enterTerm term s with Role = Follower; Leader = leader }

    /// The RoleKind of a state, for RoleChanged effects.
    let roleKind (s: State<'T>) =
        match s.Role with
        | Follower -> FollowerRole
        | PreCandidate _ -> PreCandidateRole
        | Candidate _ -> CandidateRole
        | Leader _ -> LeaderRole

    /// True when both states have the same kind of role (compared by case, without F#'s generic equality).
    let sameRoleKind (a: State<'T>) (b: State<'T>) =
        match a.Role, b.Role with
        | Follower, Follower
        | PreCandidate _, PreCandidate _
        | Candidate _, Candidate _
        | Leader _, Leader _ -> true
        | _ -> false

    /// The state with leader state `l` (the node is a leader).
    let withLeader (l: LeaderState) (s: State<'T>) = { s with Role = Leader l }

    /// The state with the leader's rarely-changing state replaced.
    let withLeaderSlow (slow: LeaderSlow) (s: State<'T>) =
        match s.Role with
        | Leader l -> { s with Role = Leader { l with Slow = slow } }
        | _ -> invalidOp "not a leader"

    /// The leader state of a state known to be a leader.
    let leaderState (s: State<'T>) =
        match s.Role with
        | Leader l -> l
        | _ -> invalidOp "not a leader"
