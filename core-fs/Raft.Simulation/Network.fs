namespace Raft.Simulation

open System.Collections.Generic

/// Counters of what the network did to messages.
type NetworkStats =
    {
        mutable Sent: int64
        mutable Dropped: int64
        mutable Duplicated: int64
        mutable Delayed: int64
        /// Messages lost to a partition (at send or at delivery).
        mutable Blocked: int64
    }

/// The simulated network: latency, loss, duplication, reordering and partitions. It decides the fate of each
/// message when it is sent; the cluster's event queue carries it until delivery, where the partition is
/// checked again (a link cut while a message is in flight loses it).
[<Sealed>]
type Network(rng: Rng, options: SimOptions) =
    let n = SimOptions.total options
    // cut[from, to]: messages from `from` to `to` are lost. Node ids are 1..n.
    let cut = Array2D.zeroCreate<bool> (n + 1) (n + 1)
    let mutable partitioned = false
    let stats = { Sent = 0L; Dropped = 0L; Duplicated = 0L; Delayed = 0L; Blocked = 0L }

    let latency () =
        let f = options.Faults
        let normal = rng.Between(options.MinLatency, options.MaxLatency)

        if rng.Chance f.Delay then
            stats.Delayed <- stats.Delayed + 1L
            normal + rng.Between(1L, max 1L options.LongDelay)
        else
            normal

    /// Counters so far.
    member _.Stats = stats

    /// True while some link is cut.
    member _.IsPartitioned = partitioned

    /// True when messages from `from` to `to` are lost.
    member _.IsCut(from: int, ``to``: int) = cut[from, ``to``]

    /// Cuts the link from `from` to `to` (one direction).
    member _.Cut(from: int, ``to``: int) =
        if from <> ``to`` then
            cut[from, ``to``] <- true
            partitioned <- true

    /// Cuts both directions between every node of `side` and every node outside it.
    member this.Split(side: Set<int>) =
        for a in 1..n do
            for b in 1..n do
                if side.Contains a <> side.Contains b then this.Cut(a, b)

    /// Restores every link.
    member _.Heal() =
        for a in 1..n do
            for b in 1..n do
                cut[a, b] <- false

        partitioned <- false

    /// Describes the cut links, e.g. "1->2 1->3".
    member _.Describe() =
        [ for a in 1..n do
              for b in 1..n do
                  if cut[a, b] then $"{a}->{b}" ]
        |> String.concat " "

    /// The delivery times of a message sent now from `from` to `to` (none when lost, two when duplicated),
    /// added to `into`.
    member _.Plan(from: int, ``to``: int, now: int64, into: List<int64>) =
        let f = options.Faults
        stats.Sent <- stats.Sent + 1L

        if cut[from, ``to``] then
            stats.Blocked <- stats.Blocked + 1L
        elif rng.Chance f.Drop then
            stats.Dropped <- stats.Dropped + 1L
        else
            into.Add(now + latency ())

            if rng.Chance f.Duplicate then
                stats.Duplicated <- stats.Duplicated + 1L
                into.Add(now + latency ())

    /// Whether a message arriving now on the link from `from` to `to` gets through (counts the loss).
    member _.Deliverable(from: int, ``to``: int) =
        if cut[from, ``to``] then
            stats.Blocked <- stats.Blocked + 1L
            false
        else
            true
