/// Cost of a Prometheus scrape of one node holding many idle groups: the node's `/metrics` through Raft.AspNetCore
/// (OpenTelemetry exporter, response cache off so every scrape renders), after a burst of proposals; text size,
/// series and the median / p90 of 120 scrapes over loopback HTTP.
module Raft.Benchmarks.ScrapeBench

open System
open System.Diagnostics
open System.Net.Http
open System.Threading.Tasks
open Microsoft.AspNetCore.Builder
open Microsoft.AspNetCore.Hosting
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Logging
open OpenTelemetry.Exporter
open Raft.AspNetCore
open Raft.Hosting
open Raft.Node

type Counter() =
    let mutable n = 0L
    interface IStateMachine<int64, int64> with
        member _.Apply(_, _, _) = n <- n + 1L; n
        member _.Snapshot(output) = IO.BinaryWriter(output).Write n
        member _.Restore(input) = n <- IO.BinaryReader(input).ReadInt64()

let private freePort () =
    let l = new Net.Sockets.TcpListener(Net.IPAddress.Loopback, 0)
    l.Start()
    let port = (l.LocalEndpoint :?> Net.IPEndPoint).Port
    l.Stop()
    port

let run (args: string list) =
    let groups = match args with n :: _ -> int n | [] -> 10000
    let http = freePort ()
    let builder = WebApplication.CreateSlimBuilder()
    builder.Logging.SetMinimumLevel LogLevel.Warning |> ignore
    builder.WebHost.UseUrls $"http://127.0.0.1:{http}" |> ignore
    builder.Services.AddRaft<int64, int64, Counter>(fun o ->
        o.NodeId <- 1L
        o.ClusterId <- "scrape"
        o.ListenEndpoint <- $"127.0.0.1:{freePort ()}"
        o.InMemoryStorage <- true
        o.TickInterval <- TimeSpan.FromMilliseconds 20.0
        o.Groups <- ResizeArray [ 1L .. int64 groups ]) |> ignore
    builder.Services.AddRaftMetrics() |> ignore
    builder.Services.Configure<PrometheusAspNetCoreOptions>(fun (o: PrometheusAspNetCoreOptions) -> o.ScrapeResponseCacheDurationMilliseconds <- 0) |> ignore
    let app = builder.Build()
    app.MapRaftMetrics() |> ignore
    task {
        do! app.StartAsync()
        let node = app.Services.GetRequiredService<RaftNodeHost<int64, int64>>()
        let sw = Stopwatch.StartNew()
        while node.GetGroup(int64 groups).Status.Leader = 0L && sw.Elapsed < TimeSpan.FromMinutes 2.0 do
            do! Task.Delay 50
        for i in 0 .. 999 do
            let! _ = node.GetGroup(1L + int64 (i % groups)).ProposeAsync(int64 i)
            ()
        use client = new HttpClient()
        let times = ResizeArray()
        let mutable text = ""
        for _ in 1..120 do
            let s = Stopwatch.StartNew()
            let! body = client.GetStringAsync $"http://127.0.0.1:{http}/metrics"
            text <- body
            times.Add s.Elapsed.TotalMilliseconds
        times.Sort()
        let series = text.Split('\n') |> Array.filter (fun l -> l.Length > 0 && l[0] <> '#') |> Array.length
        printfn "| groups | text | series | scrape median | p90 |"
        printfn "| ---: | ---: | ---: | ---: | ---: |"
        printfn "| %d | %.1f KB | %d | %.2f ms | %.2f ms |" groups (float (Text.Encoding.UTF8.GetByteCount text) / 1024.0) series
            times[times.Count / 2] times[int (float times.Count * 0.9)]
        do! app.StopAsync()
    }
    |> fun t -> t.Wait()
