namespace Raft.Simulation

open System.Collections.Generic
open Raft.Core

/// One client proposal and what its client learned.
type ClientProposal<'T> =
    {
        Tag: int64
        /// The node the client sent it to.
        Node: int
        Commands: 'T[]
        /// Simulated time of the call.
        Call: int64
        /// Where the leader appended it, when it did: (first index, term).
        mutable Accepted: struct (Index * Term) voption
        /// When the client learned it succeeded (its leader applied it in its term); ValueNone when the
        /// client never learned (dropped, overwritten, or the leader crashed: the outcome is unknown).
        mutable Acknowledged: int64 voption
        /// True when the node refused it at once (not leader, limits): it certainly did not happen.
        mutable Refused: bool
    }

/// One client read of one key and what its client saw.
type ClientRead =
    {
        Tag: int64
        /// The node the client asked.
        Node: int
        Key: int
        /// Simulated time of the call.
        Call: int64
        /// When the read was served and the value it returned (ValueNone inside: the key was never written);
        /// ValueNone when it was dropped or never completed (a read has no effect, so it is left out of the history).
        mutable Served: struct (int64 * int64 voption) voption
    }

/// The simulated clients: they send proposals to the node they believe leads, learn where proposals were
/// appended, and treat a proposal as acknowledged when its leader applies its last entry in the proposal's
/// term — the moment a real host would answer the client. Records the history of every proposal.
[<Sealed>]
type internal Clients<'T>(spec: StateMachineSpec<'T>, rng: Rng, nodes: int) =
    let history = ResizeArray<ClientProposal<'T>>()
    let byTag = Dictionary<int64, ClientProposal<'T>>()
    // Per node: accepted proposals by the index of their last entry.
    let accepted = Array.init (nodes + 1) (fun _ -> Dictionary<Index, ClientProposal<'T>>())
    let mutable believedLeader = 1
    let mutable sequence = 0L
    let reads = ResizeArray<ClientRead>()
    let readsByTag = Dictionary<int64, ClientRead>()

    /// Every proposal so far, oldest first.
    member _.History = history :> IReadOnlyList<ClientProposal<'T>>

    /// A new proposal for the node the client believes leads (sometimes any node), or None when it is down.
    member _.Next(now: int64, maxBatch: int, isUp: int -> bool) : (int * Proposal<'T>) option =
        let target = if isUp believedLeader && rng.Chance 0.9 then believedLeader else 1 + rng.Int nodes

        if not (isUp target) then
            None
        else
            let commands =
                Array.init (1 + rng.Int maxBatch) (fun _ ->
                    sequence <- sequence + 1L
                    spec.NextCommand rng sequence)

            let p =
                { Tag = int64 history.Count + 1L
                  Node = target
                  Commands = commands |> Array.map (fun struct (c, _) -> c)
                  Call = now
                  Accepted = ValueNone
                  Acknowledged = ValueNone
                  Refused = false }

            history.Add p
            byTag[p.Tag] <- p
            Some(target, { Tag = p.Tag; Commands = commands })

    /// The node appended the proposal at `first` in `term`.
    member _.OnAccepted(node: int, tag: int64, first: Index, term: Term) =
        match byTag.TryGetValue tag with
        | true, p ->
            p.Accepted <- ValueSome(struct (first, term))
            accepted[node][first + int64 (p.Commands.Length - 1) * 1L<index>] <- p
        | _ -> ()

    /// The node refused the proposal; its hint, when known, becomes the client's belief.
    member _.OnDropped(tag: int64, leaderHint: NodeId) =
        match byTag.TryGetValue tag with
        | true, p -> p.Refused <- true
        | _ -> ()

        if leaderHint <> Ids.none then believedLeader <- int leaderHint

    /// A node became leader.
    member _.OnLeader(node: int) = believedLeader <- node

    /// Reads so far, oldest first.
    member _.Reads = reads :> IReadOnlyList<ClientRead>

    /// A new read of a random key for the believed leader or, half the time, any node; None when that node is
    /// down. The client sends it as ReadIndex with the returned read's tag.
    member _.NextRead(now: int64, keys: int, isUp: int -> bool) : ClientRead option =
        let target = if isUp believedLeader && rng.Chance 0.5 then believedLeader else 1 + rng.Int nodes

        if not (isUp target) then
            None
        else
            let r = { Tag = int64 reads.Count + 1L; Node = target; Key = rng.Int keys; Call = now; Served = ValueNone }
            reads.Add r
            readsByTag[r.Tag] <- r
            Some r

    /// The read may be served now: returns it so the host reads the node's state machine.
    member _.OnReadReady(tag: int64) : ClientRead voption =
        match readsByTag.TryGetValue tag with
        | true, r ->
            readsByTag.Remove tag |> ignore
            ValueSome r
        | _ -> ValueNone

    /// The read was refused; its hint, when known, becomes the client's belief.
    member _.OnReadDropped(tag: int64, leaderHint: NodeId) =
        readsByTag.Remove tag |> ignore
        if leaderHint <> Ids.none then believedLeader <- int leaderHint

    /// The node applied `e`: returns the proposal it acknowledges, when `e` ends one of the proposals this node
    /// accepted and still carries the proposal's term (otherwise another leader overwrote it).
    member _.OnApplied(node: int, e: Entry<'T>, now: int64) : ClientProposal<'T> voption =
        match accepted[node].TryGetValue e.Index with
        | true, p ->
            accepted[node].Remove e.Index |> ignore

            match p.Accepted with
            | ValueSome(struct (_, term)) when term = e.Term ->
                p.Acknowledged <- ValueSome now
                ValueSome p
            | _ -> ValueNone
        | _ -> ValueNone

    /// The node crashed: the clients of what it accepted never learn the outcome.
    member _.OnCrash(node: int) =
        accepted[node].Clear()

        // Reads waiting on the crashed node never complete (their tags may repeat in the next incarnation's
        // core, but the client's tags are its own and never reused).
        for r in reads do
            if r.Node = node && r.Served.IsNone then readsByTag.Remove r.Tag |> ignore
