namespace Raft.Simulation

open System
open System.Collections.Generic
open Raft.Core

/// A user state machine under test. The simulator keeps one instance per node and per incarnation: a crash
/// discards it and the node re-applies the committed log into a fresh one (or restores a snapshot).
type IStateMachine<'T> =
    /// Applies one committed command (called in index order, exactly once per index per instance).
    abstract Apply: index: Index * command: 'T -> unit
    /// A digest of the whole state, or 0 to opt out. Nodes that applied the same log prefix must report the
    /// same digest; a difference means the state machine is not deterministic (the simulator flags it).
    abstract Fingerprint: unit -> uint64
    /// The state as bytes, for snapshots.
    abstract Snapshot: unit -> byte[]
    /// Replaces the state with one produced by `Snapshot`.
    abstract Restore: snapshot: byte[] -> unit

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

/// How the simulator builds and exercises a user's state machine.
type StateMachineSpec<'T> =
    {
        /// A fresh, empty state machine for a node.
        Create: NodeId -> IStateMachine<'T>
        /// The next client command and its encoded size in bytes. `sequence` is unique within a run; putting it
        /// in the command makes every proposed entry distinct, so two different entries never compare equal.
        NextCommand: Rng -> int64 -> struct ('T * int)
        /// Renders a command for violation reports.
        Describe: 'T -> string
        /// The key-value view that client reads and the linearizability check need; ValueNone: no reads.
        KeyValue: KeyValueView<'T> voption
    }

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
        member _.Apply(index, command) =
            match data.TryGetValue command.Key with
            | true, old -> digest <- digest - pairHash command.Key old
            | _ -> ()

            data[command.Key] <- command.Value
            digest <- digest + pairHash command.Key command.Value
            applied <- index

        member _.Fingerprint() = digest

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

    /// The key-value state machine spec: each command writes a unique value (the run's sequence number).
    let spec: StateMachineSpec<KvCommand> =
        {
            Create = fun _ -> KvStateMachine() :> IStateMachine<KvCommand>
            NextCommand = fun rng sequence -> struct ({ Key = rng.Int keys; Value = sequence }, 16 + rng.Int 112)
            Describe = fun c -> $"put k{c.Key}={c.Value}"
            KeyValue =
                ValueSome
                    { Keys = keys
                      Write = fun c -> struct (c.Key, c.Value)
                      Read =
                        fun machine key ->
                            match machine with
                            | :? KvStateMachine as kv -> kv.TryGet key
                            | _ -> ValueNone }
        }
