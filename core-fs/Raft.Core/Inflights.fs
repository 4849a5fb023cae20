namespace Raft.Core

/// Storage shared by successive versions of one in-flight queue, like the entry window's buffer: `Used` is the
/// high-water mark of slots any version has written, and a version writes in place only at that mark, so no
/// slot another version can see is ever overwritten. Versions must not be added to from two threads at once.
[<AllowNullLiteral>]
type internal InflightBuffer(items: struct (Index * int64)[], used: int) =
    member val Items = items with get, set
    member val Used = used with get, set

/// AppendEntries sent to one peer and not yet acknowledged: (last index of the message, its bytes),
/// oldest first. Bounded by message count and bytes (flow control, RAFT.md §2).
/// A queue in a shared array rather than a list: adding and freeing copy one small struct, no list cells; held
/// inline in the peer's progress, so a progress update allocates nothing more for it.
[<Struct; CustomEquality; NoComparison>]
type Inflights =
    internal
        {
            Buffer: InflightBuffer
            /// Slot of the oldest message.
            Offset: int
            /// Messages in flight.
            Length: int
            /// Bytes in flight.
            Size: int64
        }

    /// Messages in flight.
    member f.Count = f.Length
    /// Bytes in flight.
    member f.Bytes = f.Size

    /// The messages in flight, oldest first.
    member internal f.Item(i: int) = f.Buffer.Items[f.Offset + i]

    override this.Equals(other) =
        match other with
        | :? Inflights as o ->
            let me = this
            me.Length = o.Length
            && me.Size = o.Size
            && Seq.forall (fun i -> me.Item i = o.Item i) (seq { 0 .. me.Length - 1 })
        | _ -> false

    override this.GetHashCode() = hash (this.Length, this.Size)

/// Operations on <see cref="Inflights"/>.
module Inflights =
    /// Nothing in flight.
    let empty = { Buffer = null; Offset = 0; Length = 0; Size = 0L }

    /// True when another message would exceed `maxCount` messages or `maxBytes` bytes (0 = unlimited bytes).
    let isFull (maxCount: int) (maxBytes: int64) (f: Inflights) =
        f.Length >= maxCount || (maxBytes > 0L && f.Size >= maxBytes)

    /// Records a message ending at `last` carrying `bytes`.
    let add (last: Index) (bytes: int64) (f: Inflights) =
        let endSlot = f.Offset + f.Length

        if not (isNull f.Buffer) && f.Buffer.Used = endSlot && endSlot < f.Buffer.Items.Length then
            f.Buffer.Items[endSlot] <- struct (last, bytes)
            f.Buffer.Used <- endSlot + 1
            { f with Length = f.Length + 1; Size = f.Size + bytes }
        else
            // Copy into a fresh buffer: either full, or another version already wrote past our end.
            let items = Array.zeroCreate (max 16 (f.Length * 2 + 1))

            if f.Length > 0 then
                Array.blit f.Buffer.Items f.Offset items 0 f.Length

            items[f.Length] <- struct (last, bytes)
            { Buffer = InflightBuffer(items, f.Length + 1); Offset = 0; Length = f.Length + 1; Size = f.Size + bytes }

    /// Frees the oldest `n` messages.
    let private dropFirst (n: int) (f: Inflights) =
        if n = 0 then
            f
        else
            // The buffer is kept even when the queue empties: the next add writes in place after the freed slots.
            let mutable freed = 0L

            for i in 0 .. n - 1 do
                let struct (_, b) = f.Item i
                freed <- freed + b

            { f with Offset = f.Offset + n; Length = f.Length - n; Size = f.Size - freed }

    /// Frees the oldest message (a heartbeat answer proved the peer alive while the window stayed full).
    let freeFirst (f: Inflights) = dropFirst (min 1 f.Length) f

    /// Frees every message ending at or before `index` (acknowledged).
    let freeTo (index: Index) (f: Inflights) =
        let mutable n = 0

        while n < f.Length && (let struct (last, _) = f.Item n in last <= index) do
            n <- n + 1

        // Nothing to free (the oldest message ends after `index`): the same value.
        dropFirst n f

    /// True when both values are the same queue state (same storage, same slots): what `freeTo` returns when it
    /// frees nothing.
    let same (a: Inflights) (b: Inflights) =
        LanguagePrimitives.PhysicalEquality a.Buffer b.Buffer && a.Offset = b.Offset && a.Length = b.Length && a.Size = b.Size
