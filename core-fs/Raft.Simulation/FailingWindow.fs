namespace Raft.Simulation

open Raft.Simulation.Linearizability

/// The smallest stretch of a non-linearizable history that is not linearizable on its own: what to read first.
type FailingWindow<'State, 'Input, 'Output> =
    {
        /// The window's operations in call order. An operation that returned after `Until` shows as timed out:
        /// what it returned plays no part in the violation.
        Operations: Operation<'Input, 'Output> list
        /// The model state the window starts from: the operations before it all returned before its first call,
        /// so they take effect first, in some order that leaves the model here.
        StartState: 'State
        /// Operations of the (sub-)history before the window.
        Skipped: int
        /// Operations of the (sub-)history called after `Until` (left out: they cannot explain what came before).
        Later: int
        /// The window's first call.
        From: int64
        /// The earliest return by which the history is already not linearizable.
        Until: int64
        /// The checker's account of the window, started from `StartState`.
        Violation: Violation<'Input, 'Output>
    }

/// Finding the smallest failing window of a non-linearizable history.
///
/// Two cuts keep the verdict sound. Cutting a history at time `t` (keeping the operations called by `t`, and
/// counting those that returned later as timed out) never turns a linearizable history into one that is not, so
/// the earliest `t` at which the cut fails ends the window. A quiescent point (every operation before it returned
/// before it, none pending across it) splits the history into a first part that must take effect entirely before
/// the second; the second part then fails from every state the first can leave, so the window starts at the
/// latest quiescent point and from the state one linearization of the first part reaches.
module FailingWindow =

    /// `history` cut at `at`: the operations called by `at`, those returned after it counted as timed out.
    let cut (at: int64) (history: Operation<'Input, 'Output> list) : Operation<'Input, 'Output> list =
        [ for op in history do
              if op.Call <= at then
                  match op.Outcome with
                  | Returned(returned, _) when returned > at -> yield { op with Outcome = TimedOut }
                  | _ -> yield op ]

    let private failure options model history =
        match checkWith options model history with
        | NotLinearizable v -> Some v
        | Linearizable
        | Inconclusive _ -> None

    /// Positions `j` (in `ops`, sorted by call) such that every operation before `j` returned before `ops[j]` was
    /// called: the quiescent points, latest first.
    let private quiescentPoints (ops: Operation<'Input, 'Output>[]) =
        let mutable latestEnd = System.Int64.MinValue
        let points = ResizeArray()
        for j in 0 .. ops.Length - 1 do
            if j > 0 && latestEnd < ops[j].Call then points.Add j
            latestEnd <-
                match ops[j].Outcome with
                | Returned(at, _) -> max latestEnd at
                | TimedOut -> System.Int64.MaxValue
        points.Reverse()
        List.ofSeq points

    /// The smallest failing window of `history` (one partition: `model`'s partition is not used), or None when the
    /// history is linearizable or a search ran out of budget.
    let find<'State, 'Input, 'Output when 'State: equality>
        (options: CheckOptions)
        (model: Model<'State, 'Input, 'Output>)
        (history: Operation<'Input, 'Output> list)
        : FailingWindow<'State, 'Input, 'Output> option =
        let whole = { model with Partition = None }
        let returns =
            history
            |> List.choose (fun op -> match op.Outcome with Returned(at, _) -> Some at | TimedOut -> None)
            |> List.distinct
            |> List.sort
            |> Array.ofList
        let failsAt k = failure options whole (cut returns[k] history)
        if returns.Length = 0 || (failsAt (returns.Length - 1)).IsNone then
            None
        else
            // The earliest return at which the cut history fails (failing is monotone in the cut time).
            let mutable lo, hi = 0, returns.Length - 1
            while lo < hi do
                let mid = (lo + hi) / 2
                if (failsAt mid).IsSome then hi <- mid else lo <- mid + 1
            let until = returns[lo]
            let ops = cut until history |> List.sortBy (fun op -> op.Call) |> Array.ofList
            let later = history.Length - ops.Length
            let window skipped start (violation: Violation<'Input, 'Output>) =
                let part = ops |> Array.skip skipped |> List.ofArray
                { Operations = part
                  StartState = start
                  Skipped = skipped
                  Later = later
                  From = part.Head.Call
                  Until = until
                  Violation = violation }
            let fromPoint j =
                match linearize options whole (List.ofArray ops[.. j - 1]) with
                | Some(_, start) ->
                    failure options { whole with Init = start } (List.ofArray ops[j..])
                    |> Option.map (window j start)
                | None -> None
            // In theory the latest quiescent point always works; a search that runs out of budget falls back.
            quiescentPoints ops
            |> List.truncate 4
            |> List.tryPick fromPoint
            |> Option.orElse (failure options whole (List.ofArray ops) |> Option.map (window 0 model.Init))

    /// A report of the window: where it lies in the history, the state it starts from, and the checker's account.
    let describe (model: Model<'State, 'Input, 'Output>) (w: FailingWindow<'State, 'Input, 'Output>) : string =
        let total = w.Skipped + w.Operations.Length + w.Later
        [ sprintf
              "Smallest failing window: %d of %d operations, calls from %d, not linearizable by %d (%d before it, %d after it left out)."
              w.Operations.Length total w.From w.Until w.Skipped w.Later
          sprintf "It starts from state %s (where the %d operations before it leave the model)." (model.DescribeState w.StartState) w.Skipped
          "Window:"
          yield! w.Operations |> List.map (fun op -> "  " + model.DescribeOperation op)
          w.Violation.Explanation ]
        |> String.concat "\n"
