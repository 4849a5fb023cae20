/// A harness for clusters of real node processes (tests/Raft.ClusterNode): one child process per node with its own
/// files and TCP port on 127.0.0.1, driven through the child's line protocol, killed with SIGKILL and restarted on the
/// same directory and port.
module Raft.Host.Tests.ProcessCrashKit

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Raft.Tests

/// A program of this repository built with this test assembly's configuration and framework:
/// `<repository>/<folder>/<name>/bin/<config>/<tfm>/<name>.dll` (folder `tests` or `examples`).
let builtDll (folder: string) (name: string) =
    let baseDir = Path.TrimEndingDirectorySeparator AppContext.BaseDirectory // tests/Raft.Host.Tests/bin/<config>/<tfm>
    let tfm = Path.GetFileName baseDir |> nonNull
    let config = Path.GetFileName(Path.GetDirectoryName baseDir |> nonNull) |> nonNull
    Path.GetFullPath(Path.Combine(baseDir, "..", "..", "..", "..", "..", folder, name, "bin", config, tfm, name + ".dll"))

/// The node program, built next to this project: tests/Raft.ClusterNode/bin/<config>/<tfm>/Raft.ClusterNode.dll.
let nodeDll = builtDll "tests" "Raft.ClusterNode"

/// The exit code of a node that could not listen because its port was taken.
let addressInUseExit = 3

/// Whether a socket can bind `port` on 127.0.0.1 now.
let portFree (port: int) =
    try
        use s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
        s.Bind(IPEndPoint(IPAddress.Loopback, port))
        true
    with :? SocketException -> false

/// Ports for `count` nodes: random, outside Linux's ephemeral range (32768-60999) so no outgoing connection of this
/// machine can take one while its node is down, and free when chosen (bind-tested).
let choosePorts (count: int) =
    let rnd = Random() // not the test's seed: two runs in parallel must not pick the same ports
    let chosen = HashSet<int>()
    while chosen.Count < count do
        let port = rnd.Next(20000, 32000)
        if not (chosen.Contains port) && portFree port then chosen.Add port |> ignore
    Array.ofSeq chosen

/// The last lines of a node's stderr over all its runs, with the harness's notes (start, kill, exit) in between.
type Tail(capacity: int) =
    let lines = Queue<string>()
    member _.Add(line: string) =
        lock lines (fun () ->
            lines.Enqueue line
            if lines.Count > capacity then lines.Dequeue() |> ignore)
    member _.Text = lock lines (fun () -> String.Join("\n", lines))

/// What became of one proposal.
type Outcome =
    /// Committed and applied at `index` as the `count`th command of the leader's state machine.
    | Acked of index: int64 * count: int64
    /// ProposeAsync failed; `reason` is "not-leader" (with the leader hint, 0 when none) or the exception's type.
    | Refused of reason: string * hint: int64
    /// No answer: the process died (or its input closed) first. The command may or may not be committed.
    | Unknown of why: string

/// A node's `status` answer.
type NodeStatus =
    { Role: string; Term: int64; Leader: int64; Last: int64; Commit: int64; Applied: int64 }
    member s.IsLeader = s.Role = "Leader"

