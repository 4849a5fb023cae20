/// The chaos terminal UI (examples/Raft.Tui): its key mapping, status model and action plans as plain data, then the
/// built program inside a real tmux session against three real key-value server processes, killing the leader by key.
module Raft.Host.Tests.TuiTests

open System
open System.Diagnostics
open System.Net.Http
open System.Text.Json
open System.Text.RegularExpressions
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Transport
open Raft.Tui
open Raft.Tests
open Raft.Host.Tests.ProcessCrashKit
open Raft.Host.Tests.KvServerTests

// ---- the pure parts -------------------------------------------------------------------------------------------------

/// A group as /raft/status serves it (the server's own records and JSON options, so the parser reads the real shape).
let private group (id: int64) (role: RaftRole) (term: int64) (leader: int64) (last: int64) (replicas: (int64 * int64) list) =
    GroupStatus(id, role, term, leader, Nullable(), 1L, last, last, last - 1L, 0L, false, null,
                [| for (node, lag) in replicas -> ReplicaStatus(node, last - lag, last - lag + 1L, 0, lag, "Replicate", true) |])

let private statusJson (node: int64) (paused: bool) (groups: GroupStatus list) =
    JsonSerializer.Serialize(NodeStatus(node, true, null, Array.ofList groups, TransportStats(0L, 0L, 0L, 0L, 0L, 0L, 0L, 0L), paused),
                             Raft.AspNetCore.RaftStatusEndpoint.JsonOptions)

let private urls = [ "http://127.0.0.1:9001"; "http://127.0.0.1:9002"; "http://127.0.0.1:9003/" ]

/// Three polled nodes: node 1 leads group 0 in term 2 (node 2 trails by 3, node 3 by 0), node 2 is a follower, and
/// node 3 is paused and still claims group 0 in its older term 1.
let private modelOfThree () =
    let m = ClusterModel(urls)
    m.Observe(0, NodeSnapshot.Parse(statusJson 1L false [ group 0L RaftRole.Leader 2L 1L 10L [ 2L, 3L; 3L, 0L ]; group 7L RaftRole.Follower 2L 2L 4L [] ]))
    m.Observe(1, NodeSnapshot.Parse(statusJson 2L false [ group 0L RaftRole.Follower 2L 1L 7L []; group 7L RaftRole.Leader 2L 2L 4L [ 1L, 0L ] ]))
    m.Observe(2, NodeSnapshot.Parse(statusJson 3L true [ group 0L RaftRole.Leader 1L 3L 10L [] ]))
    m.ObserveMembers(StatusPoller.ParseMembers """[{"id":1,"raftEndpoint":"127.0.0.1:7101","apiUrl":"http://127.0.0.1:9001"},
                                                  {"id":2,"raftEndpoint":"127.0.0.1:7102","apiUrl":"http://127.0.0.1:9002"},
                                                  {"id":3,"raftEndpoint":"127.0.0.1:7103","apiUrl":"http://127.0.0.1:9003"}]""")
    m.EndPollRound()
    m

let private options (start: string) (join: string) = TuiOptions(urls, "t", start, join, TimeSpan.FromMilliseconds 500.0)

let private only (plan: ChaosPlan) =
    plan.Refusal |> should equal (null: string)
    plan.Steps |> List.ofSeq

[<Fact>]
let ``tui keys: the seed's bindings, arrows and tab, digits select by id, anything else unbound`` () =
    let keys =
        [ 'k', TuiCommand.KillLeader; 'p', TuiCommand.Pause; 'r', TuiCommand.Resume; 'x', TuiCommand.Partition; 'h', TuiCommand.Heal
          'a', TuiCommand.HealAll; 'd', TuiCommand.Reset; 'f', TuiCommand.StartNode; 'j', TuiCommand.JoinNode; '+', TuiCommand.AddMember
          '-', TuiCommand.RemoveMember; 't', TuiCommand.TransferLeader; 'b', TuiCommand.Rebalance; 'q', TuiCommand.Quit; 'g', TuiCommand.NextGroup ]
    for key, command in keys do
        (key, KeyMap.Map(key, ConsoleKey.NoName)) |> should equal (key, Nullable command)
    KeyMap.Map('\000', ConsoleKey.UpArrow) |> should equal (Nullable TuiCommand.SelectPrevious)
    KeyMap.Map('\000', ConsoleKey.DownArrow) |> should equal (Nullable TuiCommand.SelectNext)
    KeyMap.Map('\t', ConsoleKey.Tab) |> should equal (Nullable TuiCommand.NextGroup)
    KeyMap.Map('z', ConsoleKey.Z) |> should equal (Nullable<TuiCommand>())
    KeyMap.Map('3', ConsoleKey.D3) |> should equal (Nullable<TuiCommand>())
    KeyMap.Digit '3' |> should equal (Nullable 3)
    KeyMap.Digit '0' |> should equal (Nullable<int>())

