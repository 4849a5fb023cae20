/// Raft.Testing's two targets: the simulator's throughput on a state machine run through the C# facade (MessagePack
/// commands, stream snapshots, snapshot bytes compared every 16 indexes, a C# model) against the built-in F#
/// key-value spec on the same seeds and options, in the same process, rounds alternating; and the time to check a
/// history of 10,000 operations on 8 keys.
module Raft.Benchmarks.FacadeBench

open System
open System.Collections.Generic
open System.Diagnostics
open System.IO
open MessagePack
open Raft.Simulation
open Raft.Testing

/// A put (Value >= 0) or a get (Value = -1) of one key; the padding gives commands the built-in spec's sizes
/// (16 to 127 bytes), which decide how many entries fit in one AppendEntries.
[<MessagePackObject>]
type KvOp =
    { [<Key 0>] Key: int
      [<Key 1>] Value: int64
      [<Key 2>] Padding: byte[] }

/// The built-in spec's state machine as a user writes it for production: Apply returns the key's value after the
/// command, snapshots are the sorted pairs.
type KvMachine() =
    let data = Dictionary<int, int64>()

    member _.Get(key: int) =
        match data.TryGetValue key with
        | true, v -> v
        | _ -> -1L

    interface Raft.Node.IStateMachine<KvOp, int64> with
        member _.Apply(_, _, op) =
            data[op.Key] <- op.Value
            op.Value

        member _.Snapshot(output: Stream) =
            use w = new BinaryWriter(output, Text.Encoding.UTF8, true)
            for KeyValue(k, v) in data |> Seq.sortBy (fun kv -> kv.Key) do
                w.Write k
                w.Write v

        member _.Restore(input: Stream) =
            data.Clear()
            use r = new BinaryReader(input, Text.Encoding.UTF8, true)
            while input.Position < input.Length do
                let k = r.ReadInt32()
                data[k] <- r.ReadInt64()

/// Last-writer-wins registers, one per key; the state is the key's value (-1: never written).
type KvModel() =
    interface IModel<int64, KvOp, int64> with
        member _.Initial = -1L
        member _.Apply(state, op) = if op.Value < 0L then struct (state, state) else struct (op.Value, op.Value)
        member _.PartitionKey op = box op.Key

let private spec () =
    SimulationSpec<KvOp, int64>((fun () -> KvMachine()), (fun random sequence ->
        { Key = random.Next Kv.keys; Value = sequence; Padding = Array.zeroCreate (4 + random.Next 112) }))
        .WithModel(KvModel(), (fun c -> c), (fun _ r -> r), (fun random -> { Key = random.Next Kv.keys; Value = -1L; Padding = [||] }),
                   (fun machine op -> (machine :?> KvMachine).Get op.Key))

let private load () = File.ReadAllText("/proc/loadavg").Trim()

/// Steps per second of the built-in spec and of the facade, seeds run one by one on one core.
let private simulators (arguments: string) (seeds: int) (rounds: int) =
    let line = arguments + $" --seeds {seeds} --sequential"
    let request =
        match Args.parse (line.Split(' ', StringSplitOptions.RemoveEmptyEntries)) with
        | Ok r -> r
        | Error e -> failwith e
    let facadeOptions = SimulationOptions.Parse line
    let spec = spec ()
    let builtIn = ResizeArray()
    let facade = ResizeArray()
    // Warm-up (JIT, tiered compilation) of both, not measured.
    Simulator.runManyWith Kv.spec request.Options request.FirstSeed 5 false false ignore |> ignore
    spec.Run(SimulationOptions.Parse(arguments + " --seeds 5 --sequential")) |> ignore
    printfn "simulator: %s, %d seeds, %d rounds (load %s)" arguments seeds rounds (load ())
    for round in 1..rounds do
        let cpu () = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
        let c0 = cpu ()
        let w = Stopwatch.StartNew()
        let s = Simulator.runManyWith Kv.spec request.Options request.FirstSeed seeds false false ignore
        let builtInRate = float s.Steps / w.Elapsed.TotalSeconds
        let c1 = cpu ()
        let r = spec.Run facadeOptions
        printfn "  round %d: cpu seconds built-in %.2f (wall %.2f), facade %.2f (wall %.2f)" round (c1 - c0) w.Elapsed.TotalSeconds (cpu () - c1) r.Elapsed.TotalSeconds
        builtIn.Add builtInRate
        facade.Add r.StepsPerSecond
        printfn "  round %d: built-in F# kv spec %.0f steps/s (%s); facade %.0f steps/s (%s); ratio %.2f"
            round builtInRate s.Line r.StepsPerSecond r.Summary (r.StepsPerSecond / builtInRate)
    let median (xs: ResizeArray<float>) = xs |> Seq.sort |> Seq.item (xs.Count / 2)
    printfn "  median: built-in %.0f steps/s, facade %.0f steps/s, ratio %.2f (load after %s)" (median builtIn) (median facade)
        (median facade / median builtIn) (load ())

/// A linearizable history of `count` operations on `keys` registers from `clients` concurrent clients: each
/// operation takes effect at a random instant inside its call..return interval; half are gets, 1% unknown.
let private history (count: int) (keys: int) (clients: int) =
    let rng = Rng(42UL)
    let clock = Array.zeroCreate<int64> clients
    let ops =
        [| for i in 0 .. count - 1 ->
               let client = i % clients
               let call = clock[client] + rng.Between(1L, 50L)
               let at = call + rng.Between(0L, 100L)
               let ret = at + rng.Between(0L, 100L)
               clock[client] <- ret
               let op = { Key = rng.Int keys; Value = (if rng.Chance 0.5 then -1L else int64 i); Padding = [||] }
               struct (client, op, call, at, ret, rng.Chance 0.01) |]
    let values = Array.create keys -1L
    let outputs = Dictionary<int64 * int, int64>()
    for struct (client, op, call, at, _, _) in ops |> Array.sortBy (fun struct (_, _, _, at, _, _) -> at) do
        if op.Value >= 0L then values[op.Key] <- op.Value
        outputs[(call, client)] <- values[op.Key]
    [ for struct (client, op, call, _, ret, unknown) in ops ->
          if unknown then HistoryOperation<KvOp, int64>.Unknown(client, op, call)
          else HistoryOperation<KvOp, int64>.Completed(client, op, call, ret, outputs[(call, client)]) ]

let private checker (rounds: int) =
    let ops = history 10_000 8 8
    printfn "checker: 10,000 operations on 8 keys from 8 clients (load %s)" (load ())
    for round in 1..rounds do
        let r = LinearizabilityChecker.Check(KvModel(), ops)
        printfn "  round %d: %s" round (string r)

/// `facade [--seeds N] [--rounds R] [-- simulator flags]`.
let run (args: string list) =
    let rec go seeds rounds = function
        | "--seeds" :: n :: rest -> go (int n) rounds rest
        | "--rounds" :: n :: rest -> go seeds (int n) rest
        | "--" :: rest -> seeds, rounds, String.Join(' ', rest)
        | [] -> seeds, rounds, "--nodes 5 --steps 20000 --reads 0.5 --snapshot-entries 40"
        | other :: _ -> failwith $"unknown argument {other}"
    let seeds, rounds, arguments = go 100 3 args
    simulators arguments seeds rounds
    checker rounds
