/// The chaos admin endpoints on real key-value server processes: refused without the right token, bad parameters
/// named, a partition that stops a node from committing until it is healed, and a leadership transfer.
module Raft.Host.Tests.KvChaosTests

open System
open System.Net.Http
open System.Text.Json
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.KvServerTests

/// What node i's /raft/status says: the leader it knows of group `group`, and its transport's partitioned count.
let private status (c: KvCluster) (i: int) (group: int64) =
    task {
        let! _, body, _ = c.Send(i, HttpMethod.Get, "/raft/status")
        use doc = JsonDocument.Parse body
        let root = doc.RootElement
        let leader =
            root.GetProperty("groups").EnumerateArray()
            |> Seq.tryFind (fun g -> g.GetProperty("groupId").GetInt64() = group)
            |> Option.map (fun g -> g.GetProperty("leader").GetInt64())
        return leader, root.GetProperty("transport").GetProperty("partitioned").GetInt64()
    }

/// The value of `key` read (linearizably) through node i, once a read there answers 200 (`why` names the wait).
let private readThrough (c: KvCluster) (i: int) (key: string) (why: string) =
    Wait.untilSome $"node {i} reads {key} {why}" Wait.standard (fun () ->
        task {
            let! s, body, _ = c.Send(i, HttpMethod.Get, $"/kv/{key}")
            return if s = 200 then Some body else None
        })

/// The leader of the directory group that node i knows of (waits until it knows one).
let private directoryLeader (c: KvCluster) (i: int) =
    Wait.untilSome $"node {i} knows the directory's leader" Wait.standard (fun () ->
        task {
            let! l, _ = status c i 0L
            return l |> Option.filter (fun l -> l > 0L)
        })

[<Fact>]
let ``chaos endpoints: 401 without a token, 403 with a wrong one, 400 naming a bad parameter; a partitioned node cannot commit until healed; leadership moves on request`` () =
    task {
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:02" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let! _ = c.PutUntilDone(1, "k", "one")
        let! none, _, _ = c.Send(1, HttpMethod.Post, "/admin/heal")
        none |> should equal 401
        let! wrong, _, _ = c.Send(1, HttpMethod.Post, "/admin/heal", headers = [ "Authorization", "Bearer not-the-cluster-token" ])
        wrong |> should equal 403
        for query, parameter in [ "partition?peers=2,x", "peers"; "partition?peers=3", "peers"; "partition", "peers"
                                  "partition?peers=1&direction=sideways", "direction" ] do
            let! bad, why, _ = c.Admin(3, query)
            (query, bad, why.Contains $"\"parameter\":\"{parameter}\"") |> should equal (query, 400, true)
        // Node 3 cut off from both others: a write through it is never acknowledged; the other two go on committing.
        do! c.Partition(3, [ 1; 2 ])
        let! cut, _, _ = c.Send(3, HttpMethod.Put, "/kv/k", "three")
        cut |> should not' (equal 200)
        let! _ = c.PutUntilDone(1, "k", "two")
        let! _, partitioned = status c 3 0L
        (partitioned > 0L) |> should equal true
        do! c.Heal 3
        let! read = readThrough c 3 "k" "the write made while it was cut off"
        read |> should equal "two"
        // Leadership of the directory group moves where it is asked to, when asked of its leader.
        let! leader = directoryLeader c 1
        let target = if leader = 1L then 2L else 1L
        let! badGroup, why, _ = c.Admin(int leader, $"transfer-leader?group=zero&to={target}")
        (badGroup, why.Contains "\"parameter\":\"group\"") |> should equal (400, true)
        let! moved, body, _ = c.Admin(int leader, $"transfer-leader?group=0&to={target}")
        (moved, body) |> should equal (200, $"{{\"group\":0,\"leader\":{target}}}")
    }

/// What node i's /admin/state says: paused, and each group's (role, leader, term) by id.
let private adminState (c: KvCluster) (i: int) =
    task {
        let! status, body, _ = c.Send(i, HttpMethod.Get, "/admin/state", headers = [ "Authorization", $"Bearer {chaosToken}" ])
        if status <> 200 then failwithf "GET /admin/state on node %d: %d %s" i status body
        use doc = JsonDocument.Parse body
        let root = doc.RootElement
        let groups =
            root.GetProperty("groups").EnumerateArray()
            |> Seq.map (fun g ->
                let role = g.GetProperty("role").GetString()
                g.GetProperty("groupId").GetInt64(), (role, g.GetProperty("leader").GetInt64(), g.GetProperty("term").GetInt64()))
            |> Map.ofSeq
        return root.GetProperty("paused").GetBoolean(), groups
    }

