/// Compact, stable, one-line renderings of log entries, messages and effects for transcript output.
/// Positions are written term/index (as etcd-io/raft does): `1/4` is the entry at index 4 of term 1.
module Raft.Core.Tests.Transcript.Format

open Raft.Core

let private i64 (x: int64<'u>) = int64 x

/// A node id list as `(1 2 3)`.
let nodeSet (ids: NodeId seq) =
    "(" + (ids |> Seq.map (i64 >> string) |> String.concat " ") + ")"

/// A configuration as `voters=(1 2 3)`, with the outgoing half and learners when present.
let membership (m: Membership) =
    let parts =
        [
            yield "voters=" + nodeSet m.Voters
            if not m.Outgoing.IsEmpty then yield "outgoing=" + nodeSet m.Outgoing
            if not m.Learners.IsEmpty then yield "learners=" + nodeSet m.Learners
            if not m.LearnersNext.IsEmpty then yield "learners_next=" + nodeSet m.LearnersNext
            if m.AutoLeave then yield "autoleave"
        ]

    String.concat " " parts

/// A term/index position.
let pos (term: Term) (index: Index) = $"{i64 term}/{i64 index}"

/// A payload string, quoted.
let quote (s: string) = "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\""

/// One entry: `1/4 EntryNormal "x"`, `2/5 EntryNoop`, `2/6 EntryConfig voters=(1 2)`.
let entry (e: Entry<string>) =
    let payload =
        match e.Payload with
        | Command c -> "EntryNormal " + quote c
        | Noop -> "EntryNoop"
        | Config m -> "EntryConfig " + membership m

    $"{pos e.Term e.Index} {payload}"

/// Entries as `[1/1 EntryNoop, 1/2 EntryNormal "x"]`.
let entries (es: Entry<string> seq) =
    "[" + (es |> Seq.map entry |> String.concat ", ") + "]"

/// Hard state as `Term:1 Vote:2 Commit:3` (the configuration is printed only when asked for).
let hardState (withConfig: bool) (h: HardState) =
    let core = $"Term:{i64 h.Term} Vote:{i64 h.Vote} Commit:{i64 h.Commit}"
    if withConfig then core + " Config:" + membership h.Config.Current else core

let private context (c: int64) = if c = 0L then "" else $" Context:{c}"

let snapshotMeta (m: SnapshotMeta) = pos m.Term m.Index

/// A snapshot chunk in a Persist: `SnapshotChunk:1/7@8+8` (snapshot term/index, offset, bytes), `Done` on the last.
let chunk (c: SnapshotChunk) =
    let fin = if c.Done then " Done" else ""
    $"SnapshotChunk:{snapshotMeta c.Meta}@{c.Offset}+{c.Data.Length}{fin}"

/// One message: `1->2 MsgApp Term:1 Log:1/3 Commit:2 Entries:[1/4 EntryNormal "x"]`.
let message (m: Message<string>) =
    let head = $"{i64 m.From}->{i64 m.To}"
    let term = i64 m.Term

    match m.Body with
    | RequestVote r ->
        let kind = if r.PreVote then "MsgPreVote" else "MsgVote"
        let transfer = if r.Transfer then " Transfer" else ""
        $"{head} {kind} Term:{term} Log:{pos r.LastTerm r.LastIndex}{transfer}"
    | RequestVoteResponse r ->
        let kind = if r.PreVote then "MsgPreVoteResp" else "MsgVoteResp"
        let rejected = if r.Granted then "" else " Rejected"
        $"{head} {kind} Term:{term}{rejected}"
    | AppendEntries a ->
        let es = if a.Entries.Length = 0 then "" else " Entries:" + entries a.Entries
        $"{head} MsgApp Term:{term} Log:{pos a.PrevTerm a.PrevIndex} Commit:{i64 a.Commit}{es}"
    | AppendEntriesResponse r when r.Success -> $"{head} MsgAppResp Term:{term} Index:{i64 r.Index}"
    | AppendEntriesResponse r ->
        $"{head} MsgAppResp Term:{term} Rejected Index:{i64 r.Index} Hint:{pos r.HintTerm r.HintIndex}"
    | Heartbeat h -> $"{head} MsgHeartbeat Term:{term} Commit:{i64 h.Commit}{context h.Context}"
    | HeartbeatResponse h -> $"{head} MsgHeartbeatResp Term:{term}{context h.Context}"
    | InstallSnapshot c ->
        let fin = if c.Done then " Done" else ""
        $"{head} MsgSnap Term:{term} Snapshot:{snapshotMeta c.Meta} Transfer:{c.TransferId} Offset:{c.Offset} Bytes:{c.Data.Length}{fin}"
    | InstallSnapshotResponse r ->
        let installed = if r.Installed then " Installed" else ""
        $"{head} MsgSnapResp Term:{term} Index:{i64 r.SnapshotIndex} Transfer:{r.TransferId} NextOffset:{r.NextOffset}{installed}"
    | TimeoutNow -> $"{head} MsgTimeoutNow Term:{term}"
    | MessageBody.ReadIndex r -> $"{head} MsgReadIndex Term:{term} Context:{r.Context}"
    | ReadIndexReply r ->
        let rejected = if r.Rejected then " Rejected" else ""
        $"{head} MsgReadIndexResp Term:{term} Context:{r.Context} Index:{i64 r.Index}{rejected}"

let roleKind (r: RoleKind) =
    match r with
    | FollowerRole -> "Follower"
    | PreCandidateRole -> "PreCandidate"
    | CandidateRole -> "Candidate"
    | LeaderRole -> "Leader"

let dropReason (r: DropReason) =
    match r with
    | NotLeader -> "NotLeader"
    | TransferInProgress -> "TransferInProgress"
    | UncommittedLimit -> "UncommittedLimit"
    | ConfigChangePending -> "ConfigChangePending"
    | InvalidConfigChange why -> $"InvalidConfigChange({why})"
    | LeadershipLost -> "LeadershipLost"
    | InvalidTransfer why -> $"InvalidTransfer({why})"
    | TransferAborted why -> $"TransferAborted({why})"

let loadPurpose (p: LoadPurpose) =
    match p with
    | ForPeer peer -> $"ForPeer:{i64 peer}"
    | ForApply -> "ForApply"

/// Effects that only inform the host (no work to carry out): transcripts print them where they happen.
let isInformational (e: Effect<string>) =
    match e with
    | RoleChanged _
    | ProposalAccepted _
    | ProposalDropped _
    | ReadReady _
    | ReadDropped _
    | TransferDropped _ -> true
    | _ -> false

/// One informational effect.
let info (e: Effect<string>) =
    match e with
    | RoleChanged(role, term, leader) -> $"RoleChanged {roleKind role} Term:{i64 term} Leader:{i64 leader}"
    | ProposalAccepted(tag, first, term) -> $"ProposalAccepted Tag:{tag} Index:{i64 first} Term:{i64 term}"
    | ProposalDropped(tag, reason, leader) -> $"ProposalDropped Tag:{tag} {dropReason reason} Leader:{i64 leader}"
    | ReadReady(tag, index) -> $"ReadReady Tag:{tag} Index:{i64 index}"
    | ReadDropped(tag, reason, leader) -> $"ReadDropped Tag:{tag} {dropReason reason} Leader:{i64 leader}"
    | TransferDropped(target, reason) -> $"TransferDropped Target:{i64 target} {dropReason reason}"
    | other -> $"%A{other}"

/// A queued (not informational) effect, on one line.
let effect (e: Effect<string>) =
    match e with
    | Persist p ->
        let es = if p.Entries.Length > 0 then " Entries:" + entries p.Entries else ""
        let hs = match p.HardState with ValueSome h -> " HardState:{" + hardState false h + "}" | ValueNone -> ""
        let sends = if p.ThenSend.IsEmpty then "" else " ThenSend:[" + (p.ThenSend |> List.map message |> String.concat ", ") + "]"
        let snap = match p.Snapshot with ValueSome c -> " " + chunk c | ValueNone -> ""
        $"Persist{hs}{es}{snap}{sends}"
    | Send m -> message m
    | Apply es -> "Apply " + (es |> Seq.map entry |> String.concat ", ")
    | LoadEntries(purpose, from, upTo) -> $"LoadEntries {loadPurpose purpose} [{i64 from}, {i64 upTo}]"
    | SaveSnapshot meta -> $"SaveSnapshot {snapshotMeta meta}"
    | CompactLog upTo -> $"CompactLog {i64 upTo}"
    | AbandonSnapshot meta -> $"AbandonSnapshot {snapshotMeta meta}"
    | ReadSnapshotChunk(target, meta, transferId, offset, maxBytes) ->
        $"ReadSnapshotChunk To:{i64 target} Snapshot:{snapshotMeta meta} Transfer:{transferId} Offset:{offset} Max:{maxBytes}"
    | other when isInformational other -> info other
    | other -> $"%A{other}"
