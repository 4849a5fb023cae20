/// Membership changes on the example servers (`POST /cluster/members`, `DELETE /cluster/members/{id}`) need the admin
/// credentials (`Section:Chaos:Token` or a client certificate rule) whether or not the chaos endpoints are on: none
/// 401, wrong 403, right 200 / 204 and the member really added / removed in every node's directory; with no credential
/// configured, 403 naming the key to set. `GET /cluster/members` stays open. Real server processes on 127.0.0.1.
module Raft.Host.Tests.MembershipAuthTests

open System
open System.Net.Http
open System.Net.Http.Headers
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.AspNetCore
open Raft.Host.Tests.ProcessCrashKit
open Raft.Host.Tests.KvServerTests
open Raft.Host.Tests.QueueClusterKit

let private token = "membership-admin-token-0123"

/// A request with an optional JSON body and bearer token: status, body and media type.
let private call (http: HttpClient) (url: string) (verb: HttpMethod) (body: string option) (bearer: string option) =
    task {
        use request = new HttpRequestMessage(verb, url)
        body |> Option.iter (fun b -> request.Content <- new StringContent(b, Text.Encoding.UTF8, "application/json"))
        bearer |> Option.iter (fun b -> request.Headers.Authorization <- AuthenticationHeaderValue("Bearer", b))
        use! response = http.SendAsync request
        let! text = response.Content.ReadAsStringAsync()
        let media = match response.Content.Headers.ContentType with | null -> "" | t -> string t.MediaType
        return int response.StatusCode, text, media
    }

/// Whether node `url`'s directory lists member `id` (read without credentials: listing is open).
let private lists (http: HttpClient) (url: string) (id: int) =
    let status, body, _ = (call http (url + "/cluster/members") HttpMethod.Get None None).Result
    if status <> 200 then failwithf "GET %s/cluster/members answered %d: %s" url status body
    body.Contains $"\"id\":{id},"

/// A change with the right token, retried while no leader is known yet (503): the status it ends with.
let private withToken (http: HttpClient) (url: string) (verb: HttpMethod) (body: string option) =
    Wait.untilSome $"{verb} {url} with the token answers" (TimeSpan.FromSeconds 60.0) (fun () ->
        task {
            let! status, text, _ = call http url verb body (Some token)
            return if status = 503 then None else Some(status, text)
        })

/// The whole sequence on a running 3-node cluster (`url i`) configured with `token` and no chaos endpoints.
let private changesNeedTheToken (http: HttpClient) (url: int -> string) =
    task {
        let members = url 1 + "/cluster/members"
        let ports = choosePorts 2
        let newcomer = $"{{\"id\":4,\"raftEndpoint\":\"127.0.0.1:{ports[0]}\",\"apiUrl\":\"http://127.0.0.1:{ports[1]}\"}}"
        let! none, why, noneType = call http members HttpMethod.Post (Some newcomer) None
        (none, noneType, why.Contains "Bearer") |> should equal (401, "application/problem+json", true)
        let! wrong, _, wrongType = call http members HttpMethod.Post (Some newcomer) (Some "not-the-membership-token")
        (wrong, wrongType) |> should equal (403, "application/problem+json")
        // Refused before the body is parsed: a broken body without credentials is 401, not 400.
        let! broken, _, _ = call http members HttpMethod.Post (Some "{") None
        broken |> should equal 401
        lists http (url 2) 4 |> should equal false
        let! added, body = withToken http members HttpMethod.Post (Some newcomer)
        (added, body.Contains "\"id\":4,") |> should equal (200, true)
        for i in 1 .. 3 do
            do! Wait.until $"node {i}'s directory lists node 4" Wait.standard (fun () -> lists http (url i) 4)
        // Removing: the same three answers, and node 4 leaves every node's directory.
        let one = members + "/4"
        let! none, _, _ = call http one HttpMethod.Delete None None
        let! wrong, _, _ = call http one HttpMethod.Delete None (Some "not-the-membership-token")
        (none, wrong, lists http (url 3) 4) |> should equal (401, 403, true)
        let! removed, _ = withToken http one HttpMethod.Delete None
        removed |> should equal 204
        for i in 1 .. 3 do
            do! Wait.until $"node {i}'s directory no longer lists node 4" Wait.standard (fun () -> not (lists http (url i) 4))
        lists http (url 1) 1 |> should equal true
    }

