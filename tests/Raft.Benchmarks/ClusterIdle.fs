/// Multi-raft cost of idle groups: N groups on 3 in-process nodes (in-memory network; each node's groups in its own
/// shared log on disk, the default layout, or with `--layout memory` in memory logs), every group elected and one
/// command committed, then CPU time and managed memory per group while idle (quiescent). Per-group file logs are not
/// offered: 10,000 groups x 3 nodes of them need more file descriptors than a default ulimit allows.
module Raft.Benchmarks.ClusterIdle

open System
open System.Diagnostics
open System.Threading.Tasks
open Raft.Node
open Raft.Serialization
open Raft.Transport.InMemory


let run (args: string list) =
    let groups = match args with n :: _ -> int n | [] -> 10000
    let quiesce = not (List.contains "--no-quiescence" args)
    let shared =
        match List.tryFindIndex ((=) "--layout") args with
        | None -> true
        | Some i when i + 1 < args.Length && args[i + 1] = "shared" -> true
        | Some i when i + 1 < args.Length && args[i + 1] = "memory" -> false
        | Some _ -> failwith "--layout takes shared or memory"
    let root = IO.Path.Combine(IO.Path.GetTempPath(), "raft-bench-idle")
    if IO.Directory.Exists root then IO.Directory.Delete(root, true)
    let storage (id: int64) : IRaftStorageProvider =
        if shared then SharedLogStorageProvider(IO.Path.Combine(root, $"node-{id}"))
        else MemoryRaftStorageProvider()
    let network = InMemoryNetwork<RaftEnvelope<byte[]>[]>(null, 1 <<< 20)
    GC.Collect()
    let memBefore = GC.GetTotalMemory true
    let hosts =
        [| for id in 1L .. 3L ->
            let o = RaftNodeOptions(NodeId = id, TickInterval = TimeSpan.FromMilliseconds 20.0, ElectionTicks = 50, HeartbeatTicks = 5,
                                    Quiescence = quiesce, MaxWindowEntries = 64)
            new RaftNodeHost<byte[], int64>(o, network.CreateTransport id, storage id, (fun _ -> ClusterBench.NullMachine())) |]
    let sw = Stopwatch.StartNew()
    task {
        for h in hosts do
            do! h.StartAsync()
        for g in 1L .. int64 groups do
            for h in hosts do
                let! _ = h.CreateGroupAsync(g, [ 1L; 2L; 3L ])
                ()
        // Spread leadership: node (g % 3) + 1 campaigns for group g.
        for g in 1L .. int64 groups do
            do! hosts[int (g % 3L)].GetGroup(g).CampaignAsync()
        let payload = Array.zeroCreate<byte> 16
        let mutable pending = [| 1L .. int64 groups |]
        while pending.Length > 0 do
            let! results =
                Task.WhenAll(pending |> Array.map (fun g ->
                    task {
                        match hosts |> Array.tryFind (fun h -> h.GetGroup(g).Status.IsLeader) with
                        | Some h ->
                            try
                                let! _ = h.GetGroup(g).ProposeAsync(payload, Nullable(TimeSpan.FromSeconds 5.0))
                                return None
                            with _ -> return Some g
                        | None -> return Some g
                    }))
            pending <- results |> Array.choose id
            if pending.Length > 0 then do! Task.Delay 50
        eprintfn "%d groups elected and committed in %.1f s" groups sw.Elapsed.TotalSeconds
        let quiescentCount () = hosts |> Array.sumBy (fun h -> h.Groups |> Seq.filter (fun g -> g.Status.Quiescent) |> Seq.length)
        let settle = Stopwatch.StartNew()
        while quiesce && quiescentCount () < 3 * groups && settle.Elapsed < TimeSpan.FromSeconds 60.0 do
            do! Task.Delay 100
        GC.Collect()
        let memIdle = GC.GetTotalMemory true
        let proc = Process.GetCurrentProcess()
        proc.Refresh()
        let cpu0 = proc.TotalProcessorTime
        let window = TimeSpan.FromSeconds 10.0
        do! Task.Delay window
        proc.Refresh()
        let cpu = (proc.TotalProcessorTime - cpu0).TotalMilliseconds / window.TotalSeconds
        let perGroupBytes = float (memIdle - memBefore) / float groups
        printfn ""
        printfn "storage: %s" (if shared then "one shared log per node" else "memory logs")
        printfn "| groups | nodes | quiescence | quiescent replicas | CPU while idle (all 3 nodes) | CPU per group | managed memory per group (3 replicas) | working set |"
        printfn "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"
        printfn "| %d | 3 | %s | %d / %d | %.1f ms/s (%.2f%% of one core) | %.2f µs/s | %.1f KB | %d MB |"
            groups (if quiesce then "on" else "off") (quiescentCount ()) (3 * groups) cpu (cpu / 10.0) (cpu * 1000.0 / float groups)
            (perGroupBytes / 1024.0) (proc.WorkingSet64 >>> 20)
        for h in hosts do
            do! h.DisposeAsync()
        if IO.Directory.Exists root then IO.Directory.Delete(root, true)
    }
    |> fun t -> t.Wait()
