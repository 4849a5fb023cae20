namespace Raft.Simulation

open System.Collections.Generic
open Raft.Core

/// A whole simulated cluster driven by one seed: the real core on every node, simulated clock, network and
/// disks, fault injection and client proposals; the invariants run after every step. Single-threaded and
/// deterministic: the same spec, options and seed always give the same run.
[<Sealed>]
type Cluster<'T when 'T: equality>(spec: StateMachineSpec<'T>, options: SimOptions, seed: uint64, trace: bool) =
    let o = options
    let n = SimOptions.total o
    let netRng = Rng(Rng.mix seed 1UL)
    let diskRng = Rng(Rng.mix seed 2UL)
    let faultRng = Rng(Rng.mix seed 3UL)
    let clientRng = Rng(Rng.mix seed 4UL)
    let network = Network(netRng, o)
    let calm = Network(Rng(Rng.mix seed 5UL), { o with Faults = FaultRates.none })
    let queue = PriorityQueue<SimEvent<'T>, struct (int64 * int64)>()
    let stats = RunStats.zero ()
    let events = ResizeArray<string>()
    let plan = List<int64>(2)
    let voters = [ for i in 1..o.Nodes -> Ids.node (int64 i) ]
    let mutable now = 0L
    let mutable sequence = 0L
    let mutable settling = false
    let mutable fingerprint = seed
    let mutable failure: Failure option = None
    // Tags of configuration change proposals: negative, apart from the clients' proposal tags.
    let mutable confTag = -1L

    let hosts =
        [| for i in 1..n ->
               // Spares start as brand-new nodes that learn their membership from the log.
               let options = SimOptions.raftOptions o seed (Ids.node (int64 i)) 0
               let state =
                   match (if i <= o.Nodes then Node.bootstrap options voters else Node.join options) with
                   | Ok s -> Node.withPlantedBugs o.PlantedBugs s
                   | Error e -> invalidArg "options" e

               { Id = i
                 Disk = Disk<'T>(Node.hardState state)
                 State = ValueSome state
                 Machine = spec.Create(Ids.node (int64 i))
                 Incarnation = 0
                 CrashArmed = false
                 ClockStart = 0L
                 ClockTicks = 0L
                 RatePermille = 1000L } |]

    let host i = hosts[i - 1]
    let invariants = Invariants<'T>(n, (fun i -> (host i).Disk), spec.Describe)
    let clients = Clients<'T>(spec, clientRng, n)

    // Callers test `trace` first: an interpolated string is built before the call, and %A formatting (reflection)
    // costs more than the rest of a step.
    let note (text: string) = events.Add $"t={now} {text}"

    let schedule (at: int64) (e: SimEvent<'T>) =
        sequence <- sequence + 1L
        queue.Enqueue(e, struct (at, sequence))

    /// Starts node `h`'s clock with its first tick at `first`. With drifting clocks every incarnation draws its
    /// own rate (no draw otherwise, so runs without drift keep their schedules).
    let startClock (h: Host<'T>) (first: int64) =
        let d = int64 o.ClockDriftPermille
        h.RatePermille <- if d = 0L then 1000L else 1000L + faultRng.Between(-d, d)
        h.ClockStart <- first
        h.ClockTicks <- 0L
        schedule first (TickNode(h.Id, h.Incarnation))

    /// Schedules node `h`'s next tick by its own clock.
    let scheduleNextTick (h: Host<'T>) =
        h.ClockTicks <- h.ClockTicks + 1L
        schedule (h.ClockStart + h.ClockTicks * o.TickTime * h.RatePermille / 1000L) (TickNode(h.Id, h.Incarnation))

    let send (m: Message<'T>) =
        let net = if settling then calm else network
        plan.Clear()
        net.Plan(int m.From, int m.To, now, plan)
        for at in plan do schedule at (Deliver m)

    let leaderNow () =
        hosts |> Array.tryFind (fun h -> match h.State with ValueSome s -> Node.role s = LeaderRole | _ -> false)

    /// The live leader of the highest term, with its state.
    let newestLeader () =
        hosts
        |> Array.choose (fun h ->
            match h.State with
            | ValueSome s when Node.role s = LeaderRole -> Some(h, s)
            | _ -> None)
        |> Array.sortByDescending (fun (_, s) -> Node.term s)
        |> Array.tryHead

    /// Records what the state machine returned for `e` and acknowledges the proposal ending at `e.Index` when its
    /// own leader applied it in the proposal's term.
    let acknowledge (h: Host<'T>) (e: Entry<'T>) (result: obj | null) =
        match clients.OnApplied(h.Id, e, result, now) with
        | ValueSome p ->
            stats.Acknowledged <- stats.Acknowledged + 1L
            let term = h.State |> ValueOption.map Node.term |> ValueOption.defaultValue e.Term
            let first = e.Index - int64 (p.Commands.Length - 1) * 1L<index>

            for i in first .. 1L<index> .. e.Index do
                if i > h.Disk.Written.SnapIndex then invariants.OnAcknowledged(h.Id, h.Disk.Written.Get i, term)
        | ValueNone -> ()

    /// Serves a read from the node's state machine as it stands now.
    let answer (h: Host<'T>) (view: ReadView<'T>) (r: ClientRead) =
        let value = view.Answer h.Machine r.Query
        r.Served <- ValueSome(struct (now, value))
        if trace then note $"node {h.Id} serves read {r.Tag} of {view.Describe r.Query} (called at {r.Call}): %A{value}"

    /// Serves a read the core made ready.
    let serve (h: Host<'T>) (tag: int64) =
        match clients.OnReadReady tag, spec.Reads with
        | ValueSome r, ValueSome view -> answer h view r
        | _ -> ()

    let rec effect (h: Host<'T>) (expectTag: int64) (fate: bool ref) (e: Effect<'T>) =
        match e with
        | Persist p ->
            let ready = now + diskRng.Between(o.MinDiskLatency, o.MaxDiskLatency)
            let at = h.Disk.Write(p, ready)
            invariants.OnWritten(h.Id, p.Entries)
            schedule at (DiskDone(h.Id, h.Incarnation))

            if h.CrashArmed && p.Entries.Length > 0 then
                h.CrashArmed <- false
                schedule (faultRng.Between(now, max now (at - 1L))) (CrashNode(h.Id, h.Incarnation))
        | Send m -> send m
        | Apply entries ->
            for entry in entries do
                let result =
                    match entry.Payload with
                    | Command c -> h.Machine.Apply(entry.Index, entry.Term, c)
                    | Noop
                    | Config _ -> null

                invariants.OnApplied(h.Id, entry, h.Machine.Fingerprint entry.Index)
                acknowledge h entry result

            if entries.Length > 0 then
                let last = entries[entries.Length - 1].Index
                schedule (now + diskRng.Between(0L, o.MaxApplyLatency)) (Feed(h.Id, h.Incarnation, Applied last))
        | LoadEntries(purpose, from, upTo) ->
            let loaded = { Purpose = purpose; Entries = h.Disk.Written.Slice(from, upTo); Compacted = from <= h.Disk.Written.SnapIndex }
            schedule (now + diskRng.Between(0L, o.MaxApplyLatency)) (Feed(h.Id, h.Incarnation, EntriesLoaded loaded))
        | ProposalAccepted(tag, first, term) when tag < 0L ->
            stats.ConfChanges <- stats.ConfChanges + 1L
            if trace then note $"node {h.Id} appended configuration change {-tag} at {first} in term {term}"
        | ProposalDropped(tag, reason, _) when tag < 0L -> if trace then note $"node {h.Id} refused configuration change {-tag}: %A{reason}"
        | ProposalAccepted(tag, first, term) ->
            if tag = expectTag then fate.Value <- true
            stats.ProposalsAccepted <- stats.ProposalsAccepted + 1L
            clients.OnAccepted(h.Id, tag, first, term)
        | ProposalDropped(tag, _, leader) ->
            if tag = expectTag then fate.Value <- true
            stats.ProposalsDropped <- stats.ProposalsDropped + 1L
            clients.OnDropped(tag, leader)
        | RoleChanged(role, term, _) ->
            if role = LeaderRole then
                clients.OnLeader h.Id
                if trace then note $"node {h.Id} leads term {term}"

                if not settling && faultRng.Chance o.Faults.LeaderChurn then
                    schedule (now + faultRng.Between(1L, 3L * o.TickTime)) (StrikeLeader(h.Id, h.Incarnation, term))
        | ReadReady(tag, index) ->
            stats.ReadsReady <- stats.ReadsReady + 1L

            // Served at once from this node's state machine: the core promises it has applied at least `index`
            // (after a snapshot install, only once the host reported the restore).
            invariants.OnReadReady(h.Id, index)
            serve h tag
        | ReadDropped(tag, _, leader) ->
            stats.ReadsDropped <- stats.ReadsDropped + 1L
            clients.OnReadDropped(tag, leader)
        | TransferDropped(target, reason) -> if trace then note $"node {h.Id} dropped the transfer to {target}: %A{reason}"
        | SaveSnapshot meta ->
            // The core asks for the state at meta.Index, but this node's state machine may already be further
            // on (Applied reaches the core later). Build the state at exactly meta.Index from the previous
            // snapshot and the log, as a host with a lagging Applied must.
            // A newer snapshot (installed from the leader meanwhile) makes this request moot; the core ignores
            // the completion of an older one.
            match h.Disk.Snapshot with
            | ValueSome s when s.Meta.Index >= meta.Index -> ()
            | stored ->
                let machine = spec.Create(Ids.node (int64 h.Id))

                let from =
                    match stored with
                    | ValueSome s ->
                        machine.Restore s.Data
                        s.Meta.Index
                    | ValueNone -> 0L<index>

                for e in h.Disk.Written.Slice(from + 1L<index>, meta.Index) do
                    match e.Payload with
                    | Command c -> machine.Apply(e.Index, e.Term, c) |> ignore
                    | Noop
                    | Config _ -> ()

                invariants.CheckSnapshot(h.Id, "saved", meta.Index, machine.Fingerprint meta.Index)
                invariants.OnSnapshot(h.Id, "saved", meta)
                h.Disk.SaveSnapshot(meta, machine.Snapshot())
                if trace then note $"node {h.Id} saved a snapshot at {meta.Index} (state machine at {h.Disk.Written.LastIndex})" 
            stats.Snapshots <- stats.Snapshots + 1L
            schedule (now + diskRng.Between(0L, o.MaxApplyLatency)) (Feed(h.Id, h.Incarnation, SnapshotSaved meta))
        | AbandonSnapshot meta ->
            h.Disk.Abandon meta
            if trace then note $"node {h.Id} abandons the snapshot transfer of {meta.Index} (term {meta.Term})"
        | CompactLog upTo ->
            h.Disk.Compact upTo
            stats.Compactions <- stats.Compactions + 1L
        | ReadSnapshotChunk(target, meta, transferId, offset, maxBytes) ->
            match h.Disk.FindSnapshot meta with
            | ValueSome s when offset <= int64 s.Data.Length ->
                let length = min maxBytes (s.Data.Length - int offset)
                let data = Array.sub s.Data (int offset) length
                let chunk = { Meta = meta; TransferId = transferId; Offset = offset; Data = data; Done = offset + int64 length >= int64 s.Data.Length }
                schedule (now + diskRng.Between(0L, o.MaxApplyLatency)) (Feed(h.Id, h.Incarnation, SnapshotChunkLoaded(target, chunk)))
            | _ -> ()

    /// One input to one node: the core's step, the host's handling of every effect in order, then the checks.
    and stepNode (h: Host<'T>) (input: Input<'T>) (expectTag: int64) =
        match h.State with
        | ValueNone -> ()
        | ValueSome s ->
            stats.CoreSteps <- stats.CoreSteps + 1L

            match (try Ok(Node.step s input) with ex -> Error ex.Message) with
            | Error message -> invariants.Fail("core assertion", $"node {h.Id} threw on {input}: {message}")
            | Ok(s, effects) ->
                h.State <- ValueSome s
                let fate = ref false
                for e in effects do effect h expectTag fate e
                invariants.AfterStep(h.Id, s)

                if expectTag >= 0L && not fate.Value then
                    invariants.Fail("host contract", $"node {h.Id} neither accepted nor dropped proposal {expectTag}")

                fingerprint <- Rng.mix fingerprint (uint64 (Node.term s) * 31UL + uint64 (Node.commitIndex s) * 7UL + uint64 (Node.lastIndex s))

    /// Crashes a node; with `tear`, the write in progress (if any) is torn.
    let crash (h: Host<'T>) (tear: bool) =
        let torn = h.Disk.Crash(tear, (fun k -> int (faultRng.Between(0L, int64 k))), (fun () -> faultRng.Chance 0.5), faultRng.Chance 0.5)
        h.State <- ValueNone
        h.CrashArmed <- false
        h.Incarnation <- h.Incarnation + 1
        clients.OnCrash h.Id
        invariants.OnCrash h.Id
        stats.Crashes <- stats.Crashes + 1L
        if torn then stats.TornWrites <- stats.TornWrites + 1L
        let how = if torn then " (torn write)" else ""
        if trace then note $"node {h.Id} crashes{how}"
        schedule (now + int64 (faultRng.Between(1L, int64 o.DowntimeTicks)) * o.TickTime) (Restart h.Id)

    let restart (h: Host<'T>) =
        if h.State.IsNone then
            let info = h.Disk.RestoreInfo o.RestoreTail
            h.Machine <- spec.Create(Ids.node (int64 h.Id))

            match h.Disk.Snapshot with
            | ValueSome s -> h.Machine.Restore s.Data
            | ValueNone -> ()

            match Node.restore (SimOptions.raftOptions o seed (Ids.node (int64 h.Id)) h.Incarnation) info with
            | Error e -> invariants.Fail("host contract", $"node {h.Id} cannot restore from its disk: {e}")
            | Ok s ->
                let s = Node.withPlantedBugs o.PlantedBugs s
                h.State <- ValueSome s
                invariants.OnRestart(h.Id, s)
                if trace then note $"node {h.Id} restarts at term {Node.term s} with log up to {Node.lastIndex s}"
                startClock h (now + faultRng.Between(1L, o.TickTime))

    let live () = hosts |> Array.filter (fun h -> h.State.IsSome)

    let partitioned () =
        if network.IsPartitioned then
            stats.Partitions <- stats.Partitions + 1L
            if trace then note $"partition {network.Describe()}"
            schedule (now + faultRng.Between(1L, int64 o.PartitionTicks) * o.TickTime) Heal

    let isolate (h: Host<'T>) =
        network.Split(Set.singleton h.Id)
        partitioned ()

    /// Faults of the tick: maybe crash a node, maybe start a partition (the leader is a favoured target).
    let injectFaults () =
        let f = o.Faults

        let target () =
            match leaderNow () with
            | Some l when faultRng.Chance f.LeaderBias -> Some l
            | _ ->
                let up = live ()
                if up.Length = 0 then None else Some(faultRng.Pick up)

        if faultRng.Chance f.Crash then
            match target () with
            | Some t when t.Disk.PendingCount = 0 && faultRng.Chance f.TornWrite -> t.CrashArmed <- true
            | Some t -> crash t (faultRng.Chance f.TornWrite)
            | None -> ()

        if not network.IsPartitioned && faultRng.Chance f.Partition then
            match target () with
            | None -> ()
            | Some t ->
                if faultRng.Chance f.OneWay then
                    let outbound = faultRng.Chance 0.5
                    for other in 1..n do
                        if other <> t.Id && faultRng.Chance 0.7 then
                            if outbound then network.Cut(t.Id, other) else network.Cut(other, t.Id)
                else
                    let size = 1 + faultRng.Int(max 1 (n / 2))
                    let others = [| 1..n |] |> Array.filter ((<>) t.Id)
                    let side = Seq.init (size - 1) (fun _ -> faultRng.Pick others) |> Set.ofSeq |> Set.add t.Id
                    network.Split side

                partitioned ()

    let propose () =
        match clients.Next(now, o.MaxBatch, fun i -> (host i).State.IsSome) with
        | Some(target, proposal) ->
            stats.Proposals <- stats.Proposals + 1L
            stepNode (host target) (Propose proposal) proposal.Tag
        | None -> ()

    let read () =
        match spec.Reads with
        | ValueSome view when clients.Reads.Count + clients.History.Count < o.HistoryLimit ->
            match clients.NextRead(now, view, fun i -> (host i).State.IsSome) with
            | Some r ->
                stats.Reads <- stats.Reads + 1L

                if view.Local then
                    stats.ReadsReady <- stats.ReadsReady + 1L
                    answer (host r.Node) view r
                else
                    stepNode (host r.Node) (Input.ReadIndex r.Tag) -1L
            | None -> ()
        | _ -> ()

    /// Asks the newest leader for a random membership change: add or remove one voter (the leader itself
    /// included), add, promote or remove a learner, or a joint change of up to n - 2 nodes (auto-leave mostly;
    /// otherwise a later change leaves it). Voters stay in [min 3 Nodes, Nodes + Spares].
    let reconfigure () =
        match newestLeader () with
        | None -> ()
        | Some(l, s) ->
            let m = Node.membership s
            let all = Set.ofList [ for i in 1..n -> Ids.node (int64 i) ]
            let outsiders = all - m.Voters - m.Learners
            let minVoters = min 3 o.Nodes
            let pick (nodes: Set<NodeId>) = faultRng.Pick(Array.ofSeq nodes)

            let change =
                if not m.Outgoing.IsEmpty then
                    Some LeaveJoint
                else
                    match faultRng.Int 6 with
                    | 0 when m.Voters.Count < n && not (outsiders + m.Learners).IsEmpty -> Some(Simple(AddVoter(pick (outsiders + m.Learners))))
                    | 1 when m.Voters.Count > minVoters ->
                        Some(Simple(RemoveNode(if faultRng.Chance 0.3 then Node.id s else pick m.Voters)))
                    | 2 when not outsiders.IsEmpty -> Some(Simple(AddLearner(pick outsiders)))
                    | 3 when not m.Learners.IsEmpty ->
                        let learner = pick m.Learners
                        Some(Simple(if faultRng.Chance 0.7 then AddVoter learner else RemoveNode learner))
                    | 4
                    | 5 ->
                        let shuffled = all |> Array.ofSeq |> Array.sortBy (fun _ -> faultRng.Next())
                        // Up to all nodes but two: joint changes that add and remove several voters at once.
                        let chosen = shuffled |> Array.truncate (1 + faultRng.Int(max 3 (n - 2)))

                        let changes =
                            [ for id in chosen ->
                                  if m.Voters.Contains id then
                                      if faultRng.Chance 0.5 then RemoveNode id else AddLearner id
                                  else
                                      AddVoter id ]

                        let after =
                            changes
                            |> List.fold (fun (v: Set<NodeId>) c -> match c with AddVoter x -> v.Add x | AddLearner x | RemoveNode x -> v.Remove x) m.Voters

                        if after.Count >= minVoters then Some(EnterJoint(changes, faultRng.Chance 0.8)) else None
                    | _ -> None

            match change with
            | Some c ->
                confTag <- confTag - 1L
                if trace then note $"ask node {l.Id} for configuration change {-confTag}: %A{c}"
                stepNode l (ProposeConfChange(confTag, c)) -1L
            | None -> ()

    /// Asks the newest leader to hand leadership to another voter.
    let transfer () =
        match newestLeader () with
        | Some(l, s) ->
            let others = (Node.membership s).Voters.Remove(Node.id s)

            if not others.IsEmpty then
                let target = faultRng.Pick(Array.ofSeq others)
                stats.Transfers <- stats.Transfers + 1L
                if trace then note $"ask node {l.Id} to transfer leadership to {target}"
                stepNode l (TransferLeadership target) -1L
        | None -> ()

    // Faults and clients act once per tick on average, at any phase of the nodes' clocks, so that a crash can
    // land while a write is in flight.
    let jitter () = faultRng.Between(1L, 2L * o.TickTime - 1L)

    let handle (e: SimEvent<'T>) =
        match e with
        | TickNode(i, inc) ->
            let h = host i
            if h.Incarnation = inc && h.State.IsSome then
                stepNode h Tick -1L
                if h.Incarnation = inc then scheduleNextTick h
        | Deliver m ->
            let h = host (int m.To)
            let net = if settling then calm else network
            if h.State.IsSome && net.Deliverable(int m.From, int m.To) then stepNode h (Receive m) -1L
        | DiskDone(i, inc) ->
            let h = host i
            if h.Incarnation = inc && h.State.IsSome then
                let request = h.Disk.CompleteOldest()
                for m in request.ThenSend do send m

                match request.Snapshot with
                | ValueSome chunk when chunk.Done ->
                    match h.Disk.Snapshot with
                    | ValueSome s ->
                        invariants.OnSnapshot(h.Id, "installed", s.Meta)

                        match (try h.Machine.Restore s.Data; Ok() with ex -> Error ex.Message) with
                        | Ok() ->
                            invariants.OnSnapshotInstalled(h.Id, s.Meta.Index, h.Machine.Fingerprint s.Meta.Index)
                            // The state machine holds the snapshot now: tell the core, which serves reads only then.
                            schedule now (Feed(h.Id, h.Incarnation, Applied s.Meta.Index))
                        | Error e -> invariants.Fail("snapshot/log agreement", $"node {h.Id} installed an unreadable snapshot at {s.Meta.Index}: {e}")

                        if trace then note $"node {h.Id} installed a snapshot at {s.Meta.Index}" 
                    | ValueNone -> ()

                | _ -> ()

                if request.Entries.Length > 0 then
                    let last = request.Entries[request.Entries.Length - 1]
                    stepNode h (Persisted { Index = last.Index; Term = last.Term }) -1L
        | Feed(i, inc, input) ->
            let h = host i
            if h.Incarnation = inc then stepNode h input -1L
        | Restart i -> restart (host i)
        | StrikeLeader(i, inc, term) ->
            let h = host i

            match h.State with
            | ValueSome s when not settling && h.Incarnation = inc && Node.role s = LeaderRole && Node.term s = term ->
                if network.IsPartitioned || faultRng.Chance 0.5 then
                    crash h (faultRng.Chance o.Faults.TornWrite)
                else
                    isolate h
            | _ -> ()
        | CrashNode(i, inc) ->
            let h = host i
            if h.Incarnation = inc && h.State.IsSome then crash h true
        | Heal ->
            network.Heal()
            if trace then note "partition healed"
        | FaultTick ->
            if not settling then
                injectFaults ()
                if faultRng.Chance o.ReconfigRate then reconfigure ()
                if faultRng.Chance o.TransferRate then transfer ()
                schedule (now + jitter ()) FaultTick
        | ClientTick ->
            if not settling then
                if clientRng.Chance o.ProposeRate then propose ()
                if clientRng.Chance o.ReadRate then read ()
                schedule (now + jitter ()) ClientTick

    let runEvent () =
        let mutable e = Unchecked.defaultof<SimEvent<'T>>
        let mutable at = struct (0L, 0L)

        if queue.TryDequeue(&e, &at) then
            let struct (time, _) = at
            now <- time
            stats.Steps <- stats.Steps + 1L
            fingerprint <- Rng.mix fingerprint (uint64 time)

            try
                handle e
            with
            | :? PropertyViolationException as v -> invariants.Fail(v.Property, v.Message)
            | ex -> invariants.Fail("host contract", $"{e}: {ex.Message}")

            match invariants.Violation with
            | Some v when failure.IsNone -> failure <- Some { Violation = v; Step = stats.Steps; Time = now }
            | _ -> ()

            true
        else
            false

    let nextTime () =
        let mutable e = Unchecked.defaultof<SimEvent<'T>>
        let mutable at = struct (0L, 0L)

        if queue.TryPeek(&e, &at) then
            let struct (time, _) = at
            time
        else
            System.Int64.MaxValue

    /// Every client proposal so far with what its client learned: the history a linearizability check reads.
    member _.History = clients.History

    /// Runs the steps, then the calm period and its liveness checks; returns the outcome.
    member _.Run() : SeedResult =
        for h in hosts do
            startClock h (faultRng.Between(1L, o.TickTime))

        schedule o.TickTime FaultTick
        schedule (o.TickTime / 2L + 1L) ClientTick

        while stats.Steps < int64 o.Steps && failure.IsNone && runEvent () do
            ()

        if failure.IsNone && o.SettleTicks > 0 then
            // The calm: faults stop, the network heals, every node comes back; Raft must then converge.
            settling <- true
            network.Heal()
            if trace then note "calm period"
            for h in hosts do restart h
            let until = now + int64 o.SettleTicks * o.TickTime

            while failure.IsNone && nextTime () <= until && runEvent () do
                ()

            if failure.IsNone then
                invariants.CheckSettled(hosts |> Array.choose (fun h -> match h.State with ValueSome s -> Some s | ValueNone -> None))

                match invariants.Violation with
                | Some v -> failure <- Some { Violation = v; Step = stats.Steps; Time = now }
                | None -> ()

        // The clients' history must pass the spec's check (linearizable against its model).
        match spec.CheckHistory with
        | ValueSome check when failure.IsNone ->
            let broken property detail =
                failure <- Some { Violation = { Property = property; Detail = detail }; Step = stats.Steps; Time = now }

            match (try Ok(check { Proposals = clients.History; Reads = clients.Reads }) with ex -> Error ex) with
            | Ok verdict ->
                stats.Operations <- int64 verdict.Operations

                match verdict.Violation with
                | Some explanation ->
                    broken "linearizability" (if explanation.Length > 2000 then explanation.Substring(0, 2000) + " ..." else explanation)
                | None -> ()
            | Error(:? PropertyViolationException as v) -> broken v.Property v.Message
            | Error ex -> broken "history check" $"the history check threw: {ex.Message}"
        | _ -> ()

        let ns = network.Stats
        stats.Messages <- ns.Sent + calm.Stats.Sent
        stats.Dropped <- ns.Dropped
        stats.Duplicated <- ns.Duplicated
        stats.Delayed <- ns.Delayed
        stats.Commits <- int64 invariants.Decided
        stats.Elections <- int64 invariants.Elections

        match failure with
        | Some f -> if trace then note $"VIOLATION {f.Violation.Property}: {f.Violation.Detail}"
        | None -> ()

        { Seed = seed
          Options = o
          Stats = stats
          Failure = failure
          Fingerprint = Rng.mix fingerprint (uint64 stats.Steps)
          Events = List.ofSeq events }
