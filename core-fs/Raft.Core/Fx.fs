namespace Raft.Core

/// Collects the effects of one step. It lives only for the duration of that step (no state outlives it),
/// so the step stays a pure function; it exists to make persist-before-send structural: every message
/// that must wait for durability is attached to the single Persist the step emits.
type internal Fx<'T>() =
    // Most steps emit few effects: start small, the lists grow on demand.
    let effects = ResizeArray<Effect<'T>>(4)
    let persistEntries = ResizeArray<Entry<'T>>(0)
    let afterDurable = ResizeArray<Message<'T>>(0)
    let mutable snapshotChunk: SnapshotChunk voption = ValueNone

    /// Adds an effect that needs no ordering against the step's Persist.
    member _.Emit(effect: Effect<'T>) = effects.Add effect

    /// Sends a message now.
    member _.Send(message: Message<'T>) = effects.Add(Send message)

    /// Sends a message once everything written so far is durable.
    member _.SendAfterDurable(message: Message<'T>) = afterDurable.Add message

    /// Writes entries; a later write starting at or below an earlier one in this step replaces its tail.
    member _.PersistEntries(entries: Entry<'T>[]) =
        if entries.Length > 0 then
            let first = entries[0].Index
            let keep = persistEntries.FindIndex(fun e -> e.Index >= first)

            if keep >= 0 then
                persistEntries.RemoveRange(keep, persistEntries.Count - keep)

            persistEntries.AddRange entries

    /// Writes a received snapshot chunk.
    member _.PersistSnapshotChunk(chunk: SnapshotChunk) =
        if snapshotChunk.IsSome then invalidOp "one snapshot chunk per step"
        snapshotChunk <- ValueSome chunk

    /// The step's effects: the Persist (when anything must be written or wait) first, then the rest in order.
    member _.Build(hardState: HardState voption) : Effect<'T> list =
        let mutable result = List.ofSeq effects

        if hardState.IsSome || persistEntries.Count > 0 || afterDurable.Count > 0 || snapshotChunk.IsSome then
            let persist =
                Persist
                    {
                        HardState = hardState
                        Entries = persistEntries.ToArray()
                        Snapshot = snapshotChunk
                        ThenSend = List.ofSeq afterDurable
                    }

            result <- persist :: result

        result
