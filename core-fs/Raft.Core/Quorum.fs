namespace Raft.Core

/// The outcome of counting votes.
type VoteOutcome =
    | VoteWon
    | VoteLost
    | VotePending

/// Pure majority arithmetic over simple and joint configurations (§5.2, §5.3, thesis §4.3).
module Quorum =
    /// Votes needed for a majority of n voters.
    let inline majority n = n / 2 + 1

    /// The largest index acknowledged by a majority of `voters`. An empty voter set places no constraint
    /// (it is the missing half of a non-joint configuration), so it answers the maximum index.
    let majorityIndex (voters: Set<NodeId>) (acked: NodeId -> Index) : Index =
        if voters.IsEmpty then
            System.Int64.MaxValue * 1L<index>
        else
            let indexes = Array.zeroCreate<Index> voters.Count
            let mutable i = 0

            for v in voters do
                indexes[i] <- acked v
                i <- i + 1

            // Descending order: the (majority-1)-th element is acknowledged by at least a majority.
            Array.sortInPlace indexes
            indexes[indexes.Length - majority indexes.Length]

    /// `majorityIndex` over voter ids in an array, without allocating: clusters are small, so counting the
    /// voters at or above each candidate (O(n²)) is cheaper than sorting a copy. Empty: the maximum index.
    let inline majorityIndexOf (ids: NodeId[]) ([<InlineIfLambda>] acked: NodeId -> Index) : Index =
        if ids.Length = 0 then
            System.Int64.MaxValue * 1L<index>
        elif ids.Length = 3 then
            // The usual cluster: the median of three, asking for each acknowledgement once instead of up to 12 times.
            let a = acked ids[0]
            let b = acked ids[1]
            let c = acked ids[2]
            max (min a b) (min (max a b) c)
        else
            let need = majority ids.Length
            let mutable best = System.Int64.MinValue * 1L<index>

            for i in 0 .. ids.Length - 1 do
                let candidate = acked ids[i]

                if candidate > best then
                    let mutable atLeast = 0

                    for j in 0 .. ids.Length - 1 do
                        if acked ids[j] >= candidate then atLeast <- atLeast + 1

                    // The need-th largest acknowledgement is the largest one that `need` voters reach.
                    if atLeast >= need then best <- candidate

            best

    /// The commit index a (possibly joint) configuration allows: the smaller of both halves.
    let committedIndex (m: Membership) (acked: NodeId -> Index) : Index =
        min (majorityIndex m.Voters acked) (majorityIndex m.Outgoing acked)

    /// Outcome of an election among `voters` given the votes received (true = granted).
    let voteOutcome (voters: Set<NodeId>) (votes: Map<NodeId, bool>) : VoteOutcome =
        if voters.IsEmpty then
            VoteWon
        else
            let mutable granted = 0
            let mutable rejected = 0

            for v in voters do
                match Map.tryFind v votes with
                | Some true -> granted <- granted + 1
                | Some false -> rejected <- rejected + 1
                | None -> ()

            let need = majority voters.Count
            if granted >= need then VoteWon
            elif voters.Count - rejected < need then VoteLost
            else VotePending

    /// Outcome of an election in a (possibly joint) configuration: both halves must be won.
    let jointVoteOutcome (m: Membership) (votes: Map<NodeId, bool>) : VoteOutcome =
        match voteOutcome m.Voters votes, voteOutcome m.Outgoing votes with
        | VoteWon, VoteWon -> VoteWon
        | VoteLost, _
        | _, VoteLost -> VoteLost
        | _ -> VotePending

    /// True when the nodes satisfying `active` form a quorum of the (possibly joint) configuration.
    let isActiveQuorum (m: Membership) (active: NodeId -> bool) : bool =
        let votes = Set.union m.Voters m.Outgoing |> Seq.map (fun n -> n, active n) |> Map.ofSeq
        jointVoteOutcome m votes = VoteWon
