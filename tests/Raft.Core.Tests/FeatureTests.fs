/// Tests of the features beyond the basic protocol, named after the thesis section they check: membership
/// changes (§4), linearizable reads (§6.4), snapshots (§5.4 of the thesis / §7 of the paper), and the planted
/// bugs that prove each violation is visible.
module Raft.Core.Tests.FeatureTests

open Expecto
open Raft.Core

let private nid (n: int64) = Ids.node n
let private nodes (ids: int64 list) = ids |> List.map nid |> Set.ofList

let private config (voters: int64 list) (learners: int64 list) =
    { Voters = nodes voters; Outgoing = Set.empty; Learners = nodes learners; LearnersNext = Set.empty; AutoLeave = false }

let private options (id: int64) = { RaftOptions.defaults (nid id) with PreVote = false; CheckQuorum = false }

let private boot (o: RaftOptions) (voters: int64 list) : State<string> =
    match Node.bootstrap o (voters |> List.map nid) with
    | Ok s -> s
    | Error e -> failwith e

let private msg (from: int64) (target: int64) (term: int64) body : Message<string> =
    { From = nid from; To = nid target; Term = Ids.term term; Body = body }

let private run (s: State<string>) (inputs: Input<string> list) =
    inputs |> List.fold (fun (s, acc) i -> let s', e = Node.step s i in s', acc @ e) (s, [])

let private ack (index: int64) =
    AppendEntriesResponse { Success = true; Index = Ids.index index; HintIndex = 0L<index>; HintTerm = 0L<term> }

let private heartbeatContexts (effects: Effect<string> list) =
    effects |> List.choose (function Send { Body = Heartbeat h } -> Some h.Context | _ -> None) |> List.distinct

let private readsReady (effects: Effect<string> list) =
    effects |> List.choose (function ReadReady(tag, _) -> Some tag | _ -> None)

let private refused (r: Result<Membership, string>) =
    match r with
    | Error reason -> Expect.isNotEmpty reason "a refusal names its reason"
    | Ok m -> failtestf "expected a refusal, got %A" m

/// Node 1 leader of term 1 in a 3-node cluster with its no-op committed and applied.
let private committedLeader (o: RaftOptions) =
    let s = boot o [ 1L; 2L; 3L ]
    let s, _ = run s [ Campaign; Receive(msg 2L 1L 1L (RequestVoteResponse { PreVote = false; Granted = true })) ]
    let s, _ = run s [ Persisted { Index = 1L<index>; Term = 1L<term> }; Receive(msg 2L 1L 1L (ack 1L)) ]
    let s, _ = run s [ Applied 1L<index> ]
    Expect.equal (Node.role s) LeaderRole "leader"
    Expect.equal (Node.commitIndex s) 1L<index> "no-op committed"
    s

let private chunk (index: int64) (term: int64) (transferId: int64) (offset: int64) (data: string) fin : MessageBody<string> =
    InstallSnapshot
        {
            Meta = { Index = Ids.index index; Term = Ids.term term; Config = Node.initialConfig [ nid 1L; nid 2L; nid 3L ] }
            TransferId = transferId
            Offset = offset
            Data = System.Text.Encoding.UTF8.GetBytes data
            Done = fin
        }

let private writtenChunks (effects: Effect<string> list) =
    effects |> List.choose (function Persist { Snapshot = ValueSome c } -> Some c | _ -> None)

let private snapResponses (effects: Effect<string> list) =
    effects
    |> List.collect (function Persist p -> p.ThenSend | Send m -> [ m ] | _ -> [])
    |> List.choose (fun m -> match m.Body with InstallSnapshotResponse r -> Some r | _ -> None)

