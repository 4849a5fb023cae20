/// Proposal forwarding: a follower's callers propose through the leader and get the leader's answer, over real TCP
/// sockets on 127.0.0.1 with real files.
module Raft.Host.Tests.ForwardingTests

open System
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Serialization
open Raft.Transport.InMemory
open Raft.Host.Tests.ClusterKit
open Raft.Tests

/// A follower of group 1 that knows `leader` leads (a leader is agreed by a majority, so one follower may not know yet).
let private follower (cluster: ClusterOf<'C, 'R, 'M>) (leader: int64) =
    task {
        let knows (n: TestNodeOf<'C, 'R, 'M>) = n.Id <> leader && n.Host.GetGroup(1L).Status.Leader = leader
        do! Wait.until $"a follower that knows leader {leader}" Wait.standard (fun () -> cluster.Nodes |> Array.exists knows)
        return cluster.Nodes |> Array.find knows
    }

/// Starts a 3-node TCP cluster, proposes `commands` at once on a follower that knows the leader (the follower forwards
/// each loop iteration's proposals), waits until every node applied them, and checks that each caller's answer names
/// the entry holding its own command in the leader's log. Returns the answers, the leader's applied (index, command)
/// list and every node's applied commands.
let private proposeThroughFollower (configure: RaftNodeOptions -> unit) (commands: string[]) =
    task {
        use cluster = new Cluster(3, 1, true, electionTicks = 30, configure = configure)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! f = follower cluster leader
        let! results =
            commands |> Array.map (fun c -> f.Host.GetGroup(1L).ProposeAsync(c, Nullable(TimeSpan.FromSeconds 10.0))) |> Task.WhenAll
        do! cluster.WaitApplied(1L, commands.Length)
        let applied = cluster.Node(leader).Machines[1L].Applied
        for r, c in Seq.zip results commands do
            let struct (_, command) = applied |> Array.find (fun struct (index, _) -> index = r.Index)
            command |> should equal c
        return results, applied, cluster.Nodes |> Array.map (fun n -> n.Machines[1L].Commands)
    }

[<Fact>]
let ``proposals on a follower are applied once through the leader and complete with the leader's result`` () =
    task {
        let! results, applied, everyNode = proposeThroughFollower ignore [| for i in 1..40 -> $"f{i}" |]
        // The result is the leader's state machine's answer for that entry: the count of commands applied so far.
        for r in results do
            let at = applied |> Array.findIndex (fun struct (index, _) -> index = r.Index)
            r.Result |> should equal (int64 (at + 1))
        // Each command was applied exactly once, on every node.
        for commands in everyNode do
            commands |> Array.distinct |> Array.length |> should equal 40
            commands |> Array.length |> should equal 40
    }

[<Fact>]
let ``a follower with forwarding off refuses proposals with NotLeaderException naming the leader`` () =
    task {
        use cluster = new Cluster(3, 1, true, electionTicks = 30, configure = fun o -> o.ForwardProposals <- false)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! f = follower cluster leader
        let! e = Assert.ThrowsAsync<NotLeaderException>(fun () -> f.Host.GetGroup(1L).ProposeAsync("x") :> Task)
        e.LeaderHint |> should equal leader
        cluster.Node(leader).Machines[1L].Count |> should equal 0
    }

/// Applies commands, throwing on "boom"; the result is the command's length.
type private PickyMachine() =
    interface IStateMachine<string, int64> with
        member _.Apply(_index, _term, command) =
            if command = "boom" then invalidOp "boom is not a command" else int64 command.Length
        member _.Snapshot(_output) = ()
        member _.Restore(_input) = ()

[<Fact>]
let ``a forwarded proposal the leader's state machine rejects fails on the follower with StateMachineException`` () =
    task {
        use cluster = new ClusterOf<string, int64, PickyMachine>(3, 1, true, PickyMachine, electionTicks = 30)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! f = follower cluster leader
        let g = f.Host.GetGroup 1L
        let! e = Assert.ThrowsAsync<StateMachineException>(fun () -> g.ProposeAsync("boom", Nullable(TimeSpan.FromSeconds 10.0)) :> Task)
        (nonNull e.InnerException).Message |> should haveSubstring "boom is not a command"
        let! ok = g.ProposeAsync("four", Nullable(TimeSpan.FromSeconds 10.0))
        ok.Result |> should equal 4L
        ok.Index |> should equal (e.Index + 1L)
    }

/// Applies commands (the result is the command's length); while `Gate` is set, applying "slow" waits for it (at most
/// 30 s), holding up the node's loop as a long apply or a GC pause would.
type private GatedMachine() =
    member val Gate: Threading.ManualResetEventSlim option = None with get, set
    interface IStateMachine<string, int64> with
        member this.Apply(_index, _term, command) =
            match this.Gate with
            | Some gate when command = "slow" -> gate.Wait(TimeSpan.FromSeconds 30.0) |> ignore
            | _ -> ()
            int64 command.Length
        member _.Snapshot(_output) = ()
        member _.Restore(_input) = ()

[<Fact>]
let ``a forwarded proposal whose leader is replaced before it answers still ends with the old leader's definite answer`` () =
    task {
        use cluster = new ClusterOf<string, int64, GatedMachine>(3, 1, true, GatedMachine, electionTicks = 50)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! f = follower cluster leader
        use gate = new Threading.ManualResetEventSlim(false)
        cluster.Node(leader).Machines[1L].Gate <- Some gate
        // The leader commits "slow" and stalls applying it: no answer, no heartbeats, so another node is elected.
        let proposal = f.Host.GetGroup(1L).ProposeAsync("slow", Nullable(TimeSpan.FromSeconds 20.0))
        do! Wait.until "a new leader, known to the follower" Wait.standard (fun () ->
            let l = f.Host.GetGroup(1L).Status.Leader in l <> 0L && l <> leader)
        proposal.IsCompleted |> should equal false // still waiting for the old leader's answer, not failed as unknown
        gate.Set()
        do! Wait.forTask "the forwarded proposal's outcome" (TimeSpan.FromSeconds 15.0) proposal
        match proposal.Exception with
        | null -> proposal.Result.Result |> should equal 4L
        | agg -> failwithf "expected the applied result, got %s" (nonNull agg.InnerException).Message
    }

[<Fact>]
let ``a proposal forwarded to a leader that stopped ends as soon as another leader is known, not at its timeout`` () =
    task {
        use cluster = new Cluster(3, 1, true, electionTicks = 30)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        let! f = follower cluster leader
        do! cluster.StopNode leader
        let started = DateTime.UtcNow
        // Sent to the stopped leader (the follower still believes in it for an election timeout, 0.3-0.6 s), it would
        // wait out the 20 s timeout; the election of a new leader ends it instead.
        let proposal = f.Host.GetGroup(1L).ProposeAsync("after-stop", Nullable(TimeSpan.FromSeconds 20.0))
        do! Wait.forTask "the outcome of the proposal sent towards the stopped leader" (TimeSpan.FromSeconds 15.0) proposal
        match proposal.Exception with
        | null -> proposal.Result.Index |> should be (greaterThan 0L) // the new leader was elected first and applied it
        | agg ->
            match nonNull agg.InnerException with
            | :? ForwardingFailedException as e -> e.Leader |> should equal leader
            | :? NotLeaderException -> () // forwarded to a node that no longer led when it arrived
            | e -> failwithf "unexpected %s: %s" (e.GetType().Name) e.Message
        (DateTime.UtcNow - started) |> should be (lessThan (TimeSpan.FromSeconds 10.0))
    }

[<Fact>]
let ``a proposal made while no leader is known waits for the next leader and commits through it`` () =
    task {
        use cluster = new Cluster(3, 1, true, electionTicks = 30)
        do! cluster.StartAll()
        let! leader = cluster.WaitLeader 1L
        // Node a alone cannot elect anyone: once its election timeout passes it knows no leader.
        let a = cluster.Ids |> Array.find (fun id -> id <> leader)
        for id in cluster.Ids do
            if id <> a then do! cluster.StopNode id
        let group = cluster.Group(a, 1L)
        do! Wait.until $"node {a} knows no leader" Wait.standard (fun () -> group.Status.Leader = 0L)
        // Refused at once with NotLeaderException (hint 0) unless it is held until a leader is known.
        let proposal = group.ProposeAsync("while-leaderless", Nullable(TimeSpan.FromSeconds 20.0))
        do! cluster.StartNode leader
        let! r = proposal
        do! Wait.until $"node {a} applies it" Wait.standard (fun () -> cluster.Node(a).Machines[1L].Commands |> Array.contains "while-leaderless")
        let struct (_, command) = cluster.Node(a).Machines[1L].Applied |> Array.find (fun struct (index, _) -> index = r.Index)
        command |> should equal "while-leaderless"
    }

[<Fact>]
let ``a follower splits forwarded proposals into requests of at most MaxSizePerMsg bytes and completes each caller`` () =
    task {
        // 64-byte messages: each request carries two or three of these commands, so one loop iteration's proposals
        // travel as many requests whose answers must each find their own caller.
        let! results, _, _ =
            proposeThroughFollower (fun o -> o.MaxSizePerMsg <- 64L) [| for i in 1..30 -> $"split-command-{i:D3}" |]
        results |> Array.map (fun r -> r.Index) |> Array.distinct |> Array.length |> should equal 30
    }

/// A result type MessagePack's standard resolver cannot serialize (no MessagePackObject attribute).
type Unserializable = { Value: int }

[<Fact>]
let ``with forwarding on, a node refuses at construction a result type the MessagePack options cannot serialize`` () =
    let make forward =
        let options = testOptions 1L
        options.ForwardProposals <- forward
        let network = InMemoryNetwork<RaftEnvelope<string>[]>()
        new RaftNodeHost<string, Unserializable>(options, network.CreateTransport 1L, MemoryRaftStorageProvider(),
                                                 Func<int64, IStateMachine<string, Unserializable>>(fun _ -> failwith "never started"))
    let e = Assert.Throws<ArgumentException>(fun () -> make true |> ignore)
    e.Message |> should haveSubstring "ForwardProposals"
    e.Message |> should haveSubstring "Unserializable"
    // Results that never leave the node need no formatter.
    (make false).NodeId |> should equal 1L

[<Fact>]
let ``a command forwarded to a node that knows no leader waits there for the next leader instead of failing with no hint`` () =
    task {
        // The test plays node 2: it forwards a command to node 1 while node 1 is alone and knows no leader (a leader
        // that stepped down as the request arrived looks the same to it).
        use cluster = new Cluster(3, 1, false, electionTicks = 30)
        do! cluster.StartNode 1L
        let fake = cluster.Network.CreateTransport 2L
        let answers = Threading.Channels.Channel.CreateUnbounded<ForwardedOutcome<string>>()
        let receive =
            Raft.Transport.TransportReceiveHandler<RaftEnvelope<string>[]>(fun _ batch _ ->
                for e in batch do
                    match e.Host with
                    | :? ForwardedOutcome<string> as o -> answers.Writer.TryWrite o |> ignore
                    | _ -> ()
                ValueTask.CompletedTask)
        do! fake.StartAsync(receive, Threading.CancellationToken.None)
        fake.TrySend(1L, [| RaftEnvelope<string>.ForHost(1L, ForwardedProposals<string>(42L, [| "held" |])) |]) |> should equal true
        let group = cluster.Group(1L, 1L)
        do! Wait.until "node 1 holds the forwarded command" Wait.standard (fun () -> group.Runtime.Requests.WaitingForLeader.Count = 1)
        answers.Reader.TryRead() |> fst |> should equal false
        // A peer returns; node 1 campaigns so that it most likely leads (either outcome is checked below).
        do! cluster.StartNode 3L
        do! group.CampaignAsync()
        use cts = new Threading.CancellationTokenSource(Wait.standard)
        let! answer = answers.Reader.ReadAsync(cts.Token)
        answer.RequestId |> should equal 42L
        match answer.Status with
        | ForwardStatus.Applied ->
            do! Wait.until "node 1 applies it" Wait.standard (fun () -> cluster.Node(1L).Machines[1L].Applied |> Array.contains (struct (answer.Index, "held")))
        | ForwardStatus.NotLeader -> answer.LeaderHint |> should equal 3L // never forwarded twice: the hint names the new leader
        | other -> failwith $"unexpected answer {other}: {answer.Error}"
        do! fake.DisposeAsync()
    }
