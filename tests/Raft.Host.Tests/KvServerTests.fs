/// The key-value server as deployed: three real processes (examples/Raft.KeyValue.Server) on 127.0.0.1, each with its
/// own data folder, HTTP port and Raft port, driven over HTTP; one killed with SIGKILL and restarted on its files.
module Raft.Host.Tests.KvServerTests

open System
open System.Diagnostics
open System.IO
open System.Net
open System.Net.Http
open System.Text
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.ProcessCrashKit

/// The built server (beside this test assembly's configuration and framework).
let serverDll = builtDll "examples" "Raft.KeyValue.Server"

/// Signals to a child process (pause and resume it as a long GC pause or a stalled VM would).
module private Signal =
    [<Runtime.InteropServices.DllImport("libc", SetLastError = true)>]
    extern int kill(int pid, int signal)
    let stop, cont = 19, 18 // SIGSTOP, SIGCONT on Linux

/// The token the chaos endpoints of a `KvCluster` made with `chaos = true` expect.
let chaosToken = "kv-cluster-chaos-token"

/// Three server processes; `Start i` (re)starts node i on its folder and ports. `settings` are extra `--Kv:...`
/// arguments for every node; `chaos` enables the chaos endpoints with `chaosToken`. `host i` is node i's address
/// (127.0.0.1 unless given) and `launcher i` the command and leading arguments that run `dotnet` for it (plain `dotnet`
/// unless given; NetnsKit's runs it inside node i's network namespace).
type KvCluster(?settings: string list, ?chaos: bool, ?host: int -> string, ?launcher: int -> string * string list) =
    let root = Path.Combine(Path.GetTempPath(), "raft-kv-server-tests", Guid.NewGuid().ToString("N"))
    let ports = choosePorts 6
    let processes = Collections.Generic.Dictionary<int, Process>()
    let http = new HttpClient(Timeout = TimeSpan.FromSeconds 15.0)
    let httpPort i = ports[i - 1]
    let raftPort i = ports[i + 2]
    let host = defaultArg host (fun _ -> "127.0.0.1")
    let launcher = defaultArg launcher (fun _ -> "dotnet", [])

    member _.Url(i: int) = $"http://{host i}:{httpPort i}"
    member _.Http = http

    member this.Start(i: int) =
        task {
            let args = Collections.Generic.List<string>([ serverDll; $"--Kv:NodeId={i}"; $"--Kv:RaftEndpoint={host i}:{raftPort i}"
                                                          $"--Kv:HttpUrl={this.Url i}"; $"--Kv:DataDirectory={Path.Combine(root, string i)}"
                                                          "--Kv:MaxValueBytes=1024"; "--Logging:LogLevel:Default=Warning" ])
            args.AddRange(defaultArg settings [])
            if defaultArg chaos false then args.AddRange [ "--Kv:Chaos:Enabled=true"; $"--Kv:Chaos:Token={chaosToken}" ]
            for m in 1 .. 3 do
                args.Add $"--Kv:Members:{m - 1}:Id={m}"
                args.Add $"--Kv:Members:{m - 1}:RaftEndpoint={host m}:{raftPort m}"
                args.Add $"--Kv:Members:{m - 1}:ApiUrl={this.Url m}"
            let file, leading = launcher i
            args.InsertRange(0, leading)
            let psi = ProcessStartInfo(file, args, RedirectStandardOutput = true, RedirectStandardError = true)
            let p = Process.Start psi |> nonNull
            p.BeginOutputReadLine()
            p.BeginErrorReadLine()
            processes[i] <- p
            do! Wait.until $"node {i} answers /alive" Wait.standard (fun () ->
                if p.HasExited then failwithf "node %d exited with %d" i p.ExitCode
                try http.GetAsync($"{this.Url i}/alive").Result.IsSuccessStatusCode with _ -> false)
        }

    /// Node i's process id (while it runs).
    member _.Pid(i: int) = processes[i].Id

    member _.Kill(i: int) =
        let p = processes[i]
        p.Kill()
        p.WaitForExit 10_000 |> ignore

    member private _.Signal(i: int, signal: int, name: string) =
        if Signal.kill(processes[i].Id, signal) <> 0 then failwithf "%s of node %d failed (errno %d)" name i (Runtime.InteropServices.Marshal.GetLastPInvokeError())

    /// SIGSTOP: node i stops stepping and answering (its sockets stay open) until `Resume`.
    member this.Pause(i: int) = this.Signal(i, Signal.stop, "SIGSTOP")

    /// SIGCONT: node i runs again after `Pause`.
    member this.Resume(i: int) = this.Signal(i, Signal.cont, "SIGCONT")

    /// A chaos admin request to node i with the cluster's token (`/admin/partition?...`, `/admin/heal`).
    member this.Admin(i: int, pathAndQuery: string) =
        this.Send(i, HttpMethod.Post, "/admin/" + pathAndQuery, headers = [ "Authorization", $"Bearer {chaosToken}" ])

    /// Node i drops all Raft traffic to and from `peers` (its chaos endpoint), until `Heal i`.
    member this.Partition(i: int, peers: int list) =
        task {
            let! status, body, _ = this.Admin(i, "partition?peers=" + String.Join(",", peers))
            if status <> 200 then failwithf "partition of node %d failed: %d %s" i status body
        }

    /// Node i's partitions are removed.
    member this.Heal(i: int) =
        task {
            let! status, body, _ = this.Admin(i, "heal")
            if status <> 200 then failwithf "heal of node %d failed: %d %s" i status body
        }

    member this.Send(i: int, verb: HttpMethod, path: string, ?body: string, ?headers: (string * string) list) =
        task {
            use request = new HttpRequestMessage(verb, this.Url i + path)
            match body with
            | Some b -> request.Content <- new StringContent(b)
            | None -> ()
            for (k, v) in defaultArg headers [] do request.Headers.TryAddWithoutValidation(k, v) |> ignore
            use! response = http.SendAsync request
            let! text = response.Content.ReadAsStringAsync()
            let etag = match response.Headers.ETag with | null -> "" | e -> e.Tag
            return int response.StatusCode, text, etag
        }

    /// A write retried while it is refused for want of a leader (503) or its outcome is unknown (504): what a client does.
    member this.PutUntilDone(i: int, key: string, value: string) =
        Wait.untilSome $"PUT {key} through node {i} succeeds" Wait.standard (fun () ->
            task {
                let! status, _, etag = this.Send(i, HttpMethod.Put, $"/kv/{key}", value)
                return if status = 200 then Some etag else None
            })

    /// DELETE of `key` through node `via` answers 204, then a GET through `readVia` 404 and a second DELETE through `againVia` 404.
    member this.DeleteAndCheckGone(via: int, readVia: int, againVia: int, key: string) =
        task {
            let! deleted, _, _ = this.Send(via, HttpMethod.Delete, $"/kv/{key}")
            deleted |> should equal 204
            let! gone, _, _ = this.Send(readVia, HttpMethod.Get, $"/kv/{key}")
            gone |> should equal 404
            let! again, _, _ = this.Send(againVia, HttpMethod.Delete, $"/kv/{key}")
            again |> should equal 404
        }

    interface IDisposable with
        member _.Dispose() =
            for p in processes.Values do
                try (if not p.HasExited then Signal.kill(p.Id, Signal.cont) |> ignore; p.Kill(); p.WaitForExit 10_000 |> ignore) with _ -> ()
            http.Dispose()
            try Directory.Delete(root, true) with _ -> ()