[<Tests>]
let featureTests =
    testList
        "features"
        [
            testList
                "§4.1 §4.3 Reconfiguration validation"
                [
                    test "every refusal has a reason" {
                        let m = config [ 1L; 2L; 3L ] []
                        refused (Reconfiguration.apply m (Simple(AddVoter(nid 0L))))
                        refused (Reconfiguration.apply (config [ 1L ] []) (Simple(RemoveNode(nid 1L))))
                        refused (Reconfiguration.apply m LeaveJoint)
                        refused (Reconfiguration.apply m (EnterJoint([], false)))
                        refused (Reconfiguration.apply m (EnterJoint([ AddVoter(nid 4L); RemoveNode(nid 4L) ], false)))
                        refused (Reconfiguration.apply m (EnterJoint([ RemoveNode(nid 1L); RemoveNode(nid 2L); RemoveNode(nid 3L) ], false)))
                        let joint = Reconfiguration.apply m (EnterJoint([ AddVoter(nid 4L) ], false)) |> Result.defaultWith failwith
                        refused (Reconfiguration.apply joint (Simple(AddVoter(nid 5L))))
                        refused (Reconfiguration.apply joint (EnterJoint([ AddVoter(nid 5L) ], false)))
                    }

                    test "a simple change adds or removes at most one voter (§4.1)" {
                        let m = config [ 1L; 2L; 3L ] [ 4L ]

                        for change in [ AddVoter(nid 4L); AddVoter(nid 5L); AddLearner(nid 3L); AddLearner(nid 6L); RemoveNode(nid 2L); RemoveNode(nid 4L) ] do
                            let next = Reconfiguration.apply m (Simple change) |> Result.defaultWith failwith
                            let changed = Set.union (Set.difference next.Voters m.Voters) (Set.difference m.Voters next.Voters)
                            Expect.isLessThanOrEqual changed.Count 1 $"{change} changes at most one voter"
                            Expect.isEmpty next.Outgoing "a simple change is never joint"
                    }

                    test "joint enter keeps the old voters as the outgoing half, demotes into learners_next, leave drops it (§4.3)" {
                        let m = config [ 1L; 2L; 3L ] []
                        let joint = Reconfiguration.apply m (EnterJoint([ AddVoter(nid 4L); AddLearner(nid 3L); RemoveNode(nid 2L) ], true)) |> Result.defaultWith failwith
                        Expect.equal joint.Voters (nodes [ 1L; 4L ]) "incoming voters"
                        Expect.equal joint.Outgoing (nodes [ 1L; 2L; 3L ]) "outgoing voters"
                        Expect.equal joint.LearnersNext (nodes [ 3L ]) "3 votes in the outgoing half until the leave"
                        Expect.isFalse (joint.Learners.Contains(nid 3L)) "3 is not a learner yet"
                        Expect.isTrue joint.AutoLeave "auto-leave"
                        let left = Reconfiguration.apply joint LeaveJoint |> Result.defaultWith failwith
                        Expect.equal left (config [ 1L; 4L ] [ 3L ]) "after leaving: new voters, 3 a learner"
                    }

                    test "the planted UnsafeMultiVoterChange is accepted only when planted" {
                        let m = config [ 1L; 2L; 3L ] []
                        let change = EnterJoint([ AddVoter(nid 4L); AddVoter(nid 5L) ], false)
                        let safe = Reconfiguration.applyWith false m change |> Result.defaultWith failwith
                        Expect.isFalse safe.Outgoing.IsEmpty "without the bug two voters are added through joint consensus"
                        let unsafe = Reconfiguration.applyWith true m change |> Result.defaultWith failwith
                        Expect.isTrue unsafe.Outgoing.IsEmpty "with the bug they are added in one step"
                        Expect.equal unsafe.Voters (nodes [ 1L; 2L; 3L; 4L; 5L ]) "five voters at once"

                        // Through the node: the leader appends the configuration of its own choosing.
                        let leader = committedLeader (options 1L)
                        let appended (s: State<string>) = Node.membership (fst (Node.step s (ProposeConfChange(7L, change))))
                        Expect.isFalse (appended leader).Outgoing.IsEmpty "the leader enters joint consensus"
                        Expect.isTrue (appended (Node.withPlantedBugs [ UnsafeMultiVoterChange ] leader)).Outgoing.IsEmpty "planted: one step"
                    }
                ]

            testList
                "§6.4 ReadIndex safety"
                [
                    test "a partitioned old leader cannot confirm a read; with ReadWithoutQuorumCheck it does" {
                        let leader = committedLeader (options 1L)
                        // Partitioned: nothing from 2 or 3 arrives, however long it waits.
                        let s, effects = Node.step leader (Input.ReadIndex 9L)
                        Expect.isNonEmpty (heartbeatContexts effects) "the read starts a heartbeat round"
                        let _, later = run s (List.replicate 5 Tick)
                        Expect.isEmpty (readsReady (effects @ later)) "no quorum answered: the read is not served"

                        let planted = Node.withPlantedBugs [ ReadWithoutQuorumCheck ] leader
                        let _, effects = Node.step planted (Input.ReadIndex 9L)
                        Expect.equal (readsReady effects) [ 9L ] "planted: served at once without a quorum (a possibly stale read)"
                    }

                    test "acknowledgements of a heartbeat sent before the read registered do not confirm it" {
                        let o = options 1L
                        let leader = committedLeader o
                        let s, beat = run leader (List.replicate o.HeartbeatTicks Tick)
                        let old = heartbeatContexts beat |> List.exactlyOne
                        let s, read = Node.step s (Input.ReadIndex 3L)
                        let fresh = heartbeatContexts read |> List.exactlyOne
                        Expect.isGreaterThan fresh old "the read's round has a newer context"
                        let s, stale = Node.step s (Receive(msg 2L 1L 1L (HeartbeatResponse { Context = old })))
                        Expect.isEmpty (readsReady stale) "a stale acknowledgement does not confirm"
                        let _, confirmed = Node.step s (Receive(msg 2L 1L 1L (HeartbeatResponse { Context = fresh })))
                        Expect.equal (readsReady confirmed) [ 3L ] "the fresh one does"
                    }
                ]

            testList
                "§5.4 (thesis) InstallSnapshot chunks"
                [
                    test "AcceptSnapshotChunkAtAnyOffset writes a duplicate chunk only when planted" {
                        let follower = boot (options 2L) [ 1L; 2L; 3L ]
                        let first = Receive(msg 1L 2L 1L (chunk 10L 1L 5L 0L "abcdefgh" false))
                        let s, effects = Node.step follower first
                        Expect.equal (writtenChunks effects |> List.map (fun c -> c.Offset)) [ 0L ] "chunk 0 written"
                        let _, again = Node.step s first
                        Expect.isEmpty (writtenChunks again) "a duplicate is not written again"
                        Expect.equal (snapResponses again |> List.map (fun r -> r.NextOffset)) [ 8L ] "the follower still expects offset 8"

                        let planted = Node.withPlantedBugs [ AcceptSnapshotChunkAtAnyOffset ] s
                        let _, again = Node.step planted first
                        Expect.equal (writtenChunks again |> List.length) 1 "planted: the duplicate is written a second time"
                    }

                    test "a chunk of another snapshot under the same transfer id starts that snapshot anew" {
                        // Transfer ids come from each leader's own counter: a new leader may reuse one.
                        let follower = boot (options 2L) [ 1L; 2L; 3L ]
                        let s, _ = Node.step follower (Receive(msg 1L 2L 1L (chunk 10L 1L 5L 0L "abcdefgh" false)))
                        let _, effects = Node.step s (Receive(msg 3L 2L 2L (chunk 12L 2L 5L 0L "ABCDEFGH" false)))
                        let written = writtenChunks effects
                        Expect.equal (written |> List.map (fun c -> int64 c.Meta.Index, c.Offset)) [ 12L, 0L ] "chunk 0 of snapshot 12 is written"
                        Expect.equal (snapResponses effects |> List.map (fun r -> r.NextOffset)) [ 8L ] "next offset within snapshot 12"
                    }

                    test "a transfer the log overtakes is dropped, and the follower takes its own snapshots again" {
                        // Leader 1 sends the first chunk of snapshot 2; leader 3 of term 2 then sends the entries instead.
                        let follower = boot { options 2L with SnapshotEntries = 3L } [ 1L; 2L; 3L ]
                        let s, _ = Node.step follower (Receive(msg 1L 2L 1L (chunk 2L 1L 5L 0L "abcdefgh" false)))
                        let entries = [| for i in 1L .. 5L -> { Index = Ids.index i; Term = Ids.term (if i <= 2L then 1L else 2L); Payload = Noop; Size = 0 } |]
                        let append = AppendEntries { PrevIndex = 0L<index>; PrevTerm = 0L<term>; Entries = entries; Commit = 5L<index> }
                        let s, effects = run s [ Receive(msg 3L 2L 2L append); Persisted { Index = 5L<index>; Term = 2L<term> } ]
                        Expect.isTrue (effects |> List.exists (function Apply _ -> true | _ -> false)) "the entries are applied"
                        let saves = effects |> List.choose (function SaveSnapshot m -> Some(int64 m.Index) | _ -> None)
                        Expect.equal saves [ 5L ] "a snapshot of its own at the last index handed out to apply"
                        // A late chunk of the overtaken transfer is answered as installed, not written.
                        let _, late = Node.step s (Receive(msg 3L 2L 2L (chunk 2L 1L 5L 8L "ijklmnop" false)))
                        Expect.isEmpty (writtenChunks late) "nothing written"
                        Expect.equal (snapResponses late |> List.map (fun r -> r.Installed)) [ true ] "answered as installed"
                    }
                ]
        ]
