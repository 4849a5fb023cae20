/// The fuzz corpus as a normal test: every seed, hand-made edge case and checked-in crash input of every fuzz target
/// (tests/Raft.Fuzz/corpus/TARGET/**) goes through the harness's Check, which allows a result or the target's
/// documented exceptions only, within the target's allocation limit, and here within a deadline. No afl++ needed.
module Raft.Storage.Tests.FuzzReplayTests

open System
open System.IO
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Fuzz
open Raft.Tests

/// Generous for a loaded two-core machine; an input that takes this long is a hang.
let private deadline = TimeSpan.FromSeconds 60.0

let private corpus name = Path.Combine(Repository.root (), "tests", "Raft.Fuzz", "corpus", name)

let targets () : obj[] seq = FuzzTargets.All |> Seq.map (fun t -> [| box t.Name |])

let private replay (target: FuzzTarget) (file: string) =
    let bytes = File.ReadAllBytes file
    // On a thread of its own: Check counts the allocations of the thread it runs on.
    let run = Task.Factory.StartNew((fun () -> Check.Run(target, bytes)), TaskCreationOptions.LongRunning)
    try
        if run.Wait deadline then None else Some $"{file}: no result within {deadline.TotalSeconds} s (a hang)"
    with :? AggregateException as e -> Some $"{file}: {e.InnerException.Message}"

[<Theory>]
[<MemberData(nameof targets)>]
let ``every corpus input of the target passes Check`` (name: string) =
    let target = FuzzTargets.Find name
    let dir = corpus name
    Directory.Exists dir |> should equal true
    let files = Directory.GetFiles(dir, "*", SearchOption.AllDirectories) |> Array.sort
    files |> should not' (be Empty)
    let failures = files |> Array.choose (replay target)
    failures |> should equal Array.empty<string>

[<Fact>]
let ``every corpus folder belongs to a target`` () =
    let folders = Directory.GetDirectories(Path.Combine(Repository.root (), "tests", "Raft.Fuzz", "corpus")) |> Array.map Path.GetFileName |> Array.sort
    folders |> should equal (FuzzTargets.All |> Seq.map (fun t -> t.Name) |> Seq.sort |> Array.ofSeq)
