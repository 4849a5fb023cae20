namespace Raft.Core

/// Collects the effects of one step. It lives only for the duration of that step (no state outlives it),
/// so the step stays a pure function; it exists to make persist-before-send structural: every message
/// that must wait for durability is attached to the single Persist the step emits.
type internal Fx<'T>() =
    // Effects are collected newest first and reversed once; the persist parts are made only when a step needs them.
    let mutable effects: Effect<'T> list = []
    // The entries of the step's only write are kept as given (entry arrays are never modified); a second write
    // in the same step (rare: a new leader's entry after a configuration entry, say) switches to a list.
    let mutable persistArray: Entry<'T>[] voption = ValueNone
    let mutable persistEntries: ResizeArray<Entry<'T>> voption = ValueNone
    let mutable afterDurable: Message<'T> list = []
    let mutable snapshotChunk: SnapshotChunk voption = ValueNone

    /// Adds an effect that needs no ordering against the step's Persist.
    member _.Emit(effect: Effect<'T>) = effects <- effect :: effects

    /// Sends a message now.
    member _.Send(message: Message<'T>) = effects <- Send message :: effects

    /// Sends a message once everything written so far is durable.
    member _.SendAfterDurable(message: Message<'T>) = afterDurable <- message :: afterDurable

    /// Writes entries; a later write starting at or below an earlier one in this step replaces its tail.
    member _.PersistEntries(entries: Entry<'T>[]) =
        if entries.Length > 0 then
            match persistArray, persistEntries with
            | ValueNone, ValueNone -> persistArray <- ValueSome entries
            | _ ->
                let list =
                    match persistEntries, persistArray with
                    | ValueSome list, _ -> list
                    | ValueNone, ValueSome first -> ResizeArray<Entry<'T>>(first)
                    | ValueNone, ValueNone -> ResizeArray<Entry<'T>>()

                persistEntries <- ValueSome list
                persistArray <- ValueNone
                let first = entries[0].Index

                if list.Count > 0 && list[list.Count - 1].Index >= first then
                    let keep = list.FindIndex(fun e -> e.Index >= first)
                    list.RemoveRange(keep, list.Count - keep)

                list.AddRange entries

    /// Writes a received snapshot chunk.
    member _.PersistSnapshotChunk(chunk: SnapshotChunk) =
        if snapshotChunk.IsSome then invalidOp "one snapshot chunk per step"
        snapshotChunk <- ValueSome chunk

    /// The step's effects: the Persist (when anything must be written or wait) first, then the rest in order.
    member _.Build(hardState: HardState voption) : Effect<'T> list =
        let result = List.rev effects
        let entries =
            match persistArray, persistEntries with
            | ValueSome a, _ -> a
            | ValueNone, ValueSome list when list.Count > 0 -> list.ToArray()
            | _ -> System.Array.Empty()

        let hasEntries = entries.Length > 0

        if hardState.IsSome || hasEntries || not afterDurable.IsEmpty || snapshotChunk.IsSome then
            let persist =
                Persist
                    {
                        HardState = hardState
                        Entries = entries
                        Snapshot = snapshotChunk
                        ThenSend = List.rev afterDurable
                    }

            persist :: result
        else
            result
