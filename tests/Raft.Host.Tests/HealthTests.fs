/// The Raft health checks over real node hosts: readiness follows a majority going down and coming back, liveness
/// follows a faulted group.
module Raft.Host.Tests.HealthTests

open System
open System.IO
open Microsoft.Extensions.Diagnostics.HealthChecks
open Microsoft.Extensions.Options
open Xunit
open FsUnit.Xunit
open Raft.Health
open Raft.Node
open Raft.Serialization
open Raft.Storage
open Raft.Transport.InMemory
open Raft.Host.Tests.ClusterKit
open Raft.Tests

let private run (check: IHealthCheck) =
    let context = HealthCheckContext(Registration = HealthCheckRegistration("raft", check, HealthStatus.Unhealthy, null))
    (check.CheckHealthAsync context).Result

let private ready (nodes: IRaftNode seq) =
    RaftReadinessCheck(nodes, Options.Create(RaftHealthCheckOptions()), TimeProvider.System) :> IHealthCheck

let private live (nodes: IRaftNode seq) = RaftLivenessCheck(nodes) :> IHealthCheck

[<Fact>]
let ``readiness goes unhealthy while a majority is down and healthy again after; liveness stays healthy`` () =
    task {
        use cluster = new Cluster(3, 2, false)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! _ = cluster.WaitLeader 2L
        let survivor = cluster.Node(leader).Host :> IRaftNode
        do! Wait.until "every node ready" Wait.standard (fun () ->
            (run (ready (cluster.Nodes |> Seq.map (fun n -> n.Host :> IRaftNode)))).Status = HealthStatus.Healthy)
        let others = cluster.Ids |> Array.filter ((<>) leader)
        for id in others do
            do! cluster.StopNode id
        // The leader steps down once it has not heard from a majority (CheckQuorum); an election timeout later it is not ready.
        // Each group turns unready on its own clock (its own leader loss), so wait until both are.
        let bothUnready () =
            let r = run (ready [ survivor ])
            r.Status = HealthStatus.Unhealthy && (r.Data["groups"] :?> int64[]) |> Array.sort = [| 1L; 2L |]
        do! Wait.until "both groups of the survivor not ready" Wait.standard bothUnready
        let result = run (ready [ survivor ])
        string result.Data["reason"] |> should haveSubstring "no known leader"
        (result.Data["nodes"] :?> int64[]) |> should equal [| leader |]
        (result.Data["groups"] :?> int64[]) |> Array.sort |> should equal [| 1L; 2L |]
        (run (live [ survivor ])).Status |> should equal HealthStatus.Healthy
        for id in others do
            do! cluster.StartNode id
        do! Wait.until "every node ready again" Wait.standard (fun () ->
            (run (ready (cluster.Nodes |> Seq.map (fun n -> n.Host :> IRaftNode)))).Status = HealthStatus.Healthy)
        (run (live (cluster.Nodes |> Seq.map (fun n -> n.Host :> IRaftNode)))).Status |> should equal HealthStatus.Healthy
    }

/// A log whose flushes fail, as after an fsync error.
type private FailingLog() =
    inherit DelegatingLogStorage(new MemoryLogStorage())
    override this.Flush() = raise (IOException "fsync failed: Input/output error")

[<Fact>]
let ``a group whose storage failed makes liveness unhealthy with the group's id; a stopped node is not live`` () =
    task {
        // Group 2's log fails on its first flush; group 1's works.
        let storage =
            { new IRaftStorageProvider with
                member _.Open group =
                    let log: ILogStorage = if group = 2L then new FailingLog() else new MemoryLogStorage()
                    new GroupStorage(log, MemoryHardStateStore(), null)
                member _.Delete _ = () }
        let network = InMemoryNetwork<RaftEnvelope<string>[]>()
        let factory = Func<int64, IStateMachine<string, int64>>(fun _ -> RecordingMachine() :> IStateMachine<string, int64>)
        use host = new Host(testOptions 1L, network.CreateTransport 1L, storage, factory, loggerFactory = new StderrLoggerFactory())
        let! one = host.CreateGroupAsync(1L, [ 1L ])
        let! _ = host.CreateGroupAsync(2L, [ 1L ])
        do! host.StartAsync()
        do! Wait.until "group 1 leads" Wait.standard (fun () -> one.Status.IsLeader)
        do! Wait.until "liveness unhealthy" Wait.standard (fun () -> (run (live [ host ])).Status = HealthStatus.Unhealthy)
        let result = run (live [ host ])
        (result.Data["groups"] :?> int64[]) |> should equal [| 2L |]
        string result.Data["reason"] |> should haveSubstring "fsync failed"
        let status = host.GetStatus()
        nonNull (status.Groups |> Seq.find (fun g -> g.GroupId = 2L)).Fault |> should haveSubstring "fsync failed"
        isNull (status.Groups |> Seq.find (fun g -> g.GroupId = 1L)).Fault |> should equal true
        do! host.StopAsync()
        nonNull (run (live [ host ])).Description |> should haveSubstring "loop not running"
    }
