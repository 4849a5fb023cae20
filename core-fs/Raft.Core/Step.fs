namespace Raft.Core

open Common

/// The state transition function: dispatch of every input, then the bookkeeping every step ends with.
module internal Step =
    /// Adopts a message's term (§5.1) or rejects a stale one. Returns None when the message is dropped.
    let private checkTerm (fx: Fx<'T>) (m: Message<'T>) (s: State<'T>) : State<'T> voption =
        if m.Term > s.Term then
            match m.Body with
            | RequestVote r when not r.Transfer && Election.inLease s ->
                // Leader-lease vote suppression: a live leader exists, so this candidate is disruptive
                // (partitioned, or removed from the cluster); ignore it without adopting its term.
                ValueNone
            | RequestVote r when r.PreVote -> ValueSome s
            | RequestVoteResponse r when r.PreVote && r.Granted -> ValueSome s
            | AppendEntries _
            | Heartbeat _
            | InstallSnapshot _ -> ValueSome(becomeFollower m.Term m.From s)
            | _ -> ValueSome(becomeFollower m.Term Ids.none s)
        elif m.Term < s.Term then
            match m.Body with
            | AppendEntries _
            | Heartbeat _ when s.Options.CheckQuorum || s.Options.PreVote ->
                // A stale leader that cannot hear our term would never step down (it ignores votes and
                // we ignore it): answer with our term. The timer is not touched.
                fx.Send(message s m.From (AppendEntriesResponse { Success = false; Index = 0L<index>; HintIndex = 0L<index>; HintTerm = 0L<term> }))
                ValueNone
            | RequestVote r when r.PreVote ->
                fx.Send(message s m.From (RequestVoteResponse { PreVote = true; Granted = false }))
                ValueNone
            | _ -> ValueNone
        else
            ValueSome s

    let private onMessage (fx: Fx<'T>) (m: Message<'T>) (s: State<'T>) =
        match s.Role, m.Body with
        | _, RequestVote r -> Election.onVoteRequest fx m r s
        | _, RequestVoteResponse r -> Election.onVoteResponse fx m r s
        | Leader _, AppendEntriesResponse r ->
            let s = Replication.onAppendResponse fx m.From r s
            Transfer.maybeSendTimeoutNow fx m.From s
            s
        | Leader _, HeartbeatResponse r ->
            Replication.onHeartbeatResponse fx m.From s |> Reads.onHeartbeatAck fx m.From r.Context
        | Leader _, InstallSnapshotResponse r -> Snapshots.onResponse fx m.From r s
        | _, MessageBody.ReadIndex r -> Reads.onForwarded fx m.From r s
        | Leader _, (AppendEntries _ | Heartbeat _ | InstallSnapshot _) ->
            invalidOp $"two leaders in term {s.Term}: {s.Options.Id} received {m.Body} from {m.From}"
        | (PreCandidate _ | Candidate _), (AppendEntries _ | Heartbeat _ | InstallSnapshot _) ->
            // A leader of our term exists (§5.2): follow it, then handle the message as a follower.
            StepFollower.onLeaderMessage fx m (becomeFollower s.Term m.From s)
        | Follower, (AppendEntries _ | Heartbeat _ | InstallSnapshot _) ->
            let s = if s.ElectionElapsed = 0 && s.Leader = m.From then s else { s with ElectionElapsed = 0; Leader = m.From }
            StepFollower.onLeaderMessage fx m s
        | Follower, ReadIndexReply r -> Reads.onReply fx r s
        | Follower, TimeoutNow when promotable s -> Election.campaign fx Election.TransferElection s
        | _ -> s

    let private onTick (fx: Fx<'T>) (s: State<'T>) =
        match s.Role with
        | Leader l ->
            let o = s.Options
            let l = { l with Slow = { l.Slow with HeartbeatElapsed = l.HeartbeatElapsed + 1; Ticks = l.Ticks + 1L } }
            let s = { s with Role = Leader l; ElectionElapsed = s.ElectionElapsed + 1 } |> Transfer.tick fx
            let l = leaderState s

            let s =
                if s.ElectionElapsed >= o.ElectionTicks then
                    let s = { s with ElectionElapsed = 0 }

                    if o.CheckQuorum
                       && not (Quorum.isActiveQuorum s.Config.Current (fun id -> id = o.Id || (match Peers.tryFind id l.Peers with ValueSome p -> p.RecentActive | ValueNone -> false))) then
                        // CheckQuorum: no quorum heard from us within an election timeout; step down.
                        becomeFollower s.Term Ids.none s
                    else
                        { s with Role = Leader { l with Peers = l.Peers |> Peers.map (fun p -> { p with RecentActive = false }) } }
                else
                    s

            match s.Role with
            | Leader l when l.HeartbeatElapsed >= o.HeartbeatTicks -> Reads.heartbeatRound fx s
            | _ -> s
        | _ ->
            let s = { s with ElectionElapsed = s.ElectionElapsed + 1 }

            if promotable s && s.ElectionElapsed >= s.RandomizedTimeout then
                Election.campaignOnTimeout fx s
            else
                s

    let private onPropose (fx: Fx<'T>) (p: Proposal<'T>) (s: State<'T>) =
        match s.Role with
        | Leader l ->
            let mutable bytes = 0L

            for struct (_, size) in p.Commands do
                bytes <- bytes + int64 size

            let limit = s.Options.MaxUncommittedBytes

            if l.Transfer.IsSome then
                fx.Emit(ProposalDropped(p.Tag, TransferInProgress, s.Options.Id))
                s
            elif limit > 0L && l.UncommittedBytes > 0L && l.UncommittedBytes + bytes > limit then
                fx.Emit(ProposalDropped(p.Tag, UncommittedLimit, s.Options.Id))
                s
            elif p.Commands.Length = 0 then
                s
            else
                let first = s.Log.LastIndex + 1L<index>
                let term = s.Term
                let entries = Array.zeroCreate p.Commands.Length

                for i in 0 .. entries.Length - 1 do
                    let struct (command, size) = p.Commands[i]
                    entries[i] <- { Index = first + int64 i * 1L<index>; Term = term; Payload = Command command; Size = size }

                fx.PersistEntries entries
                fx.Emit(ProposalAccepted(p.Tag, first, term))
                // The log, the uncommitted bytes and the peers' progress in one copy of the state; peers due exactly
                // these entries are sent this array too.
                let log = Replication.appendedLog entries s
                Replication.broadcastWith fx false entries false log { l with UncommittedBytes = l.UncommittedBytes + bytes } s
        | _ ->
            fx.Emit(ProposalDropped(p.Tag, NotLeader, s.Leader))
            s

    let private onPersisted (fx: Fx<'T>) (position: LogPosition) (s: State<'T>) =
        let s = { s with Log = RaftLog.stableTo s.Log position }

        match s.Role with
        | Leader _ -> Replication.commitAndBroadcast fx s
        | _ -> s

    let private onEntriesLoaded (fx: Fx<'T>) (loaded: LoadedEntries<'T>) (s: State<'T>) =
        // Loaded entries are used only when every one still matches our log (the ABA guard).
        let current =
            loaded.Entries |> Array.forall (fun e -> RaftLog.matchTerm s.Log e.Index e.Term)

        match loaded.Purpose, s.Role with
        | ForApply, _ ->
            let s = { s with Slow = { s.Slow with ApplyLoading = false } }
            let next = s.Log.Applying + 1L<index>

            if current && loaded.Entries.Length > 0 && loaded.Entries[0].Index = next then
                let upTo = RaftLog.applicableUpTo s.Log
                let usable = loaded.Entries |> Array.filter (fun e -> e.Index <= upTo)

                if usable.Length > 0 then
                    fx.Emit(Apply usable)
                    { s with Log = { s.Log with Applying = usable[usable.Length - 1].Index } }
                else
                    s
            else
                s
        | ForPeer peer, Leader l when loaded.Compacted ->
            match Peers.tryFind peer l.Peers with
            | ValueSome p when p.Loading -> Replication.startSnapshotTransfer fx peer (Replication.withProgress peer { p with Loading = false } s)
            | _ -> s
        | ForPeer peer, Leader l ->
            match Peers.tryFind peer l.Peers with
            | ValueSome p when p.Loading ->
                let p = { p with Loading = false }
                let s = Replication.withProgress peer p s

                if current && loaded.Entries.Length > 0 && loaded.Entries[0].Index = p.Next then
                    let prevIndex = p.Next - 1L<index>

                    match RaftLog.termAt s.Log prevIndex with
                    | ValueSome prevTerm -> Replication.sendEntries fx peer p prevIndex prevTerm loaded.Entries s
                    | ValueNone -> s
                else
                    s
            | _ -> s
        | ForPeer _, _ -> s

    let private dispatch (fx: Fx<'T>) (input: Input<'T>) (s: State<'T>) =
        match input with
        | Tick -> onTick fx s
        | Receive m when m.To <> s.Options.Id -> s
        | Receive m ->
            match checkTerm fx m s with
            | ValueSome s -> onMessage fx m s
            | ValueNone -> s
        | Propose p -> onPropose fx p s
        | Campaign ->
            match s.Role with
            | Leader _ -> s
            | _ when promotable s -> Election.campaignOnTimeout fx s
            | _ -> s
        | Persisted position -> onPersisted fx position s
        | Applied index ->
            let applied = min index s.Log.Applying
            if applied > s.Log.Applied then { s with Log = { s.Log with Applied = applied } } else s
        | EntriesLoaded loaded -> onEntriesLoaded fx loaded s
        | Unreachable peer ->
            match s.Role with
            | Leader l ->
                match Peers.tryFind peer l.Peers with
                | ValueSome p when p.Mode <> Probe -> Replication.withProgress peer (Progress.becomeProbe { p with ChunkPending = false }) s
                | _ -> s
            | _ -> s
        | ProposeConfChange(tag, change) ->
            match s.Role with
            | Leader _ -> ConfigChanges.propose fx (ValueSome tag) change s
            | _ ->
                fx.Emit(ProposalDropped(tag, NotLeader, s.Leader))
                s
        | ReadIndex tag -> Reads.onReadIndex fx tag s
        | TransferLeadership target -> Transfer.onRequest fx target s
        | SnapshotSaved meta -> Snapshots.onSaved fx meta s
        | SnapshotChunkLoaded(peer, chunk) -> Snapshots.onChunkLoaded fx peer chunk s

    /// Hands committed, durable entries to the host in order, loading them first when evicted.
    let private emitApply (fx: Fx<'T>) (s: State<'T>) =
        let upTo = RaftLog.applicableUpTo s.Log

        if s.ApplyLoading || upTo <= s.Log.Applying then
            s
        else
            let from = s.Log.Applying + 1L<index>

            match RaftLog.entries s.Log from upTo System.Int64.MaxValue with
            | ValueSome entries ->
                fx.Emit(Apply entries)
                { s with Log = { s.Log with Applying = upTo } }
            | ValueNone ->
                fx.Emit(LoadEntries(ForApply, from, upTo))
                { s with Slow = { s.Slow with ApplyLoading = true } }

    /// Processes one input: the only way a node changes.
    let step (s: State<'T>) (input: Input<'T>) : struct (State<'T> * Effect<'T> list) =
        let fx = Fx<'T>()
        let before = s
        let s = dispatch fx input s
        let s = ConfigChanges.afterCommit fx s
        let s = Reads.releaseHeld fx s
        let s = emitApply fx s
        let s = Reads.emitReady fx s
        let s = Snapshots.maybeRequest fx s
        let s = Reads.dropLost fx before s
        let evicted = RaftLog.evict s.Log s.Options.MaxWindowEntries
        let s = if LanguagePrimitives.PhysicalEquality evicted s.Log then s else { s with Log = evicted }

        let old = s.PersistedHardState
        // The configuration changes rarely and is shared by reference until it does: compare references first.
        let hardChanged =
            s.Term <> old.Term
            || s.Vote <> old.Vote
            || not (LanguagePrimitives.PhysicalEquality s.Config old.Config || s.Config = old.Config)
        let hard = if hardChanged then hardState s else old
        let s = if hardChanged then { s with Slow = { s.Slow with PersistedHardState = hard } } else s

        if not (sameRoleKind before s) || before.Term <> s.Term || before.Leader <> s.Leader then
            fx.Emit(RoleChanged(roleKind s, s.Term, s.Leader))

        struct (s, fx.Build(if hardChanged then ValueSome hard else ValueNone))
