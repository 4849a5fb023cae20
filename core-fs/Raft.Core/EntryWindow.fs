namespace Raft.Core

/// Storage shared by successive versions of one window. `Used` is the high-water mark of slots any
/// version has written; a version may write in place only at that mark, so no slot another version can
/// see is ever overwritten and every version behaves as an immutable value.
/// Versions of one window must not be appended to from two threads at once (a node is single-threaded).
[<AllowNullLiteral>]
type internal WindowBuffer<'T>(items: Entry<'T>[], used: int) =
    member val Items = items with get, set
    member val Used = used with get, set

/// The in-memory payloads of the newest log entries: indexes [First, First + Count).
/// Appending is amortised O(1) without copying; truncating and evicting the front are O(1).
[<CustomEquality; NoComparison>]
type EntryWindow<'T> =
    internal
        {
            Buffer: WindowBuffer<'T>
            Offset: int
            Count: int
            First: Index
        }

    override this.Equals(other) =
        match other with
        | :? EntryWindow<'T> as o ->
            this.First = o.First
            && this.Count = o.Count
            && Seq.forall2 (fun a b -> Unchecked.equals a b) (Seq.init this.Count (fun i -> this.Buffer.Items[this.Offset + i])) (Seq.init o.Count (fun i -> o.Buffer.Items[o.Offset + i]))
        | _ -> false

    override this.GetHashCode() = hash (this.First, this.Count)

/// Operations on <see cref="EntryWindow{T}"/>.
module EntryWindow =
    /// An empty window whose next entry will have index `first`.
    let empty (first: Index) : EntryWindow<'T> =
        { Buffer = null; Offset = 0; Count = 0; First = first }

    /// First index held.
    let first (w: EntryWindow<'T>) = w.First
    /// Number of entries held.
    let count (w: EntryWindow<'T>) = w.Count
    /// One past the last index held.
    let nextIndex (w: EntryWindow<'T>) = w.First + int64 w.Count * 1L<index>

    /// True when `index` is held.
    let contains (w: EntryWindow<'T>) (index: Index) =
        index >= w.First && index < nextIndex w

    /// The entry at `index` (which must be held).
    let get (w: EntryWindow<'T>) (index: Index) : Entry<'T> =
        w.Buffer.Items[w.Offset + int (index - w.First)]

    /// Appends one entry, which must have index `nextIndex w`.
    let append (w: EntryWindow<'T>) (entry: Entry<'T>) : EntryWindow<'T> =
        if entry.Index <> nextIndex w then
            invalidOp $"entry window: appending index {entry.Index}, expected {nextIndex w}"

        let endSlot = w.Offset + w.Count

        if not (isNull w.Buffer) && w.Buffer.Used = endSlot && endSlot < w.Buffer.Items.Length then
            w.Buffer.Items[endSlot] <- entry
            w.Buffer.Used <- endSlot + 1
            { w with Count = w.Count + 1 }
        else
            // Copy into a fresh buffer: either full, or another version already wrote past our end.
            let capacity = max 64 (w.Count * 2 + 1)
            let items = Array.zeroCreate capacity

            if w.Count > 0 then
                Array.blit w.Buffer.Items w.Offset items 0 w.Count

            items[w.Count] <- entry

            {
                Buffer = WindowBuffer(items, w.Count + 1)
                Offset = 0
                Count = w.Count + 1
                First = w.First
            }

    /// Appends entries (contiguous, the first with index `nextIndex w`) and then forgets every index < `dropBefore`,
    /// as `append` for each entry followed by `dropBefore` would, making one new value instead of one per entry.
    let appendAll (w: EntryWindow<'T>) (entries: Entry<'T>[]) (dropBefore: Index) : EntryWindow<'T> =
        let n = entries.Length
        let endSlot = w.Offset + w.Count
        let inPlace = not (isNull w.Buffer) && w.Buffer.Used = endSlot && endSlot + n <= w.Buffer.Items.Length
        // Slots past `Used` are seen by no version, so a failed check below leaves every version intact.
        let items, offset = if inPlace then w.Buffer.Items, w.Offset else Array.zeroCreate (max 64 ((w.Count + n) * 2 + 1)), 0

        if not inPlace && w.Count > 0 then
            Array.blit w.Buffer.Items w.Offset items 0 w.Count

        let mutable expected = nextIndex w

        for i in 0 .. n - 1 do
            if entries[i].Index <> expected then
                invalidOp $"entry window: appending index {entries[i].Index}, expected {expected}"

            items[offset + w.Count + i] <- entries[i]
            expected <- expected + 1L<index>

        let buffer =
            if inPlace then
                w.Buffer.Used <- endSlot + n
                w.Buffer
            else
                WindowBuffer(items, w.Count + n)

        let count = w.Count + n

        if dropBefore >= expected && n > 0 then empty dropBefore
        elif dropBefore <= w.First then { Buffer = buffer; Offset = offset; Count = count; First = w.First }
        else
            let k = int (dropBefore - w.First)
            { Buffer = buffer; Offset = offset + k; Count = count - k; First = dropBefore }

    /// Forgets every index >= `index`; when `index` is below the window it becomes empty starting there.
    let truncateFrom (w: EntryWindow<'T>) (index: Index) : EntryWindow<'T> =
        if index >= nextIndex w then w
        elif index <= w.First then empty index
        else { w with Count = int (index - w.First) }

    /// Forgets every index < `index` (entries evicted to the host's log, or compacted).
    let dropBefore (w: EntryWindow<'T>) (index: Index) : EntryWindow<'T> =
        if index <= w.First then w
        elif index >= nextIndex w then empty index
        else
            let k = int (index - w.First)
            { w with Offset = w.Offset + k; Count = w.Count - k; First = index }

    /// How many entries `slice` returns for [from, upTo] (all held) limited to `maxBytes` (at least one).
    let private sliceLength (w: EntryWindow<'T>) (from: Index) (upTo: Index) (maxBytes: int64) =
        let mutable n = 0
        let mutable bytes = 0L
        let limit = int (upTo - from) + 1

        while n < limit && (n = 0 || bytes + int64 (get w (from + int64 n * 1L<index>)).Size <= maxBytes) do
            bytes <- bytes + int64 (get w (from + int64 n * 1L<index>)).Size
            n <- n + 1

        n

    /// Entries [from, upTo] (all held) limited to `maxBytes` (at least one entry is returned).
    let slice (w: EntryWindow<'T>) (from: Index) (upTo: Index) (maxBytes: int64) : Entry<'T>[] =
        let n = sliceLength w from upTo maxBytes
        Array.sub w.Buffer.Items (w.Offset + int (from - w.First)) n

    /// `slice`, but returns `shared` itself (when not null) when it holds exactly the entries `slice` would copy (the same
    /// objects): a broadcast sends every peer at the same position one array, and a proposal's own array.
    let sliceSharing (w: EntryWindow<'T>) (from: Index) (upTo: Index) (maxBytes: int64) (shared: Entry<'T>[] | null) : Entry<'T>[] =
        let n = sliceLength w from upTo maxBytes
        let start = w.Offset + int (from - w.First)
        let items = w.Buffer.Items

        match shared with
        | null -> Array.sub items start n
        | shared when shared.Length <> n -> Array.sub items start n
        | shared ->
            let mutable i = 0

            while i < n && LanguagePrimitives.PhysicalEquality shared[i] items[start + i] do
                i <- i + 1

            if i = n then shared else Array.sub items start n
