/// Crash tests of whole nodes: three node processes (tests/Raft.ClusterNode) with real files and TCP on 127.0.0.1;
/// proposals stream to whichever node leads (and, from half the proposers, to any node, whose follower forwards them
/// to the leader) while nodes — mostly the leader — are killed with SIGKILL at random
/// moments and restarted on the same directory, and last a follower is killed in the middle of receiving a snapshot
/// (its next run must resume the transfer). At the end every node must hold the same applied commands, including
/// every acknowledged one exactly once at the index it was acknowledged with, and nothing that was never proposed.
module Raft.Host.Tests.ProcessCrashTests

open System
open System.Collections.Generic
open System.IO
open System.Threading
open System.Threading.Tasks
open Raft.Tests
open Xunit
open FsUnit.Xunit
open Raft.Host.Tests.ProcessCrashKit

/// Every command sent to a node, and the acknowledged ones with the (index, count) they were acknowledged with.
type Ledger() =
    let proposed = HashSet<int64>()
    let acked = Dictionary<int64, struct (int64 * int64)>()
    member _.Proposed(command: int64) = lock proposed (fun () -> proposed.Add command |> ignore)
    member _.WasProposed(command: int64) = lock proposed (fun () -> proposed.Contains command)
    member _.ProposedCount = lock proposed (fun () -> proposed.Count)
    member _.Ack(command: int64, index: int64, count: int64) = lock acked (fun () -> acked[command] <- struct (index, count))
    member _.AckCount = lock acked (fun () -> acked.Count)
    member _.Acked = lock acked (fun () -> [| for KeyValue(c, struct (i, n)) in acked -> c, i, n |])

