namespace Raft.Core

open Common

/// Leadership transfer (thesis §3.10): bring the target up to date, then tell it to campaign at once.
module internal Transfer =
    /// Sends TimeoutNow when the transfer target holds the whole log.
    let maybeSendTimeoutNow (fx: Fx<'T>) (peer: NodeId) (s: State<'T>) =
        match s.Role with
        | Leader({ Slow = { Transfer = ValueSome t } } as l) when t.Target = peer ->
            match Peers.tryFind peer l.Peers with
            | ValueSome p when p.Match = s.Log.LastIndex -> fx.Send(message s peer TimeoutNow)
            | _ -> ()
        | _ -> ()

    /// Gives up a transfer; lease evidence gathered before it is forgotten (the target may have won).
    let abort (fx: Fx<'T>) (reason: string) (s: State<'T>) =
        match s.Role with
        | Leader({ Slow = { Transfer = ValueSome t } } as l) ->
            fx.Emit(TransferDropped(t.Target, TransferAborted reason))
            s |> withLeaderSlow { l.Slow with Transfer = ValueNone; AckedAt = Map.empty }
        | _ -> s

    /// A TransferLeadership input.
    let onRequest (fx: Fx<'T>) (target: NodeId) (s: State<'T>) =
        let refuse reason =
            fx.Emit(TransferDropped(target, reason))
            s

        match s.Role with
        | Leader l ->
            if target = s.Options.Id then refuse (InvalidTransfer "this node is already the leader")
            elif not (isVoter s.Config.Current target) then
                refuse (InvalidTransfer $"node {target} is not a voter (a learner or not a member)")
            else
                match l.Transfer with
                | ValueSome t when t.Target = target -> s
                | _ ->
                    let s = abort fx $"superseded by a transfer to {target}" s
                    let l = leaderState s
                    let s = s |> withLeaderSlow { l.Slow with Transfer = ValueSome { Target = target; Elapsed = 0 }; AckedAt = Map.empty }
                    let s = Replication.replicate fx true target s
                    maybeSendTimeoutNow fx target s
                    s
        | _ -> refuse NotLeader

    /// Counts a tick; a transfer not done within an election timeout is aborted.
    let tick (fx: Fx<'T>) (s: State<'T>) =
        match s.Role with
        | Leader({ Slow = { Transfer = ValueSome t } } as l) ->
            if t.Elapsed + 1 >= s.Options.ElectionTicks then
                abort fx $"node {t.Target} did not take over within an election timeout" s
            else
                s |> withLeaderSlow { l.Slow with Transfer = ValueSome { t with Elapsed = t.Elapsed + 1 } }
        | _ -> s
