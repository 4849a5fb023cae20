namespace Raft.Core

/// The rarely needed parts of a step's effects: a second batch of entries, a snapshot chunk, an abandoned snapshot.
/// Kept apart so the collector every step allocates stays small.
type internal FxRare<'T>() =
    /// The entries of every write of the step, once a second write arrived.
    member val Entries: ResizeArray<Entry<'T>> voption = ValueNone with get, set
    /// A received snapshot chunk to write.
    member val Chunk: SnapshotChunk voption = ValueNone with get, set
    /// Effects that go ahead of the step's Persist (AbandonSnapshot), newest first.
    member val Leading: Effect<'T> list = [] with get, set

/// Lists that may be null, for the collector's fields.
module internal FxLists =
    /// `list`, or [] when it was never set.
    let inline orEmpty (list: 'a list) = if isNull (box list) then [] else list

open FxLists

/// Collects the effects of one step. It lives only for the duration of that step (no state outlives it),
/// so the step stays a pure function; it exists to make persist-before-send structural: every message
/// that must wait for durability is attached to the single Persist the step emits.
/// One is allocated per step, so it holds only four references (null while unused).
type internal Fx<'T>() =
    // Effects are collected newest first and reversed once. Both lists start as null rather than [], whose
    // lookup costs a runtime helper call in shared generic code, on every step, even one that emits nothing.
    let mutable effects: Effect<'T> list = Unchecked.defaultof<_>
    // The entries of the step's only write, kept as given (entry arrays are never modified); null when none.
    let mutable persistArray: Entry<'T>[] | null = null
    let mutable afterDurable: Message<'T> list = Unchecked.defaultof<_>

    // A second write in the same step (rare: a new leader's entry after a configuration entry, say) or a
    // snapshot chunk; null when neither.
    let mutable rare: FxRare<'T> | null = null

    member private _.Rare =
        match rare with
        | null ->
            let r = FxRare<'T>()
            rare <- r
            r
        | r -> r

    /// Adds an effect that needs no ordering against the step's Persist.
    member _.Emit(effect: Effect<'T>) = effects <- effect :: orEmpty effects

    /// Sends a message now.
    member _.Send(message: Message<'T>) = effects <- Send message :: orEmpty effects

    /// Sends a message once everything written so far is durable.
    member _.SendAfterDurable(message: Message<'T>) = afterDurable <- message :: orEmpty afterDurable

    /// Writes entries; a later write starting at or below an earlier one in this step replaces its tail.
    member this.PersistEntries(entries: Entry<'T>[]) =
        if entries.Length > 0 then
            let hasList =
                match rare with
                | null -> false
                | r -> r.Entries.IsSome

            if isNull persistArray && not hasList then
                persistArray <- entries
            else
                let list =
                    match this.Rare.Entries with
                    | ValueSome list -> list
                    | ValueNone ->
                        match persistArray with
                        | null -> ResizeArray<Entry<'T>>()
                        | first -> ResizeArray<Entry<'T>>(first)

                this.Rare.Entries <- ValueSome list
                persistArray <- null
                let first = entries[0].Index

                if list.Count > 0 && list[list.Count - 1].Index >= first then
                    let keep = list.FindIndex(fun e -> e.Index >= first)
                    list.RemoveRange(keep, list.Count - keep)

                list.AddRange entries

    /// Writes a received snapshot chunk.
    member this.PersistSnapshotChunk(chunk: SnapshotChunk) =
        if this.Rare.Chunk.IsSome then invalidOp "one snapshot chunk per step"
        this.Rare.Chunk <- ValueSome chunk

    /// Abandons a snapshot being received: its effect goes ahead of the step's Persist, whose chunk (of a transfer
    /// replacing it) the host must not delete with it.
    member this.AbandonSnapshot(meta: SnapshotMeta) = this.Rare.Leading <- AbandonSnapshot meta :: this.Rare.Leading

    /// The step's effects: abandoned snapshots first, then the Persist (when anything must be written or wait),
    /// then the rest in order.
    member _.Build(hardState: HardState voption) : Effect<'T> list =
        let result = List.rev (orEmpty effects)
        // Entries stay null when none, so a step that writes nothing never looks up the empty array.
        let struct (entries, chunk) =
            match rare with
            | null -> struct (persistArray, ValueNone)
            | r ->
                match persistArray with
                | null ->
                    match r.Entries with
                    | ValueSome list when list.Count > 0 -> struct (list.ToArray(), r.Chunk)
                    | _ -> struct (null, r.Chunk)
                | a -> struct (a, r.Chunk)

        let hasEntries =
            match entries with
            | null -> false
            | a -> a.Length > 0

        let result =
            if hardState.IsSome || hasEntries || not (isNull (box afterDurable)) || chunk.IsSome then
                let persist =
                    Persist
                        {
                            HardState = hardState
                            Entries =
                                match entries with
                                | null -> System.Array.Empty()
                                | a -> a
                            Snapshot = chunk
                            ThenSend = List.rev (orEmpty afterDurable)
                        }

                persist :: result
            else
                result

        match rare with
        | null -> result
        | r when r.Leading.IsEmpty -> result
        | r -> List.rev r.Leading @ result
