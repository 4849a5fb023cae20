/// The key-value server on three "machines": each node a real process in its own network namespace with its own
/// address (NetnsKit), partitioned by iptables rules in the namespaces rather than by the server's own chaos filter, so
/// the kernel loses the packets and the TCP connections hang as they do between real machines. Leader isolated, a 2/1
/// split, one-way loss each way; values checked with linearizable GETs on every node, no acknowledged write lost.
/// Fails (never skips) naming what is missing where the machine does not allow namespaces.
module Raft.Host.Tests.KvNetnsTests

open System.Collections.Generic
open System.Threading.Tasks
open System.Net.Http
open System.Text.Json
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.KvServerTests
open Raft.Host.Tests.NetnsKit

let private nodes = [ 1; 2; 3 ]

/// Three namespaces and a cluster of server processes to run in them (`StartAll`); a machine that cannot make
/// namespaces fails the test here, naming what it lacks. Disposing stops the processes, then removes the namespaces.
type private NetnsCluster() =
    do
        match missing () with
        | Some why -> failwithf "this test puts each node in its own network namespace, which this machine does not allow: %s" why
        | None -> ()
    let net = new Network(3)
    // Requests through a cut-off node answer (504/503) within 2 s instead of the default 5.
    let cluster = new KvCluster([ "--Kv:RequestTimeout=00:00:02" ], host = net.Address, launcher = net.Dotnet)

    member _.Net = net
    member _.Cluster = cluster

    member _.StartAll() =
        task { for i in nodes do do! cluster.Start i }

    interface System.IDisposable with
        member _.Dispose() =
            try (cluster :> System.IDisposable).Dispose()
            finally (net :> System.IDisposable).Dispose()

/// The node that node `asked` knows as the leader of `key`'s group, once it knows one.
let private leaderOf (c: KvCluster) (asked: int) (key: string) =
    Wait.untilSome $"node {asked} knows the leader of {key}" Wait.standard (fun () ->
        task {
            let! _, listing, _ = c.Send(asked, HttpMethod.Get, $"/kv?prefix={key}")
            use names = JsonDocument.Parse listing
            let group =
                names.RootElement.EnumerateArray()
                |> Seq.tryFind (fun p -> p.GetProperty("key").GetString() = key)
                |> Option.map (fun p -> p.GetProperty("group").GetInt64())
            match group with
            | None -> return None
            | Some g ->
                let! _, body, _ = c.Send(asked, HttpMethod.Get, "/raft/status")
                use status = JsonDocument.Parse body
                return
                    status.RootElement.GetProperty("groups").EnumerateArray()
                    |> Seq.tryFind (fun s -> s.GetProperty("groupId").GetInt64() = g)
                    |> Option.map (fun s -> int (s.GetProperty("leader").GetInt64()))
                    |> Option.filter (fun l -> l > 0)
        })

/// The acknowledged writes: each key's last acknowledged value and its ETag (its version).
type private Acked = Dictionary<string, string * string>

/// Writes `value` through node i until acknowledged, and remembers it as the value `key` must keep.
let private put (c: KvCluster) (acked: Acked) (i: int) (key: string) (value: string) =
    task {
        let! etag = c.PutUntilDone(i, key, value)
        acked[key] <- (value, etag)
    }

/// Four keys written through different nodes (so their groups are led from more than one node).
let private writeKeys (c: KvCluster) (acked: Acked) (through: int -> int) (round: string) =
    task { for k in 1 .. 4 do do! put c acked (through k) $"key-{k}" $"{round}{k}" }

/// A write through a cut-off node, which must not be acknowledged. It is a compare-and-set on `etag`, a version the
/// other side moves past: its outcome is unknown (a 504 says it may still take effect; a forwarded write held in a
/// hung TCP connection can arrive once the network heals), and the condition keeps such a late arrival from landing,
/// so every key ends on its last acknowledged value.
let private putCutOff (c: KvCluster) (i: int) (key: string) (etag: string) =
    task {
        let! status, _, _ = c.Send(i, HttpMethod.Put, $"/kv/{key}", "from the cut-off side", [ "If-Match", etag ])
        (key, status) |> should not' (equal (key, 200))
    }