/// One run of one node's process. Everything it prints is parsed by a reader thread; its death completes every
/// outstanding proposal with Unknown.
type NodeProcess(id: int64, run: int, dataDir: string, endpoints: string list, environment: (string * string) list, tail: Tail) =
    let psi =
        let p = ProcessStartInfo("dotnet", [ nodeDll; string id; dataDir ] @ endpoints)
        for name, value in environment do p.Environment[name] <- value
        p.RedirectStandardInput <- true
        p.RedirectStandardOutput <- true
        p.RedirectStandardError <- true
        p.UseShellExecute <- false
        p.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
        p
    let proc = Process.Start psi |> nonNull
    let stdin = proc.StandardInput
    let ready = TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
    let exited = TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)
    let snapshotPaused = TaskCompletionSource<int64>(TaskCreationOptions.RunContinuationsAsynchronously)
    let proposals = Dictionary<int64, TaskCompletionSource<Outcome>>()
    let requestGate = new SemaphoreSlim(1)
    /// The outstanding `status` or `dump` request: the answer's first word and where it goes.
    let mutable disposed = false
    let mutable reply: (string * TaskCompletionSource<string>) option = None
    let mutable dead = false

    let finishAll (why: string) =
        let waiting =
            lock proposals (fun () ->
                dead <- true
                let all = Array.ofSeq proposals.Values
                proposals.Clear()
                all)
        for t in waiting do t.TrySetResult(Unknown why) |> ignore
        match lock requestGate (fun () -> reply) with
        | Some(_, r) -> r.TrySetException(Exception why) |> ignore
        | None -> ()
        ready.TrySetException(Exception why) |> ignore
        snapshotPaused.TrySetException(Exception why) |> ignore

    let complete (command: int64) (outcome: Outcome) =
        let waiting =
            lock proposals (fun () ->
                match proposals.TryGetValue command with
                | true, t ->
                    proposals.Remove command |> ignore
                    Some t
                | _ -> None)
        waiting |> Option.iter (fun t -> t.TrySetResult outcome |> ignore)

    let onLine (line: string) =
        let parts = line.Split ' '
        match parts[0] with
        | "ready" -> ready.TrySetResult() |> ignore
        | "ack" -> complete (int64 parts[1]) (Acked(int64 parts[2], int64 parts[3]))
        | "nack" -> complete (int64 parts[1]) (Refused(parts[2], int64 parts[3]))
        | "snapshot-paused" -> snapshotPaused.TrySetResult(int64 parts[1]) |> ignore
        | "status" | "dump" ->
            match lock requestGate (fun () -> reply) with
            | Some(kind, r) when kind = parts[0] -> r.TrySetResult line |> ignore
            | _ -> () // the answer to a request that timed out
        | _ -> tail.Add $"[test] node {id} printed an unknown line: {line}"

    let stdoutReader =
        Thread((fun () ->
            try
                try
                    let mutable reading = true
                    while reading do
                        match proc.StandardOutput.ReadLine() with
                        | null -> reading <- false
                        // A line cut by the kill lacks its ';' and is ignored.
                        | line -> if line.EndsWith ';' then onLine (line.TrimEnd ';')
                with e -> tail.Add $"[test] node {id} run {run}: stdout reader failed: {e.Message}"
            finally
                finishAll $"node {id} (run {run}) exited"
                exited.TrySetResult() |> ignore), IsBackground = true)

    let stderrReader =
        Thread((fun () ->
            try
                let mutable reading = true
                while reading do
                    match proc.StandardError.ReadLine() with
                    | null -> reading <- false
                    | line -> tail.Add line
            with _ -> ()), IsBackground = true)

    do
        stdin.AutoFlush <- true
        tail.Add $"[test] node {id} run {run} started (pid {proc.Id})"
        stdoutReader.Start()
        stderrReader.Start()

    let send (line: string) =
        try
            lock stdin (fun () -> stdin.WriteLine line)
            true
        with _ -> false

    member _.Id = id
    member _.Run = run
    member _.Ready = ready.Task
    member _.Exited = exited.Task
    /// Completes with the durable offset once a run started with `RAFT_PAUSE_AFTER_SNAPSHOT_CHUNKS` has paused in the
    /// middle of receiving a snapshot (see tests/Raft.ClusterNode/SnapshotPause.cs); fails when the process dies first.
    member _.SnapshotPaused = snapshotPaused.Task
    member _.IsReady = ready.Task.IsCompletedSuccessfully && not (Volatile.Read &dead)
    member _.HasExited = exited.Task.IsCompleted

    /// The exit code once the process is gone.
    member _.ExitCode =
        proc.WaitForExit(5000) |> ignore
        if proc.HasExited then proc.ExitCode else -1

    /// Sends `propose <command>`; completes with the node's answer, or Unknown when the node dies first.
    member _.Propose(command: int64) : Task<Outcome> =
        let t = TaskCompletionSource<Outcome>(TaskCreationOptions.RunContinuationsAsynchronously)
        let accepted =
            lock proposals (fun () ->
                if dead || not ready.Task.IsCompletedSuccessfully then false
                else
                    proposals[command] <- t
                    true)
        if not accepted then Task.FromResult(Unknown "node not ready")
        elif send $"propose {command}" then t.Task
        else
            complete command (Unknown "input closed")
            t.Task

    /// Sends `status` or `dump` and returns the answer line; None when the node is not up or does not answer in time.
    member _.Request(what: string, timeout: TimeSpan) : Task<string option> =
        task {
            if not ready.Task.IsCompletedSuccessfully || Volatile.Read &dead then return None
            else
                do! requestGate.WaitAsync()
                try
                    let r = TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously)
                    lock requestGate (fun () -> reply <- Some(what, r))
                    if Volatile.Read &dead || not (send what) then return None
                    else
                        try
                            let! line = r.Task.WaitAsync timeout
                            return Some line
                        with _ -> return None
                finally
                    lock requestGate (fun () -> reply <- None)
                    requestGate.Release() |> ignore
        }

    member this.Status(timeout: TimeSpan) =
        task {
            match! this.Request("status", timeout) with
            | Some line ->
                let p = line.Split ' '
                return Some { Role = p[1]; Term = int64 p[2]; Leader = int64 p[3]; Last = int64 p[4]; Commit = int64 p[5]; Applied = int64 p[6] }
            | None -> return None
        }

    /// Every applied (index, command), in apply order.
    member this.Dump(timeout: TimeSpan) =
        task {
            match! this.Request("dump", timeout) with
            | Some line ->
                let p = line.Split(' ', StringSplitOptions.RemoveEmptyEntries)
                return
                    Some [| for item in p[2..] ->
                              let c = item.IndexOf ':'
                              struct (int64 item[.. c - 1], int64 item[c + 1 ..]) |]
            | None -> return None
        }

    /// SIGKILL (Process.Kill on Linux), then waits until the process and its output are gone.
    member _.Kill() =
        try proc.Kill() with _ -> ()
        proc.WaitForExit(10000) |> ignore
        stdoutReader.Join(TimeSpan.FromSeconds 10.0) |> ignore
        tail.Add $"[test] node {id} run {run} killed"

    interface IDisposable with
        member this.Dispose() =
            if not disposed then
                disposed <- true
                if not proc.HasExited then this.Kill()
                stderrReader.Join(TimeSpan.FromSeconds 5.0) |> ignore
                proc.Dispose()

