/// The generic-host integration: AddRaft binds and validates options at start (errors name the key) and runs a node.
module Raft.Host.Tests.HostingTests

open System
open System.Collections.Generic
open System.Threading.Tasks
open Microsoft.Extensions.Configuration
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Hosting
open Microsoft.Extensions.Options
open Xunit
open FsUnit.Xunit
open Raft.Hosting
open Raft.Node
open Raft.Tests

type Echo() =
    /// Commands applied so far (read through QueryAsync).
    member val Applied = 0 with get, set
    interface IStateMachine<string, obj> with
        member this.Apply(_, _, command) =
            this.Applied <- this.Applied + 1
            command :> obj
        member _.Snapshot _ = ()
        member _.Restore _ = ()

/// Another state machine type, for a query that names the wrong one.
type private Other() =
    interface IStateMachine<string, obj> with
        member _.Apply(_, _, command) = command :> obj
        member _.Snapshot _ = ()
        member _.Restore _ = ()

/// A generic host whose configuration holds `settings`, with a node of Echo state machines.
let build (settings: (string * string) list) =
    let builder = Host.CreateApplicationBuilder()
    builder.Configuration.AddInMemoryCollection(settings |> List.map (fun (k, v) -> KeyValuePair(k, v))) |> ignore
    builder.Services.AddRaft<string, Echo>(builder.Configuration.GetSection "Raft") |> ignore
    builder.Build()

[<Fact>]
let ``invalid options fail the host at start with messages naming each bad key`` () =
    task {
        use host = build [ "Raft:NodeId", "0"; "Raft:ListenEndpoint", "nowhere"; "Raft:InMemoryStorage", "true" ]
        let! ex = Assert.ThrowsAsync<OptionsValidationException>(fun () -> host.StartAsync())
        ex.Message |> should haveSubstring "Raft:NodeId"
        ex.Message |> should haveSubstring "Raft:ClusterId"
        ex.Message |> should haveSubstring "Raft:ListenEndpoint"
    }

[<Fact>]
let ``a single-node cluster from configuration elects itself and commits through the DI-registered node`` () =
    task {
        use host =
            build [ "Raft:NodeId", "1"; "Raft:ClusterId", "solo"; "Raft:InMemoryStorage", "true"; "Raft:TickInterval", "00:00:00.010" ]
        do! host.StartAsync()
        let node = host.Services.GetRequiredService<RaftNodeHost<string, obj>>()
        let group = node.GetGroup 1L
        let! leader = group.WaitForLeaderAsync(Nullable(TimeSpan.FromSeconds 10.0))
        leader |> should equal 1L
        let! r = group.ProposeAsync "hello"
        r.Result |> should equal (box "hello")
        do! host.StopAsync()
        let! ex = Assert.ThrowsAsync<RaftShutdownException>(fun () -> group.ProposeAsync "late" :> Task)
        ex.Message |> should haveSubstring "stopping"
    }

[<Fact>]
let ``three generic hosts take their transport from DI and commit a proposal made on a follower`` () =
    task {
        // No sockets: the transports come from one in-memory network, registered before AddRaft; Peers still name the voters.
        let network = Raft.Transport.InMemory.InMemoryNetwork<Raft.Serialization.RaftEnvelope<string>[]>()
        let hosts =
            [ for id in 1L .. 3L ->
                let builder = Host.CreateApplicationBuilder()
                let settings =
                    [ "Raft:NodeId", string id; "Raft:ClusterId", "di"; "Raft:InMemoryStorage", "true"
                      "Raft:TickInterval", "00:00:00.010"; "Raft:ElectionTicks", "30"; "Raft:ListenEndpoint", "127.0.0.1:0" ]
                    @ [ for peer in 1L .. 3L do if peer <> id then $"Raft:Peers:{peer}", "127.0.0.1:1" ]
                builder.Configuration.AddInMemoryCollection(settings |> List.map (fun (k, v) -> KeyValuePair(k, v))) |> ignore
                builder.Services.AddSingleton<Raft.Transport.ITransport<Raft.Serialization.RaftEnvelope<string>[]>>(network.CreateTransport id) |> ignore
                builder.Services.AddRaft<string, Echo>(builder.Configuration.GetSection "Raft") |> ignore
                builder.Build() ]
        try
            for h in hosts do
                do! h.StartAsync()
            let groups = hosts |> List.map (fun h -> h.Services.GetRequiredService<RaftNodeHost<string, obj>>().GetGroup 1L)
            let! leader = groups[0].WaitForLeaderAsync(Nullable(TimeSpan.FromSeconds 10.0))
            let knows (g: RaftGroup<string, obj>) = g.Status.NodeId <> leader && g.Status.Leader = leader
            do! Wait.until "a follower that knows the leader" Wait.standard (fun () -> groups |> List.exists knows)
            let follower = groups |> List.find knows
            let! r = follower.ProposeAsync("through the leader", Nullable(TimeSpan.FromSeconds 10.0))
            r.Result |> should equal (box "through the leader")
            do! Wait.until "every node applies the command" Wait.standard (fun () -> groups |> List.forall (fun g -> g.Status.AppliedIndex >= r.Index))
        finally
            for h in hosts do
                h.StopAsync().Wait(TimeSpan.FromSeconds 10.0) |> ignore
                h.Dispose()
    }

