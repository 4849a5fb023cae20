namespace Raft.Simulation

open System
open System.Collections.Generic
open Raft.Core
open Raft.Simulation.Linearizability

/// How a state machine looks as a key-value map, for client reads and the linearizability check: every
/// command writes one value at one key, and a node's state machine can be read at a key.
type KeyValueView<'T> =
    {
        /// Keys the clients read (0 .. Keys-1).
        Keys: int
        /// The key a command writes and the value it writes there (unique per command).
        Write: 'T -> struct (int * int64)
        /// The value a node's state machine holds at a key (ValueNone: never written).
        Read: IStateMachine<'T> -> int -> int64 voption
    }

/// The reads and the history check of a key-value-shaped state machine.
module KeyValueView =
    type private Op = Operation<KeyValue.Input<int, int64>, KeyValue.Output<int64>>

    /// The key-value model with last-writer-wins values, checked key by key.
    let private model = KeyValue.modelWith (fun (_: int64) (value: int64) -> value)

    /// Budget per key: histories are bounded by `SimOptions.HistoryLimit`, so a search that runs out is a sign
    /// of a pathological schedule, reported as inconclusive rather than a violation.
    let private checkOptions = { MaxStepsPerPartition = 2_000_000L }

    /// Reads of one random key (the query is the key, the answer its `int64 voption`).
    let reads (view: KeyValueView<'T>) : ReadView<'T> =
        { Next = fun rng -> rng.Int view.Keys :> obj
          Answer = fun machine key -> box (view.Read machine (unbox<int> key))
          Local = false
          Describe = fun key -> $"k{key}" }

    /// Operations from the recorded reads (served ones only: a read has no effect) and every put whose call
    /// came before `cutoff` (the last return of a recorded read): a later put cannot take effect before any
    /// recorded operation returned, so leaving it out changes nothing. An acknowledged put returned when its
    /// leader applied it; a refused one certainly did not happen and is left out; any other may have
    /// happened, at any time after its call, or not at all (timed out).
    let private build (view: KeyValueView<'T>) (history: ClientHistory<'T>) : Op list =
        let served =
            [ for r in history.Reads do
                  match r.Served with
                  | ValueSome(struct (at, value)) ->
                      let value = unbox<int64 voption> (nonNull value)
                      Operation.returned r.Node (KeyValue.Get(unbox<int> r.Query)) (KeyValue.Value(ValueOption.toOption value)) r.Call at
                  | ValueNone -> () ]

        let cutoff =
            served
            |> List.fold (fun m op -> match op.Outcome with Returned(at, _) -> max m at | TimedOut -> m) Int64.MinValue

        let puts =
            [ for p in history.Proposals do
                  if not p.Refused && p.Call <= cutoff then
                      for c in p.Commands do
                          let struct (key, value) = view.Write c
                          let input = KeyValue.Put(key, value)

                          match p.Acknowledged with
                          | ValueSome at -> Operation.returned p.Node input KeyValue.Written p.Call at
                          | ValueNone -> Operation.timedOut p.Node input p.Call ]

        puts @ served

    /// The verdict on a history against the key-value model (an inconclusive search counts as no violation).
    let check (view: KeyValueView<'T>) (history: ClientHistory<'T>) : HistoryVerdict =
        let ops = build view history

        let violation =
            match checkWith checkOptions model ops with
            | NotLinearizable v ->
                match FailingWindow.find checkOptions model v.Operations with
                | Some window -> Some(FailingWindow.describe model window)
                | None -> Some v.Explanation
            | Linearizable
            | Inconclusive _ -> None

        { Operations = ops.Length; Violation = violation }

/// The built-in model state machine's command: write `Value` at `Key`.
[<Struct>]
type KvCommand = { Key: int; Value: int64 }

/// The built-in key-value state machine: a map from small integer keys to the last value written.
/// Its fingerprint is maintained incrementally (a sum of per-pair hashes), so checking it after every
/// apply costs O(1).
[<Sealed>]
type KvStateMachine() =
    let data = Dictionary<int, int64>()
    let mutable digest = 0UL
    let mutable applied = 0L<index>

    static let pairHash (key: int) (value: int64) = Rng.mix (uint64 value) (uint64 (uint32 key))

    /// The value at `key`, if any write reached it.
    member _.TryGet(key: int) : int64 voption =
        match data.TryGetValue key with
        | true, v -> ValueSome v
        | _ -> ValueNone

    /// The last index applied (0 when none).
    member _.AppliedIndex = applied

    /// Number of keys written.
    member _.Count = data.Count

    interface IStateMachine<KvCommand> with
        member _.Apply(index, _, command) =
            match data.TryGetValue command.Key with
            | true, old -> digest <- digest - pairHash command.Key old
            | _ -> ()

            data[command.Key] <- command.Value
            digest <- digest + pairHash command.Key command.Value
            applied <- index
            null

        member _.Fingerprint _ = digest

        member _.Snapshot() =
            // Sorted by key so equal states give equal bytes.
            let pairs = data |> Seq.sortBy (fun kv -> kv.Key) |> Array.ofSeq
            let bytes = Array.zeroCreate<byte> (8 + pairs.Length * 12)
            BitConverter.TryWriteBytes(Span(bytes, 0, 8), int64 applied) |> ignore

            pairs
            |> Array.iteri (fun i kv ->
                BitConverter.TryWriteBytes(Span(bytes, 8 + i * 12, 4), kv.Key) |> ignore
                BitConverter.TryWriteBytes(Span(bytes, 12 + i * 12, 8), kv.Value) |> ignore)

            bytes

        member _.Restore(snapshot) =
            data.Clear()
            digest <- 0UL
            applied <- Ids.index (BitConverter.ToInt64(snapshot, 0))

            for i in 0 .. (snapshot.Length - 8) / 12 - 1 do
                let key = BitConverter.ToInt32(snapshot, 8 + i * 12)
                let value = BitConverter.ToInt64(snapshot, 12 + i * 12)
                data[key] <- value
                digest <- digest + pairHash key value

/// The built-in key-value model: the simulator's default state machine.
module Kv =
    /// Keys the clients write; few, so that writes to one key interleave.
    let keys = 8

    /// The key-value view of the built-in state machine.
    let view: KeyValueView<KvCommand> =
        { Keys = keys
          Write = fun c -> struct (c.Key, c.Value)
          Read =
            fun machine key ->
                match machine with
                | :? KvStateMachine as kv -> kv.TryGet key
                | _ -> ValueNone }

    /// The key-value state machine spec: each command writes a unique value (the run's sequence number).
    let spec: StateMachineSpec<KvCommand> =
        {
            Create = fun _ -> KvStateMachine() :> IStateMachine<KvCommand>
            NextCommand = fun rng sequence -> struct ({ Key = rng.Int keys; Value = sequence }, 16 + rng.Int 112)
            Describe = fun c -> $"put k{c.Key}={c.Value}"
            Reads = ValueSome(KeyValueView.reads view)
            CheckHistory = ValueSome(KeyValueView.check view)
        }
