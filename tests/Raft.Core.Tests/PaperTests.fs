/// Tests named after the section of the Raft paper (or Ongaro's thesis) they check, driven through Node.step.
module Raft.Core.Tests.PaperTests

open Expecto
open Raft.Core

// ---- Helpers: nodes, messages, effects ----

let private nid (n: int64) = Ids.node n
let private options (id: int64) = { RaftOptions.defaults (nid id) with PreVote = false; CheckQuorum = false }

let private boot (o: RaftOptions) (voters: int64 list) : State<string> =
    match Node.bootstrap o (voters |> List.map nid) with
    | Ok s -> s
    | Error e -> failwith e

let private entry (index: int64) (term: int64) (data: string) =
    { Index = Ids.index index; Term = Ids.term term; Payload = (if data = "" then Noop else Command data); Size = data.Length }

/// A node restarted from a disk holding `entries` and the given hard state.
let private restored (o: RaftOptions) (voters: int64 list) (term: int64) (vote: int64) (commit: int64) (entries: Entry<string> list) =
    let entries = Array.ofList entries
    let last = if entries.Length = 0 then 0L<index> else entries[entries.Length - 1].Index

    let runs =
        entries
        |> Array.fold (fun acc (e: Entry<string>) -> match acc with struct (_, t) :: _ when t = e.Term -> acc | _ -> struct (e.Index, e.Term) :: acc) []
        |> List.rev
        |> Array.ofList

    let info =
        {
            HardState = { Term = Ids.term term; Vote = nid vote; Commit = Ids.index commit; Config = Node.initialConfig (voters |> List.map nid) }
            Snapshot = ValueNone
            LastIndex = last
            TermRuns = runs
            Tail = entries
            Configs = Node.configEntries entries
            Applied = Ids.index commit
            Receiving = ValueNone
        }

    match Node.restore o info with
    | Ok s -> s
    | Error e -> failwith e

let private msg (from: int64) (target: int64) (term: int64) body : Message<string> =
    { From = nid from; To = nid target; Term = Ids.term term; Body = body }

let private voteReq preVote (lastIndex: int64) (lastTerm: int64) =
    RequestVote { PreVote = preVote; LastIndex = Ids.index lastIndex; LastTerm = Ids.term lastTerm; Transfer = false }

let private voteResp preVote granted = RequestVoteResponse { PreVote = preVote; Granted = granted }

let private append (prevIndex: int64) (prevTerm: int64) (entries: Entry<string> list) (commit: int64) =
    AppendEntries { PrevIndex = Ids.index prevIndex; PrevTerm = Ids.term prevTerm; Entries = Array.ofList entries; Commit = Ids.index commit }

let private ack (index: int64) =
    AppendEntriesResponse { Success = true; Index = Ids.index index; HintIndex = 0L<index>; HintTerm = 0L<term> }

/// Feeds inputs in order; returns the final state and every effect.
let private run (s: State<string>) (inputs: Input<string> list) =
    inputs |> List.fold (fun (s, acc) i -> let s', e = Node.step s i in s', acc @ e) (s, [])

let private sent (effects: Effect<string> list) = effects |> List.choose (function Send m -> Some m | _ -> None)
let private afterDurable (effects: Effect<string> list) = effects |> List.collect (function Persist p -> p.ThenSend | _ -> [])
let private outgoing effects = sent effects @ afterDurable effects

let private persistedEntries (effects: Effect<string> list) =
    effects |> List.collect (function Persist p -> List.ofArray p.Entries | _ -> [])

let private votesGranted (effects: Effect<string> list) =
    outgoing effects |> List.choose (fun m -> match m.Body with RequestVoteResponse r -> Some r.Granted | _ -> None)