/// Passes everything to an inner transport and records what `onStart` observes when the node starts it.
type private ObservedStart<'M>(inner: Raft.Transport.ITransport<'M>, onStart: unit -> unit) =
    interface Raft.Transport.ITransport<'M> with
        member _.LocalId = inner.LocalId
        member _.StartAsync(onReceive, ct) =
            onStart ()
            inner.StartAsync(onReceive, ct)
        member _.TrySend(peer, message) = inner.TrySend(peer, message)
        member _.StopAsync ct = inner.StopAsync ct
        member _.Stats = inner.Stats
        member _.DisposeAsync() = inner.DisposeAsync()

[<Fact>]
let ``the hosted service opens the configured groups before the transport starts, so no early message finds its group missing`` () =
    task {
        let network = Raft.Transport.InMemory.InMemoryNetwork<Raft.Serialization.RaftEnvelope<string>[]>()
        let mutable groupsAtStart = -1
        let builder = Host.CreateApplicationBuilder()
        let settings =
            [ "Raft:NodeId", "1"; "Raft:ClusterId", "order"; "Raft:InMemoryStorage", "true"; "Raft:TickInterval", "00:00:00.010"
              "Raft:Groups:0", "1"; "Raft:Groups:1", "7" ]
        builder.Configuration.AddInMemoryCollection(settings |> List.map (fun (k, v) -> KeyValuePair(k, v))) |> ignore
        builder.Services.AddSingleton<Raft.Transport.ITransport<Raft.Serialization.RaftEnvelope<string>[]>>(fun sp ->
            let observe () = groupsAtStart <- sp.GetRequiredService<RaftNodeHost<string, obj>>().Groups.Count
            ObservedStart(network.CreateTransport 1L, observe) :> Raft.Transport.ITransport<_>) |> ignore
        builder.Services.AddRaft<string, Echo>(builder.Configuration.GetSection "Raft") |> ignore
        use host = builder.Build()
        do! host.StartAsync()
        groupsAtStart |> should equal 2
        let group = host.Services.GetRequiredService<RaftNodeHost<string, obj>>().GetGroup 7L
        let! leader = group.WaitForLeaderAsync(Nullable(TimeSpan.FromSeconds 10.0))
        leader |> should equal 1L
        do! host.StopAsync()
    }

[<Fact>]
let ``QueryAsync reads through the state machine's own type and refuses another type, naming both`` () =
    task {
        use host =
            build [ "Raft:NodeId", "1"; "Raft:ClusterId", "solo"; "Raft:InMemoryStorage", "true"; "Raft:TickInterval", "00:00:00.010" ]
        do! host.StartAsync()
        let group = host.Services.GetRequiredService<RaftNodeHost<string, obj>>().GetGroup 1L
        let! _ = group.WaitForLeaderAsync(Nullable(TimeSpan.FromSeconds 10.0))
        let! _ = group.ProposeAsync "one"
        let! _ = group.ProposeAsync "two"
        let! applied = group.QueryAsync(fun (e: Echo) -> e.Applied)
        applied |> should equal 2
        let! ex = Assert.ThrowsAsync<InvalidCastException>(fun () -> group.QueryAsync(fun (o: Other) -> 0) :> Task)
        ex.Message |> should haveSubstring "Echo"
        ex.Message |> should haveSubstring "Other"
        do! host.StopAsync()
    }