/// Runs the scenario; throws with the seed, the timeline and every node's stderr tail when something is wrong.
let runScenario (seed: int) (kills: int) =
    task {
        File.Exists nodeDll |> should equal true
        let rnd = Random seed
        use cluster = new ProcessCluster(3)
        let ledger = Ledger()
        let mutable stopping = false
        let mutable nextCommand = 0L
        let mutable leaderGuess = 0L
        let mutable proposers: Task[] = [||]
        let checkProposers () =
            for p in proposers do
                match p.Exception with
                | null -> ()
                | e -> raise (AggregateException("a proposer failed", e.InnerExceptions))
        // checkProposers runs on every poll: a failed proposer ends the wait at once instead of at its deadline.
        let wait what (seconds: float) condition =
            Wait.until what (TimeSpan.FromSeconds seconds) (fun () -> checkProposers (); condition ())
        try
            do! cluster.StartAll(TimeSpan.FromSeconds 60.0)
            // Each proposer sends one command at a time, to the node it believes leads or (`anyNode`) to any running
            // node, whose follower forwards it to the leader; a command id is never reused, so a command applied twice
            // or a lost acknowledged one is visible in the final state.
            let proposer (anyNode: bool) () =
                task {
                    while not (Volatile.Read &stopping) do
                        let guess = Volatile.Read &leaderGuess
                        let target =
                            if anyNode then
                                let ready = cluster.ReadyNodes
                                if ready.Length = 0 then None else Some ready[Random.Shared.Next ready.Length]
                            else cluster.ReadyNodes |> Array.tryFind (fun n -> n.Id = guess)
                        match target with
                        | None when anyNode -> do! Task.Delay 20
                        | None ->
                            match! cluster.Leader() with
                            | Some l -> Volatile.Write(&leaderGuess, l)
                            | None -> do! Task.Delay 20
                        | Some node ->
                            let command = Interlocked.Increment &nextCommand
                            ledger.Proposed command
                            // The node answers within its RequestTimeout (5 s) unless it dies; longer means a hang.
                            let answer = node.Propose command
                            do! Wait.forTask $"node {node.Id}'s answer to proposal {command}" (TimeSpan.FromSeconds 60.0) answer
                            let outcome = answer.Result
                            match outcome with
                            | Acked(index, count) -> ledger.Ack(command, index, count)
                            | Refused("not-leader", hint) ->
                                if not anyNode then Volatile.Write(&leaderGuess, hint)
                                if hint = 0L then do! Task.Delay 20
                            | Refused _ ->
                                if not anyNode then Volatile.Write(&leaderGuess, 0L)
                                do! Task.Delay 20
                            | Unknown _ -> if not anyNode then Volatile.Write(&leaderGuess, 0L)
                } :> Task
            proposers <- Array.init 4 (fun i -> Task.Run(Func<Task>(proposer (i % 2 = 1))))

            let mutable k = 0
            while k < kills do
                k <- k + 1
                // A random moment: after a random number of further acknowledgements.
                let target = ledger.AckCount + rnd.Next(10, 150)
                do! wait $"{target} acknowledged commands before kill {k}" 60.0 (fun () -> ledger.AckCount >= target)
                let! leader = cluster.Leader()
                let victim, why =
                    match leader with
                    | Some l when rnd.Next 10 < 7 -> l, "the leader"
                    | Some l ->
                        let others = cluster.Ids |> Array.filter (fun i -> i <> l)
                        others[rnd.Next others.Length], "a follower"
                    | None -> cluster.Ids[rnd.Next cluster.Ids.Length], "no leader known"
                cluster.Kill(victim, $"kill {k}/{kills}, {why}, {ledger.AckCount} acknowledged")
                // Half the time the others commit more first, so the restarted node must catch up (log or snapshot).
                if rnd.Next 2 = 0 then
                    let more = ledger.AckCount + rnd.Next(10, 100)
                    do! wait $"{more} acknowledged commands with node {victim} down" 60.0 (fun () -> ledger.AckCount >= more)
                cluster.Launch victim |> ignore
                // Sometimes the restarted node is killed again during start-up or recovery.
                if k < kills && rnd.Next 6 = 0 then
                    k <- k + 1
                    do! Task.Delay(rnd.Next(0, 500))
                    cluster.Kill(victim, $"kill {k}/{kills}, during start-up")
                    cluster.Launch victim |> ignore
                let! _ = cluster.WaitReady(victim, TimeSpan.FromSeconds 60.0)
                cluster.Note $"node {victim} ready"

            // Last, a follower killed while it receives a snapshot: it is stopped until the leader has compacted past it
            // (300 commands against snapshots every 64 with 16 trailing entries), then restarted with a pause point that
            // holds the transfer still once two chunks of it are durable (the snapshot holds every applied command, far
            // more than three 512-byte chunks); killed there, its next run must resume the transfer.
            let! leader = cluster.Leader()
            let victim = cluster.Ids |> Array.find (fun id -> Some id <> leader)
            cluster.Kill(victim, "snapshot kill: stopped to fall behind")
            let more = ledger.AckCount + 300
            do! wait $"{more} acknowledged commands with node {victim} down" 60.0 (fun () -> ledger.AckCount >= more)
            let paused = cluster.Launch(victim, [ "RAFT_PAUSE_AFTER_SNAPSHOT_CHUNKS", "2" ])
            do! Wait.forTask $"node {victim} to pause with two chunks of a snapshot durable" (TimeSpan.FromSeconds 60.0) paused.SnapshotPaused
            File.Exists(cluster.ReceivingRecord victim) |> should equal true
            cluster.Kill(victim, $"while it receives a snapshot ({paused.SnapshotPaused.Result} bytes durable)")
            cluster.Launch victim |> ignore
            let! _ = cluster.WaitReady(victim, TimeSpan.FromSeconds 60.0)
            do! wait $"node {victim} resumes the snapshot transfer" 30.0 (fun () ->
                cluster.Output(victim).Contains "resumes receiving the snapshot")
            cluster.Note $"node {victim} ready"

            Volatile.Write(&stopping, true)
            let finished = Task.WhenAll proposers
            do! Wait.forTask "the proposers to finish" (TimeSpan.FromSeconds 90.0) finished
            do! finished // a proposer's failure fails the test here
            cluster.Note $"proposals stopped: {ledger.ProposedCount} proposed, {ledger.AckCount} acknowledged"

            // Convergence: every node up, one leader, the same last, commit and applied index everywhere, same state.
            let mutable last = ""
            let! final =
                task {
                    try
                        return!
                            Wait.untilSome "the nodes to converge" (TimeSpan.FromSeconds 60.0) (fun () ->
                                task {
                                    let! statuses = cluster.Statuses()
                                    last <- String.Join("; ", statuses |> Array.map (fun (id, s) -> $"node {id}: {s}"))
                                    let settled =
                                        statuses.Length = 3
                                        && (statuses |> Array.filter (fun (_, s) -> s.IsLeader)).Length = 1
                                        && statuses |> Array.forall (fun (_, s) ->
                                            let (_, s0) = statuses[0]
                                            s.Last = s0.Last && s.Commit = s0.Last && s.Applied = s0.Last && s.Term = s0.Term)
                                    if not settled then return None
                                    else
                                        let! dumps = Task.WhenAll(cluster.ReadyNodes |> Array.map (fun n -> n.Dump(TimeSpan.FromSeconds 10.0)))
                                        if dumps.Length = 3 && dumps |> Array.forall Option.isSome && dumps |> Array.forall (fun d -> d.Value = dumps[0].Value) then
                                            return dumps[0]
                                        else return None
                                })
                    with e -> return failwithf "%s (last statuses: %s)" e.Message last
                }
            cluster.Note $"converged: {last}"

            // The checks.
            let applied = final
            let position = Dictionary<int64, struct (int64 * int64)>()
            let mutable previousIndex = 0L
            applied
            |> Array.iteri (fun i (struct (index, command)) ->
                if index <= previousIndex then failwithf "index %d applied after index %d" index previousIndex
                previousIndex <- index
                if not (ledger.WasProposed command) then failwithf "command %d applied at index %d was never proposed" command index
                if position.ContainsKey command then
                    let struct (first, _) = position[command]
                    failwithf "command %d applied twice: at index %d and at index %d" command first index
                position[command] <- struct (index, int64 (i + 1)))
            for command, index, count in ledger.Acked do
                match position.TryGetValue command with
                | false, _ -> failwithf "acknowledged command %d (index %d) is not applied: a lost write" command index
                | true, struct (at, n) ->
                    if at <> index then failwithf "command %d was acknowledged at index %d but applied at index %d" command index at
                    if n <> count then failwithf "command %d was acknowledged as the command number %d but is number %d" command count n
            ledger.AckCount |> should be (greaterThan 100)
            return {| Acknowledged = ledger.AckCount; Proposed = ledger.ProposedCount; Applied = applied.Length
                      Kills = kills; Seconds = cluster.Elapsed.TotalSeconds; Report = cluster.Report() |}
        with e ->
            Volatile.Write(&stopping, true)
            return failwithf "process crash test failed (seed %d, replay with RAFT_PROCESS_CRASH_SEED=%d): %s\n%s" seed seed e.Message (cluster.Report())
    }

[<Fact(Timeout = 300000)>]
let ``a cluster of node processes keeps every acknowledged write through repeated SIGKILLs, mostly of the leader`` () =
    task {
        let seed =
            match Environment.GetEnvironmentVariable "RAFT_PROCESS_CRASH_SEED" with
            | null | "" -> Random.Shared.Next()
            | s -> int s
        let! r = runScenario seed 12
        match TestContext.Current.TestOutputHelper with
        | null -> ()
        | output ->
            output.WriteLine(
                $"seed {seed}: {r.Kills} kills in {r.Seconds:F1} s; {r.Proposed} proposed, {r.Acknowledged} acknowledged, {r.Applied} applied\n{r.Report}")
    }
