/// The shared chaos admin endpoints on the queue server (the kv server's are in KvChaosTests): behind the token, and
/// a paused queue leader is replaced while publishes go on through the other nodes.
module Raft.Host.Tests.QueueChaosTests

open System
open System.Net.Http
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.QueueClusterKit

let private token = "queue-chaos-token-0123456789"
let private bearer = [ "Authorization", $"Bearer {token}" ]

[<Fact>]
let ``queue server chaos: no token 401, wrong token 403; a paused queue leader is replaced and publishes commit through the others`` () =
    task {
        use c = new QueueCluster(3, [ "--Queue:Chaos:Enabled=true"; $"--Queue:Chaos:Token={token}" ])
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/work")
        created.Status |> should equal 200
        let! none = c.Send(1, HttpMethod.Get, "/admin/state")
        none.Status |> should equal 401
        let! wrong = c.Send(1, HttpMethod.Get, "/admin/state", headers = [ "Authorization", "Bearer not-the-token-at-all-000" ])
        wrong.Status |> should equal 403
        let! state = c.Send(1, HttpMethod.Get, "/admin/state", headers = bearer)
        state.Status |> should equal 200
        let! group = c.GroupOf(1, "work")
        let! leader = c.WaitLeaderOf(1, group)
        let! paused = c.Send(leader, HttpMethod.Post, "/admin/pause", headers = bearer)
        paused.Status |> should equal 200
        let other = [ 1; 2; 3 ] |> List.find ((<>) leader)
        // The two others elect a new leader of the queue's group; a publish through them commits.
        let! published = c.UntilAnswered(other, HttpMethod.Post, "/queues/work/messages", "while paused")
        published.Status |> should equal 201
        let! newLeader = c.WaitLeaderOf(other, group)
        newLeader |> should not' (equal leader)
        let! resumed = c.Send(leader, HttpMethod.Post, "/admin/resume", headers = bearer)
        resumed.Status |> should equal 200
        // The resumed node serves again and sees the message published while it was paused.
        let! got = c.UntilAnswered(leader, HttpMethod.Post, "/queues/work/receive?max=1&wait=5s")
        (got.Status, got.Body.Contains "while paused") |> should equal (200, true)
    }
