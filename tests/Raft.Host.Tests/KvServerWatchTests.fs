/// The key-value server's long poll, `GET /kv/{key}?wait=V&timeout=T`, on three real server processes: it answers when
/// another client changes the key (and is still pending until then), 304 with the unchanged version at the timeout,
/// and 400 naming the parameter for a bad wait or timeout.
module Raft.Host.Tests.KvServerWatchTests

open System
open System.Diagnostics
open System.Net.Http
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.KvServerTests

let private get (c: KvCluster) i path = c.Send(i, HttpMethod.Get, path)

[<Fact>]
let ``a long poll is pending until another node writes the key, then answers with the new value; unchanged it answers 304 at its timeout`` () =
    task {
        use c = new KvCluster()
        for i in 1 .. 3 do do! c.Start i
        let! first = c.PutUntilDone(1, "watched", "one")
        let version = first.Trim '"'
        let poll = get c 2 $"/kv/watched?wait={version}&timeout=10s"
        // A second poll of the same version on the same node times out first: until then, neither has answered.
        let clock = Stopwatch.StartNew()
        let! timedOut = get c 2 $"/kv/watched?wait={version}&timeout=1s"
        timedOut |> should equal (304, "", first)
        clock.Elapsed |> should be (greaterThanOrEqualTo (TimeSpan.FromMilliseconds 950.0))
        clock.Elapsed |> should be (lessThan (TimeSpan.FromSeconds 5.0))
        poll.IsCompleted |> should equal false
        let! second = c.PutUntilDone(3, "watched", "two")
        let! answered = poll
        answered |> should equal (200, "two", second)
        // An old version answers at once, like a plain GET.
        let! behind = get c 1 $"/kv/watched?wait={version}&timeout=10s"
        behind |> should equal (200, "two", second)
    }

[<Fact>]
let ``a stale long poll with wait=0 sees the key created, and a poll of its version sees it deleted (404 with version 0)`` () =
    task {
        use c = new KvCluster()
        for i in 1 .. 3 do do! c.Start i
        let! _ = c.PutUntilDone(1, "warm-up", "x") // the cluster has leaders
        let created = get c 3 "/kv/later?wait=0&timeout=10s&consistency=stale"
        let! absent = get c 3 "/kv/later?wait=0&timeout=200ms&consistency=stale"
        absent |> should equal (304, "", "\"0\"")
        created.IsCompleted |> should equal false
        let! version = c.PutUntilDone(2, "later", "here")
        let! seen = created
        seen |> should equal (200, "here", version)
        let deleted = get c 1 $"/kv/later?wait={version.Trim '"'}&timeout=10s"
        let! unchanged = get c 1 $"/kv/later?wait={version.Trim '"'}&timeout=200ms"
        unchanged |> should equal (304, "", version)
        deleted.IsCompleted |> should equal false
        let! status, _, _ = c.Send(2, HttpMethod.Delete, "/kv/later")
        status |> should equal 204
        let! gone, problem, tag = deleted
        (gone, problem.Contains "no such key", tag) |> should equal (404, true, "\"0\"")
    }

[<Fact>]
let ``bad wait and timeout values are 400 problem documents naming the parameter, and the timeout has a cap`` () =
    task {
        use c = new KvCluster()
        do! c.Start 1
        for query, title, says in [ "wait=abc", "bad wait", "'abc'"
                                    "wait=-1", "bad wait", "'-1'"
                                    "timeout=5s", "bad wait", "a timeout needs a wait"
                                    "wait=3&timeout=soon", "bad timeout", "'soon'"
                                    "wait=3&timeout=-1s", "bad timeout", "'-1s'"
                                    "wait=3&timeout=10m", "bad timeout", "at most 120s" ] do
            let! status, body, _ = get c 1 $"/kv/k?{query}"
            (query, status, body.Contains $"\"title\":\"{title}\"", body.Contains says) |> should equal (query, 400, true, true)
        use! response = c.Http.GetAsync(c.Url 1 + "/kv/k?wait=x")
        (nonNull response.Content.Headers.ContentType).MediaType |> should equal "application/problem+json"
    }
