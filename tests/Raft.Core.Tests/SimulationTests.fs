/// The deterministic cluster simulator: hundreds of seeds of the real core under every fault with all
/// invariants on, exact replay, and proof that the checks catch planted protocol bugs.
module Raft.Core.Tests.SimulationTests

open Expecto
open Raft.Core
open Raft.Simulation

let private noViolations (summary: Summary) =
    let reports = summary.Failed |> List.map (fun r -> r.ViolationReport) |> String.concat "\n"
    Expect.equal summary.Violations 0 $"violations:\n{reports}"

/// Asserts that a violation found once is found again, identically, by running its seed again.
let private replaysExactly (found: SeedResult) =
    let again = Simulator.run found.Options found.Seed
    Expect.equal again.Failure found.Failure "the reported seed replays to the same violation at the same step"
    Expect.equal again.Fingerprint found.Fingerprint "the replay is the same run"

    // The printed command parses back to the very options and seed that failed.
    match Args.parse ((Args.replayArgs found.Options found.Seed).Split ' ') with
    | Ok request ->
        Expect.equal request.Options found.Options "replay command options"
        Expect.equal request.FirstSeed found.Seed "replay command seed"
        Expect.equal request.Seeds 1 "replay command runs one seed"
    | Error e -> failtest e

    Expect.stringContains found.ViolationReport "dotnet run --project examples/Raft.Simulator -c Release -- --nodes" "report has the replay command"

