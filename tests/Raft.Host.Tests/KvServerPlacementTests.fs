/// The key-value server's placement settings, on three real processes (KvServerTests' cluster): `Kv:Placement=hash:8`
/// (eight groups shared by every key) and `Kv:ReplicationFactor=2` (each key's group on two of the three nodes, the
/// third forwarding), and the configuration errors naming both keys.
module Raft.Host.Tests.KvServerPlacementTests

open System
open System.Diagnostics
open System.Net.Http
open System.Text.Json
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.KvServerTests

/// The data groups (not the directory) node i runs, from its /raft/status.
let private dataGroups (c: KvCluster) (i: int) =
    task {
        let! _, body, _ = c.Send(i, HttpMethod.Get, "/raft/status")
        use doc = JsonDocument.Parse body
        return doc.RootElement.GetProperty("groups").EnumerateArray() |> Seq.map (fun g -> g.GetProperty("groupId").GetInt64()) |> Seq.filter ((<>) 0L) |> Set.ofSeq
    }

/// The keys (and their groups) a listing through node i answers.
let private listing (c: KvCluster) (i: int) (query: string) =
    task {
        let! status, body, _ = c.Send(i, HttpMethod.Get, "/kv?" + query)
        status |> should equal 200
        use doc = JsonDocument.Parse body
        return [ for e in doc.RootElement.EnumerateArray() -> e.GetProperty("key").GetString() |> nonNull, e.GetProperty("group").GetInt64() ]
    }

[<Fact>]
let ``hash:8 placement: many keys in eight groups, a delete keeps the group, listing by prefix, compare-and-set`` () =
    task {
        use c = new KvCluster([ "--Kv:Placement=hash:8" ])
        for i in 1 .. 3 do do! c.Start i
        let keys = [ for k in 1 .. 40 -> $"user-{k}" ]
        for k in 1 .. 40 do
            let! _ = c.PutUntilDone(k % 3 + 1, $"user-{k}", $"v{k}")
            ()
        let! groups = Wait.untilValue "every node runs the same eight groups" Wait.standard (fun () ->
                          [ for i in 1 .. 3 -> (dataGroups c i).Result ]) (fun sets -> sets |> List.distinct |> List.length = 1 && sets.Head.Count = 8)
        for k in [ 1; 17; 40 ] do
            let! status, body, _ = c.Send(k % 3 + 2 |> min 3, HttpMethod.Get, $"/kv/user-{k}")
            (status, body) |> should equal (200, $"v{k}")
        let! listed = listing c 2 "prefix=user-&limit=100"
        listed |> List.map fst |> should equal (keys |> List.sortWith (fun a b -> String.CompareOrdinal(a, b)))
        listed |> List.map snd |> List.distinct |> List.length |> should equal 8
        let! some = listing c 3 "prefix=user-1&limit=5"
        some |> List.map fst |> should equal [ "user-1"; "user-10"; "user-11"; "user-12"; "user-13" ]
        // Delete: the key goes, its group (shared with other keys) stays; the key can be created again.
        do! c.DeleteAndCheckGone(1, 2, 3, "user-7")
        for i in 1 .. 3 do
            let! after = dataGroups c i
            after |> should equal groups.Head
        let! afterList = listing c 1 "prefix=user-7"
        afterList |> List.map fst |> should be Empty
        let! created, _, etag = c.Send(2, HttpMethod.Put, "/kv/user-7", "back", [ "If-None-Match", "*" ])
        created |> should equal 200
        let! stale, _, _ = c.Send(1, HttpMethod.Put, "/kv/user-7", "x", [ "If-Match", "\"1\"" ])
        stale |> should equal 412
        let! swapped, _, _ = c.Send(1, HttpMethod.Put, "/kv/user-7", "swapped", [ "If-Match", etag ])
        swapped |> should equal 200
    }

[<Fact>]
let ``replication factor 2 of 3: each key's group on two nodes, every request through the third forwarded, listing from any node`` () =
    task {
        use c = new KvCluster([ "--Kv:ReplicationFactor=2" ])
        for i in 1 .. 3 do do! c.Start i
        let keys = [ for k in 1 .. 12 -> $"item-{k}" ]
        for k in 1 .. 12 do
            let! _ = c.PutUntilDone(k % 3 + 1, $"item-{k}", $"v{k}")
            ()
        // 12 groups, two replicas each: 24 replicas, 8 per node.
        let! hosted = Wait.untilValue "each node runs its 8 of the 12 groups" Wait.standard (fun () ->
                          [ for i in 1 .. 3 -> (dataGroups c i).Result ]) (fun sets -> sets |> List.forall (fun s -> s.Count = 8) && (Set.unionMany sets).Count = 12)
        // Every key through every node: the one outside the key's group sends the request on.
        for k in 1 .. 12 do
            for i in 1 .. 3 do
                let! status, body, _ = c.Send(i, HttpMethod.Get, $"/kv/item-{k}")
                (status, body) |> should equal (200, $"v{k}")
                let! stale, staleBody, _ = c.Send(i, HttpMethod.Get, $"/kv/item-{k}?consistency=stale")
                (stale, staleBody) |> should equal (200, $"v{k}")
        let! listed = listing c 1 "prefix=item-"
        listed |> List.map fst |> List.sort |> should equal (List.sort keys)
        let groupOf = listed |> Map.ofList
        // Writes, compare-and-set and delete through a node outside the group.
        for k in [ 2; 5; 11 ] do
            let key = $"item-{k}"
            let outsider = [ 1 .. 3 ] |> List.find (fun i -> not (hosted[i - 1].Contains groupOf[key]))
            let! status, _, etag = c.Send(outsider, HttpMethod.Put, $"/kv/{key}", "new")
            status |> should equal 200
            let! mismatch, _, _ = c.Send(outsider, HttpMethod.Put, $"/kv/{key}", "x", [ "If-Match", "\"1\"" ])
            mismatch |> should equal 412
            let! read, body, readTag = c.Send(outsider, HttpMethod.Get, $"/kv/{key}")
            (read, body, readTag) |> should equal (200, "new", etag)
            do! c.DeleteAndCheckGone(outsider, outsider, outsider, key)
    }

[<Fact>]
let ``bad placement and node host settings stop the server with the key named`` () =
    for setting, key in [ "--Kv:Placement=hash:0", "Kv:Placement"; "--Kv:Placement=ring", "Kv:Placement"; "--Kv:ReplicationFactor=4", "Kv:ReplicationFactor"
                          "--Kv:Raft:NodeId=5", "Kv:Raft:NodeId must be left unset"; "--Kv:Raft:ElectionTicks=1", "Kv:Raft:ElectionTicks" ] do
        let psi = ProcessStartInfo("dotnet", [ serverDll; "--Kv:NodeId=1"; "--Kv:RaftEndpoint=127.0.0.1:1"; "--Kv:HttpUrl=http://127.0.0.1:1"
                                               "--Kv:DataDirectory=/tmp/unused"; "--Kv:Members:0:Id=1"; "--Kv:Members:0:RaftEndpoint=127.0.0.1:1"
                                               "--Kv:Members:1:Id=2"; "--Kv:Members:1:RaftEndpoint=127.0.0.1:2"
                                               "--Kv:Members:2:Id=3"; "--Kv:Members:2:RaftEndpoint=127.0.0.1:3"; setting ],
                                   RedirectStandardError = true, RedirectStandardOutput = true)
        use p = Process.Start psi |> nonNull
        let errors = p.StandardError.ReadToEnd()
        p.WaitForExit 30_000 |> should equal true
        (setting, p.ExitCode, errors.Contains key) |> should equal (setting, 2, true)
