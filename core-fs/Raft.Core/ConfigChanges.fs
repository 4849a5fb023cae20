namespace Raft.Core

open Common

/// Configuration changes in the log: proposing them on the leader, adopting them when appended (a
/// configuration takes effect when it enters the log, thesis §4.1), automatic leaving of joint consensus,
/// learner promotion, and the leader stepping down after removing itself.
module internal ConfigChanges =
    /// Keeps the leader's progress map equal to the members of the configuration.
    let syncProgress (s: State<'T>) =
        match s.Role with
        | Leader l ->
            let wanted = members s.Config.Current |> Set.remove s.Options.Id

            if wanted.Count = l.Peers.Ids.Length && Array.forall wanted.Contains l.Peers.Ids then
                s
            else
                let peers =
                    wanted
                    |> Seq.map (fun id ->
                        match Peers.tryFind id l.Peers with
                        | ValueSome p -> id, p
                        | ValueNone -> id, { Progress.create (s.Log.LastIndex + 1L<index>) with RecentActive = true })
                    |> Peers.ofSeq

                { s with Role = Leader { l with Peers = peers } }
        | _ -> s

    /// Adopts the configuration entries among `entries` (just appended) after undoing any truncated at `first`.
    let adopt (first: Index) (entries: Entry<'T>[]) (s: State<'T>) =
        let mutable config = Reconfiguration.truncate s.Config first

        for e in entries do
            match e.Payload with
            | Config m -> config <- Reconfiguration.advance config e.Index m
            | _ -> ()

        if LanguagePrimitives.PhysicalEquality config s.Config then s else { s with Slow = { s.Slow with Config = config } }

    /// Appends a configuration entry on the leader. `tag` is None for changes the leader makes itself.
    let propose (fx: Fx<'T>) (tag: int64 voption) (change: ConfChange) (s: State<'T>) =
        let l = leaderState s

        let drop reason =
            match tag with
            | ValueSome t -> fx.Emit(ProposalDropped(t, reason, s.Options.Id))
            | ValueNone -> ()

            s

        if l.Transfer.IsSome then
            drop TransferInProgress
        elif l.PendingConfIndex > s.Log.Committed then
            drop ConfigChangePending
        else
            // Adding a new voter first adds it as a learner and promotes it once caught up (thesis §4.2.1).
            let change, promote =
                match change with
                | Simple(AddVoter n) when s.Options.AutoPromoteLearners && not ((members s.Config.Current).Contains n) ->
                    Simple(AddLearner n), Set.singleton n
                | _ -> change, Set.empty

            let lagging =
                match change with
                | Simple(AddVoter n) when s.Config.Current.Learners.Contains n ->
                    match Peers.tryFind n l.Peers with
                    | ValueSome p when s.Log.LastIndex - p.Match > s.Options.LearnerCatchUpLag * 1L<index> ->
                        ValueSome $"learner {n} is {s.Log.LastIndex - p.Match} entries behind (LearnerCatchUpLag {s.Options.LearnerCatchUpLag})"
                    | _ -> ValueNone
                | _ -> ValueNone

            match lagging with
            | ValueSome reason -> drop (InvalidConfigChange reason)
            | ValueNone ->
                match Reconfiguration.applyWith (s.PlantedBugs.Contains UnsafeMultiVoterChange) s.Config.Current change with
                | Error reason -> drop (InvalidConfigChange reason)
                | Ok next ->
                    let index = s.Log.LastIndex + 1L<index>
                    let entry = { Index = index; Term = s.Term; Payload = Config next; Size = 0 }
                    let s = Replication.appendLocal fx [| entry |] s
                    let s = { s with Slow = { s.Slow with Config = Reconfiguration.advance s.Config index next } }
                    let l = leaderState s

                    let s =
                        s
                        |> withLeaderSlow
                            { l.Slow with
                                PendingConfIndex = index
                                Promotions = Set.union l.Promotions promote
                                Quorum = VoterIds.ofMembership next }

                    match tag with
                    | ValueSome t -> fx.Emit(ProposalAccepted(t, index, s.Term))
                    | ValueNone -> ()

                    syncProgress s |> Replication.broadcast fx false

    /// What the leader does once its newest configuration entry is committed: step down when it removed
    /// itself, leave an auto-leave joint configuration, promote caught-up learners.
    let afterCommit (fx: Fx<'T>) (s: State<'T>) =
        match s.Role with
        | Leader l when s.Log.Committed >= s.Config.CurrentIndex && s.Log.Committed >= l.PendingConfIndex ->
            let m = s.Config.Current

            if not (isVoter m s.Options.Id) then
                becomeFollower s.Term Ids.none s
            elif Reconfiguration.isJoint m && m.AutoLeave then
                propose fx ValueNone LeaveJoint s
            elif l.Promotions.IsEmpty then
                s
            else
                let ready =
                    l.Promotions
                    |> Seq.tryFind (fun n ->
                        match Peers.tryFind n l.Peers with
                        | ValueSome p -> m.Learners.Contains n && s.Log.LastIndex - p.Match <= s.Options.LearnerCatchUpLag * 1L<index>
                        | ValueNone -> false)

                match ready with
                | Some n ->
                    let s = s |> withLeaderSlow { l.Slow with Promotions = l.Promotions.Remove n }
                    propose fx ValueNone (Simple(AddVoter n)) s
                | None -> s
        | _ -> s
