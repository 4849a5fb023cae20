namespace Raft.Simulation

open System.Collections.Generic
open Raft.Core

/// The simulated clients: they send proposals to the node they believe leads, learn where proposals were
/// appended, and treat a proposal as acknowledged when its leader applies its last entry in the proposal's
/// term — the moment a real host would answer the client. Records the history of every proposal.
[<Sealed>]
type internal Clients<'T>(spec: StateMachineSpec<'T>, rng: Rng, nodes: int) =
    let history = ResizeArray<ClientProposal<'T>>()
    let byTag = Dictionary<int64, ClientProposal<'T>>()
    // Per node: accepted proposals by the index of each of their entries, with the command's position.
    let accepted = Array.init (nodes + 1) (fun _ -> Dictionary<Index, struct (ClientProposal<'T> * int)>())
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
                  Refused = false
                  Results = Array.zeroCreate commands.Length }

            history.Add p
            byTag[p.Tag] <- p
            Some(target, { Tag = p.Tag; Commands = commands })

    /// The node appended the proposal at `first` in `term`.
    member _.OnAccepted(node: int, tag: int64, first: Index, term: Term) =
        match byTag.TryGetValue tag with
        | true, p ->
            p.Accepted <- ValueSome(struct (first, term))

            for k in 0 .. p.Commands.Length - 1 do
                accepted[node][first + int64 k * 1L<index>] <- struct (p, k)
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

    /// A new read (its query drawn by `view`) for the believed leader or, half the time, any node; None when that
    /// node is down. The client sends it as ReadIndex with the returned read's tag, or serves it at once when the
    /// view's reads are local.
    member _.NextRead(now: int64, view: ReadView<'T>, isUp: int -> bool) : ClientRead option =
        let target = if isUp believedLeader && rng.Chance 0.5 then believedLeader else 1 + rng.Int nodes

        if not (isUp target) then
            None
        else
            let r = { Tag = int64 reads.Count + 1L; Node = target; Query = view.Next rng; Call = now; Served = ValueNone }
            reads.Add r
            if not view.Local then readsByTag[r.Tag] <- r
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

    /// The node applied `e` and its state machine returned `result`: records the result when `e` belongs to a
    /// proposal this node accepted and still carries the proposal's term (otherwise another leader overwrote it);
    /// returns the proposal when `e` ends it, which acknowledges it.
    member _.OnApplied(node: int, e: Entry<'T>, result: obj | null, now: int64) : ClientProposal<'T> voption =
        match accepted[node].TryGetValue e.Index with
        | true, struct (p, k) ->
            accepted[node].Remove e.Index |> ignore

            match p.Accepted with
            | ValueSome(struct (_, term)) when term = e.Term ->
                p.Results[k] <- result

                if k = p.Commands.Length - 1 then
                    p.Acknowledged <- ValueSome now
                    ValueSome p
                else
                    ValueNone
            | _ -> ValueNone
        | _ -> ValueNone

    /// The node crashed: the clients of what it accepted never learn the outcome.
    member _.OnCrash(node: int) =
        accepted[node].Clear()

        // Reads waiting on the crashed node never complete (their tags may repeat in the next incarnation's
        // core, but the client's tags are its own and never reused).
        for r in reads do
            if r.Node = node && r.Served.IsNone then readsByTag.Remove r.Tag |> ignore