[<Tests>]
let tests =
    testList
        "simulation"
        [
            test "500 seeds of a 5-node cluster with every fault keep every invariant" {
                let options = { SimOptions.defaults with Steps = 12_000 }
                let summary = Simulator.runMany options 1UL 500
                noViolations summary
                Expect.equal summary.Seeds 500 "seeds"
                // The faults and the progress are real, not a quiet cluster.
                Expect.isGreaterThan summary.Commits (500L * 100L) "commits"
                Expect.isGreaterThan summary.Crashes 1000L "crashes"
                Expect.isGreaterThan summary.Partitions 1000L "partitions"
                Expect.isGreaterThan summary.Elections 1000L "elections"
                Expect.isGreaterThan summary.Acknowledged (500L * 50L) "acknowledged writes"
            }

            test "200 seeds of a 3-node cluster with every fault keep every invariant" {
                let options = { SimOptions.defaults with Nodes = 3; Steps = 12_000 }
                noViolations (Simulator.runMany options 10_001UL 200)
            }

            test "100 seeds of the Figure 8 schedule keep every invariant" {
                noViolations (Simulator.runMany { SimOptions.figure8 with Steps = 8_000 } 20_001UL 100)
            }

            test "200 seeds with snapshots every 40 entries (compaction, InstallSnapshot, restarts from snapshots)" {
                noViolations (Simulator.runMany { SimOptions.defaults with Steps = 12_000; SnapshotEntries = 40L } 30_001UL 200)
            }

            test "one seed and options give the identical run; another seed a different one" {
                let options = { SimOptions.defaults with Steps = 8_000 }
                let a = Simulator.runWith Kv.spec options 42UL true
                let b = Simulator.runWith Kv.spec options 42UL true
                let untraced = Simulator.run options 42UL
                let other = Simulator.run options 43UL
                Expect.equal a.Fingerprint b.Fingerprint "fingerprint"
                Expect.equal a.Events b.Events "event trace"
                Expect.equal a.Account b.Account "account"
                Expect.equal untraced.Fingerprint a.Fingerprint "tracing does not change the run"
                Expect.notEqual other.Fingerprint a.Fingerprint "another seed is another run"
            }

            test "parallel and sequential runs give the same totals" {
                let options = { SimOptions.defaults with Steps = 3_000 }
                let sequential = Simulator.runManyWith Kv.spec options 1UL 40 false false ignore
                let parallel' = Simulator.runManyWith Kv.spec options 1UL 40 true false ignore
                Expect.equal parallel'.Line sequential.Line "summary line"
            }

            test "finds a leader that commits an old term's entry by counting (Figure 8), and the seed replays" {
                let options = { SimOptions.figure8 with Steps = 5_000; PlantedBugs = [ CommitOldTermByCounting ] }
                match Simulator.findViolationWith Kv.spec options 1UL 300 with
                | None -> failtest "CommitOldTermByCounting not found in 300 seeds"
                | Some found ->
                    Expect.contains [ "leader completeness"; "state machine safety"; "acknowledged write lost" ] found.Failure.Value.Violation.Property "a safety property"
                    replaysExactly found
            }

            test "finds votes granted without the log check, and the seed replays" {
                let options = { SimOptions.defaults with Steps = 5_000; PlantedBugs = [ VoteWithoutLogCheck ] }
                match Simulator.findViolationWith Kv.spec options 1UL 200 with
                | None -> failtest "VoteWithoutLogCheck not found in 200 seeds"
                | Some found -> replaysExactly found
            }

            test "flags a state machine that is not deterministic" {
                // A user's state machine whose state depends on the node it runs on.
                let spec =
                    { Kv.spec with
                        Create =
                            fun id ->
                                let kv = KvStateMachine() :> IStateMachine<KvCommand>
                                { new IStateMachine<KvCommand> with
                                    member _.Apply(index, c) = kv.Apply(index, (if id = Ids.node 2L then { c with Value = c.Value + 1L } else c))
                                    member _.Fingerprint() = kv.Fingerprint()
                                    member _.Snapshot() = kv.Snapshot()
                                    member _.Restore b = kv.Restore b } }

                let r = Simulator.runWith spec { SimOptions.defaults with Steps = 5_000 } 1UL false
                Expect.equal (r.Failure |> Option.map (fun f -> f.Violation.Property)) (Some "state machine determinism") "found"
            }

            test "the replay command of any options parses back to them" {
                let o =
                    { SimOptions.defaults with
                        Nodes = 7
                        Steps = 1234
                        Faults = { FaultRates.defaults with Drop = 0.123456789; OneWay = 1.0 / 3.0 }
                        MaxMsgBytes = 77L
                        PlantedBugs = [ VoteWithoutLogCheck; CommitOldTermByCounting ] }

                match Args.parse ((Args.replayArgs o 99UL).Split ' ') with
                | Ok r -> Expect.equal (r.Options, r.FirstSeed) (o, 99UL) "round trip"
                | Error e -> failtest e
            }

            test "a torn write keeps a durable prefix of the write in progress and nothing after it" {
                let hard = Node.hardState (Result.defaultWith failwith (Node.bootstrap (RaftOptions.defaults (Ids.node 1L)) [ Ids.node 1L ]) : State<int>)
                let disk = Disk<int>(hard)
                let entry i = { Index = Ids.index i; Term = Ids.term 1L; Payload = Command(int i); Size = 1 }
                let write es = { HardState = ValueNone; Entries = es; Snapshot = ValueNone; ThenSend = [] }
                disk.Write(write [| entry 1L; entry 2L |], 5L) |> ignore
                disk.CompleteOldest() |> ignore
                disk.Write(write [| entry 3L; entry 4L; entry 5L |], 10L) |> ignore
                disk.Write(write [| entry 6L |], 11L) |> ignore
                Expect.equal disk.Written.LastIndex (Ids.index 6L) "written log sees pending writes"
                Expect.isTrue (disk.Crash(true, (fun _ -> 2), false)) "torn"
                Expect.equal disk.Durable.LastIndex (Ids.index 4L) "prefix of the write in progress survives"
                Expect.equal disk.Written.LastIndex (Ids.index 4L) "the later write is lost"
            }

            test "a snapshot chunk continues only a transfer of the same snapshot (transfer ids repeat across leaders)" {
                // Seeds 41, 44 and 57 assembled one snapshot from chunks of two (found with --snapshot-entries 40).
                let options = { SimOptions.defaults with SnapshotEntries = 40L }

                for seed in [ 41UL; 44UL; 57UL ] do
                    let r = Simulator.run options seed
                    Expect.isNone r.Failure $"seed {seed}: {r.ViolationReport}"
            }
        ]

