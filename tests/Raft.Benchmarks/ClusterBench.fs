/// End-to-end throughput and latency of the node host: 3 nodes in one process over loopback TCP, every node
/// writing its log to files and fsyncing before it acknowledges, 128-byte commands; then the same workload on
/// DotNext.Net.Cluster (../shared/peers/dotnext-bench) and a side-by-side table.
module Raft.Benchmarks.ClusterBench

open System
open System.Diagnostics
open System.IO
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Raft.Node
open Raft.Serialization
open Raft.Transport.Tcp

/// Applies nothing: the benchmark measures replication, durability and the host, not a state machine.
type internal NullMachine() =
    interface IStateMachine<byte[], int64> with
        member _.Apply(index, _, _) = index
        member _.Snapshot _ = ()
        member _.Restore _ = ()

/// Samples the runtime's AllocationTick events (one per ~100 KB allocated) by type, for RAFT_BENCH_ALLOC=1.
type private AllocationSampler() =
    inherit Diagnostics.Tracing.EventListener()
    let counts = Collections.Concurrent.ConcurrentDictionary<string, int>()
    member _.Top(n: int) = counts |> Seq.sortByDescending (fun kv -> kv.Value) |> Seq.truncate n |> Seq.map (fun kv -> kv.Key, kv.Value) |> List.ofSeq
    override this.OnEventSourceCreated(source) =
        if source.Name = "Microsoft-Windows-DotNETRuntime" then
            this.EnableEvents(source, Diagnostics.Tracing.EventLevel.Verbose, LanguagePrimitives.EnumOfValue<int64, Diagnostics.Tracing.EventKeywords> 1L)
    override _.OnEventWritten(e) =
        if e.EventName = "GCAllocationTick_V4" || e.EventName = "GCAllocationTick_V3" then
            match e.PayloadNames, e.Payload with
            | null, _ | _, null -> ()
            | names, payload ->
                let i = names.IndexOf "TypeName"
                if i >= 0 then counts.AddOrUpdate(string payload[i], 1, (fun _ c -> c + 1)) |> ignore

/// Counts the node host's own instruments across the three nodes: how many Propose inputs carried the commands
/// (batching on the leader) and how many group-commit rounds (fsync rounds) ran.
type private HostCounters() =
    let listener = new Diagnostics.Metrics.MeterListener()
    let mutable proposed = 0L
    let mutable proposeInputs = 0L
    let mutable persistRounds = 0L
    let mutable persistMicros = 0L
    do
        listener.InstrumentPublished <- fun instrument l ->
            if instrument.Meter.Name = RaftMetrics.MeterName
               && (instrument.Name = "raft.proposals" || instrument.Name = "raft.group_commit.rounds"
                   || instrument.Name = "raft.group_commit.duration") then
                l.EnableMeasurementEvents instrument
        listener.SetMeasurementEventCallback<int64>(fun instrument value _ _ ->
            if instrument.Name = "raft.proposals" then
                Interlocked.Add(&proposed, value) |> ignore
                Interlocked.Increment(&proposeInputs) |> ignore
            else Interlocked.Add(&persistRounds, value) |> ignore)
        listener.SetMeasurementEventCallback<float>(fun _ seconds _ _ -> Interlocked.Add(&persistMicros, int64 (seconds * 1e6)) |> ignore)
        listener.Start()
    member _.Read() = Interlocked.Read &proposed, Interlocked.Read &proposeInputs, Interlocked.Read &persistRounds
    /// Total time spent in group-commit rounds (hard state and log fsyncs) on all nodes, in µs.
    member _.PersistMicros = Interlocked.Read &persistMicros
    interface IDisposable with
        member _.Dispose() = listener.Dispose()

/// Reads every metric point of an export, as an exporter turning them into text would, and drops them.
type private ReadingExporter() =
    inherit OpenTelemetry.BaseExporter<OpenTelemetry.Metrics.Metric>()
    member val Points = 0L with get, set
    override this.Export(batch) =
        for metric in batch do
            for point in metric.GetMetricPoints() do
                this.Points <- this.Points + 1L + int64 point.Tags.Count
        OpenTelemetry.ExportResult.Success