[<Fact>]
let ``three server processes: writes on one node read on another, versions, compare-and-set and every bad input`` () =
    task {
        use c = new KvCluster()
        for i in 1 .. 3 do do! c.Start i
        let! etag = c.PutUntilDone(1, "greeting", "hello")
        let! status, body, readTag = c.Send(2, HttpMethod.Get, "/kv/greeting")
        (status, body, readTag) |> should equal (200, "hello", etag)
        // Compare-and-set: a stale version is refused with 412, the current one wins, create-only refuses an existing key.
        let! stale, problem, _ = c.Send(3, HttpMethod.Put, "/kv/greeting", "x", [ "If-Match", "\"1\"" ])
        (stale, problem.Contains "version mismatch") |> should equal (412, true)
        let! swapped, _, newTag = c.Send(3, HttpMethod.Put, "/kv/greeting", "bonjour", [ "If-Match", etag ])
        swapped |> should equal 200
        newTag |> should not' (equal etag)
        let! exists, _, _ = c.Send(2, HttpMethod.Put, "/kv/greeting", "y", [ "If-None-Match", "*" ])
        exists |> should equal 412
        let! created, _, _ = c.Send(2, HttpMethod.Put, "/kv/fresh", "y", [ "If-None-Match", "*" ])
        created |> should equal 200
        // Stale reads answer from the node's own state; both kinds see the swap once applied there.
        do! Wait.until "a stale read on node 1 sees the swap" Wait.standard (fun () ->
            let s, b, _ = c.Send(1, HttpMethod.Get, "/kv/greeting?consistency=stale").Result
            s = 200 && b = "bonjour")
        // Delete, then the key is gone everywhere and a second delete is 404.
        do! c.DeleteAndCheckGone(1, 3, 2, "fresh")
        let! _, listing, _ = c.Send(3, HttpMethod.Get, "/kv?prefix=gr")
        listing |> should haveSubstring "\"greeting\""
        // Bad input: each a problem document naming what is wrong.
        let! longKey, why, _ = c.Send(1, HttpMethod.Put, "/kv/" + String('k', 600), "v")
        (longKey, why.Contains "Kv:MaxKeyBytes") |> should equal (400, true)
        let! big, why, _ = c.Send(1, HttpMethod.Put, "/kv/big", String('v', 2000))
        (big, why.Contains "Kv:MaxValueBytes") |> should equal (413, true)
        let! badMatch, why, _ = c.Send(1, HttpMethod.Put, "/kv/greeting", "v", [ "If-Match", "nonsense" ])
        (badMatch, why.Contains "If-Match") |> should equal (400, true)
        let! badRead, _, _ = c.Send(1, HttpMethod.Get, "/kv/greeting?consistency=sometimes")
        badRead |> should equal 400
        // Membership changes need an admin credential, and this cluster has none (MembershipAuthTests has the rest).
        let! noCredential, why, _ = c.Send(1, HttpMethod.Delete, "/cluster/members/9")
        (noCredential, why.Contains "Kv:Chaos:Token") |> should equal (403, true)
        let! _, members, _ = c.Send(2, HttpMethod.Get, "/cluster/members")
        members |> should haveSubstring "\"raftEndpoint\""
        // The chaos endpoints are off unless configured: they do not exist, whatever the token.
        let! noChaos, _, _ = c.Admin(1, "heal")
        noChaos |> should equal 404
    }

