namespace Raft.Core

open Common

/// Elections (§5.2), PreVote and the leader-lease vote suppression (thesis §9.6).
module internal Election =
    /// Why an election starts.
    type CampaignKind =
        /// Ask for pre-votes at Term+1 first.
        | PreElection
        /// A real election at Term+1.
        | RealElection
        /// A real election ordered by the leader (TimeoutNow): it overrides the voters' leader lease.
        | TransferElection

    /// True while this node believes a leader is alive: vote requests are then ignored (CheckQuorum lease).
    let inLease (s: State<'T>) =
        s.Options.CheckQuorum && s.Leader <> Ids.none && s.ElectionElapsed < s.Options.ElectionTicks

    /// Becomes leader: progress for every member, a no-op entry so earlier terms' entries commit (§5.4.2),
    /// and AppendEntries to everyone.
    let becomeLeader (fx: Fx<'T>) (s: State<'T>) =
        let self = s.Options.Id
        let next = s.Log.LastIndex + 1L<index>

        let peers =
            members s.Config.Current
            |> Seq.filter ((<>) self)
            |> Seq.map (fun id -> id, { Progress.create next with RecentActive = true })
            |> Peers.ofSeq

        let leader =
            {
                Peers = peers
                UncommittedBytes = 0L
                Slow =
                    {
                        // Any configuration entry already in the log may be uncommitted: wait for the no-op to commit.
                        PendingConfIndex = s.Log.LastIndex
                        HeartbeatElapsed = 0
                        HeldReads = []
                        Reads = []
                        Transfer = ValueNone
                        Promotions = Set.empty
                        Ticks = 0L
                        SentContexts = []
                        AckedAt = Map.empty
                        Quorum = VoterIds.ofMembership s.Config.Current
                    }
            }

        let s = { s with Role = Leader leader; Leader = self; ElectionElapsed = 0 }
        let noop = { Index = next; Term = s.Term; Payload = Noop; Size = 0 }
        let s = Replication.appendLocal fx [| noop |] s
        Replication.broadcast fx true s

    let private requestVotes (fx: Fx<'T>) (preVote: bool) (transfer: bool) (s: State<'T>) =
        let term = if preVote then s.Term + 1L<term> else s.Term

        for voter in voters s.Config.Current do
            if voter <> s.Options.Id then
                let request =
                    { From = s.Options.Id
                      To = voter
                      Term = term
                      Body = RequestVote { PreVote = preVote; LastIndex = s.Log.LastIndex; LastTerm = RaftLog.lastTerm s.Log; Transfer = transfer } }
                // A real candidate's own vote must be durable before it asks for others' votes.
                if preVote then fx.Send request else fx.SendAfterDurable request

    /// Acts on the votes counted so far.
    let rec tally (fx: Fx<'T>) (s: State<'T>) =
        match s.Role with
        | PreCandidate votes ->
            match Quorum.jointVoteOutcome s.Config.Current votes with
            | VoteWon -> campaign fx RealElection s
            | VoteLost -> becomeFollower s.Term Ids.none s
            | VotePending -> s
        | Candidate votes ->
            match Quorum.jointVoteOutcome s.Config.Current votes with
            | VoteWon -> becomeLeader fx s
            | VoteLost -> becomeFollower s.Term Ids.none s
            | VotePending -> s
        | _ -> s

    /// Starts a (pre-)election.
    and campaign (fx: Fx<'T>) (kind: CampaignKind) (s: State<'T>) =
        let self = s.Options.Id

        match kind with
        | PreElection ->
            let s = { resetElectionTimer s with Role = PreCandidate(Map.ofList [ self, true ]); Leader = Ids.none }
            requestVotes fx true false s
            tally fx s
        | RealElection
        | TransferElection ->
            let s = resetElectionTimer { s with Slow = { s.Slow with Term = s.Term + 1L<term>; Vote = self }; Leader = Ids.none }
            let s = { s with Role = Candidate(Map.ofList [ self, true ]) }
            requestVotes fx false (kind = TransferElection) s
            tally fx s

    /// Starts the election a timeout or a Campaign input asks for.
    let campaignOnTimeout (fx: Fx<'T>) (s: State<'T>) =
        campaign fx (if s.Options.PreVote then PreElection else RealElection) s

    /// Answers a (pre-)vote request whose term is at least ours (higher terms were already adopted,
    /// except for pre-votes, which never change a term).
    let onVoteRequest (fx: Fx<'T>) (m: Message<'T>) (r: VoteRequest) (s: State<'T>) =
        // Thesis §9.6: a node that heard from a live leader within the election timeout (or is the leader)
        // refuses pre-votes, with or without CheckQuorum.
        let liveLeader = s.Leader <> Ids.none && s.ElectionElapsed < s.Options.ElectionTicks

        let canVote =
            not (r.PreVote && liveLeader)
            && (s.Vote = m.From
                || (s.Vote = Ids.none && s.Leader = Ids.none)
                || (r.PreVote && m.Term > s.Term))

        let upToDate =
            s.PlantedBugs.Contains VoteWithoutLogCheck || RaftLog.isUpToDate s.Log r.LastIndex r.LastTerm

        let respond term granted =
            fx.SendAfterDurable
                { From = s.Options.Id
                  To = m.From
                  Term = term
                  Body = RequestVoteResponse { PreVote = r.PreVote; Granted = granted } }

        if canVote && upToDate then
            respond m.Term true

            if r.PreVote then s
            else { s with Slow = { s.Slow with Vote = m.From }; ElectionElapsed = 0 }
        else
            respond s.Term false
            s

    /// Counts a (pre-)vote answer when it belongs to the current campaign.
    let onVoteResponse (fx: Fx<'T>) (m: Message<'T>) (r: VoteResponse) (s: State<'T>) =
        match s.Role with
        | PreCandidate votes when r.PreVote -> tally fx { s with Role = PreCandidate(Map.add m.From r.Granted votes) }
        | Candidate votes when not r.PreVote -> tally fx { s with Role = Candidate(Map.add m.From r.Granted votes) }
        | _ -> s
