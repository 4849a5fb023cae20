/// Runs transcript files: every command's output is compared with the expected block; a mismatch fails with a
/// line diff, and the rewrite mode (environment variable RAFT_REWRITE=1) writes the actual output back instead.
module Raft.Core.Tests.Transcript.Runner

open System
open System.IO
open Expecto
open Raft.Core.Tests.Transcript.Env
open Raft.Core.Tests.Transcript.Parser

/// Every command, by name.
let handlers: Map<string, World -> Command -> unit> =
    Map.ofList
        [
            "add-nodes", NodeCommands.addNodes
            "crash", NodeCommands.crash
            "restart", NodeCommands.restart
            "tick", TimeCommands.tick
            "tick-heartbeat", TimeCommands.tickHeartbeat
            "tick-election", TimeCommands.tickElection
            "campaign", RequestCommands.campaign
            "propose", RequestCommands.propose
            "deliver-msgs", NetworkCommands.deliverMsgs
            "drop-msgs", NetworkCommands.dropMsgs
            "partition", NetworkCommands.partition
            "heal", NetworkCommands.heal
            "process-effects", EffectCommands.processEffectsCommand
            "stabilize", EffectCommands.stabilize
            "raft-state", InspectCommands.raftState
            "raft-log", InspectCommands.raftLog
            "raft-disk", InspectCommands.raftDisk
            "raft-config", InspectCommands.raftConfig
            "raft-progress", InspectCommands.raftProgress
            "state-machine", InspectCommands.stateMachine
            "read-index", ReadCommands.readIndex
            "transfer-leader", TransferCommands.transferLeader
            "conf-change", ConfChangeCommands.confChange
            "snapshot", SnapshotCommands.snapshot
        ]

/// The testdata folder: next to the sources when they exist (so edits need no rebuild and rewrites land in
/// the repository), otherwise the copy in the output folder.
let testdataDir () =
    let source = Path.GetFullPath(Path.Combine(__SOURCE_DIRECTORY__, "..", "testdata"))
    let output = Path.Combine(AppContext.BaseDirectory, "testdata")
    if Directory.Exists source then source else output

let rewriteMode () =
    match Environment.GetEnvironmentVariable "RAFT_REWRITE" with
    | null
    | ""
    | "0"
    | "false" -> false
    | _ -> true

/// A minimal line diff (longest common subsequence): `-` expected only, `+` actual only, ` ` both.
let diff (expected: string list) (actual: string list) =
    let a = Array.ofList expected
    let b = Array.ofList actual
    let lcs = Array2D.zeroCreate (a.Length + 1) (b.Length + 1)

    for i in a.Length - 1 .. -1 .. 0 do
        for j in b.Length - 1 .. -1 .. 0 do
            lcs[i, j] <- if a[i] = b[j] then lcs[i + 1, j + 1] + 1 else max lcs[i + 1, j] lcs[i, j + 1]

    let out = ResizeArray()
    let mutable i = 0
    let mutable j = 0

    while i < a.Length || j < b.Length do
        if i < a.Length && j < b.Length && a[i] = b[j] then
            out.Add("  " + a[i])
            i <- i + 1
            j <- j + 1
        elif j < b.Length && (i = a.Length || lcs[i, j + 1] >= lcs[i + 1, j]) then
            out.Add("+ " + b[j])
            j <- j + 1
        else
            out.Add("- " + a[i])
            i <- i + 1

    String.concat "\n" out

/// Runs one command and returns its output lines.
let runCommand (w: World) (path: string) (block: Block) =
    w.Out.Clear() |> ignore
    let command = parseCommand block.Line block.Command

    match Map.tryFind command.Name handlers with
    | None -> failwithf "%s:%d: unknown command '%s'" path block.Line command.Name
    | Some handler ->
        try
            handler w command
        with
        | UsageError message -> failwithf "%s:%d: %s: %s" path block.Line block.Command message
        | e -> raise (Exception($"{path}:{block.Line}: {block.Command}: {e.Message}", e))

        let text = w.Out.ToString().TrimEnd('\n')
        if text = "" then [ "ok" ] else text.Split('\n') |> List.ofArray

/// Runs a transcript file: returns the rendered file with actual outputs, and the mismatches as messages.
let runFile (path: string) =
    let file = parse path (File.ReadAllText path)
    let w = create ()
    let outputs = file.Blocks |> List.map (runCommand w path)

    let mismatches =
        List.zip file.Blocks outputs
        |> List.filter (fun (b, actual) -> b.Expected <> actual)
        |> List.map (fun (b, actual) ->
            $"{Path.GetFileName path}:{b.Line}: {b.Command}\n(- expected, + actual)\n{diff b.Expected actual}")

    render file outputs, mismatches

/// Runs (or, in rewrite mode, regenerates) one transcript.
let check (path: string) =
    let rendered, mismatches = runFile path

    if rewriteMode () then
        if rendered <> File.ReadAllText path then File.WriteAllText(path, rendered)
    elif not mismatches.IsEmpty then
        failtestf
            "%d command(s) of %s printed something else (RAFT_REWRITE=1 regenerates the file; review the diff):\n\n%s"
            mismatches.Length
            (Path.GetFileName path)
            (String.concat "\n\n" mismatches)

/// One test per testdata/*.txt file.
[<Tests>]
let transcripts =
    let dir = testdataDir ()

    let files =
        if Directory.Exists dir then Directory.GetFiles(dir, "*.txt") |> Array.sort else [||]

    testList
        "transcripts"
        [
            test "the testdata folder holds transcripts" {
                Expect.isNonEmpty files $"no transcripts found in {dir}"
            }

            for f in files do
                testCase (nonNull (Path.GetFileNameWithoutExtension f)) (fun () -> check f)
        ]
