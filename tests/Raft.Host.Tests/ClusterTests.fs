/// Whole clusters in one process over real sockets on 127.0.0.1 with real files: election, replication,
/// leader loss and restart, partitions, and many groups on one transport.
module Raft.Host.Tests.ClusterTests

open System
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Host.Tests.ClusterKit

let private sameOnEveryNode (cluster: Cluster) (group: int64) =
    let logs = cluster.Nodes |> Array.map (fun n -> n.Machines[group].Applied)
    for l in logs do
        l |> should equal logs[0]

[<Fact>]
let ``three nodes over TCP elect a leader and replicate every acknowledged command in order`` () =
    task {
        use cluster = new Cluster(3, 1, true)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let g = cluster.Group(leader, 1L)
        for i in 1..50 do
            let! r = g.ProposeAsync($"c{i}")
            r.Result |> should equal (int64 i)
        do! cluster.WaitApplied(1L, 50)
        sameOnEveryNode cluster 1L
        cluster.Node(leader).Machines[1L].Commands |> should equal [| for i in 1..50 -> $"c{i}" |]
    }