/// What a metrics exporter does to the node (`--instrumented`): the OpenTelemetry SDK listening to every instrument
/// of the Raft meter (its aggregation per tag set, the histograms' buckets) and exporting once a second, as a
/// Prometheus scrape every second does.
type private ExporterLikeListener() =
    let exporter = new ReadingExporter()
    let provider =
        OpenTelemetry.Sdk.CreateMeterProviderBuilder()
        |> fun b -> b.AddMeter(RaftMetrics.MeterName)
        |> fun b -> OpenTelemetry.Metrics.MeterProviderBuilderExtensions.AddReader(b, new OpenTelemetry.Metrics.PeriodicExportingMetricReader(exporter, 1000))
        |> fun b -> OpenTelemetry.Metrics.MeterProviderBuilderExtensions.Build b
    interface IDisposable with
        member _.Dispose() = provider.Dispose()

type private Result =
    { Mode: string; N: int; Conc: int; Seconds: float; OpsPerSec: float; P50: float; P99: float
      AllocPer1000: float; Gen0Per1000: float; Gen1Per1000: float; Gen2Per1000: float
      /// Process CPU time (all threads, all three nodes) per commit: steadier than latency on a shared machine.
      CpuUsPerCommit: float
      /// Commands per Propose input on the leader, and group-commit rounds of all nodes per 1,000 commits.
      PerPropose: float; RoundsPer1000: float
      /// Mean duration of one group-commit round (the fsyncs), in µs.
      RoundUs: float }

let private percentile (sorted: float[]) (q: float) =
    sorted[Math.Clamp(int (Math.Ceiling(q * float sorted.Length)) - 1, 0, sorted.Length - 1)]

/// Starts 3 nodes with `groups` groups, all led by node 1, over mutual TLS when `tls` holds the nodes' files; returns
/// the hosts and node 1's groups.
let private startCluster (root: string) (memory: bool) (perGroup: bool) (shared: ResizeArray<SharedLogStorageProvider>) (groups: int)
                         (tls: Raft.Tests.TestCertificates.PemDirectory option) =
    task {
        let codec = RaftBatchCodec<byte[]>(RaftMessageCodec<byte[]>())
        let transports =
            [| for id in 1L .. 3L ->
                let o = TcpTransportOptions(NodeId = id, ClusterId = "bench", ListenEndpoint = "127.0.0.1:0",
                                            ReconnectBackoffMin = TimeSpan.FromMilliseconds 10.0, QueueCapacity = 65536)
                tls |> Option.iter (fun pem -> o.Tls <- pem.Options($"node-{id}", "ca.pem"))
                new TcpTransport<RaftEnvelope<byte[]>[]>(o, codec) |]
        let hosts =
            [| for t in transports ->
                let o = RaftNodeOptions(NodeId = t.LocalId, TickInterval = TimeSpan.FromMilliseconds 20.0, ElectionTicks = 25,
                                        HeartbeatTicks = 2, MaxInflightMsgs = 1024, Quiescence = false)
                let dir = Path.Combine(root, $"node-{t.LocalId}")
                let storage: IRaftStorageProvider =
                    if memory then MemoryRaftStorageProvider()
                    elif perGroup then FileRaftStorageProvider dir
                    else
                        let p = SharedLogStorageProvider dir
                        shared.Add p
                        p
                new RaftNodeHost<byte[], int64>(o, t, storage, (fun _ -> NullMachine())) |]
        for h in hosts do
            do! h.StartAsync()
        for a in transports do
            for b in transports do
                if a.LocalId <> b.LocalId then a.SetPeer(b.LocalId, nonNull b.LocalEndPoint)
        let ids = [| 1L .. int64 groups |]
        for h in hosts do
            for g in ids do
                let! _ = h.CreateGroupAsync(g, [ 1L; 2L; 3L ])
                ()
        // Node 1 campaigns in every group so the leaders are known; wait until everyone follows it.
        for g in ids do
            do! hosts[0].GetGroup(g).CampaignAsync()
        let sw = Stopwatch.StartNew()
        let settled (g: int64) = hosts[0].GetGroup(g).Status.IsLeader && hosts |> Array.forall (fun h -> h.GetGroup(g).Status.Leader = 1L)
        while not (ids |> Array.forall settled) do
            if sw.Elapsed > TimeSpan.FromSeconds 30.0 then failwith "node 1 does not lead every group within 30 s"
            do! Task.Delay 10
        return hosts, ids |> Array.map hosts[0].GetGroup
    }