[<Fact>]
let ``tui model: the leader is the live claimant of the highest term, lag comes from the leader, a down node's view is dropped`` () =
    let m = modelOfThree ()
    m.Groups |> List.ofSeq |> should equal [ 0L; 7L ]
    m.FocusedGroup |> should equal (Nullable 0L)
    m.Leader(0L).Id |> should equal (Nullable 1L) // node 3 (paused) still says Leader, in term 1
    m.Nodes[2].State |> should equal NodeState.Paused
    m.Nodes[2].Url |> should equal "http://127.0.0.1:9003"
    [ for n in m.Nodes -> m.Lag(0L, n) ] |> should equal [ Nullable 0L; Nullable 3L; Nullable 0L ]
    m.NextGroup()
    m.FocusedGroup |> should equal (Nullable 7L)
    m.Leader(7L).Id |> should equal (Nullable 2L)
    m.NextGroup()
    m.FocusedGroup |> should equal (Nullable 0L)
    // Node 1 stops answering: its claim goes with it, and with no live leader the group has none.
    m.ObserveDown(0, "connection refused")
    m.Nodes[0].Id |> should equal (Nullable 1L)
    m.Leader(0L).Id |> should equal (Nullable 3L)
    m.Observe(2, NodeSnapshot.Parse(statusJson 3L false [ group 0L RaftRole.Follower 1L 0L 10L [] ]))
    m.Leader(0L) |> should equal (null: NodeView)
    m.Lag(0L, m.Nodes[1]) |> should equal (Nullable<int64>())
    m.EndPollRound()
    let log = [ for l in m.Log -> l.Text ]
    log |> should contain "group 0: node 1 leads (term 2)"
    log |> should contain "node 1 is down (connection refused)"
    log |> should contain "node 3 is up"
    List.last log |> should equal "group 0: no leader"
    // Selection wraps; a digit selects by node id.
    m.MoveSelection -1
    m.Selected |> should equal 2
    m.SelectId 2L |> should equal true
    m.SelectedNode.Id |> should equal (Nullable 2L)
    m.SelectId 9L |> should equal false
    for i in 1 .. 30 do m.AddLog $"line {i}"
    m.Log.Count |> should equal ClusterModel.LogCapacity
    m.Log[m.Log.Count - 1].Text |> should equal "line 30"

[<Fact>]
let ``tui status parsing: an array document takes its first node; a document without nodeId is refused`` () =
    let one = statusJson 4L false [ group 0L RaftRole.Candidate 5L 0L 3L [] ]
    let parsed = NodeSnapshot.Parse($"[{one}]")
    (parsed.NodeId, parsed.Groups[0].Role, parsed.Groups[0].Term, parsed.Groups[0].SnapshotIndex) |> should equal (4L, "Candidate", 5L, 0L)
    (fun () -> NodeSnapshot.Parse """{"groups":[]}""" |> ignore) |> should throw typeof<JsonException>

