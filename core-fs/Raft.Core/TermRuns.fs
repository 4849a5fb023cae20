namespace Raft.Core

/// Terms of every retained log index, stored as runs of (first index, term): terms change rarely,
/// so this stays tiny however long the log is, and term lookups never touch the disk (RAFT.md §4).
/// Run i covers [Starts[i], Starts[i+1]); the last run ends at the log's last index (kept by the log).
type TermRuns =
    {
        Starts: Index[]
        Terms: Term[]
    }

/// Operations on <see cref="TermRuns"/>; every operation returns a new value.
module TermRuns =
    /// No entries.
    let empty = { Starts = [||]; Terms = [||] }

    /// Builds runs from (first index, term) pairs sorted by index.
    let ofPairs (pairs: struct (Index * Term)[]) =
        {
            Starts = pairs |> Array.map (fun struct (i, _) -> i)
            Terms = pairs |> Array.map (fun struct (_, t) -> t)
        }

    /// The runs as (first index, term) pairs.
    let toPairs (runs: TermRuns) = Array.map2 (fun i t -> struct (i, t)) runs.Starts runs.Terms

    /// Index of the run containing `index`, or -1 when `index` is before the first run.
    let private runOf (runs: TermRuns) (index: Index) =
        let starts = runs.Starts
        let n = starts.Length
        // Fast path: almost every lookup is in the newest run.
        if n > 0 && index >= starts[n - 1] then
            n - 1
        else
            let mutable lo = 0
            let mutable hi = n - 1
            let mutable found = -1

            while lo <= hi do
                let mid = (lo + hi) >>> 1

                if starts[mid] <= index then
                    found <- mid
                    lo <- mid + 1
                else
                    hi <- mid - 1

            found

    /// The term at `index`, assuming the caller checked that `index` is retained.
    let termAt (runs: TermRuns) (index: Index) : Term voption =
        let r = runOf runs index
        if r < 0 then ValueNone else ValueSome runs.Terms[r]

    /// Records that the entry at `index` (the new last index) has `term`.
    let append (runs: TermRuns) (index: Index) (term: Term) =
        let n = runs.Terms.Length

        if n > 0 && runs.Terms[n - 1] = term then
            runs
        elif n > 0 && term < runs.Terms[n - 1] then
            invalidOp $"term runs: term {term} at index {index} is lower than the previous term {runs.Terms[n - 1]}"
        else
            {
                Starts = Array.append runs.Starts [| index |]
                Terms = Array.append runs.Terms [| term |]
            }

    /// Forgets every index >= `index`.
    let truncateFrom (runs: TermRuns) (index: Index) =
        let keep = runs.Starts |> Array.tryFindIndex (fun s -> s >= index)

        match keep with
        | None -> runs
        | Some k ->
            {
                Starts = Array.sub runs.Starts 0 k
                Terms = Array.sub runs.Terms 0 k
            }

    /// Forgets every index < `first` (compaction): the run containing `first` now starts there.
    let dropBefore (runs: TermRuns) (first: Index) =
        let r = runOf runs first

        if r < 0 then
            runs
        else
            let starts = Array.sub runs.Starts r (runs.Starts.Length - r)
            starts[0] <- max starts[0] first

            {
                Starts = starts
                Terms = Array.sub runs.Terms r (runs.Terms.Length - r)
            }

    /// The largest index <= `index` (and >= `floor`) whose term is <= `term`, or `floor` when none:
    /// the conflict hint that lets a leader skip a whole term per round trip (§5.3 optimisation).
    let lastIndexWithTermAtMost (runs: TermRuns) (floor: Index) (index: Index) (term: Term) : Index =
        let newest = runOf runs index
        let mutable r = newest
        let mutable answer = floor
        let mutable searching = r >= 0

        while searching do
            if runs.Terms[r] <= term then
                answer <- max floor (if r = newest then index else runs.Starts[r + 1] - 1L<index>)
                searching <- false
            else
                r <- r - 1
                searching <- r >= 0

        answer