/// Commits `n` proposals with `conc` callers, proposal i going to group i mod the number of groups.
let private measure (counters: HostCounters) (mode: string) (n: int) (conc: int) (groups: RaftGroup<byte[], int64>[]) (payload: unit -> byte[]) =
    task {
        let latencies = Array.zeroCreate<int64> n
        let mutable next = -1
        GC.Collect()
        GC.WaitForPendingFinalizers()
        let alloc0 = GC.GetTotalAllocatedBytes true
        let g0, g1, g2 = GC.CollectionCount 0, GC.CollectionCount 1, GC.CollectionCount 2
        let cpu0 = Process.GetCurrentProcess().TotalProcessorTime
        let p0, i0, r0 = counters.Read()
        let us0 = counters.PersistMicros
        let sw = Stopwatch.StartNew()
        let worker () =
            task {
                let mutable i = Interlocked.Increment(&next)
                while i < n do
                    let t0 = Stopwatch.GetTimestamp()
                    let! _ = groups[i % groups.Length].ProposeAsync(payload ())
                    latencies[i] <- Stopwatch.GetTimestamp() - t0
                    i <- Interlocked.Increment(&next)
            }
        let! _ = Task.WhenAll [| for _ in 1..conc -> Task.Run<unit>(Func<Task<unit>>(fun () -> worker ())) |]
        sw.Stop()
        let cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0
        let p1, i1, r1 = counters.Read()
        let per1000 (x: int64) = float x * 1000.0 / float n
        let us = latencies |> Array.map (fun t -> float t * 1e6 / float Stopwatch.Frequency) |> Array.sort
        return
            { Mode = mode; N = n; Conc = conc; Seconds = sw.Elapsed.TotalSeconds; OpsPerSec = float n / sw.Elapsed.TotalSeconds
              P50 = percentile us 0.5; P99 = percentile us 0.99
              AllocPer1000 = per1000 (GC.GetTotalAllocatedBytes true - alloc0)
              Gen0Per1000 = per1000 (int64 (GC.CollectionCount 0 - g0)); Gen1Per1000 = per1000 (int64 (GC.CollectionCount 1 - g1))
              Gen2Per1000 = per1000 (int64 (GC.CollectionCount 2 - g2))
              CpuUsPerCommit = cpu.TotalMicroseconds / float n
              PerPropose = float (p1 - p0) / float (max 1L (i1 - i0)); RoundsPer1000 = per1000 (r1 - r0)
              RoundUs = float (counters.PersistMicros - us0) / float (max 1L (r1 - r0)) }
    }

/// Runs DotNext's harness and returns its figures by mode ("seq", "conc"), or an empty map when unavailable.
let private runDotNext (n: int) (size: int) (mode: string) =
    match PeerHarness.find "dotnext-bench" "DOTNEXT_BENCH" with
    | None ->
        eprintfn "DotNext harness not found (set DOTNEXT_BENCH=/path/to/run.sh); skipping the comparison"
        Map.empty
    | Some path ->
        PeerHarness.run path $"--n {n} --size {size} --mode {mode}"
        |> Map.map (fun _ f -> f.OpsPerSecond, f.P50, f.P99)