[<Fact>]
let ``tui plans: each chaos key becomes the admin request on the right node, or a refusal saying why`` () =
    let m = modelOfThree ()
    let o = options "scripts/kv-cluster.sh start-node {id}" "scripts/kv-cluster.sh join-node {id}"
    let plan command = ActionPlanner.Plan(command, m, o)
    only (plan TuiCommand.KillLeader) |> should equal [ HttpStep(HttpMethod.Post, "http://127.0.0.1:9001/admin/kill") :> ChaosStep ]
    m.SelectId 2L |> ignore
    only (plan TuiCommand.Pause) |> should equal [ HttpStep(HttpMethod.Post, "http://127.0.0.1:9002/admin/pause") :> ChaosStep ]
    only (plan TuiCommand.Partition) |> should equal [ HttpStep(HttpMethod.Post, "http://127.0.0.1:9002/admin/partition?peers=1,3") :> ChaosStep ]
    only (plan TuiCommand.TransferLeader) |> should equal [ HttpStep(HttpMethod.Post, "http://127.0.0.1:9001/admin/transfer-leader?group=0&to=2") :> ChaosStep ]
    // Membership changes go to the directory's leader (group 0's): removing node 2, then adding it back from its record.
    only (plan TuiCommand.RemoveMember) |> should equal [ HttpStep(HttpMethod.Delete, "http://127.0.0.1:9001/admin/members/2") :> ChaosStep ]
    (plan TuiCommand.AddMember).Refusal |> should equal "it is a member"
    m.ObserveMembers(StatusPoller.ParseMembers """[{"id":1,"raftEndpoint":"127.0.0.1:7101","apiUrl":"http://127.0.0.1:9001"},
                                                  {"id":3,"raftEndpoint":"127.0.0.1:7103","apiUrl":"http://127.0.0.1:9003"}]""")
    only (plan TuiCommand.AddMember)
    |> should equal [ HttpStep(HttpMethod.Post, "http://127.0.0.1:9001/admin/members", """{"id":2,"raftEndpoint":"127.0.0.1:7102","apiUrl":"http://127.0.0.1:9002"}""") :> ChaosStep ]
    // Heal all and rebalance: every live node, each on its own.
    let healAll = plan TuiCommand.HealAll
    (healAll.Independent, healAll.Steps.Count) |> should equal (true, 3)
    (plan TuiCommand.StartNode).Refusal |> should equal "no node is down"
    // Joining: the next id, its addresses from the members' layout (port = base + id), started, polled, then added.
    only (plan TuiCommand.JoinNode)
    |> should equal [ RunStep "scripts/kv-cluster.sh join-node 4" :> ChaosStep; WatchStep "http://127.0.0.1:9004"
                      HttpStep(HttpMethod.Post, "http://127.0.0.1:9001/admin/members", """{"id":4,"raftEndpoint":"127.0.0.1:7104","apiUrl":"http://127.0.0.1:9004"}""") ]
    // Node 1 (the leader) dies: f starts it (the selected node is up), k finds no leader, p on it is refused.
    m.ObserveDown(0, "connection refused")
    m.Observe(2, NodeSnapshot.Parse(statusJson 3L false [ group 0L RaftRole.Follower 3L 0L 10L [] ]))
    only (plan TuiCommand.StartNode) |> should equal [ RunStep "scripts/kv-cluster.sh start-node 1" :> ChaosStep ]
    (plan TuiCommand.KillLeader).Refusal |> should equal "group 0 has no leader now"
    m.SelectId 1L |> ignore
    (plan TuiCommand.Pause).Refusal |> should equal "node 1 is down"
    (ActionPlanner.Plan(TuiCommand.StartNode, m, options null null)).Refusal |> should equal "no --start command was given"

[<Fact>]
let ``tui options: --nodes is required and must be URLs; token, start, join and interval are read`` () =
    let parse (args: string list) = TuiOptions.Parse(Array.ofList args).ToTuple()
    let o, e = parse [ "--nodes"; "http://a:1, http://b:2"; "--token"; "tok"; "--start"; "s {id}"; "--interval"; "250" ]
    e |> should equal (null: string)
    (List.ofSeq o.Nodes, o.Token, o.StartCommand, o.JoinCommand, o.Interval)
    |> should equal ([ "http://a:1"; "http://b:2" ], "tok", "s {id}", (null: string), TimeSpan.FromMilliseconds 250.0)
    snd (parse []) |> should equal "--nodes is required"
    snd (parse [ "--nodes"; "a:1" ]) |> should equal "--nodes: 'a:1' is not an http(s) URL"
    snd (parse [ "--nodes"; "http://a:1"; "--interval"; "5" ]) |> should haveSubstring "--interval"
    snd (parse [ "--nodes"; "http://a:1"; "--colour"; "x" ]) |> should equal "unknown option --colour"
    snd (parse [ "--nodes" ]) |> should equal "--nodes needs a value"