/// Signals to a server process.
module private Posix =
    [<Runtime.InteropServices.DllImport("libc", SetLastError = true)>]
    extern int kill(int pid, int signal)
    let sigterm = 15

/// Whether node i's process is gone.
let private exited (c: KvCluster) (i: int) =
    try
        use p = System.Diagnostics.Process.GetProcessById(c.Pid i)
        p.HasExited
    with :? System.ArgumentException -> true

[<Fact>]
let ``chaos pause: a paused leader holds requests (503 after the timeout), the others elect a new one, and resumed it follows`` () =
    task {
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:02"; "--Kv:Placement=hash:2" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let! _ = c.PutUntilDone(1, "k", "one")
        let! leader = directoryLeader c 1
        let paused = int leader
        let other = if paused = 1 then 2 else 1
        let! _, before = adminState c paused
        let _, _, termBefore = before[0L]
        let! p, _, _ = c.Admin(paused, "pause")
        p |> should equal 200
        let! isPaused, _ = adminState c paused
        isPaused |> should equal true
        let! _, body, _ = c.Send(paused, HttpMethod.Get, "/raft/status")
        body |> should haveSubstring "\"paused\":true"
        // A request to the paused node is held, then refused: the node answers nothing else while frozen.
        let! held, why, _ = c.Send(paused, HttpMethod.Get, "/kv/k")
        (held, why.Contains "paused") |> should equal (503, true)
        // The others replace it as the directory's leader and go on committing.
        do! Wait.until $"node {other} knows a directory leader other than the paused node {paused}" Wait.standard (fun () ->
            let l, _ = (status c other 0L).Result
            l.IsSome && l.Value > 0L && l.Value <> int64 paused)
        let! _ = c.PutUntilDone(other, "k", "two")
        let! r, _, _ = c.Admin(paused, "resume")
        r |> should equal 200
        // Resumed, it learns the newer term (the balancer may hand it a leadership again later), and reads the write
        // made while it was frozen.
        do! Wait.until $"node {paused} learns a directory term after {termBefore}" Wait.standard (fun () ->
            let p, groups = (adminState c paused).Result
            not p && (match groups.TryFind 0L with Some (_, l, term) -> l > 0L && term > termBefore | None -> false))
        let! read = readThrough c paused "k" "the write made while it was paused"
        read |> should equal "two"
        // A paused node still stops on SIGTERM (it is resumed to hand off and finish its writes).
        let! again, _, _ = c.Admin(paused, "pause")
        again |> should equal 200
        if Posix.kill(c.Pid paused, Posix.sigterm) <> 0 then failwith "SIGTERM failed"
        do! Wait.until $"the paused node {paused} exits on SIGTERM" (TimeSpan.FromSeconds 60.0) (fun () -> exited c paused)
    }

[<Fact>]
let ``chaos kill: 202, then the process dies at once and restarts on its files`` () =
    task {
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:02" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let! _ = c.PutUntilDone(2, "k", "before")
        let! killed, body, _ = c.Admin(3, "kill")
        (killed, body) |> should equal (202, "{\"killed\":3}")
        do! Wait.until "node 3's process exits" Wait.standard (fun () -> exited c 3)
        let! _ = c.PutUntilDone(1, "k", "after")
        do! c.Start 3
        let! read = readThrough c 3 "k" "the write made while it was dead"
        read |> should equal "after"
    }

