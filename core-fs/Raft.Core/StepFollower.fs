namespace Raft.Core

open Common

/// Follower-side message handling: AppendEntries (§5.3) and heartbeats.
module internal StepFollower =
    let private respond (fx: Fx<'T>) (s: State<'T>) (leader: NodeId) (r: AppendResponse) =
        // Acceptances and rejections alike leave only after everything written before them is durable.
        fx.SendAfterDurable(message s leader (AppendEntriesResponse r))

    /// Handles AppendEntries from the leader of the current term.
    let onAppend (fx: Fx<'T>) (m: Message<'T>) (req: AppendRequest<'T>) (s: State<'T>) =
        let log = s.Log

        if req.PrevIndex < log.Committed then
            // Everything up to our commit index is already agreed; tell the leader where we are.
            respond fx s m.From { Success = true; Index = log.Committed; HintIndex = 0L<index>; HintTerm = 0L<term> }
            s
        else
            let lastNew = req.PrevIndex + int64 req.Entries.Length * 1L<index>
            let commit = min req.Commit lastNew

            match RaftLog.tryAppendAfterEvicting log req.PrevIndex req.PrevTerm req.Entries s.Options.MaxWindowEntries commit with
            | ValueSome(struct (log, firstWritten)) ->
                // Appending already committed and evicted; only a commit-only message still moves the commit index.
                let log = if firstWritten > 0L<index> then log else RaftLog.commitTo log commit
                let s = if LanguagePrimitives.PhysicalEquality log s.Log then s else { s with Log = log }

                let s =
                    if firstWritten > 0L<index> then
                        let k = int (firstWritten - req.Entries[0].Index)
                        let written = if k = 0 then req.Entries else Array.sub req.Entries k (req.Entries.Length - k)
                        fx.PersistEntries written
                        ConfigChanges.adopt firstWritten written s
                    else
                        s

                respond fx s m.From { Success = true; Index = lastNew; HintIndex = 0L<index>; HintTerm = 0L<term> }
                s
            | ValueNone ->
                let hintIndex = RaftLog.findConflictByTerm log req.PrevIndex req.PrevTerm
                let hintTerm = RaftLog.termAt log hintIndex |> ValueOption.defaultValue 0L<term>
                respond fx s m.From { Success = false; Index = req.PrevIndex; HintIndex = hintIndex; HintTerm = hintTerm }
                s

    /// Handles a heartbeat: learns the commit index (the leader never sends one beyond our match) and answers.
    let onHeartbeat (fx: Fx<'T>) (m: Message<'T>) (req: HeartbeatRequest) (s: State<'T>) =
        let log = RaftLog.commitTo s.Log (min req.Commit s.Log.LastIndex)
        let s = if LanguagePrimitives.PhysicalEquality log s.Log then s else { s with Log = log }
        fx.Send(message s m.From (HeartbeatResponse { Context = req.Context }))
        s

    /// Handles a message from the leader of the current term (the caller reset the timer and the leader).
    let onLeaderMessage (fx: Fx<'T>) (m: Message<'T>) (s: State<'T>) =
        match m.Body with
        | AppendEntries req -> onAppend fx m req s
        | Heartbeat req -> onHeartbeat fx m req s
        | InstallSnapshot chunk -> Snapshots.onChunk fx m chunk s
        | _ -> s