// ---- the program in tmux against a real cluster -------------------------------------------------------------------

/// The built UI (beside this test assembly's configuration and framework).
let private tuiDll = builtDll "examples" "Raft.Tui"

/// Runs tmux on the server of socket file `socket` (the test's own, never the user's), failing when it cannot run.
let private tmux (socket: string) (args: string list) =
    let psi = ProcessStartInfo("tmux", [ "-S"; socket ] @ args, RedirectStandardOutput = true, RedirectStandardError = true)
    use p =
        try Process.Start psi |> nonNull
        with :? ComponentModel.Win32Exception -> failwith "tmux is not installed (apt-get install tmux): the terminal UI test drives the UI through it"
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEnd()
    p.WaitForExit()
    if p.ExitCode <> 0 then failwithf "tmux %s failed with %d: %s" (String.Join(" ", args)) p.ExitCode err
    out.Result

/// A detached tmux session 200x60 running `command`; its pane read with capture-pane, keys typed with send-keys.
type private TmuxSession(command: string list) =
    let socket = IO.Path.Combine(IO.Path.GetTempPath(), "raft-tui-test-" + Guid.NewGuid().ToString("N"))
    do tmux socket ([ "new-session"; "-d"; "-s"; "tui"; "-x"; "200"; "-y"; "60"; "--" ] @ command) |> ignore
    let clock = Stopwatch.StartNew()
    let mutable last, lastAt = "", TimeSpan.FromDays -1.0

    /// The pane's text; read at most every 100 ms (a wait polls faster than the UI redraws: no need for a tmux per poll).
    member _.Pane() =
        if clock.Elapsed - lastAt >= TimeSpan.FromMilliseconds 100.0 then
            last <- tmux socket [ "capture-pane"; "-p"; "-t"; "tui" ]
            lastAt <- clock.Elapsed
        last

    member _.Keys(keys: string) = tmux socket [ "send-keys"; "-t"; "tui"; keys ] |> ignore

    interface IDisposable with
        member _.Dispose() =
            // The server is gone already when the UI quit (its only session ended); the socket file stays behind.
            try tmux socket [ "kill-server" ] |> ignore with _ -> ()
            try IO.File.Delete socket with _ -> ()

/// Each node row of the nodes table: id -> state ("up", "down", "paused").
let private nodeRows (pane: string) =
    Regex.Matches(pane, @"│\s*(\d+)\s*│\s*http://127\.0\.0\.1:\d+\s*│\s*(\w+)")
    |> Seq.map (fun m -> int m.Groups[1].Value, m.Groups[2].Value)
    |> Map.ofSeq

/// The leader the headline names for group 0.
let private headlineLeader (pane: string) =
    let m = Regex.Match(pane, @"group 0: leader node (\d+) \(term (\d+)\)")
    if m.Success then Some(int m.Groups[1].Value, int64 m.Groups[2].Value) else None

[<Fact>]
let ``tui in tmux: three kv nodes and the leader shown, k kills the leader, the pane shows it down and a new leader elected`` () =
    task {
        if not (IO.File.Exists tuiDll) then failwithf "the terminal UI is not built at %s" tuiDll
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:02" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let nodes = String.Join(",", [ for i in 1 .. 3 -> c.Url i ])
        use session = new TmuxSession([ "dotnet"; tuiDll; "--nodes"; nodes; "--token"; chaosToken ])
        let deadline = TimeSpan.FromSeconds 60.0
        let! first =
            Wait.untilValue "the pane shows three nodes up and a leader of group 0" deadline session.Pane (fun pane ->
                let rows = nodeRows pane
                rows.Count = 3 && rows |> Map.forall (fun _ s -> s = "up") && (headlineLeader pane).IsSome)
        let oldLeader, oldTerm = (headlineLeader first).Value
        session.Keys "k"
        let! after =
            Wait.untilValue $"the pane shows node {oldLeader} down and another leader elected" deadline session.Pane (fun pane ->
                let rows = nodeRows pane
                rows.TryFind oldLeader = Some "down"
                && (match headlineLeader pane with Some (l, t) -> l <> oldLeader && t > oldTerm | None -> false))
        after |> should haveSubstring $"/admin/kill → 202 {{\"killed\":{oldLeader}}}"
        let rows = nodeRows after
        rows |> Map.filter (fun id _ -> id <> oldLeader) |> Map.forall (fun _ s -> s = "up") |> should equal true
        // The kill was real: the old leader's process is gone.
        do! Wait.until $"node {oldLeader}'s process exits" Wait.standard (fun () ->
            try (Process.GetProcessById(c.Pid oldLeader)).HasExited with :? ArgumentException -> true)
        session.Keys "q"
    }