[<Fact>]
let ``concurrent first writes of a key on three nodes make one group, and a node killed with SIGKILL loses no acknowledged write`` () =
    task {
        use c = new KvCluster()
        for i in 1 .. 3 do do! c.Start i
        let! firsts = Task.WhenAll [ for i in 1 .. 3 -> c.PutUntilDone(i, "shared", $"from {i}") ]
        firsts |> Array.distinct |> should haveLength 3 // three writes, three versions, one group
        let! _, listing, _ = c.Send(1, HttpMethod.Get, "/kv?prefix=shared")
        Text.RegularExpressions.Regex.Matches(listing, "\"key\"").Count |> should equal 1
        let acknowledged = Collections.Generic.Dictionary<string, string>()
        for k in 1 .. 20 do
            let key = $"key-{k}"
            let! _ = c.PutUntilDone(k % 3 + 1, key, $"v{k}")
            acknowledged[key] <- $"v{k}"
        c.Kill 1
        // Writes go on through the other two (keys whose leader was node 1 wait for an election).
        for k in 1 .. 20 do
            let key = $"key-{k}"
            let! _ = c.PutUntilDone(2, key, $"w{k}")
            acknowledged[key] <- $"w{k}"
        do! c.Start 1
        for KeyValue(key, value) in acknowledged do
            let! read = Wait.untilSome $"node 1 reads {key} after its restart" Wait.standard (fun () ->
                            task {
                                let! status, body, _ = c.Send(1, HttpMethod.Get, $"/kv/{key}")
                                return if status = 200 then Some body else None
                            })
            read |> should equal value
    }