/// A 3-node cluster's node 1 elected leader of term 1 with its no-op durable and acknowledged by nobody yet.
let private leaderOf3 (o: RaftOptions) =
    let s = boot o [ 1L; 2L; 3L ]
    let s, _ = run s [ Campaign; Receive(msg 2L 1L 1L (voteResp false true)) ]
    Expect.equal (Node.role s) LeaderRole "node 1 won the election"
    s

let private logTerms (s: State<string>) =
    [ for i in 1L .. int64 (Node.lastIndex s) -> int64 (Node.termAt s (Ids.index i)).Value ]

[<Tests>]
let paperTests =
    testList
        "paper"
        [
            test "§5.1 a server with a stale term rejects requests (and does not reset its election timer)" {
                let o = { options 1L with CheckQuorum = true }
                let s = restored o [ 1L; 2L; 3L ] 2L 0L 0L [ entry 1L 1L "" ]
                let s, _ = run s [ Tick; Tick ]
                let elapsed = s.ElectionElapsed
                let s', effects = Node.step s (Receive(msg 2L 1L 1L (append 1L 1L [ entry 2L 1L "x" ] 0L)))
                Expect.equal (Node.term s') 2L<term> "the term is unchanged"
                Expect.equal (Node.lastIndex s') 1L<index> "nothing appended"
                Expect.equal (Node.leader s') Ids.none "the stale sender is not taken as leader"
                Expect.equal s'.ElectionElapsed elapsed "the election timer is not reset by a stale message"

                match sent effects with
                | [ { Term = t; Body = AppendEntriesResponse r } ] ->
                    Expect.equal t 2L<term> "the answer carries the newer term"
                    Expect.isFalse r.Success "the request is rejected"
                | other -> failtestf "expected one rejection, got %A" other

                // A stale RequestVote is not granted.
                let _, effects = Node.step s (Receive(msg 3L 1L 1L (voteReq false 5L 1L)))
                Expect.isFalse (votesGranted effects |> List.contains true) "no vote for a stale candidate"
            }

            test "§5.1 a server adopts the newer term (a leader or candidate steps down)" {
                let leader = leaderOf3 (options 1L)
                let s, _ = Node.step leader (Receive(msg 3L 1L 5L (voteResp false false)))
                Expect.equal (Node.role s) FollowerRole "the leader steps down"
                Expect.equal (Node.term s) 5L<term> "and adopts term 5"
                Expect.equal s.Vote Ids.none "with no vote cast in term 5"

                let candidate, _ = Node.step (boot (options 1L) [ 1L; 2L; 3L ]) Campaign
                let s, _ = Node.step candidate (Receive(msg 2L 1L 4L (append 0L 0L [] 0L)))
                Expect.equal (Node.role s) FollowerRole "the candidate steps down"
                Expect.equal (Node.term s) 4L<term> "and adopts term 4"
                Expect.equal (Node.leader s) (nid 2L) "following the sender of AppendEntries"
            }

            test "§5.2 randomized election timeouts are in [T, 2T), spread, seeded and reproducible" {
                let timeouts =
                    [ for seed in 1UL .. 40UL ->
                        let s = boot { options 1L with Seed = seed; ElectionTicks = 10 } [ 1L; 2L; 3L ]
                        s.RandomizedTimeout ]

                for t in timeouts do
                    Expect.isTrue (t >= 10 && t < 20) $"timeout {t} in [10, 20)"

                Expect.isGreaterThan (List.distinct timeouts |> List.length) 5 "timeouts differ between seeds"

                let again = [ for seed in 1UL .. 40UL -> (boot { options 1L with Seed = seed; ElectionTicks = 10 } [ 1L; 2L; 3L ]).RandomizedTimeout ]
                Expect.equal again timeouts "the same seed gives the same timeout"

                // A follower campaigns exactly when its randomized timeout expires, not a tick earlier.
                let s = boot (options 1L) [ 1L; 2L; 3L ]
                let s, _ = run s (List.replicate (s.RandomizedTimeout - 1) Tick)
                Expect.equal (Node.role s) FollowerRole "still a follower one tick before the timeout"
                let s, _ = Node.step s Tick
                Expect.equal (Node.role s) CandidateRole "a candidate at the timeout"
                Expect.equal (Node.term s) 1L<term> "in term 1"
            }

            test "§5.2 a candidate wins with a majority, keeps waiting without one, and loses with a majority against" {
                let candidate, _ = Node.step (boot (options 1L) [ 1L; 2L; 3L; 4L; 5L ]) Campaign
                Expect.equal candidate.Vote (nid 1L) "the candidate votes for itself"

                let s, _ = run candidate [ Receive(msg 2L 1L 1L (voteResp false true)) ]
                Expect.equal (Node.role s) CandidateRole "2 of 5 is not a majority"
                let s, effects = Node.step s (Receive(msg 3L 1L 1L (voteResp false true)))
                Expect.equal (Node.role s) LeaderRole "3 of 5 is a majority"
                Expect.equal (persistedEntries effects |> List.map (fun e -> e.Payload)) [ Noop ] "a new leader appends a no-op (§5.4.2)"

                let s, _ = run candidate [ for n in 2L .. 3L -> Receive(msg n 1L 1L (voteResp false false)) ]
                Expect.equal (Node.role s) CandidateRole "2 rejections of 5 leave the election open"
                let s, _ = Node.step s (Receive(msg 4L 1L 1L (voteResp false false)))
                Expect.equal (Node.role s) FollowerRole "3 rejections of 5 lose it"
            }

            test "§5.2 a server votes for at most one candidate per term" {
                let s = boot (options 1L) [ 1L; 2L; 3L ]
                let s, first = Node.step s (Receive(msg 2L 1L 1L (voteReq false 0L 0L)))
                Expect.equal (votesGranted first) [ true ] "the first candidate gets the vote"
                let s, second = Node.step s (Receive(msg 3L 1L 1L (voteReq false 0L 0L)))
                Expect.equal (votesGranted second) [ false ] "the second candidate of the same term does not"
                let _, again = Node.step s (Receive(msg 2L 1L 1L (voteReq false 0L 0L)))
                Expect.equal (votesGranted again) [ true ] "a repeated request of the same candidate is granted again"
            }

            test "§5.3 log matching: a follower rejects a mismatched PrevIndex/PrevTerm and truncates a conflict" {
                let s = restored (options 2L) [ 1L; 2L; 3L ] 1L 1L 1L [ entry 1L 1L ""; entry 2L 1L "a"; entry 3L 1L "b" ]
                // Mismatch: the follower has term 1 at index 3, not 2.
                let s1, effects = Node.step s (Receive(msg 1L 2L 2L (append 3L 2L [ entry 4L 2L "c" ] 1L)))
                Expect.equal (Node.lastIndex s1) 3L<index> "nothing appended after a mismatch"

                match afterDurable effects |> List.map (fun m -> m.Body) with
                | [ AppendEntriesResponse r ] ->
                    Expect.isFalse r.Success "rejected"
                    Expect.equal (r.HintIndex, r.HintTerm) (3L<index>, 1L<term>) "hint: last index <= 3 with term <= 2"
                | other -> failtestf "expected one rejection after durability, got %A" other

                // Conflict at index 2: entries from 2 on are replaced.
                let s2, effects = Node.step s1 (Receive(msg 1L 2L 2L (append 1L 1L [ entry 2L 2L "x" ] 1L)))
                Expect.equal (logTerms s2) [ 1L; 2L ] "the conflicting suffix is gone, the new entry is in"
                Expect.equal (persistedEntries effects |> List.map (fun e -> e.Index)) [ 2L<index> ] "the host rewrites from index 2"

                // A duplicate of what the follower already holds writes nothing and truncates nothing.
                let s3, effects = Node.step s2 (Receive(msg 1L 2L 2L (append 0L 0L [ entry 1L 1L ""; entry 2L 2L "x" ] 1L)))
                Expect.equal (logTerms s3) [ 1L; 2L ] "unchanged"
                Expect.isEmpty (persistedEntries effects) "nothing to write"
            }

            test "§5.4.1 a voter rejects a less up-to-date log" {
                let s = restored (options 1L) [ 1L; 2L; 3L ] 2L 0L 0L [ entry 1L 1L ""; entry 2L 2L ""; entry 3L 2L "" ]
                let granted lastIndex lastTerm =
                    votesGranted (snd (Node.step s (Receive(msg 2L 1L 3L (voteReq false lastIndex lastTerm)))))

                Expect.equal (granted 9L 1L) [ false ] "an older last term loses even with a longer log"
                Expect.equal (granted 2L 2L) [ false ] "the same last term with a shorter log loses"
                Expect.equal (granted 3L 2L) [ true ] "an equal log wins"
                Expect.equal (granted 1L 3L) [ true ] "a newer last term wins even with a shorter log"
            }

            test "§5.4.2 a leader does not commit an entry of an earlier term by counting replicas" {
                // Node 1 holds 2/2 from term 2 (uncommitted) and becomes leader of term 3.
                let s = restored (options 1L) [ 1L; 2L; 3L ] 2L 0L 1L [ entry 1L 1L ""; entry 2L 2L "old" ]
                let s, _ = run s [ Campaign; Receive(msg 2L 1L 3L (voteResp false true)) ]
                Expect.equal (Node.role s) LeaderRole "leader of term 3"
                let noop = Node.lastIndex s
                let s, _ = Node.step s (Persisted { Index = noop; Term = 3L<term> })
                // Node 2 acknowledges index 2 only: 2/2 is on a majority, but it is of term 2.
                let s, _ = Node.step s (Receive(msg 2L 1L 3L (ack 2L)))
                Expect.equal (Node.commitIndex s) 1L<index> "2/2 is not committed by counting"
                // Once the term-3 no-op is on a majority, everything before it commits with it.
                let s, _ = Node.step s (Receive(msg 2L 1L 3L (ack 3L)))
                Expect.equal (Node.commitIndex s) 3L<index> "committed through the current-term entry"

                // The planted bug shows this test can fail.
                let buggy = restored (options 1L) [ 1L; 2L; 3L ] 2L 0L 1L [ entry 1L 1L ""; entry 2L 2L "old" ] |> Node.withPlantedBugs [ CommitOldTermByCounting ]
                let buggy, _ = run buggy [ Campaign; Receive(msg 2L 1L 3L (voteResp false true)); Persisted { Index = 3L<index>; Term = 3L<term> }; Receive(msg 2L 1L 3L (ack 2L)) ]
                Expect.equal (Node.commitIndex buggy) 2L<index> "with CommitOldTermByCounting planted, 2/2 would commit"
            }

            test "§10.2.1 the leader counts itself toward a quorum only once its own write is durable" {
                let s = leaderOf3 (options 1L)
                let s, _ = Node.step s (Receive(msg 2L 1L 1L (ack 1L)))
                Expect.equal (Node.commitIndex s) 0L<index> "one follower plus an undurable leader is not a majority"
                let s, _ = Node.step s (Persisted { Index = 1L<index>; Term = 1L<term> })
                Expect.equal (Node.commitIndex s) 1L<index> "committed once the leader's write is durable"
            }

            test "§9.6 PreVote does not bump terms" {
                let o id = { options id with PreVote = true }
                let s, effects = Node.step (boot (o 1L) [ 1L; 2L; 3L ]) Campaign
                Expect.equal (Node.role s) PreCandidateRole "a pre-candidate"
                Expect.equal (Node.term s) 0L<term> "its own term is unchanged"

                let requests = sent effects
                Expect.equal (requests |> List.map (fun m -> m.Term)) [ 1L<term>; 1L<term> ] "it asks about term 1"
                Expect.isTrue (requests |> List.forall (fun m -> match m.Body with RequestVote r -> r.PreVote | _ -> false)) "as pre-votes"

                let voter, answer = Node.step (boot (o 2L) [ 1L; 2L; 3L ]) (Receive requests.Head)
                Expect.equal (Node.term voter) 0L<term> "the voter's term is unchanged"
                Expect.equal voter.Vote Ids.none "and it has cast no vote"
                Expect.equal (votesGranted answer) [ true ] "the pre-vote is granted"

                let s, _ = Node.step s (Receive(msg 2L 1L 1L (voteResp true true)))
                Expect.equal (Node.role s) CandidateRole "a pre-vote majority starts the real election"
                Expect.equal (Node.term s) 1L<term> "only now is the term bumped"
            }

            test "§9.6 PreVote: a node with a live leader refuses a pre-vote (CheckQuorum off)" {
                let o = { options 2L with PreVote = true; CheckQuorum = false }
                let s = boot o [ 1L; 2L; 3L ]
                let s, _ = Node.step s (Receive(msg 1L 2L 1L (append 0L 0L [] 0L)))
                Expect.equal (Node.leader s) (nid 1L) "node 2 follows leader 1"
                let _, effects = Node.step s (Receive(msg 3L 2L 2L (voteReq true 0L 0L)))
                Expect.equal (votesGranted effects) [ false ] "a pre-vote is refused while the leader is live"

                // An election timeout later without hearing from the leader, the pre-vote is granted (whether
                // node 2 is still a follower or has become a pre-candidate itself).
                let s, _ = run s (List.replicate o.ElectionTicks Tick)
                let _, effects = Node.step s (Receive(msg 3L 2L 2L (voteReq true 0L 0L)))
                Expect.equal (votesGranted effects) [ true ] "granted once the leader is silent for an election timeout"
            }

            test "§9.6 CheckQuorum: a leader that hears from no quorum for an election timeout steps down" {
                let o = { options 1L with CheckQuorum = true }
                let s = leaderOf3 o
                // First round: everyone counts as active since the election.
                let s, _ = run s (List.replicate o.ElectionTicks Tick)
                Expect.equal (Node.role s) LeaderRole "still leader after the first round"
                // Node 2 answers: with itself that is a quorum.
                let s, _ = Node.step s (Receive(msg 2L 1L 1L (HeartbeatResponse { Context = 0L })))
                let s, _ = run s (List.replicate o.ElectionTicks Tick)
                Expect.equal (Node.role s) LeaderRole "a quorum answered: still leader"
                // Nobody answers now.
                let s, effects = run s (List.replicate o.ElectionTicks Tick)
                Expect.equal (Node.role s) FollowerRole "no quorum: steps down"
                Expect.equal (Node.term s) 1L<term> "without changing term"
                Expect.contains effects (RoleChanged(FollowerRole, 1L<term>, Ids.none)) "and reports it"
            }

            test "lease vote suppression: a follower that heard from its leader within the timeout ignores RequestVote" {
                let o = { options 2L with CheckQuorum = true }
                let s = boot o [ 1L; 2L; 3L ]
                let s, _ = Node.step s (Receive(msg 1L 2L 1L (append 0L 0L [] 0L)))
                let request = msg 3L 2L 5L (voteReq false 0L 0L)
                let s1, effects = Node.step s (Receive request)
                Expect.equal (Node.term s1) 1L<term> "the higher term is not adopted"
                Expect.isEmpty (outgoing effects) "no answer at all"

                let transfer = msg 3L 2L 5L (RequestVote { PreVote = false; LastIndex = 0L<index>; LastTerm = 0L<term>; Transfer = true })
                let s2, effects = Node.step s (Receive transfer)
                Expect.equal (Node.term s2) 5L<term> "a leadership-transfer election overrides the lease"
                Expect.equal (votesGranted effects) [ true ] "and is granted"

                // Past the lease (ElectionTicks without the leader), the same request is heard.
                let quiet, _ = run s (List.replicate (o.ElectionTicks) Tick)
                let quiet = if Node.role quiet = FollowerRole then quiet else failtest "node 2 campaigned on its own"
                let s3, effects = Node.step quiet (Receive request)
                Expect.equal (Node.term s3) 5L<term> "the term is adopted"
                Expect.equal (votesGranted effects) [ true ] "and the vote granted"
            }

            test "persist before send: votes and acks travel in Persist.ThenSend, never as plain sends" {
                let s = boot (options 2L) [ 1L; 2L; 3L ]
                let s, effects = Node.step s (Receive(msg 1L 2L 1L (voteReq false 0L 0L)))
                Expect.isEmpty (sent effects) "no vote sent before the write"

                match effects with
                | Persist { HardState = ValueSome h; ThenSend = [ { Body = RequestVoteResponse r } ] } :: _ ->
                    Expect.equal (h.Term, h.Vote) (1L<term>, nid 1L) "the vote is in the hard state written first"
                    Expect.isTrue r.Granted "the granted vote waits for it"
                | other -> failtestf "expected a Persist carrying the vote, got %A" other

                let _, effects = Node.step s (Receive(msg 1L 2L 1L (append 0L 0L [ entry 1L 1L "" ] 0L)))
                Expect.isEmpty (sent effects) "no acknowledgement sent before the write"
                Expect.equal (persistedEntries effects |> List.length) 1 "the entry is written"
                Expect.equal (afterDurable effects |> List.map (fun m -> m.Body)) [ ack 1L ] "the ack waits for it"

                let _, effects = Node.step s (Receive(msg 1L 2L 1L (append 5L 1L [] 0L)))
                Expect.isEmpty (sent effects) "a rejection is not sent before earlier writes either"
                Expect.equal (afterDurable effects |> List.length) 1 "the rejection waits in ThenSend"

                let _, effects = Node.step (boot (options 1L) [ 1L; 2L; 3L ]) Campaign
                Expect.isEmpty (sent effects) "a candidate asks for votes only after its own vote is durable"
                Expect.equal (afterDurable effects |> List.length) 2 "both requests wait in ThenSend"
            }

            test "ABA: a stale Persisted completion is ignored" {
                let s = boot (options 2L) [ 1L; 2L; 3L ]
                // Leader 1 (term 1) sends 1/1; the write is issued but not complete.
                let s, _ = Node.step s (Receive(msg 1L 2L 1L (append 0L 0L [ entry 1L 1L "a" ] 0L)))
                // Leader 3 (term 2) overwrites index 1 before the first write completes.
                let s, _ = Node.step s (Receive(msg 3L 2L 2L (append 0L 0L [ entry 1L 2L "b" ] 0L)))
                let s, _ = Node.step s (Persisted { Index = 1L<index>; Term = 1L<term> })
                Expect.equal (Node.stableIndex s) 0L<index> "the completion of the overwritten 1/1 does not make 2/1 durable"
                let s, _ = Node.step s (Persisted { Index = 1L<index>; Term = 2L<term> })
                Expect.equal (Node.stableIndex s) 1L<index> "the completion of 2/1 does"
            }

            test "determinism: the same inputs give the same effects" {
                let script =
                    [ Campaign
                      Receive(msg 2L 1L 1L (voteResp false true))
                      Persisted { Index = 1L<index>; Term = 1L<term> }
                      Propose { Tag = 1L; Commands = [| struct ("x", 1) |] }
                      Receive(msg 2L 1L 1L (ack 2L))
                      Tick; Tick; Tick ]

                let once () = snd (run (boot (options 1L) [ 1L; 2L; 3L ]) script)
                Expect.equal (once ()) (once ()) "byte-identical effects"
            }
        ]
