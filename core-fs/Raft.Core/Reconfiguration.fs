namespace Raft.Core

/// Pure validation and application of configuration changes (thesis §4.1 single-server changes,
/// §4.3 joint consensus). Every unsafe request is refused with a reason.
module Reconfiguration =
    /// True when the configuration is joint.
    let isJoint (m: Membership) = not m.Outgoing.IsEmpty

    let private node (change: MembershipChange) =
        match change with
        | AddVoter n
        | AddLearner n
        | RemoveNode n -> n

    /// Applies changes to the incoming half: voters, learners, and voters to demote when leaving joint.
    let private applyChanges (m: Membership) (changes: MembershipChange list) =
        let folder (voters: Set<NodeId>, learners: Set<NodeId>) change =
            match change with
            | AddVoter n -> voters.Add n, learners.Remove n
            | AddLearner n -> voters.Remove n, learners.Add n
            | RemoveNode n -> voters.Remove n, learners.Remove n

        List.fold folder (m.Voters, m.Learners) changes

    let private checkNodes (changes: MembershipChange list) =
        match changes |> List.tryFind (fun c -> node c <= 0L<node>) with
        | Some c -> Error $"node id {node c} is not a valid node id"
        | None ->
            let ids = changes |> List.map node
            if List.length (List.distinct ids) <> List.length ids then Error "a node appears more than once in one change"
            else Ok()

    /// The configuration after `change`, or why it is refused. `allowUnsafe` exists only to plant a bug.
    let applyWith (allowUnsafe: bool) (m: Membership) (change: ConfChange) : Result<Membership, string> =
        match change with
        | Simple c ->
            match checkNodes [ c ] with
            | Error e -> Error e
            | Ok() when isJoint m -> Error "the configuration is joint: leave it before a simple change"
            | Ok() ->
                let voters, learners = applyChanges m [ c ]
                let changedVoters = Set.union (Set.difference voters m.Voters) (Set.difference m.Voters voters)

                if voters.IsEmpty then Error "the change would remove the last voter"
                elif changedVoters.Count > 1 && not allowUnsafe then Error "a simple change may add or remove at most one voter; use joint consensus"
                else Ok { m with Voters = voters; Learners = learners }
        | EnterJoint(changes, autoLeave) ->
            match checkNodes changes with
            | Error e -> Error e
            | Ok() when isJoint m -> Error "the configuration is already joint"
            | Ok() when List.isEmpty changes -> Error "entering joint consensus needs at least one change"
            | Ok() ->
                let voters, learners = applyChanges m changes
                // A voter demoted to learner keeps voting in the outgoing half until the joint config is left.
                let demoted = Set.intersect learners m.Voters

                if voters.IsEmpty then Error "the incoming configuration would have no voters"
                // A simple change names one node, so it can never move two voters: the planted bug applies a
                // multi-voter change in one step instead, skipping the joint phase (disjoint majorities).
                elif allowUnsafe then Ok { m with Voters = voters; Learners = learners }
                else
                    Ok
                        {
                            Voters = voters
                            Outgoing = m.Voters
                            Learners = Set.difference learners demoted
                            LearnersNext = demoted
                            AutoLeave = autoLeave
                        }
        | LeaveJoint ->
            if not (isJoint m) then Error "the configuration is not joint"
            else
                Ok
                    {
                        Voters = m.Voters
                        Outgoing = Set.empty
                        Learners = Set.union m.Learners m.LearnersNext
                        LearnersNext = Set.empty
                        AutoLeave = false
                    }

    /// The configuration after `change`, or why it is refused.
    let apply (m: Membership) (change: ConfChange) = applyWith false m change

    /// The ConfigState after a configuration entry at `index` takes effect.
    let advance (state: ConfigState) (index: Index) (next: Membership) : ConfigState =
        { Current = next; CurrentIndex = index; Previous = state.Current; PreviousIndex = state.CurrentIndex }

    /// The ConfigState after the log is truncated at `index`: a configuration entry removed by the
    /// truncation gives way to the one before it (only the newest can be uncommitted).
    let truncate (state: ConfigState) (index: Index) : ConfigState =
        if index <= state.CurrentIndex then
            { state with Current = state.Previous; CurrentIndex = state.PreviousIndex }
        else
            state

    /// The configuration in effect at `index`, when the state still knows it.
    let at (state: ConfigState) (index: Index) : Membership voption =
        if index >= state.CurrentIndex then ValueSome state.Current
        elif index >= state.PreviousIndex then ValueSome state.Previous
        else ValueNone
