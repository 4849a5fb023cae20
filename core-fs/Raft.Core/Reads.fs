namespace Raft.Core

open Common

/// Linearizable reads (thesis §6.4): ReadIndex confirmed by a heartbeat round, lease reads, and reads
/// forwarded by followers. A read that cannot complete is dropped with a reason, never left waiting.
module internal Reads =
    /// True once the leader committed an entry of its own term: before that its commit index may be stale.
    let committedInTerm (s: State<'T>) =
        RaftLog.matchTerm s.Log s.Log.Committed s.Term

    /// Sends a heartbeat round with a fresh context; answers to it confirm every read registered before.
    let heartbeatRound (fx: Fx<'T>) (s: State<'T>) =
        let l = leaderState s
        let context = s.Sequence + 1L
        let horizon = l.Ticks - int64 (2 * s.Options.ElectionTicks)
        let sent = struct (context, l.Ticks) :: (l.SentContexts |> List.filter (fun struct (_, at) -> at >= horizon))
        let s = { s with Slow = { s.Slow with Sequence = context } } |> withLeaderSlow { l.Slow with SentContexts = sent; HeartbeatElapsed = 0 }
        Replication.broadcastHeartbeat fx context s
        s

    /// True while the leader lease holds: a quorum acknowledged heartbeats sent less than
    /// ElectionTicks - LeaseDriftTicks ago, so no other leader can have been elected (voters in lease ignore
    /// vote requests). Never during a leadership transfer, which deliberately overrides the voters' lease.
    let leaseValid (s: State<'T>) =
        match s.Role with
        | Leader l when l.Transfer.IsNone && s.Options.CheckQuorum ->
            let sentAt id =
                if id = s.Options.Id then Ids.index l.Ticks
                else
                    match Map.tryFind id l.AckedAt with
                    | Some t -> Ids.index t
                    | None -> Ids.index -1L

            let start = int64 (Quorum.committedIndex s.Config.Current sentAt)
            start >= 0L && l.Ticks < start + int64 (s.Options.ElectionTicks - s.Options.LeaseDriftTicks)
        | _ -> false

    /// Serves a confirmed read: a local one once applied, a forwarded one by replying to the follower.
    let private confirmed (fx: Fx<'T>) (origin: ReadOrigin) (index: Index) (s: State<'T>) =
        match origin with
        | LocalRead tag -> { s with Slow = { s.Slow with ReadsAwaitingApply = s.ReadsAwaitingApply @ [ struct (tag, index) ] } }
        | RemoteRead(node, context) ->
            fx.Send(message s node (ReadIndexReply { Context = context; Index = index; Rejected = false }))
            s

    /// Serves a read confirmed without a heartbeat round (lease, sole voter). A follower that forwarded it may not
    /// know the commit index yet when the leader does not broadcast it (`BroadcastCommit` off); it needs it to
    /// apply up to the read index, so it is sent a heartbeat carrying it rather than waiting for the next one.
    let private confirmedNow (fx: Fx<'T>) (origin: ReadOrigin) (s: State<'T>) =
        let s = confirmed fx origin s.Log.Committed s

        match origin, s.Role with
        | RemoteRead(node, _), Leader l when not s.Options.BroadcastCommit ->
            match Peers.tryFind node l.Peers with
            | ValueSome p -> Replication.sendHeartbeat fx node p 0L s
            | ValueNone -> ()
        | _ -> ()

        s

    /// Registers a read on the leader.
    let register (fx: Fx<'T>) (origin: ReadOrigin) (s: State<'T>) =
        let l = leaderState s
        let soleVoter = s.Config.Current.Outgoing.IsEmpty && s.Config.Current.Voters = Set.singleton s.Options.Id

        if not (committedInTerm s) then
            s |> withLeaderSlow { l.Slow with HeldReads = l.HeldReads @ [ origin ] }
        elif soleVoter || s.PlantedBugs.Contains ReadWithoutQuorumCheck then
            confirmedNow fx origin s
        elif s.Options.ReadMode = LeaseBased && leaseValid s then
            confirmedNow fx origin s
        else
            let read = { Origin = origin; Context = s.Sequence + 1L; Index = s.Log.Committed; Acks = Set.singleton s.Options.Id }
            let s = s |> withLeaderSlow { l.Slow with Reads = l.Reads @ [ read ] }
            heartbeatRound fx s

    /// Registers the reads held until the leader's first commit in its term.
    let releaseHeld (fx: Fx<'T>) (s: State<'T>) =
        match s.Role with
        | Leader l when not l.HeldReads.IsEmpty && committedInTerm s ->
            let held = l.HeldReads
            let s = s |> withLeaderSlow { l.Slow with HeldReads = [] }
            held |> List.fold (fun s origin -> register fx origin s) s
        | _ -> s

    /// A heartbeat answer with `context` from `peer`: lease evidence, and an acknowledgement of every read
    /// registered at or before that context.
    let onHeartbeatAck (fx: Fx<'T>) (peer: NodeId) (context: int64) (s: State<'T>) =
        match s.Role with
        | Leader l when context > 0L ->
            let ackedAt =
                match l.SentContexts |> List.tryFind (fun struct (c, _) -> c = context) with
                | Some(struct (_, at)) when at > (Map.tryFind peer l.AckedAt |> Option.defaultValue -1L) -> Map.add peer at l.AckedAt
                | _ -> l.AckedAt

            let reads = l.Reads |> List.map (fun r -> if r.Context <= context then { r with Acks = r.Acks.Add peer } else r)

            let hasQuorum (r: PendingRead) =
                Quorum.jointVoteOutcome s.Config.Current (r.Acks |> Seq.map (fun n -> n, true) |> Map.ofSeq) = VoteWon

            // Acknowledgement sets shrink with the context, so confirmed reads form a prefix.
            let ready = reads |> List.takeWhile hasQuorum
            let waiting = reads |> List.skip ready.Length
            let s = s |> withLeaderSlow { l.Slow with AckedAt = ackedAt; Reads = waiting }
            ready |> List.fold (fun s r -> confirmed fx r.Origin r.Index s) s
        | _ -> s

    /// A ReadIndex input: the leader registers it; a follower forwards it to its leader.
    let onReadIndex (fx: Fx<'T>) (tag: int64) (s: State<'T>) =
        match s.Role with
        | Leader _ -> register fx (LocalRead tag) s
        | _ when s.Leader <> Ids.none ->
            let context = s.Sequence + 1L
            fx.Send(message s s.Leader (MessageBody.ReadIndex { Context = context }))
            { s with Slow = { s.Slow with Sequence = context; ForwardedReads = Map.add context tag s.ForwardedReads } }
        | _ ->
            fx.Emit(ReadDropped(tag, NotLeader, Ids.none))
            s

    /// A read forwarded by a follower.
    let onForwarded (fx: Fx<'T>) (from: NodeId) (request: ReadIndexRequest) (s: State<'T>) =
        match s.Role with
        | Leader l when l.Transfer.IsNone -> register fx (RemoteRead(from, request.Context)) s
        | _ ->
            fx.Send(message s from (ReadIndexReply { Context = request.Context; Index = 0L<index>; Rejected = true }))
            s

    /// The leader's answer to a read this follower forwarded.
    let onReply (fx: Fx<'T>) (reply: ReadIndexResponse) (s: State<'T>) =
        match Map.tryFind reply.Context s.ForwardedReads with
        | None -> s
        | Some tag ->
            let s = { s with Slow = { s.Slow with ForwardedReads = Map.remove reply.Context s.ForwardedReads } }

            if reply.Rejected then
                fx.Emit(ReadDropped(tag, NotLeader, s.Leader))
                s
            else
                { s with Slow = { s.Slow with ReadsAwaitingApply = s.ReadsAwaitingApply @ [ struct (tag, reply.Index) ] } }

    /// Emits ReadReady for every confirmed read whose index is applied.
    let emitReady (fx: Fx<'T>) (s: State<'T>) =
        if s.ReadsAwaitingApply.IsEmpty then
            s
        else
            let ready, waiting = s.ReadsAwaitingApply |> List.partition (fun struct (_, index) -> index <= s.Log.Applied)

            for struct (tag, index) in ready do
                fx.Emit(ReadReady(tag, index))

            if ready.IsEmpty then s else { s with Slow = { s.Slow with ReadsAwaitingApply = waiting } }

    /// Drops the reads that can no longer complete after a change of role, term or leader.
    let dropLost (fx: Fx<'T>) (before: State<'T>) (s: State<'T>) =
        let s =
            match before.Role, s.Role with
            | Leader _, Leader _ -> s
            | Leader l, _ ->
                let origins = l.HeldReads @ (l.Reads |> List.map (fun r -> r.Origin))

                for origin in origins do
                    match origin with
                    | LocalRead tag -> fx.Emit(ReadDropped(tag, LeadershipLost, s.Leader))
                    | RemoteRead(node, context) ->
                        fx.Send(message s node (ReadIndexReply { Context = context; Index = 0L<index>; Rejected = true }))

                s
            | _ -> s

        if (before.Term <> s.Term || before.Leader <> s.Leader) && not s.ForwardedReads.IsEmpty then
            for KeyValue(_, tag) in s.ForwardedReads do
                fx.Emit(ReadDropped(tag, LeadershipLost, s.Leader))

            { s with Slow = { s.Slow with ForwardedReads = Map.empty } }
        else
            s
