namespace Raft.Core

/// AppendEntries sent to one peer and not yet acknowledged: (last index of the message, its bytes),
/// oldest first. Bounded by message count and bytes (flow control, RAFT.md §2).
type Inflights =
    {
        /// Oldest first.
        Front: struct (Index * int64) list
        /// Newest first; moved to Front when Front runs out.
        Back: struct (Index * int64) list
        Count: int
        Bytes: int64
    }

/// Operations on <see cref="Inflights"/>.
module Inflights =
    /// Nothing in flight.
    let empty = { Front = []; Back = []; Count = 0; Bytes = 0L }

    /// True when another message would exceed `maxCount` messages or `maxBytes` bytes (0 = unlimited bytes).
    let isFull (maxCount: int) (maxBytes: int64) (f: Inflights) =
        f.Count >= maxCount || (maxBytes > 0L && f.Bytes >= maxBytes)

    /// Records a message ending at `last` carrying `bytes`.
    let add (last: Index) (bytes: int64) (f: Inflights) =
        { f with Back = struct (last, bytes) :: f.Back; Count = f.Count + 1; Bytes = f.Bytes + bytes }

    /// Frees the oldest message (a heartbeat answer proved the peer alive while the window stayed full).
    let freeFirst (f: Inflights) =
        match f.Front, List.rev f.Back with
        | struct (_, b) :: rest, _ -> { f with Front = rest; Count = f.Count - 1; Bytes = f.Bytes - b }
        | [], struct (_, b) :: rest -> { Front = rest; Back = []; Count = f.Count - 1; Bytes = f.Bytes - b }
        | [], [] -> f

    /// Frees every message ending at or before `index` (acknowledged).
    let freeTo (index: Index) (f: Inflights) =
        let rec loop front back count bytes =
            match front with
            | struct (last, b) :: rest when last <= index -> loop rest back (count - 1) (bytes - b)
            | [] when not (List.isEmpty back) -> loop (List.rev back) [] count bytes
            | _ -> { Front = front; Back = back; Count = count; Bytes = bytes }

        // Nothing to free (the oldest message ends after `index`): the same value, no copy.
        match f.Front with
        | struct (last, _) :: _ when last > index -> f
        | _ -> if f.Count = 0 then f else loop f.Front f.Back f.Count f.Bytes
