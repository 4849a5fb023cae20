/// The key-value server's `GET /events` (server-sent events) on three real server processes: a write shows as a commit
/// event, a killed leader as leader and role events on the others, and a stopping server ends its streams.
module Raft.Host.Tests.KvServerEventsTests

open System
open System.Collections.Concurrent
open System.IO
open System.Net.Http
open System.Runtime.InteropServices
open System.Text.Json
open System.Threading
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.KvServerTests

/// One server-sent event: its id, type and the `data` member of its JSON.
type SseEvent = { Id: int64; Type: string; Data: JsonElement }

/// A reader of one node's /events, collecting every event in the background until the stream ends or it is disposed.
type EventFeed(baseUrl: string) =
    let http = new HttpClient(Timeout = Timeout.InfiniteTimeSpan)
    let stop = new CancellationTokenSource()
    let events = ConcurrentQueue<SseEvent>()
    let mutable contentType = ""
    let reading =
        task {
            use! response = http.GetAsync(baseUrl + "/events", HttpCompletionOption.ResponseHeadersRead, stop.Token)
            contentType <- match response.Content.Headers.ContentType with | null -> "" | t -> string t.MediaType
            use! stream = response.Content.ReadAsStreamAsync stop.Token
            use reader = new StreamReader(stream)
            let mutable id, kind, data = 0L, "", ""
            let mutable line = ""
            let next () = task { let! l = reader.ReadLineAsync stop.Token in line <- (match l with | null -> "" | l -> l); return not (isNull l) }
            let! more = next ()
            let mutable go = more
            while go do
                if line = "" then
                    if kind <> "" then
                        events.Enqueue { Id = id; Type = kind; Data = JsonDocument.Parse(data).RootElement.GetProperty("data").Clone() }
                    kind <- ""
                    data <- ""
                elif line.StartsWith "id: " then id <- int64 line[4..]
                elif line.StartsWith "event: " then kind <- line[7..]
                elif line.StartsWith "data: " then data <- line[6..]
                let! more = next ()
                go <- more
        }

    /// The events so far, in order.
    member _.Events = List.ofSeq events
    /// The response's media type (once connected).
    member _.ContentType = contentType
    /// Completes when the stream ends (the server closed it) or fails.
    member _.Reading = reading :> Task

    /// Waits for the first event after `afterId` that `pick` accepts.
    member this.WaitFor(what: string, pick: SseEvent -> bool, ?afterId: int64) =
        Wait.untilSome what Wait.standard (fun () ->
            if reading.IsFaulted then raise (nonNull reading.Exception)
            Task.FromResult(this.Events |> List.tryFind (fun e -> e.Id > defaultArg afterId 0L && pick e)))

    interface IDisposable with
        member _.Dispose() =
            stop.Cancel()
            http.Dispose()

let private str (e: SseEvent) (name: string) = match e.Data.TryGetProperty name with | true, v -> v.ToString() | _ -> ""

[<DllImport("libc", SetLastError = true)>]
extern int kill(int pid, int signal)

[<Fact>]
let ``events: a write shows as a commit event, and killing the key's leader shows leader and role events on another node`` () =
    task {
        use c = new KvCluster()
        for i in 1 .. 3 do do! c.Start i
        use feed1 = new EventFeed(c.Url 1)
        use feed2 = new EventFeed(c.Url 2)
        use feed3 = new EventFeed(c.Url 3)
        let feeds = [| feed1; feed2; feed3 |]
        for i, feed in Array.indexed feeds do
            let! _ = feed.WaitFor($"node {i + 1}'s hello", fun e -> e.Type = "hello")
            ()
        feed1.ContentType |> should equal "text/event-stream"
        let! version = c.PutUntilDone(3, "evented", "v")
        let! commit = feed1.WaitFor("a commit event for 'evented' on node 1", fun e -> e.Type = "commit" && str e "key" = "evented")
        str commit "version" |> should equal (version.Trim '"')
        let group = str commit "group"
        // The group's leader now, as node 1 sees it: killed, the survivors elect another and say so.
        let! leader = feed1.WaitFor("a leader event for the group", fun e -> e.Type = "leader" && str e "group" = group)
        let! status = Wait.untilSome "node 1 knows the group's leader" Wait.standard (fun () ->
                          task {
                              let! _, body, _ = c.Send(1, HttpMethod.Get, "/raft/status")
                              let groups = JsonDocument.Parse(body).RootElement.GetProperty("groups").EnumerateArray()
                              return groups |> Seq.tryFind (fun g -> g.GetProperty("groupId").ToString() = group && g.GetProperty("leader").GetInt64() <> 0L)
                                            |> Option.map (fun g -> g.GetProperty("leader").GetInt64())
                          })
        ignore leader
        let victim = int status
        let watcher = if victim = 1 then 2 else 1
        let seenBefore = feeds |> Array.map (fun f -> f.Events |> List.map _.Id |> List.max)
        c.Kill victim
        let! moved = feeds[watcher - 1].WaitFor($"a leader event for group {group} naming another node than {victim}",
                                                (fun e -> e.Type = "leader" && str e "group" = group && str e "leader" <> string victim), seenBefore[watcher - 1])
        str moved "previous" |> should equal (string victim)
        // Only the node elected is sure to change role (the other survivor may stay a follower throughout, thanks to
        // PreVote): its feed shows it becoming the group's leader.
        let elected = int (str moved "leader")
        let! became = feeds[elected - 1].WaitFor($"a role event for group {group} on node {elected}",
                                                 (fun e -> e.Type = "role" && str e "group" = group && str e "role" = "Leader"), seenBefore[elected - 1])
        str became "term" |> should equal (str moved "term")
    }

[<Fact>]
let ``events: a server stopped with SIGTERM ends its event streams`` () =
    task {
        use c = new KvCluster()
        for i in 1 .. 3 do do! c.Start i
        use feed = new EventFeed(c.Url 2)
        let! _ = feed.WaitFor("node 2's hello", fun e -> e.Type = "hello")
        kill(c.Pid 2, 15) |> should equal 0
        do! Wait.forTask "node 2's event stream ends" Wait.standard feed.Reading
        feed.Reading.IsCompletedSuccessfully |> should equal true
    }
