/// Throughput of the pure core alone: a 3-node cluster driven in memory (no IO, no serialization),
/// every Persist durable at once, every message delivered at once, 128-byte payloads.
module Raft.Benchmarks.CoreBench

open System
open System.Collections.Generic
open System.Diagnostics
open Raft.Core

let private ids = [ 1L; 2L; 3L ] |> List.map Ids.node

/// An in-memory cluster: a FIFO of pending inputs, processed until quiet. Like a group-committing host, it
/// reports durability and application once per node for everything written or applied since the last report.
type private Cluster(payload: byte[]) =
    let nodes = Dictionary<NodeId, State<byte[]>>()
    let pending = Queue<struct (NodeId * Input<byte[]>)>()
    let durable = Dictionary<NodeId, LogPosition>()
    let applied = Dictionary<NodeId, Index>()
    let mutable leaderApplied = 0L

    do
        for id in ids do
            // Heartbeat and window fixed at what the benchmark has always measured (the core's defaults until they
            // became the host's 2 ticks and 8,192 entries), so figures compare across builds.
            let options =
                { RaftOptions.defaults id with
                    MaxInflightMsgs = 4096
                    MaxUncommittedBytes = 0L
                    HeartbeatTicks = 1
                    MaxWindowEntries = 65536 }
            nodes[id] <- RaftNode.Bootstrap<byte[]>(options, ids)

    member _.LeaderApplied = leaderApplied

    member this.Run(id: NodeId, input: Input<byte[]>) =
        let struct (s, effects) = RaftNode.Step(nodes[id], input)
        nodes[id] <- s

        for e in effects do
            match e with
            | Send m -> pending.Enqueue(struct (m.To, Receive m))
            | Persist p ->
                for m in p.ThenSend do
                    pending.Enqueue(struct (m.To, Receive m))

                if p.Entries.Length > 0 then
                    let last = p.Entries[p.Entries.Length - 1]
                    durable[id] <- { Index = last.Index; Term = last.Term }
            | Apply entries ->
                let last = entries[entries.Length - 1].Index
                if Node.role s = LeaderRole then leaderApplied <- int64 last
                applied[id] <- last
            | _ -> ()

    /// Delivers every message, then one durability and one application report per node, until quiet.
    member this.Drain() =
        while pending.Count > 0 || durable.Count > 0 || applied.Count > 0 do
            while pending.Count > 0 do
                let struct (id, input) = pending.Dequeue()
                this.Run(id, input)

            for KeyValue(id, position) in Array.ofSeq durable do
                durable.Remove id |> ignore
                this.Run(id, Persisted position)

            for KeyValue(id, index) in Array.ofSeq applied do
                applied.Remove id |> ignore
                this.Run(id, Applied index)

    member this.ElectLeader() =
        this.Run(ids[0], Campaign)
        this.Drain()
        ids[0]

    member this.Propose(leader: NodeId, batch: int) =
        let commands = Array.init batch (fun _ -> struct (payload, payload.Length))
        this.Run(leader, Propose { Tag = 0L; Commands = commands })

/// Commits `total` entries proposing `batch` at a time, keeping `pipeline` proposals in flight; returns entries/s
/// and allocated bytes per committed entry.
let private measure (total: int) (batch: int) (pipeline: int) =
    let cluster = Cluster(Array.zeroCreate 128)
    let leader = cluster.ElectLeader()
    let start = cluster.LeaderApplied
    let allocated = GC.GetAllocatedBytesForCurrentThread()
    let clock = Stopwatch.StartNew()
    let mutable proposed = 0

    while proposed < total do
        for _ in 1..pipeline do
            cluster.Propose(leader, batch)
            proposed <- proposed + batch

        cluster.Drain()

    clock.Stop()
    let committed = cluster.LeaderApplied - start

    if committed < int64 total then
        failwith $"only {committed} of {total} entries committed"

    let perSecond = float committed / clock.Elapsed.TotalSeconds
    let bytesPerEntry = float (GC.GetAllocatedBytesForCurrentThread() - allocated) / float committed
    perSecond, bytesPerEntry

let private median (xs: float list) =
    let a = List.sort xs |> Array.ofList
    a[a.Length / 2]

/// Runs every scenario `runs` times after a warm-up and prints medians.
let run (runs: int) =
    let scenarios =
        [
            "batch 64, pipelined 4 batches", 1_000_000, 64, 4
            "batch 64, one batch at a time", 1_000_000, 64, 1
            "one proposal per input, 64 inputs pipelined", 400_000, 1, 64
            "one proposal at a time (sequential)", 200_000, 1, 1
        ]

    printfn "Raft.Core in memory, 3 nodes, 128-byte payloads, %d runs each (median), %s, %d cores" runs (Environment.OSVersion.ToString()) Environment.ProcessorCount
    printfn "%-46s %16s %18s" "scenario" "entries/s" "alloc B/entry"

    for name, total, batch, pipeline in scenarios do
        measure (total / 10) batch pipeline |> ignore // warm-up (JIT, tiered compilation)
        let results = [ for _ in 1..runs -> measure total batch pipeline ]
        printfn "%-46s %16.0f %18.0f" name (median (List.map fst results)) (median (List.map snd results))
