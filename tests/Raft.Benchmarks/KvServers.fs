/// Server processes of one example server (examples/Raft.KeyValue.Server by default, or Raft.Queue.Server; built in
/// Release) on 127.0.0.1 with free ports and data in a temporary folder, for the `kv` and `queue` benchmarks; disposing
/// kills them and deletes the folder.
module Raft.Benchmarks.KvServers

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Http
open System.Net.Sockets
open System.Text.Json
open System.Threading

let private serverDll (project: string) =
    let rec up (dir: DirectoryInfo | null) =
        match dir with
        | null -> failwith "Raft.sln not found above the benchmark's folder"
        | d when File.Exists(Path.Combine(d.FullName, "Raft.sln")) -> d.FullName
        | d -> up d.Parent
    let root = up (DirectoryInfo AppContext.BaseDirectory)
    let dll = Path.Combine(root, "examples", project, "bin", "Release", "net10.0", project + ".dll")
    if not (File.Exists dll) then failwithf "%s is missing: build the solution in Release first" dll
    dll

let private freePort () =
    use s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
    s.Bind(IPEndPoint(IPAddress.Loopback, 0))
    (s.LocalEndPoint :?> IPEndPoint).Port

/// The running servers: node i (1-based) answers HTTP at `Url i`. `project` is the example server's project,
/// `section` its configuration section (Kv, Queue).
type Servers(count: int, project: string, section: string) =
    let root = Path.Combine(Path.GetTempPath(), "raft-server-bench-" + Guid.NewGuid().ToString("N")[..7])
    let httpPorts = [| for _ in 1 .. count -> freePort () |]
    let raftPorts = [| for _ in 1 .. count -> freePort () |]
    let url i = $"http://127.0.0.1:{httpPorts[i - 1]}"
    let dll = serverDll project
    let launch i =
        let a = Collections.Generic.List<string>([ dll; $"--{section}:NodeId={i}"; $"--{section}:RaftEndpoint=127.0.0.1:{raftPorts[i - 1]}"; $"--{section}:HttpUrl={url i}"
                                                   $"--{section}:DataDirectory={Path.Combine(root, string i)}"; "--Logging:LogLevel:Default=Warning" ])
        for m in 1 .. count do
            a.Add $"--{section}:Members:{m - 1}:Id={m}"
            a.Add $"--{section}:Members:{m - 1}:RaftEndpoint=127.0.0.1:{raftPorts[m - 1]}"
            a.Add $"--{section}:Members:{m - 1}:ApiUrl={url m}"
        Process.Start(ProcessStartInfo("dotnet", a)) |> nonNull
    let processes = [| for i in 1 .. count -> launch i |]

    /// Node i's HTTP base address.
    member _.Url(i: int) = url i

    /// The server processes, node 1 first.
    member _.Processes = List.ofArray processes

    /// Kills node i with SIGKILL (no flush, no hand-off: a crash) and waits for it to exit.
    member _.Kill(i: int) =
        processes[i - 1].Kill()
        processes[i - 1].WaitForExit 10_000 |> ignore

    /// Starts node i again on its data folder.
    member _.Restart(i: int) = processes[i - 1] <- launch i

    /// The data folder of node i.
    member _.DataDirectory(i: int) = Path.Combine(root, string i)

    /// Waits (at most 60 s) until every node's /health answers 200.
    member _.WaitHealthy(http: HttpClient) =
        let deadline = Stopwatch.StartNew()
        for i in 1 .. count do
            while not (try http.GetAsync($"{url i}/health").Result.IsSuccessStatusCode with _ -> false) do
                if deadline.Elapsed > TimeSpan.FromSeconds 60.0 then failwith $"node {i} not healthy within 60 s"
                Thread.Sleep 50 // start-up polling, outside any measurement

    /// PUTs `body` to `key` through node `node` until a success answers; how many answers were not (a group still
    /// electing answers 503).
    member _.PutUntilAcknowledged(http: HttpClient, node: int, key: string, body: byte[]) =
        task {
            let mutable refused = 0
            let mutable ok = false
            while not ok do
                use content = new ByteArrayContent(body)
                use! r = http.PutAsync($"{url node}/kv/{key}", content)
                ok <- r.IsSuccessStatusCode
                if not ok then refused <- refused + 1
            return refused
        }

    /// Group id to the leader node `from` sees for it (0 when none is known), from its /raft/status.
    member _.GroupLeaders(http: HttpClient, ?from: int) =
        use status = JsonDocument.Parse(http.GetStringAsync($"{url (defaultArg from 1)}/raft/status").Result)
        dict [ for g in status.RootElement.GetProperty("groups").EnumerateArray() -> g.GetProperty("groupId").GetInt64(), int (g.GetProperty("leader").GetInt64()) ]

    /// Each key under `prefix` (at most `limit`) with its group's leader as node `from` sees it (0 when none is known).
    member this.Leaders(http: HttpClient, prefix: string, limit: int, ?from: int) =
        let from = defaultArg from 1
        let leaderOf = this.GroupLeaders(http, from)
        use listing = JsonDocument.Parse(http.GetStringAsync($"{url from}/kv?prefix={prefix}&limit={limit}").Result)
        dict [ for e in listing.RootElement.EnumerateArray() ->
                 let g = e.GetProperty("group").GetInt64()
                 nonNull (e.GetProperty("key").GetString()), (match leaderOf.TryGetValue g with | true, l -> l | _ -> 0) ]

    interface IDisposable with
        member _.Dispose() =
            for p in processes do
                try p.Kill() ; p.WaitForExit 10_000 |> ignore with _ -> ()
            try Directory.Delete(root, true) with _ -> ()

/// Starts `count` key-value servers forming one cluster.
let start (count: int) = new Servers(count, "Raft.KeyValue.Server", "Kv")

/// Starts `count` queue servers forming one cluster.
let startQueues (count: int) = new Servers(count, "Raft.Queue.Server", "Queue")