/// A cluster of node processes on 127.0.0.1, one data directory per node under a temp root. Keeps a timeline of what
/// the harness did, for failure reports. Disposing kills every process and deletes the files.
type ProcessCluster(size: int) =
    let root = Path.Combine(Path.GetTempPath(), "raft-process-crash", Guid.NewGuid().ToString("N"))
    let ids = [| 1L .. int64 size |]
    let tails = ids |> Array.map (fun _ -> Tail 300)
    let current: NodeProcess option[] = Array.create size None
    let runs = Array.zeroCreate<int> size
    let clock = Stopwatch.StartNew()
    let timeline = List<string>()
    let mutable ports = choosePorts size

    member _.Ids = ids
    member _.Root = root
    member _.Elapsed = clock.Elapsed

    /// Notes an event in the timeline (printed on failure).
    member _.Note(text: string) =
        let line = $"{clock.Elapsed.TotalSeconds, 7:F2}s {text}"
        lock timeline (fun () -> timeline.Add line)

    member _.Node(id: int64) = current[int id - 1]

    /// The nodes whose process is up and ready.
    member _.ReadyNodes = current |> Array.choose id |> Array.filter (fun n -> n.IsReady)

    /// Starts a new run of node `id` on its directory and port (not waiting for it to be ready), with `environment`
    /// added to the process's variables.
    member this.Launch(id: int64, ?environment: (string * string) list) =
        let i = int id - 1
        match current[i] with
        | Some previous -> (previous :> IDisposable).Dispose()
        | None -> ()
        runs[i] <- runs[i] + 1
        let endpoints = [ for k in ids -> $"{k}=127.0.0.1:{ports[int k - 1]}" ]
        let n = new NodeProcess(id, runs[i], Path.Combine(root, $"node-{id}"), endpoints, defaultArg environment [], tails[i])
        current[i] <- Some n
        n

    /// Waits until node `id` is ready; a run that exits because its port is taken (a socket of its previous run may
    /// linger briefly) is retried a few times.
    member this.WaitReady(id: int64, deadline: TimeSpan) =
        task {
            let until = clock.Elapsed + deadline
            let mutable result = None
            let mutable attempts = 0
            while result.IsNone do
                let n = (this.Node id).Value
                do! Wait.forTask $"node {id} (run {n.Run}) ready" (until - clock.Elapsed |> max TimeSpan.Zero) (Task.WhenAny(n.Ready, n.Exited))
                if n.Ready.IsCompletedSuccessfully && not n.HasExited then result <- Some n
                elif n.HasExited then
                    let code = n.ExitCode
                    attempts <- attempts + 1
                    if code = addressInUseExit && attempts < 20 && clock.Elapsed < until then
                        this.Note $"node {id} run {n.Run}: port {ports[int id - 1]} in use, retrying"
                        let port = ports[int id - 1]
                        do! Wait.until $"port {port} released by node {id}'s previous run" (until - clock.Elapsed |> max TimeSpan.Zero) (fun () -> portFree port)
                        this.Launch id |> ignore
                    else failwithf "node %d (run %d) exited with code %d before it was ready" id n.Run code
                else failwithf "node %d (run %d) is neither ready nor exited" id n.Run
            return result.Value
        }

    /// Starts every node and waits until all are ready; if a port was taken meanwhile, starts over on new ports.
    member this.StartAll(deadline: TimeSpan) =
        task {
            let mutable started = false
            let mutable attempt = 0
            while not started do
                attempt <- attempt + 1
                for id in ids do this.Launch id |> ignore
                let nodes = ids |> Array.map (fun id -> (this.Node id).Value)
                do! Wait.forTask "every node ready or exited" deadline (Task.WhenAll(nodes |> Array.map (fun n -> Task.WhenAny(n.Ready, n.Exited))))
                if nodes |> Array.forall (fun n -> n.IsReady) then started <- true
                elif attempt < 5 && nodes |> Array.exists (fun n -> n.HasExited && n.ExitCode = addressInUseExit) then
                    this.Note $"ports {ports} taken, choosing others"
                    for n in nodes do n.Kill()
                    ports <- choosePorts size
                else
                    let bad = nodes |> Array.filter (fun n -> not n.IsReady) |> Array.map (fun n -> $"node {n.Id} exit {n.ExitCode}")
                    failwithf "the cluster did not start: %s" (String.Join(", ", bad))
            this.Note $"cluster started on ports {String.Join(',', ports)}"
        }

    /// SIGKILLs node `id`'s current run.
    member this.Kill(id: int64, why: string) =
        match this.Node id with
        | Some n ->
            n.Kill()
            this.Note $"killed node {id} run {n.Run} ({why})"
        | None -> ()

    /// Statuses of the ready nodes (those that answer).
    member this.Statuses() =
        task {
            let nodes = this.ReadyNodes
            let! answers = Task.WhenAll(nodes |> Array.map (fun n -> n.Status(TimeSpan.FromSeconds 10.0)))
            return Array.zip nodes answers |> Array.choose (fun (n, s) -> s |> Option.map (fun s -> n.Id, s))
        }

    /// The ready node that claims leadership in the highest term, if any.
    member this.Leader() =
        task {
            let! statuses = this.Statuses()
            return
                statuses
                |> Array.filter (fun (_, s) -> s.IsLeader)
                |> Array.sortByDescending (fun (_, s) -> s.Term)
                |> Array.tryHead
                |> Option.map fst
        }

    /// The timeline and every node's stderr tail.
    /// The last lines node `id` printed to stderr, over all its runs.
    member _.Output(id: int64) = tails[int id - 1].Text

    /// The record of the snapshot node `id` is receiving (present only while a transfer is under way).
    member _.ReceivingRecord(id: int64) = Path.Combine(root, $"node-{id}", "group-1", "snapshots", "receiving")

    member _.Report() =
        let sb = Text.StringBuilder()
        sb.AppendLine("timeline:") |> ignore
        for line in lock timeline (fun () -> timeline.ToArray()) do sb.AppendLine("  " + line) |> ignore
        for i in 0 .. size - 1 do
            sb.AppendLine($"node {i + 1} stderr (last lines, all runs):") |> ignore
            sb.AppendLine(tails[i].Text) |> ignore
        sb.ToString()

    interface IDisposable with
        member _.Dispose() =
            for n in current do
                match n with
                | Some n -> try (n :> IDisposable).Dispose() with _ -> ()
                | None -> ()
            try Directory.Delete(root, true) with _ -> ()