/// With no credential configured: 403 as a problem naming `key`, with or without a bearer token.
let private refusedNamingTheKey (http: HttpClient) (url: string) (key: string) =
    task {
        for bearer in [ None; Some token ] do
            let! posted, why, media = call http (url + "/cluster/members") HttpMethod.Post (Some "{\"id\":9,\"raftEndpoint\":\"127.0.0.1:1\"}") bearer
            (posted, media, why.Contains key, why) |> should equal (403, "application/problem+json", true, why)
            let! deleted, why, media = call http (url + "/cluster/members/1") HttpMethod.Delete None bearer
            (deleted, media, why.Contains key, why) |> should equal (403, "application/problem+json", true, why)
    }

[<Fact>]
let ``kv server: membership changes need Kv:Chaos:Token with the chaos endpoints off; none 401, wrong 403, right adds and removes the member`` () =
    task {
        use c = new KvCluster([ $"--Kv:Chaos:Token={token}"; "--Kv:RequestTimeout=00:00:10" ])
        for i in 1 .. 3 do do! c.Start i
        do! changesNeedTheToken c.Http c.Url
        // The token alone does not turn the chaos endpoints on.
        let! heal, _, _ = c.Admin(1, "heal")
        heal |> should equal 404
    }

[<Fact>]
let ``kv server: with no admin credential configured, membership changes answer 403 naming Kv:Chaos:Token`` () =
    task {
        use c = new KvCluster()
        do! c.Start 1
        do! refusedNamingTheKey c.Http (c.Url 1) "Kv:Chaos:Token"
    }

[<Fact>]
let ``queue server: membership changes need Queue:Chaos:Token; none 401, wrong 403, right adds and removes; none configured 403 naming the key`` () =
    task {
        use c = new QueueCluster(3, [ $"--Queue:Chaos:Token={token}"; "--Queue:RequestTimeout=00:00:10" ])
        do! c.StartAll()
        use http = new HttpClient(Timeout = TimeSpan.FromSeconds 30.0)
        do! changesNeedTheToken http c.Url
        use bare = new QueueCluster(1)
        do! bare.Start 1
        do! refusedNamingTheKey http (bare.Url 1) "Queue:Chaos:Token"
    }

[<Fact>]
let ``a set admin token shorter than 16 characters stops the server at start even with the chaos endpoints off, naming the key`` () =
    task {
        let ports = choosePorts 2
        let data = IO.Path.Combine(IO.Path.GetTempPath(), "raft-membership-auth-tests", Guid.NewGuid().ToString("N"))
        let args =
            [ serverDll; "--Kv:NodeId=1"; $"--Kv:RaftEndpoint=127.0.0.1:{ports[1]}"; $"--Kv:HttpUrl=http://127.0.0.1:{ports[0]}"
              $"--Kv:DataDirectory={data}"; "--Kv:Members:0:Id=1"; $"--Kv:Members:0:RaftEndpoint=127.0.0.1:{ports[1]}"
              $"--Kv:Members:0:ApiUrl=http://127.0.0.1:{ports[0]}"; "--Kv:Chaos:Token=short" ]
        use p = Diagnostics.Process.Start(Diagnostics.ProcessStartInfo("dotnet", args, RedirectStandardError = true, RedirectStandardOutput = true)) |> nonNull
        let! errors = p.StandardError.ReadToEndAsync()
        let stopped = p.WaitForExit 60_000
        if not stopped then
            p.Kill()
            failwith "the server did not stop on a short Kv:Chaos:Token"
        (p.ExitCode, errors.Trim()) |> should equal (2, "configuration error: Kv:Chaos:Token must be at least 16 characters (is 5): it guards membership changes and the chaos endpoints")
        List.ofSeq (RaftChaosOptions(Token = String('t', 16)).Validate "Kv:Chaos") |> should be Empty
    }