/// Runs `scenario` on a started cluster in namespaces with four keys written, then stops it and removes the namespaces.
let private running (scenario: Network -> KvCluster -> Acked -> Task) : Task =
    task {
        use nc = new NetnsCluster()
        do! nc.StartAll()
        let acked = Acked()
        do! writeKeys nc.Cluster acked (fun k -> k % 3 + 1) "v"
        do! scenario nc.Net nc.Cluster acked
    }

/// Every node agrees on every acknowledged write: its own replica holds it (a stale, local read) and a linearizable
/// GET through it answers it.
let private allAgree (c: KvCluster) (acked: Acked) =
    task {
        for i in nodes do
            for KeyValue(key, (value, _)) in acked do
                do! Wait.until $"node {i}'s own replica holds {key} = {value}" Wait.standard (fun () ->
                    let s, b, _ = c.Send(i, HttpMethod.Get, $"/kv/{key}?consistency=stale").Result
                    s = 200 && b = value)
                let! read = Wait.untilSome $"a linearizable GET of {key} through node {i}" Wait.standard (fun () ->
                                task {
                                    let! s, b, _ = c.Send(i, HttpMethod.Get, $"/kv/{key}")
                                    return if s = 200 then Some b else None
                                })
                (i, key, read) |> should equal (i, key, value)
    }

[<Fact>]
let ``netns: the leader of a key cut off by iptables acknowledges no write, the other two elect a leader and commit, and after heal it reads the latest value`` () =
    running (fun net c acked ->
        task {
            let! leader = leaderOf c 1 "key-1"
            let others = nodes |> List.except [ leader ]
            net.Cut(leader, others, Both)
            do! putCutOff c leader "key-1" (snd acked["key-1"])
            do! writeKeys c acked (fun k -> others[k % 2]) "w"
            let! moved = leaderOf c others[0] "key-1"
            others |> should contain moved
            net.Heal leader
            do! allAgree c acked
        })

[<Fact>]
let ``netns: split 2/1 by iptables on both sides, the majority commits (also a new key) and the minority commits nothing; after heal all agree`` () =
    running (fun net c acked ->
        task {
            // The minority is key-1's leader, so at least one group must elect a leader on the majority side.
            let! minority = leaderOf c 1 "key-1"
            let majority = nodes |> List.except [ minority ]
            net.Cut(minority, majority, Both)
            for m in majority do net.Cut(m, [ minority ], Both)
            let before = Dictionary(acked)
            do! writeKeys c acked (fun k -> majority[k % 2]) "w"
            do! put c acked majority[0] "born-in-split" "new"
            // The minority acknowledges no write, to a key it leads or one it does not, nor creates a key.
            for key in [ "key-1"; "key-2"; "key-3" ] do do! putCutOff c minority key (snd before[key])
            let! created, _, _ = c.Send(minority, HttpMethod.Put, "/kv/minority-only", "x", [ "If-None-Match", "*" ])
            created |> should not' (equal 200)
            // Nor does a linearizable GET on the minority answer a value the majority has overwritten.
            let! status, body, _ = c.Send(minority, HttpMethod.Get, "/kv/key-1")
            (status = 200 && body <> fst acked["key-1"]) |> should equal false
            net.Heal minority
            for m in majority do net.Heal m
            do! allAgree c acked
        })

[<Fact>]
let ``netns: one-way loss, the leader of a key dropping only inbound, then the new leader dropping only outbound; the other two commit each time and after heal all agree`` () =
    running (fun net c acked ->
        task {
            for direction, round in [ Inbound, "in"; Outbound, "out" ] do
                let! lossy = leaderOf c 1 "key-1"
                let others = nodes |> List.except [ lossy ]
                net.Cut(lossy, others, direction)
                do! writeKeys c acked (fun k -> others[k % 2]) round
                net.Heal lossy
                do! allAgree c acked
        })