/// Each node row of the nodes table: id -> (role in group 0, term), as the role and term columns show them.
let private nodeRoles (pane: string) =
    Regex.Matches(pane, @"│\s*(\d+)\s*│\s*http://127\.0\.0\.1:\d+\s*│[^│]*│[^│]*│[^│]*│[^│]*│\s*(\w+)[ *]*│\s*(\d+)\s*│")
    |> Seq.map (fun m -> int m.Groups[1].Value, (m.Groups[2].Value, int64 m.Groups[3].Value))
    |> Map.ofSeq

/// The peers node i's transport filter cuts it from (inbound, outbound), from its /admin/state.
let private partitionsOf (c: KvCluster) (i: int) =
    task {
        let! status, state, _ = c.Send(i, HttpMethod.Get, "/admin/state", headers = [ "Authorization", $"Bearer {chaosToken}" ])
        if status <> 200 then failwithf "/admin/state of node %d answered %d: %s" i status state
        use doc = JsonDocument.Parse state
        let partitions = doc.RootElement.GetProperty "partitions"
        let ids (way: string) = [ for p in partitions.GetProperty(way).EnumerateArray() -> p.GetInt32() ]
        return ids "inbound", ids "outbound"
    }

[<Fact>]
let ``tui in tmux: x partitions the selected leader from its peers, another leader is elected; h heals it and it follows in the new term`` () =
    task {
        if not (IO.File.Exists tuiDll) then failwithf "the terminal UI is not built at %s" tuiDll
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:02" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let nodes = String.Join(",", [ for i in 1 .. 3 -> c.Url i ])
        use session = new TmuxSession([ "dotnet"; tuiDll; "--nodes"; nodes; "--token"; chaosToken ])
        let deadline = TimeSpan.FromSeconds 60.0
        let! first =
            Wait.untilValue "the pane shows three nodes up and a leader of group 0" deadline session.Pane (fun pane ->
                let rows = nodeRows pane
                rows.Count = 3 && rows |> Map.forall (fun _ s -> s = "up") && (headlineLeader pane).IsSome)
        let oldLeader, oldTerm = (headlineLeader first).Value
        let peers = String.Join(",", [ 1; 2; 3 ] |> List.filter ((<>) oldLeader))
        // Its digit selects the leader's row; x cuts it off from the other two.
        session.Keys(string oldLeader)
        session.Keys "x"
        let! cut =
            Wait.untilValue $"the pane shows node {oldLeader}'s partition answered and another leader elected" deadline session.Pane (fun pane ->
                pane.Contains $"/admin/partition?peers={peers} → 200"
                && (match headlineLeader pane with Some (l, t) -> l <> oldLeader && t > oldTerm | None -> false))
        let newLeader, newTerm = (headlineLeader cut).Value
        // The partition is real: the node's own filter lists both peers each way, and it still answers HTTP (up).
        let others = [ for i in 1 .. 3 do if i <> oldLeader then i ]
        let! during = partitionsOf c oldLeader
        during |> should equal (others, others)
        (nodeRows cut).TryFind oldLeader |> should equal (Some "up")
        // h on the same (still selected) node heals it: it hears the new leader and follows it in the new term.
        session.Keys "h"
        let! healed =
            Wait.untilValue $"the pane shows node {oldLeader} healed and following node {newLeader}" deadline session.Pane (fun pane ->
                pane.Contains "/admin/heal → 200"
                && (match (nodeRoles pane).TryFind oldLeader with Some ("Follower", t) -> t >= newTerm | _ -> false))
        healed |> should haveSubstring "\"inbound\":[],\"outbound\":[]"
        let! afterwards = partitionsOf c oldLeader
        afterwards |> should equal (List.empty<int>, List.empty<int>)
        session.Keys "q"
    }