[<Fact>]
let ``chaos reset: the node leaves every group, dies, wipes its data, rejoins and is caught up by snapshot; no acknowledged write is lost`` () =
    task {
        // Snapshots every 10 entries with nothing kept behind: the wiped node can only be caught up from snapshots.
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:03"; "--Kv:Placement=hash:3"; "--Kv:Raft:SnapshotEntries=10"
                                "--Kv:Raft:CompactionTrailing=0" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let acknowledged = Collections.Generic.Dictionary<string, string>()
        for k in 1 .. 40 do
            let! _ = c.PutUntilDone(k % 3 + 1, $"key-{k % 20}", $"v{k}")
            acknowledged[$"key-{k % 20}"] <- $"v{k}"
        let! reset, body, _ = c.Admin(3, "reset")
        (reset, body.Contains "\"reset\":3", body) |> should equal (202, true, body)
        do! Wait.until "node 3's process exits after its reset" Wait.standard (fun () -> exited c 3)
        let! _, members, _ = c.Send(1, HttpMethod.Get, "/cluster/members")
        members |> should not' (haveSubstring "\"id\":3")
        // Writes while it is away.
        for k in 1 .. 10 do
            let! _ = c.PutUntilDone(k % 2 + 1, $"key-{k}", $"w{k}")
            acknowledged[$"key-{k}"] <- $"w{k}"
        do! c.Start 3
        do! Wait.until "node 3 is a member again" (TimeSpan.FromSeconds 60.0) (fun () ->
            let _, m, _ = c.Send(1, HttpMethod.Get, "/cluster/members").Result
            m.Contains "\"id\":3")
        // Its own state, read locally, holds every key's value again.
        for KeyValue(key, value) in acknowledged do
            do! Wait.until $"node 3's own state holds {key} = {value}" (TimeSpan.FromSeconds 60.0) (fun () ->
                let s, b, _ = c.Send(3, HttpMethod.Get, $"/kv/{key}?consistency=stale").Result
                s = 200 && b = value)
        // Caught up by snapshot: its data groups hold snapshots it never made from its own (wiped) log.
        let! _, status, _ = c.Send(3, HttpMethod.Get, "/raft/status")
        use doc = JsonDocument.Parse status
        let snapshots =
            doc.RootElement.GetProperty("groups").EnumerateArray()
            |> Seq.filter (fun g -> g.GetProperty("groupId").GetInt64() > 0L && g.GetProperty("snapshotIndex").GetInt64() > 0L)
            |> Seq.length
        (snapshots > 0) |> should equal true
        // Every acknowledged write is readable from every node, linearizably.
        for i in 1 .. 3 do
            for KeyValue(key, value) in acknowledged do
                let! read = readThrough c i key ""
                (i, key, read) |> should equal (i, key, value)
        // The wipe marker is gone once it is a member again: a later restart is an ordinary one.
        c.Kill 3
        do! c.Start 3
        let! again = readThrough c 3 "key-1" "after an ordinary restart"
        again |> should equal acknowledged["key-1"]
    }

[<Fact>]
let ``chaos state, rebalance and members under /admin, with bad input named`` () =
    task {
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:02"; "--Kv:Placement=hash:3" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let! _ = c.PutUntilDone(1, "k", "v")
        let! paused, groups = adminState c 2
        (paused, groups.ContainsKey 0L, groups.Count) |> should equal (false, true, 4)
        let! rebalanced, body, _ = c.Admin(1, "rebalance")
        (rebalanced, body.Contains "\"transfers\":") |> should equal (200, true)
        let auth = [ "Authorization", $"Bearer {chaosToken}" ]
        let! listed, members, _ = c.Send(1, HttpMethod.Get, "/admin/members", headers = auth)
        (listed, members.Contains "\"id\":3") |> should equal (200, true)
        let! badBody, why, _ = c.Send(1, HttpMethod.Post, "/admin/members", "{\"id\":0}", headers = auth @ [ "Content-Type", "application/json" ])
        (badBody, why.Contains "\"parameter\":\"body\"") |> should equal (400, true)
        let! badId, why, _ = c.Send(1, HttpMethod.Delete, "/admin/members/x", headers = auth)
        (badId, why.Contains "\"parameter\":\"id\"") |> should equal (400, true)
        let! noMember, _, _ = c.Send(1, HttpMethod.Delete, "/admin/members/9", headers = auth)
        noMember |> should equal 404
        let! noToken, _, _ = c.Send(1, HttpMethod.Get, "/admin/state")
        noToken |> should equal 401
    }

[<Fact>]
let ``chaos reset with a member down: 504 naming it and the data kept; called again once the member is back, it finishes and the node rejoins`` () =
    task {
        use c = new KvCluster([ "--Kv:RequestTimeout=00:00:03"; "--Kv:Chaos:ResetTimeout=00:00:05" ], chaos = true)
        for i in 1 .. 3 do do! c.Start i
        let! _ = c.PutUntilDone(1, "k", "v")
        c.Kill 2
        let! refused, why, _ = c.Admin(3, "reset")
        (refused, why.Contains "node 2 did not answer") |> should equal (504, true)
        exited c 3 |> should equal false
        do! c.Start 2
        let! reset, body, _ = c.Admin(3, "reset")
        (reset, body.Contains "\"reset\":3", body) |> should equal (202, true, body)
        do! Wait.until "node 3's process exits after its reset" Wait.standard (fun () -> exited c 3)
        do! c.Start 3
        do! Wait.until "node 3 is a member again and holds k" (TimeSpan.FromSeconds 60.0) (fun () ->
            let s, b, _ = c.Send(3, HttpMethod.Get, "/kv/k?consistency=stale").Result
            s = 200 && b = "v")
    }