let run (args: string list) =
    let rec opt name def = function
        | k :: v :: _ when k = name -> v
        | _ :: rest -> opt name def rest
        | [] -> def
    let n = int (opt "--n" "20000" args)
    let size = int (opt "--size" "128" args)
    let conc = int (opt "--conc" "64" args)
    let skipPeer = args |> List.contains "--no-dotnext"
    // seq, conc or both (default): one mode alone, e.g. to profile it.
    let mode = opt "--mode" "both" args
    if mode <> "seq" && mode <> "conc" && mode <> "both" then failwithf "--mode: expected seq, conc or both, got '%s'" mode
    // Rounds of (this library, then DotNext), one after the other: the disk is shared and noisy, so ratios are taken
    // per round and the summary gives medians.
    let runs = int (opt "--runs" "1" args)
    if runs < 1 then failwithf "--runs: expected at least 1, got %d" runs
    // Diagnostics only: logs in memory (no fsync), to separate the host's own cost from the disk's.
    let memory = args |> List.contains "--memory"
    // Many busy groups (multi-raft): the proposals spread over them round-robin; DotNext runs one group only.
    let groups = int (opt "--groups" "1" args)
    if groups < 1 then failwithf "--groups: expected at least 1, got %d" groups
    // Storage layout: every group of a node in one shared log (the default), or a log per group.
    let layout = opt "--layout" "shared" args
    if layout <> "shared" && layout <> "per-group" then failwithf "--layout: expected shared or per-group, got '%s'" layout
    // Every instrument listened to and aggregated, observables collected each second (the cost of an exporter).
    let instrumented = args |> List.contains "--instrumented"
    // Mutual TLS 1.3 between the nodes, with a CA and node certificates made for the run (beside a plaintext run, the
    // cost of TLS on the same machine).
    let tls = args |> List.contains "--tls"
    let runOnce () =
        let root = Path.Combine(Path.GetTempPath(), "raft-cluster-bench-" + Guid.NewGuid().ToString("N"))
        let results =
            task {
                use counters = new HostCounters()
                use exporter = if instrumented then new ExporterLikeListener() :> IDisposable else { new IDisposable with member _.Dispose() = () }
                let measure = measure counters
                let sharedLogs = ResizeArray<SharedLogStorageProvider>()
                let pem = if tls then Some(fst (Raft.Tests.TestCertificates.clusterFiles [ 1L; 2L; 3L ])) else None
                use _ = match pem with Some p -> p :> IDisposable | None -> { new IDisposable with member _.Dispose() = () }
                let! hosts, led = startCluster root memory (layout = "per-group") sharedLogs groups pem
                try
                    let rnd = Random(7)
                    let payload () =
                        let b = Array.zeroCreate<byte> size
                        rnd.NextBytes(b)
                        b
                    let shared = payload ()
                    eprintfn "warm-up ..."
                    let! _ = measure "warmup" 4000 conc led (fun () -> shared)
                    let! _ = measure "warmup" 1000 1 led (fun () -> shared)
                    eprintfn "sequential %d ..." n
                    let sampler = if Environment.GetEnvironmentVariable "RAFT_BENCH_ALLOC" = "1" then Some(new AllocationSampler()) else None
                    let! seq =
                        if mode = "conc" then Task.FromResult None
                        else task { let! r = measure "seq" n 1 led (fun () -> shared) in return Some r }
                    match sampler with
                    | Some s ->
                        for t, c in s.Top 15 do eprintfn "alloc sample %6d  %s" c t
                        s.Dispose()
                    | None -> ()
                    eprintfn "%d in flight, %d ..." conc n
                    let! par =
                        if mode = "seq" then Task.FromResult None
                        else task { let! r = measure "conc" n conc led (fun () -> shared) in return Some r }
                    // fdatasyncs of the shared logs per group-commit round, over every node and the whole run.
                    if sharedLogs.Count > 0 then
                        let syncs = sharedLogs |> Seq.sumBy (fun p -> match p.Log with null -> 0L | l -> l.DataSyncs)
                        let rotations = sharedLogs |> Seq.sumBy (fun p -> match p.Log with null -> 0L | l -> l.Rotations)
                        let _, _, rounds = counters.Read()
                        printfn "shared log: %d fdatasyncs in %d group-commit rounds over 3 nodes (%.3f per round; %d file starts, one fdatasync each)"
                            syncs rounds (float syncs / float (max 1L rounds)) rotations
                    return List.choose id [ seq; par ]
                finally
                    for h in hosts do
                        h.DisposeAsync().AsTask().Wait()
                    try Directory.Delete(root, true) with _ -> ()
            }
            |> fun t -> t.Result
        let peer = if skipPeer || groups > 1 then Map.empty else runDotNext n size mode
        results, peer
    let label (r: Result) = if r.Mode = "seq" then "sequential" else $"{r.Conc} in flight"
    let rounds = [ for i in 1..runs -> (if runs > 1 then eprintfn "round %d of %d" i runs); runOnce () ]
    for round, (results, peer) in List.indexed rounds do
        printfn ""
        if runs > 1 then printfn "round %d of %d" (round + 1) runs
        printfn "3 nodes, one process, loopback TCP%s, %d-byte entries, n = %d, %d group(s), %s log, %d cores, %s%s" (if tls then " with mutual TLS 1.3 (--tls)" else "") size n groups layout Environment.ProcessorCount (DateTime.UtcNow.ToString "yyyy-MM-dd")
            (if instrumented then ", every Raft instrument listened to (--instrumented)" else "")
        printfn "this library: every node fsyncs (fdatasync) before acknowledging; DotNext 6.12: followers ack before their flush"
        printfn ""
        printfn "| mode | library | ops/s | p50 µs | p99 µs | ratio (ops/s) |"
        printfn "| --- | --- | ---: | ---: | ---: | ---: |"
        for r in results do
            let ratio, peerRow =
                match Map.tryFind r.Mode peer with
                | Some(ops, p50, p99) -> sprintf "%.1fx" (r.OpsPerSec / ops), Some(sprintf "| %s | DotNext 6.12.1 | %.0f | %.0f | %.0f | 1.0x |" (label r) ops p50 p99)
                | None -> "n/a", None
            printfn "| %s | Raft (this) | %.0f | %.0f | %.0f | %s |" (label r) r.OpsPerSec r.P50 r.P99 ratio
            peerRow |> Option.iter (printfn "%s")
        printfn ""
        printfn "| mode | bytes allocated / 1000 commits | gen0 / 1000 | gen1 / 1000 | gen2 / 1000 | CPU µs / commit | commands / propose | persist rounds / 1000 | µs / round |"
        printfn "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        for r in results do
            printfn "| %s | %.0f | %.2f | %.2f | %.2f | %.0f | %.1f | %.0f | %.0f |" r.Mode r.AllocPer1000 r.Gen0Per1000 r.Gen1Per1000 r.Gen2Per1000 r.CpuUsPerCommit r.PerPropose r.RoundsPer1000 r.RoundUs
    if runs > 1 then
        let median (xs: float list) =
            let a = List.sort xs |> Array.ofList
            if a.Length % 2 = 1 then a[a.Length / 2] else (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2.0
        let joined f xs = xs |> List.map f |> String.concat " / "
        printfn ""
        printfn "summary of %d rounds (medians; ratios per round, each against DotNext in the same round)" runs
        printfn ""
        printfn "| mode | Raft ops/s | Raft p50 µs | DotNext ops/s | ratio per round | median ratio |"
        printfn "| --- | ---: | ---: | ---: | --- | ---: |"
        for m in (fst rounds.Head |> List.map (fun r -> r.Mode)) do
            let ours = rounds |> List.map (fun (results, _) -> results |> List.find (fun r -> r.Mode = m))
            let theirs = rounds |> List.choose (fun (_, peer) -> Map.tryFind m peer |> Option.map (fun (ops, _, _) -> ops))
            let ratios = if theirs.Length = ours.Length then List.map2 (fun (r: Result) o -> r.OpsPerSec / o) ours theirs else []
            printfn "| %s | %.0f (%s) | %.0f | %s | %s | %s |" (label ours.Head) (median (ours |> List.map (fun r -> r.OpsPerSec)))
                (joined (fun (r: Result) -> sprintf "%.0f" r.OpsPerSec) ours) (median (ours |> List.map (fun r -> r.P50)))
                (if theirs.IsEmpty then "n/a" else sprintf "%.0f (%s)" (median theirs) (joined (sprintf "%.0f") theirs))
                (if ratios.IsEmpty then "n/a" else joined (sprintf "%.1fx") ratios)
                (if ratios.IsEmpty then "n/a" else sprintf "%.1fx" (median ratios))
