/// The queue server as deployed: real processes (examples/Raft.Queue.Server) on 127.0.0.1, each with its own data
/// folder, HTTP port and Raft port, driven over HTTP; a node killed with SIGKILL restarts on its files and ports.
module Raft.Host.Tests.QueueClusterKit

open System
open System.Diagnostics
open System.IO
open System.Net.Http
open System.Text.Json
open System.Threading.Tasks
open Raft.Tests
open Raft.Host.Tests.ProcessCrashKit

/// The built server (beside this test assembly's configuration and framework).
let queueServerDll = builtDll "examples" "Raft.Queue.Server"

let post = HttpMethod.Post
/// The content type of a JSON body (settings, a batch).
let json = "application/json"

/// An answer: status, body text, and the Retry-After header ("" when absent).
type Answer = { Status: int; Body: string; RetryAfter: string }

/// `size` server processes; `Start i` (re)starts node i on its folder and ports. `settings` are extra `--Queue:...`
/// arguments for every node, `nodeSettings i` more for node i alone.
type QueueCluster(size: int, ?settings: string list, ?nodeSettings: int -> string list) =
    let root = Path.Combine(Path.GetTempPath(), "raft-queue-server-tests", Guid.NewGuid().ToString("N"))
    let ports = choosePorts (2 * size)
    let processes = Collections.Generic.Dictionary<int, Process>()
    let output = Collections.Generic.Dictionary<int, Tail>()
    let http = new HttpClient(Timeout = TimeSpan.FromSeconds 30.0)
    let raftPort i = ports[size + i - 1]

    member _.Size = size
    member _.Url(i: int) = $"http://127.0.0.1:{ports[i - 1]}"

    /// The last lines node i printed, over all its runs.
    member _.Output(i: int) = match output.TryGetValue i with | true, t -> t.Text | _ -> ""

    member this.Start(i: int) =
        task {
            let args = Collections.Generic.List<string>([ queueServerDll; $"--Queue:NodeId={i}"; $"--Queue:RaftEndpoint=127.0.0.1:{raftPort i}"
                                                          $"--Queue:HttpUrl={this.Url i}"; $"--Queue:DataDirectory={Path.Combine(root, string i)}"
                                                          "--Logging:LogLevel:Default=Warning" ])
            args.AddRange(defaultArg settings [])
            args.AddRange((defaultArg nodeSettings (fun _ -> [])) i)
            for m in 1 .. size do
                args.Add $"--Queue:Members:{m - 1}:Id={m}"
                args.Add $"--Queue:Members:{m - 1}:RaftEndpoint=127.0.0.1:{raftPort m}"
                args.Add $"--Queue:Members:{m - 1}:ApiUrl={this.Url m}"
            let tail = match output.TryGetValue i with | true, t -> t | _ -> (let t = Tail 200 in output[i] <- t; t)
            let psi = ProcessStartInfo("dotnet", args, RedirectStandardOutput = true, RedirectStandardError = true)
            let p = Process.Start psi |> nonNull
            p.OutputDataReceived.Add(fun e -> if not (isNull e.Data) then tail.Add e.Data)
            p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then tail.Add e.Data)
            p.BeginOutputReadLine()
            p.BeginErrorReadLine()
            processes[i] <- p
            do! Wait.until $"queue node {i} answers /alive" (TimeSpan.FromSeconds 60.0) (fun () ->
                if p.HasExited then failwithf "queue node %d exited with %d:\n%s" i p.ExitCode tail.Text
                try http.GetAsync($"{this.Url i}/alive").Result.IsSuccessStatusCode with _ -> false)
        }

    member this.StartAll() = task { for i in 1 .. size do do! this.Start i }

    /// SIGKILL: the process dies at once, nothing flushed beyond what it already made durable.
    member _.Kill(i: int) =
        let p = processes[i]
        p.Kill()
        p.WaitForExit 10_000 |> ignore

    member this.Send(i: int, verb: HttpMethod, path: string, ?body: string, ?headers: (string * string) list, ?contentType: string) =
        task {
            use request = new HttpRequestMessage(verb, this.Url i + path)
            match body with
            | Some b -> request.Content <- new StringContent(b, Text.Encoding.UTF8, defaultArg contentType "text/plain")
            | None -> ()
            for (k, v) in defaultArg headers [] do request.Headers.TryAddWithoutValidation(k, v) |> ignore
            use! response = http.SendAsync request
            let! text = response.Content.ReadAsStringAsync()
            let retry = match response.Headers.RetryAfter with | null -> "" | r -> string r
            return { Status = int response.StatusCode; Body = text; RetryAfter = retry }
        }

    /// A request retried while no leader answers it (503) or the node is down: what a client does for an idempotent call.
    member this.UntilAnswered(i: int, verb: HttpMethod, path: string, ?body: string, ?contentType: string) =
        Wait.untilSome $"{verb} {path} through node {i} answered" (TimeSpan.FromSeconds 60.0) (fun () ->
            task {
                try
                    let! a = this.Send(i, verb, path, ?body = body, ?contentType = contentType)
                    return if a.Status = 503 || a.Status = 504 then None else Some a
                with :? HttpRequestException -> return None
            })

    /// The leader node i knows of group `group` (0 when none, or the node is down).
    member this.LeaderOf(i: int, group: int64) =
        task {
            try
                let! a = this.Send(i, HttpMethod.Get, "/raft/status")
                use doc = JsonDocument.Parse a.Body
                return
                    doc.RootElement.GetProperty("groups").EnumerateArray()
                    |> Seq.tryFind (fun g -> g.GetProperty("groupId").GetInt64() = group)
                    |> Option.map (fun g -> g.GetProperty("leader").GetInt64())
                    |> Option.defaultValue 0L
            with _ -> return 0L
        }

    /// Group `group`'s leader as node i reports it, waiting until there is one.
    member this.WaitLeaderOf(i: int, group: int64) =
        Wait.untilSome $"a leader of group {group} known on node {i}" (TimeSpan.FromSeconds 60.0) (fun () ->
            task {
                let! l = this.LeaderOf(i, group)
                return if l > 0L then Some(int l) else None
            })

    /// The group of queue `name`, as node i lists it.
    member this.GroupOf(i: int, name: string) =
        task {
            let! a = this.UntilAnswered(i, HttpMethod.Get, "/queues")
            use doc = JsonDocument.Parse a.Body
            return doc.RootElement.EnumerateArray() |> Seq.find (fun q -> q.GetProperty("name").GetString() = name) |> fun q -> q.GetProperty("group").GetInt64()
        }

    interface IDisposable with
        member _.Dispose() =
            for p in processes.Values do
                try (if not p.HasExited then p.Kill(); p.WaitForExit 10_000 |> ignore) with _ -> ()
            http.Dispose()
            try Directory.Delete(root, true) with _ -> ()

/// The messages of a receive's answer: (id, receipt, delivery, body).
let messagesOf (answer: Answer) =
    if answer.Status <> 200 then failwithf "a receive answered %d: %s" answer.Status answer.Body
    use doc = JsonDocument.Parse answer.Body
    [ for m in doc.RootElement.GetProperty("messages").EnumerateArray() ->
        m.GetProperty("id").GetInt64(), m.GetProperty("receipt").GetString() |> nonNull, m.GetProperty("delivery").GetInt32(), m.GetProperty("body").GetString() |> nonNull ]
