/// The chaos admin endpoints on real key-value server processes: refused without the right token, bad parameters
/// named, a partition that stops a node from committing until it is healed, and a leadership transfer.
module Raft.Host.Tests.KvChaosTests

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
        let! read = Wait.untilSome "node 3 reads the write made while it was cut off" Wait.standard (fun () ->
                        task {
                            let! s, body, _ = c.Send(3, HttpMethod.Get, "/kv/k")
                            return if s = 200 then Some body else None
                        })
        read |> should equal "two"
        // Leadership of the directory group moves where it is asked to, when asked of its leader.
        let! leader = Wait.untilSome "node 1 knows the directory's leader" Wait.standard (fun () ->
                          task {
                              let! l, _ = status c 1 0L
                              return l |> Option.filter (fun l -> l > 0L)
                          })
        let target = if leader = 1L then 2L else 1L
        let! badGroup, why, _ = c.Admin(int leader, $"transfer-leader?group=zero&to={target}")
        (badGroup, why.Contains "\"parameter\":\"group\"") |> should equal (400, true)
        let! moved, body, _ = c.Admin(int leader, $"transfer-leader?group=0&to={target}")
        (moved, body) |> should equal (200, $"{{\"group\":0,\"leader\":{target}}}")
    }
