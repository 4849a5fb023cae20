/// FsCheck properties of the core's pure sub-algorithms against naive models (oracles).
module Raft.Core.Tests.PropertyTests

open Expecto
open Raft.Core

/// Fixed seed: the same cases every run (no clock-seeded randomness in the suite).
let private config = { FsCheckConfig.defaultConfig with maxTest = 500; replay = Some(0x5EEDUL, 0x2545F4914F6CDD1DUL, None) }

let private nid (n: int) = Ids.node (int64 n)

/// Every subset of a list.
let rec private subsets (xs: 'a list) =
    match xs with
    | [] -> [ [] ]
    | x :: rest ->
        let r = subsets rest
        r @ (r |> List.map (fun s -> x :: s))

let private isMajority (voters: Set<NodeId>) (s: NodeId list) = 2 * s.Length > voters.Count

/// Oracle: the largest index every member of some majority has acknowledged (max over majorities of their min).
let private naiveMajorityIndex (voters: Set<NodeId>) (acked: NodeId -> Index) =
    if voters.IsEmpty then System.Int64.MaxValue * 1L<index>
    else
        subsets (List.ofSeq voters)
        |> List.filter (isMajority voters)
        |> List.map (fun s -> s |> List.map acked |> List.min)
        |> List.max

/// Oracle: won when some majority all granted; lost when no majority can still all grant.
let private naiveVote (voters: Set<NodeId>) (votes: Map<NodeId, bool>) =
    if voters.IsEmpty then VoteWon
    else
        let majorities = subsets (List.ofSeq voters) |> List.filter (isMajority voters)
        if majorities |> List.exists (List.forall (fun v -> Map.tryFind v votes = Some true)) then VoteWon
        elif majorities |> List.forall (List.exists (fun v -> Map.tryFind v votes = Some false)) then VoteLost
        else VotePending

/// Node sets from bit masks over ids 1..7.
let private ofMask (mask: int) = [ for i in 1..7 do if mask &&& (1 <<< (i - 1)) <> 0 then nid i ] |> Set.ofList

let private membership (voters: Set<NodeId>) (outgoing: Set<NodeId>) =
    { Voters = voters; Outgoing = outgoing; Learners = Set.empty; LearnersNext = Set.empty; AutoLeave = false }

// ---- Inflights against a list model ----

type private InflightOp =
    | Add of step: int * bytes: int
    | Free of back: int

// ---- TermRuns against a per-index array model ----

/// The model log: terms of indexes first..first+terms.Length-1.
type private TermModel = { First: int64; Terms: int64 list }

// ---- EntryWindow against a list model ----

type private WindowModel = { WFirst: int64; Items: Entry<int> list }

let private wEntry (index: int64) (payload: int) : Entry<int> =
    { Index = Ids.index index; Term = Ids.term 1L; Payload = Command payload; Size = 1 + payload % 5 }

let private checkWindow (label: string) (w: EntryWindow<int>) (m: WindowModel) =
    let next = m.WFirst + int64 m.Items.Length
    Expect.equal (EntryWindow.first w) (Ids.index m.WFirst) $"{label}: first"
    Expect.equal (EntryWindow.count w) m.Items.Length $"{label}: count"
    Expect.equal (EntryWindow.nextIndex w) (Ids.index next) $"{label}: next index"

    for i in m.WFirst - 2L .. next + 1L do
        Expect.equal (EntryWindow.contains w (Ids.index i)) (i >= m.WFirst && i < next) $"{label}: contains {i}"

    m.Items |> List.iteri (fun k e -> Expect.equal (EntryWindow.get w (Ids.index (m.WFirst + int64 k))) e $"{label}: entry {m.WFirst + int64 k}")

// ---- Old states stay unchanged ----

/// Everything observable of a state that stepping could disturb if it wrote into shared storage: log marks, the
/// in-memory entries, the leader's progress and the hard state.
let private fingerprint (s: State<int>) =
    let log = s.Log
    let w = log.Window
    let entries =
        [ for k in 0 .. EntryWindow.count w - 1 ->
            let e = EntryWindow.get w (EntryWindow.first w + int64 k * 1L<index>)
            let payload = match e.Payload with Command c -> string c | Noop -> "noop" | Config _ -> "config"
            $"{int64 e.Index}/{int64 e.Term}/{payload}/{e.Size}" ]
    let progress =
        match s.Role with
        | Leader l ->
            [ for KeyValue(id, p) in l.Progress ->
                let mode = match p.Mode with Probe -> "P" | Replicate -> "R" | SnapshotTransfer _ -> "S"
                $"{int64 id}:{int64 p.Match}/{int64 p.Next}/{mode}/{p.ProbeSent}/{p.Inflights.Count}/{p.Inflights.Bytes}" ]
        | _ -> []
    let h = Node.hardState s
    String.concat " " (
        [ $"{int64 (Node.term s)} {int64 (Node.leader s)} {Node.role s} {int64 log.LastIndex} {int64 log.Stable} {int64 log.Committed} {int64 log.Applying} {int64 log.Applied}"
          $"{int64 h.Term} {int64 h.Vote} {int64 h.Commit}" ] @ entries @ progress)

/// Runs a 3-node cluster in memory (every write durable at once, every message delivered) through the given
/// proposals (batch sizes, pipelined `depth` at a time) and returns every state any step returned, with its
/// fingerprint taken when it was returned.
let private runKeepingStates (window: int) (depth: int) (batches: int list) =
    let ids = [ 1L; 2L; 3L ] |> List.map Ids.node
    let nodes = System.Collections.Generic.Dictionary<NodeId, State<int>>()
    let pending = System.Collections.Generic.Queue<NodeId * Input<int>>()
    let kept = ResizeArray<State<int> * string>()

    for id in ids do
        let options = { RaftOptions.defaults id with MaxWindowEntries = window; MaxInflightMsgs = 3 }
        nodes[id] <- RaftNode.Bootstrap<int>(options, ids)

    let run id input =
        let s, effects = Node.step nodes[id] input
        nodes[id] <- s
        kept.Add((s, fingerprint s))

        for e in effects do
            match e with
            | Send m -> pending.Enqueue((m.To, Receive m))
            | Persist p ->
                if p.Entries.Length > 0 then
                    let last = p.Entries[p.Entries.Length - 1]
                    pending.Enqueue((id, Persisted { Index = last.Index; Term = last.Term }))

                for m in p.ThenSend do
                    pending.Enqueue((m.To, Receive m))
            | Apply entries -> pending.Enqueue((id, Applied entries[entries.Length - 1].Index))
            // LoadEntries stays unanswered: that peer stops receiving, which this property does not mind.
            | _ -> ()

    let drain () =
        while pending.Count > 0 do
            let id, input = pending.Dequeue()
            run id input

    run ids[0] Campaign
    drain ()
    let mutable tag = 0L

    for chunk in List.chunkBySize (max 1 depth) batches do
        for size in chunk do
            tag <- tag + 1L
            run ids[0] (Propose { Tag = tag; Commands = Array.init (max 1 size) (fun i -> struct (int tag * 100 + i, 8)) })

        drain ()

    kept

[<Tests>]
let properties =
    testList
        "properties"
        [
            testPropertyWithConfig config "Quorum.committedIndex equals the max over majorities of their min acknowledgement (simple and joint)"
            <| fun (voterMask: byte) (outgoingMask: byte) (acks: byte list) ->
                let voters = ofMask (int voterMask &&& 0x7F)
                let outgoing = ofMask (int outgoingMask &&& 0x7F)
                let voters = if voters.IsEmpty then Set.singleton (nid 1) else voters
                let ackArray = Array.ofList acks
                let acked (id: NodeId) = if ackArray.Length = 0 then 0L<index> else Ids.index (int64 (ackArray[int id % ackArray.Length] % 20uy))
                let expected = min (naiveMajorityIndex voters acked) (naiveMajorityIndex outgoing acked)
                Quorum.committedIndex (membership voters outgoing) acked = expected

            testPropertyWithConfig config "Quorum.majorityIndexOf over voter arrays equals majorityIndex over the set"
            <| fun (voterMask: byte) (acks: byte list) ->
                let voters = ofMask (int voterMask &&& 0x7F)
                let ackArray = Array.ofList acks
                let acked (id: NodeId) = if ackArray.Length = 0 then 0L<index> else Ids.index (int64 (ackArray[int id % ackArray.Length] % 20uy))
                Quorum.majorityIndexOf (Set.toArray voters) acked = Quorum.majorityIndex voters acked

            testPropertyWithConfig { config with maxTest = 40 } "stepping never changes a state returned earlier (shared buffers and progress arrays)"
            <| fun (window: byte) (depth: byte) (batches: byte list) ->
                let batches = batches |> List.truncate 24 |> List.map (fun b -> int b % 6)
                let kept = runKeepingStates (4 + int window % 20) (1 + int depth % 6) batches

                for k in 0 .. kept.Count - 1 do
                    let s, printed = kept[k]
                    Expect.equal (fingerprint s) printed $"state {k} changed after it was returned"

            testPropertyWithConfig { config with maxTest = 40 } "Node.peersCaughtUp holds exactly on a leader every peer of which matched its last index"
            <| fun (window: byte) (depth: byte) (batches: byte list) ->
                let batches = batches |> List.truncate 24 |> List.map (fun b -> int b % 6)

                for s, _ in runKeepingStates (4 + int window % 20) (1 + int depth % 6) batches do
                    let oracle =
                        match s.Role with
                        | Leader l -> l.Progress |> Map.forall (fun _ p -> p.Match = Node.lastIndex s)
                        | _ -> false

                    Expect.equal (Node.peersCaughtUp s) oracle $"peersCaughtUp of {fingerprint s}"

            testCase "Node.peersCaughtUp: false while an entry is on its way, true once every peer has it; allocates nothing" <| fun () ->
                let kept = runKeepingStates 64 1 [ 2; 3; 1 ]
                let leaders = kept |> Seq.map fst |> Seq.filter (fun s -> Node.role s = LeaderRole) |> List.ofSeq
                Expect.isFalse (kept |> Seq.exists (fun (s, _) -> Node.role s <> LeaderRole && Node.peersCaughtUp s)) "never on a follower"
                Expect.isTrue (leaders |> List.exists (fun s -> not (Node.peersCaughtUp s))) "not caught up right after a proposal"
                let last = List.last leaders
                Expect.isTrue (Node.peersCaughtUp last) "caught up once everything is delivered"
                Node.peersCaughtUp last |> ignore
                let before = System.GC.GetAllocatedBytesForCurrentThread()

                for _ in 1..1000 do
                    Node.peersCaughtUp last |> ignore

                Expect.equal (System.GC.GetAllocatedBytesForCurrentThread() - before) 0L "allocated bytes"

            testPropertyWithConfig config "Quorum.voteOutcome and jointVoteOutcome equal the subset oracle"
            <| fun (voterMask: byte) (outgoingMask: byte) (grantedMask: byte) (rejectedMask: byte) ->
                let voters = ofMask (int voterMask &&& 0x7F)
                let outgoing = ofMask (int outgoingMask &&& 0x7F)
                let granted = ofMask (int grantedMask &&& 0x7F)
                let rejected = Set.difference (ofMask (int rejectedMask &&& 0x7F)) granted
                let votes = Seq.append (granted |> Seq.map (fun v -> v, true)) (rejected |> Seq.map (fun v -> v, false)) |> Map.ofSeq
                let joint =
                    match naiveVote voters votes, naiveVote outgoing votes with
                    | VoteWon, VoteWon -> VoteWon
                    | VoteLost, _ | _, VoteLost -> VoteLost
                    | _ -> VotePending
                Quorum.voteOutcome voters votes = naiveVote voters votes
                && Quorum.jointVoteOutcome (membership voters outgoing) votes = joint

            testPropertyWithConfig config "Inflights: count, bytes, fullness and freeing match a list model"
            <| fun (ops: (bool * byte * byte) list) (maxCount: byte) (maxBytes: byte) ->
                let maxCount = 1 + int maxCount % 6
                let maxBytes = int64 maxBytes % 40L
                let mutable f = Inflights.empty
                let mutable model: (int64 * int64) list = []
                let mutable last = 0L

                for (isAdd, a, b) in ops do
                    if isAdd then
                        last <- last + 1L + int64 (a % 3uy)
                        f <- Inflights.add (Ids.index last) (int64 b) f
                        model <- model @ [ last, int64 b ]
                    else
                        let upTo = max 0L (last - int64 (a % 8uy))
                        f <- Inflights.freeTo (Ids.index upTo) f
                        model <- model |> List.filter (fun (l, _) -> l > upTo)

                    Expect.equal f.Count model.Length "count"
                    Expect.equal f.Bytes (model |> List.sumBy snd) "bytes"
                    let full = model.Length >= maxCount || (maxBytes > 0L && (model |> List.sumBy snd) >= maxBytes)
                    Expect.equal (Inflights.isFull maxCount maxBytes f) full "isFull"

            testPropertyWithConfig config "TermRuns: termAt and lastIndexWithTermAtMost match a per-index array through append, truncate and compaction"
            <| fun (ops: (byte * byte) list) ->
                let mutable runs = TermRuns.empty
                let mutable m = { First = 1L; Terms = [] }
                let lastOf (m: TermModel) = m.First + int64 m.Terms.Length - 1L

                for (kind, arg) in ops do
                    match kind % 4uy with
                    | 0uy | 1uy ->
                        // Append: the term never decreases.
                        let previous = if m.Terms.IsEmpty then 1L else List.last m.Terms
                        let term = previous + int64 (arg % 3uy)
                        let index = lastOf m + 1L
                        runs <- TermRuns.append runs (Ids.index index) (Ids.term term)
                        m <- { m with Terms = m.Terms @ [ term ] }
                    | 2uy when not m.Terms.IsEmpty ->
                        // Truncate from an index in [First + 1, last + 1] (a log keeps at least one entry here).
                        let keep = 1 + int arg % m.Terms.Length
                        runs <- TermRuns.truncateFrom runs (Ids.index (m.First + int64 keep))
                        m <- { m with Terms = List.truncate keep m.Terms }
                    | 3uy when m.Terms.Length > 1 ->
                        // Compact: forget indexes before a retained one (never the last).
                        let drop = int arg % m.Terms.Length
                        runs <- TermRuns.dropBefore runs (Ids.index (m.First + int64 drop))
                        m <- { First = m.First + int64 drop; Terms = List.skip drop m.Terms }
                    | _ -> ()

                    m.Terms
                    |> List.iteri (fun k t ->
                        Expect.equal (TermRuns.termAt runs (Ids.index (m.First + int64 k))) (ValueSome(Ids.term t)) $"term at {m.First + int64 k}")

                    // The conflict hint: largest index in [First, index] with term <= t, else the floor (First - 1).
                    let floor = m.First - 1L

                    for k in 0 .. m.Terms.Length - 1 do
                        let index = m.First + int64 k

                        for t in 0L .. 8L do
                            let expected =
                                [ for j in m.First .. index do if m.Terms[int (j - m.First)] <= t then j ]
                                |> List.tryLast
                                |> Option.defaultValue floor
                            let actual = TermRuns.lastIndexWithTermAtMost runs (Ids.index floor) (Ids.index index) (Ids.term t)
                            Expect.equal actual (Ids.index expected) $"lastIndexWithTermAtMost index={index} term={t}"

            testPropertyWithConfig config "EntryWindow: every version behaves as an immutable list, even when older versions are appended to"
            <| fun (ops: (byte * byte * byte) list) ->
                let versions = ResizeArray [ EntryWindow.empty (Ids.index 1L), { WFirst = 1L; Items = [] } ]
                let mutable payload = 0

                for (pick, kind, arg) in ops do
                    let w, m = versions[int pick % versions.Count]
                    let next = m.WFirst + int64 m.Items.Length

                    let version =
                        match kind % 4uy with
                        | 0uy | 1uy ->
                            payload <- payload + 1
                            let e = wEntry next payload
                            EntryWindow.append w e, { m with Items = m.Items @ [ e ] }
                        | 2uy ->
                            let i = m.WFirst - 1L + int64 (int arg % (m.Items.Length + 3))
                            let m' =
                                if i >= next then m
                                elif i <= m.WFirst then { WFirst = i; Items = [] }
                                else { m with Items = List.truncate (int (i - m.WFirst)) m.Items }
                            EntryWindow.truncateFrom w (Ids.index i), m'
                        | _ ->
                            let i = m.WFirst - 1L + int64 (int arg % (m.Items.Length + 3))
                            let m' =
                                if i <= m.WFirst then m
                                elif i >= next then { WFirst = i; Items = [] }
                                else { WFirst = i; Items = List.skip (int (i - m.WFirst)) m.Items }
                            EntryWindow.dropBefore w (Ids.index i), m'

                    versions.Add version

                    // Every version, old and new, still holds exactly what its model says.
                    versions |> Seq.iteri (fun k (w, m) -> checkWindow $"version {k}" w m)

                // slice: the longest prefix within the byte budget, at least one entry.
                for (w, m) in versions do
                    if not m.Items.IsEmpty then
                        for budget in [ 0L; 3L; 7L; 100L ] do
                            let from = Ids.index m.WFirst
                            let upTo = Ids.index (m.WFirst + int64 m.Items.Length - 1L)
                            let slice = EntryWindow.slice w from upTo budget
                            let expected =
                                m.Items
                                |> List.scan (fun (n, bytes) e -> (n + 1, bytes + int64 e.Size)) (0, 0L)
                                |> List.tail
                                |> List.takeWhile (fun (n, bytes) -> n = 1 || bytes <= budget)
                                |> List.length
                            Expect.equal (List.ofArray slice) (List.truncate expected m.Items) $"slice with budget {budget}"
        ]
