/// The simulator's command line: runs seeds of a simulated Raft cluster under faults and prints one line of
/// totals, `N seeds, M steps, F faults, C commits, V violations` (exit code 1 when V > 0).
module Raft.Simulator.Program

open System
open System.Diagnostics
open Raft.Simulation

[<EntryPoint>]
let main argv =
    match Args.parse argv with
    | Error message ->
        let help = argv |> Array.exists (fun a -> a = "--help" || a = "-h")
        (if help then Console.Out else Console.Error).WriteLine message
        if help then 0 else 2
    | Ok request ->
        let clock = Stopwatch.StartNew()

        let onResult (r: SeedResult) =
            if request.Verbose then
                for e in r.Events do
                    printfn "  %s" e

                printfn "%s" r.Account

            if r.Failure.IsSome then
                printfn "%s" r.ViolationReport

        let summary =
            Simulator.runManyWith Kv.spec request.Options request.FirstSeed request.Seeds request.Parallel request.Verbose onResult

        if request.Verbose then
            printfn
                "%d elections, %d acknowledged writes, %d crashes, %d partitions in %.1f s"
                summary.Elections
                summary.Acknowledged
                summary.Crashes
                summary.Partitions
                clock.Elapsed.TotalSeconds

        printfn "%s" summary.Line
        if summary.Violations > 0 then 1 else 0
