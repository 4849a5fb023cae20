namespace Raft.Simulation

open System.Collections.Generic

/// A linearizability checker for histories of concurrent operations (Wing & Gong's search with Lowe's
/// memoization, as in Porcupine and Knossos).
///
/// A history is linearizable when every operation can be given a single instant between its call and its
/// return at which it takes effect, so that applying the operations one by one in that order to a sequential
/// model produces exactly the outputs the clients saw. Operations whose outcome is unknown (timed out) may take
/// effect at any instant after their call, or never.
///
/// Pure and deterministic: no IO, no clocks, no shared state. Time is whatever logical or simulated tick the
/// caller recorded; the search budget is counted in search steps, never in wall-clock time, so the same
/// history always gets the same answer.
///
/// ```fsharp
/// open Raft.Simulation.Linearizability
/// let history =
///     [ Operation.returned 1 (Register.Put 7) Register.Written 0L 10L
///       Operation.returned 2 Register.Get (Register.Value(Some 7)) 2L 5L ]
/// check (Register.model<int>) history // Linearizable
/// ```
module Linearizability =

    /// How an operation ended, as its client observed it.
    type Outcome<'Output> =
        /// The client received `output` at time `at`: the operation took effect between its call and `at`.
        | Returned of at: int64 * output: 'Output
        /// The client never learned the outcome (timeout, crash, lost reply). The operation may have taken
        /// effect at any instant after its call, with whatever output the model allows, or not at all.
        | TimedOut

    /// One operation of a history.
    type Operation<'Input, 'Output> =
        { /// The client (process, connection) that issued the operation; used only in descriptions.
          Client: int
          /// What the client asked for.
          Input: 'Input
          /// When the client issued the call. Invariant: at most the return time of a `Returned` outcome.
          Call: int64
          /// How the operation ended.
          Outcome: Outcome<'Output> }

    /// Constructors and helpers for `Operation`.
    module Operation =

        /// An operation that returned `output` to `client` at `returnedAt`.
        let returned client input output (call: int64) (returnedAt: int64) =
            { Client = client; Input = input; Call = call; Outcome = Returned(returnedAt, output) }

        /// An operation whose outcome `client` never learned.
        let timedOut client input (call: int64) =
            { Client = client; Input = input; Call = call; Outcome = TimedOut }

        /// The output the client saw, or `None` if the operation timed out.
        let observed op =
            match op.Outcome with
            | Returned(_, output) -> Some output
            | TimedOut -> None

        /// `true` if the client never learned the outcome.
        let isTimedOut op =
            match op.Outcome with
            | TimedOut -> true
            | Returned _ -> false

        /// A one-line description using `%A` for inputs and outputs.
        let describe (op: Operation<'Input, 'Output>) =
            match op.Outcome with
            | Returned(at, output) -> sprintf "client %d: %A -> %A [%d..%d]" op.Client op.Input output op.Call at
            | TimedOut -> sprintf "client %d: %A -> timed out [%d..]" op.Client op.Input op.Call

    /// A sequential specification of the object the history was recorded against.
    /// The state type needs structural equality and hashing: the search memoizes (linearized set, state) pairs.
    type Model<'State, 'Input, 'Output> =
        { /// The state before any operation.
          Init: 'State
          /// `Step state input observed` is `Some next` if the operation may take effect in `state` and have
          /// been observed as `observed`, and `None` otherwise. `observed = None` means the output is unknown
          /// (the operation timed out): accept whatever output the operation would have produced.
          Step: 'State -> 'Input -> 'Output option -> 'State option
          /// Splits a history into independent sub-histories checked separately (P-compositionality: a history
          /// is linearizable iff every per-object sub-history is). Only valid when no operation touches two
          /// partitions. `None` checks the whole history at once.
          Partition: (Operation<'Input, 'Output> list -> Operation<'Input, 'Output> list list) option
          /// Renders a state for violation reports.
          DescribeState: 'State -> string
          /// Renders an operation for violation reports.
          DescribeOperation: Operation<'Input, 'Output> -> string }

    /// Constructors and combinators for `Model`.
    module Model =

        /// A model from a deterministic sequential implementation: `apply state input` returns the output the
        /// operation produces and the next state. An observed output must equal the produced one.
        let ofApply (init: 'State) (apply: 'State -> 'Input -> 'Output * 'State) : Model<'State, 'Input, 'Output> =
            { Init = init
              Step =
                fun state input observed ->
                    let output, next = apply state input
                    match observed with
                    | Some seen when seen <> output -> None
                    | _ -> Some next
              Partition = None
              DescribeState = sprintf "%A"
              DescribeOperation = Operation.describe }

        /// Partitions histories by a key of each operation's input (order of first appearance, so deterministic).
        let partitionBy (key: 'Input -> 'Key) (model: Model<'State, 'Input, 'Output>) =
            let split (history: Operation<'Input, 'Output> list) =
                history |> List.groupBy (fun op -> key op.Input) |> List.map snd
            { model with Partition = Some split }

    /// Why a history is not linearizable: the longest linearizable prefix the search found and the operations
    /// that could have come next, none of which leads to a full linearization.
    type Violation<'Input, 'Output> =
        { /// The (sub-)history that could not be linearized: the whole history, or one partition of it.
          Operations: Operation<'Input, 'Output> list
          /// The longest linearizable prefix found, in linearization order.
          Linearized: Operation<'Input, 'Output> list
          /// The model state after `Linearized`, rendered with `Model.DescribeState`.
          StateAfter: string
          /// The completed operation with the earliest return among those not in `Linearized`: it, or some
          /// operation concurrent with it, had to take effect next.
          Blocking: Operation<'Input, 'Output>
          /// The operations that could have taken effect next (called before `Blocking` returned).
          Candidates: Operation<'Input, 'Output> list
          /// A human-readable account of all of the above.
          Explanation: string }

    /// The verdict on a history.
    type CheckResult<'Input, 'Output> =
        /// Some order of the operations explains every output.
        | Linearizable
        /// No order explains every output.
        | NotLinearizable of Violation<'Input, 'Output>
        /// The search budget ran out on `operations` (one partition) after `steps` steps; no violation was found
        /// in the other partitions.
        | Inconclusive of operations: Operation<'Input, 'Output> list * steps: int64

    /// Limits for `checkWith`.
    type CheckOptions =
        { /// Search steps allowed per partition before giving up with `Inconclusive`. The search is exponential in
          /// the worst case; this bound keeps it from hanging.
          MaxStepsPerPartition: int64 }

    /// Default limits.
    module CheckOptions =

        /// Ten million steps per partition, far more than typical histories need. A step's cost grows with the memo,
        /// so this bounds work rather than time: budget ten million steps at seconds, not milliseconds.
        let defaults = { MaxStepsPerPartition = 10_000_000L }

    type private SearchOutcome<'State> =
        /// A linearization: the operations in the order they took effect, and the state after them.
        | Found of order: int list * stateAfter: 'State
        | Exhausted of steps: int64
        /// The deepest point the search reached: the stack of (operation, state before it), newest first.
        | Stuck of deepest: (int * 'State) list * stateAfter: 'State

    /// Memo keys pair a snapshot of the linearized-set bitset with the model state reached.
    let private memoComparer<'State when 'State: equality> () =
        let states = HashIdentity.Structural<'State>
        { new IEqualityComparer<struct (uint64[] * 'State)> with
            member _.Equals(struct (bitsA, stateA), struct (bitsB, stateB)) =
                System.MemoryExtensions.SequenceEqual(System.ReadOnlySpan bitsA, System.ReadOnlySpan bitsB)
                && states.Equals(stateA, stateB)

            member _.GetHashCode(struct (bits, state)) =
                let mutable h = states.GetHashCode state
                for word in bits do
                    h <- h * 31 + word.GetHashCode()
                h }

    /// Wing & Gong's search over one partition. The not-yet-linearized operations live in doubly linked lists of
    /// call and return events sorted by time; linearizing an operation unlinks its events and backtracking relinks
    /// them ("dancing links"), so each step is O(1) apart from the model step and the memo lookup.
    ///
    /// Completed operations are in one list. Timed-out operations have no return, so nothing ever forces them and
    /// they stay candidates to the end; they get a second list, tried only after every completed candidate. Trying
    /// them in call order with the rest made the search apply them eagerly and backtrack through every subset.
    let private search<'State, 'Input, 'Output when 'State: equality>
        (model: Model<'State, 'Input, 'Output>)
        maxSteps
        (ops: Operation<'Input, 'Output>[])
        =
        let n = ops.Length
        // Calls sort before returns at the same tick: equal timestamps do not order two operations, so the
        // checker never reports a violation that depends on an ambiguous clock.
        let completedEvents, timedOutEvents =
            [| for i in 0 .. n - 1 do
                   match ops[i].Outcome with
                   | Returned(at, _) ->
                       yield struct (ops[i].Call, 0, i)
                       yield struct (at, 1, i)
                   | TimedOut -> yield struct (ops[i].Call, 2, i) |]
            |> Array.sort
            |> Array.partition (fun (struct (_, kind, _)) -> kind < 2)
        // Node 0 heads the completed list, node 1 the timed-out list; events follow in sorted order.
        let completedHead, timedOutHead = 0, 1
        let size = 2 + completedEvents.Length + timedOutEvents.Length
        let next = Array.create size -1
        let prev = Array.create size -1
        let nodeOp = Array.zeroCreate size
        let nodeTime = Array.zeroCreate size
        let isCall = Array.zeroCreate size
        let callNode = Array.zeroCreate n
        let returnNode = Array.create n -1
        let build head first (events: struct (int64 * int * int)[]) =
            let mutable last = head
            events
            |> Array.iteri (fun k (struct (time, kind, i)) ->
                let node = first + k
                next[last] <- node
                prev[node] <- last
                last <- node
                nodeOp[node] <- i
                nodeTime[node] <- time
                if kind = 1 then
                    returnNode[i] <- node
                else
                    isCall[node] <- true
                    callNode[i] <- node)
        build completedHead 2 completedEvents
        build timedOutHead (2 + completedEvents.Length) timedOutEvents
        let unlink node =
            next[prev[node]] <- next[node]
            if next[node] <> -1 then prev[next[node]] <- prev[node]
        let relink node =
            next[prev[node]] <- node
            if next[node] <> -1 then prev[next[node]] <- node
        // Relinking in the reverse order of unlinking restores the lists exactly, because backtracking is LIFO.
        let lift i =
            unlink callNode[i]
            if returnNode[i] <> -1 then unlink returnNode[i]
        let unlift i =
            if returnNode[i] <> -1 then relink returnNode[i]
            relink callNode[i]

        // The linearized set, split: completed operations in one bitset, timed-out ones in another (empty when
        // there are none), because the memo treats them differently.
        let words = (n + 63) / 64
        let completedBits = Array.zeroCreate<uint64> words
        let timedOutBits = Array.zeroCreate<uint64> (if timedOutEvents.Length = 0 then 0 else words)
        let flip i =
            let bits = if returnNode[i] <> -1 then completedBits else timedOutBits
            bits[i / 64] <- bits[i / 64] ^^^ (1UL <<< (i % 64))
        let isSubset (small: uint64[]) (large: uint64[]) =
            let mutable k = 0
            while k < small.Length && small[k] &&& ~~~large[k] = 0UL do
                k <- k + 1
            k = small.Length
        // Lowe's memo, extended for timed-out operations: (completed set, state) -> the timed-out sets with which
        // that configuration was fully explored without success. A configuration is dead if a stored set is a
        // subset of its own: timed-out operations are optional and have no deadline, so having applied more of
        // them only removes choices. With no timed-out operations this is exactly Lowe's (set, state) memo.
        let failed = Dictionary<struct (uint64[] * 'State), ResizeArray<uint64[]>>(memoComparer ())
        let isDead after =
            match failed.TryGetValue(struct (completedBits, after)) with
            | true, sets -> sets.Exists(fun set -> isSubset set timedOutBits)
            | false, _ -> false
        let markFailed state =
            let key = struct (completedBits, state)
            match failed.TryGetValue key with
            | true, sets -> sets.Add(Array.copy timedOutBits)
            | false, _ -> failed[struct (Array.copy completedBits, state)] <- ResizeArray [ Array.copy timedOutBits ]
        let stateEquals = HashIdentity.Structural<'State>
        let mutable remaining = completedEvents.Length / 2
        let mutable state = model.Init
        // Frames: (operation, state before it, the deadline in force when it was chosen).
        let mutable stack = []
        let mutable depth = 0
        let mutable deepest = [], model.Init, 0
        let mutable steps = 0L
        let mutable outcome = if remaining = 0 then Some(Found([], model.Init)) else None
        let mutable node = next[completedHead]
        // While scanning the timed-out list: the return time of the first unlinearized completed operation.
        // Only timed-out operations called by then may take effect before it.
        let mutable deadline = System.Int64.MinValue
        // A completed call anywhere before the first return, or a timed-out call made by the deadline.
        let isCandidate node =
            node <> -1 && isCall[node] && (returnNode[nodeOp[node]] <> -1 || nodeTime[node] <= deadline)
        while outcome.IsNone do
            steps <- steps + 1L
            if steps > maxSteps then
                outcome <- Some(Exhausted(steps - 1L))
            elif isCandidate node then
                let i = nodeOp[node]
                match model.Step state ops[i].Input (Operation.observed ops[i]) with
                // A timed-out operation that changes nothing here is pointless here: dropping it from any
                // linearization that places it here leaves a linearization.
                | Some after when returnNode[i] = -1 && stateEquals.Equals(after, state) -> node <- next[node]
                | Some after ->
                    flip i
                    if isDead after then
                        flip i
                        node <- next[node]
                    else
                        stack <- (i, state, deadline) :: stack
                        state <- after
                        depth <- depth + 1
                        lift i
                        if returnNode[i] <> -1 then remaining <- remaining - 1
                        if remaining = 0 then
                            outcome <- Some(Found(stack |> List.rev |> List.map (fun (i, _, _) -> i), after))
                        else
                            let _, _, best = deepest
                            if depth > best then deepest <- stack, state, depth
                            node <- next[completedHead]
                            deadline <- System.Int64.MinValue
                | None -> node <- next[node]
            elif node <> -1 && not isCall[node] then
                // The first return of an unlinearized operation: it must take effect before then. Every completed
                // candidate has failed; try the timed-out operations called by then.
                deadline <- nodeTime[node]
                node <- next[timedOutHead]
            else
                // Every candidate failed: undo the last choice and try the one after it.
                match stack with
                | [] ->
                    let best, after, _ = deepest
                    outcome <- Some(Stuck(best |> List.map (fun (i, before, _) -> i, before), after))
                | (i, before, chosenUnder) :: rest ->
                    markFailed state
                    stack <- rest
                    state <- before
                    depth <- depth - 1
                    flip i
                    unlift i
                    if returnNode[i] <> -1 then remaining <- remaining + 1
                    node <- next[callNode[i]]
                    deadline <- chosenUnder
        outcome.Value

    let private explain (model: Model<'State, 'Input, 'Output>) (ops: Operation<'Input, 'Output>[]) deepest after =
        let order = deepest |> List.rev |> List.map fst
        let placed = HashSet<int>(order)
        let unplaced = [ 0 .. ops.Length - 1 ] |> List.filter (placed.Contains >> not)
        let returnAt i =
            match ops[i].Outcome with
            | Returned(at, _) -> at
            | TimedOut -> System.Int64.MaxValue
        let blocking = unplaced |> List.minBy (fun i -> returnAt i, i)
        let candidates = unplaced |> List.filter (fun i -> ops[i].Call <= returnAt blocking)
        let describe i = model.DescribeOperation ops[i]
        let shown = 12
        let prefixLines =
            let skipped = max 0 (order.Length - shown)
            [ if skipped > 0 then yield sprintf "  ... (%d earlier operations)" skipped
              for k, i in List.indexed order |> List.skip skipped -> sprintf "  %d. %s" (k + 1) (describe i) ]
        let candidateLines =
            [ for i in candidates ->
                  match model.Step after ops[i].Input (Operation.observed ops[i]) with
                  | None -> sprintf "  - %s: impossible in this state" (describe i)
                  | Some _ -> sprintf "  - %s: possible, but nothing can follow it" (describe i) ]
        let text =
            [ sprintf "Not linearizable: no order of these %d operations explains every output." ops.Length
              sprintf "Longest linearizable prefix found (%d operations):" order.Length
              yield! prefixLines
              sprintf "leaving state %s." (model.DescribeState after)
              sprintf "Next, %s must take effect (it returned) or something concurrent with it must, but:" (describe blocking)
              yield! candidateLines ]
            |> String.concat "\n"
        { Operations = List.ofArray ops
          Linearized = order |> List.map (fun i -> ops[i])
          StateAfter = model.DescribeState after
          Blocking = ops[blocking]
          Candidates = candidates |> List.map (fun i -> ops[i])
          Explanation = text }

    /// Checks `history` against `model` within `options`. Partitions (if the model has them) are checked in order;
    /// the first violation is reported, and `Inconclusive` only if no partition is known to be violated.
    /// Throws `ArgumentException` for a malformed history (a return before its call) or a non-positive budget.
    let checkWith<'State, 'Input, 'Output when 'State: equality>
        (options: CheckOptions)
        (model: Model<'State, 'Input, 'Output>)
        (history: Operation<'Input, 'Output> list)
        : CheckResult<'Input, 'Output> =
        if options.MaxStepsPerPartition <= 0L then
            invalidArg (nameof options) "MaxStepsPerPartition must be positive"
        for op in history do
            match op.Outcome with
            | Returned(at, _) when at < op.Call ->
                invalidArg (nameof history) (sprintf "operation returns before its call: %s" (model.DescribeOperation op))
            | _ -> ()
        let partitions =
            match model.Partition with
            | Some split -> split history
            | None -> [ history ]
        let rec go exhausted partitions =
            match partitions with
            | [] ->
                match exhausted with
                | Some(ops, steps) -> Inconclusive(ops, steps)
                | None -> Linearizable
            | part :: rest ->
                let ops = Array.ofList part
                match search model options.MaxStepsPerPartition ops with
                | Found _ -> go exhausted rest
                | Stuck(deepest, after) -> NotLinearizable(explain model ops deepest after)
                | Exhausted steps -> go (exhausted |> Option.orElse (Some(part, steps))) rest
        go None partitions

    /// One linearization of `history`, checked whole (the model's partition is not used): its operations in the
    /// order they take effect (timed-out operations that need not take effect are left out) and the model state
    /// after them. None when the history is not linearizable or the budget runs out.
    let linearize<'State, 'Input, 'Output when 'State: equality>
        (options: CheckOptions)
        (model: Model<'State, 'Input, 'Output>)
        (history: Operation<'Input, 'Output> list)
        : (Operation<'Input, 'Output> list * 'State) option =
        let ops = Array.ofList history
        match search model options.MaxStepsPerPartition ops with
        | Found(order, after) -> Some(order |> List.map (fun i -> ops[i]), after)
        | Stuck _
        | Exhausted _ -> None

    /// Checks `history` against `model` with `CheckOptions.defaults`.
    let check model history = checkWith CheckOptions.defaults model history

    /// `true` only for a `Linearizable` verdict.
    let isLinearizable result =
        match result with
        | Linearizable -> true
        | NotLinearizable _
        | Inconclusive _ -> false

    /// A single read/write register holding a `'V option` (`None` until the first write).
    module Register =

        /// Register operations.
        type Input<'V> =
            /// Overwrite the value.
            | Put of 'V
            /// Read the value.
            | Get

        /// Register outputs.
        type Output<'V> =
            /// A `Put` completed.
            | Written
            /// A `Get` read this value (`None` before any write).
            | Value of 'V option

        let private apply state input =
            match input with
            | Put v -> Written, Some v
            | Get -> Value state, state

        /// The register model; its state is the current value.
        let model<'V when 'V: equality> : Model<'V option, Input<'V>, Output<'V>> = Model.ofApply None apply

    /// A key-value map, partitioned by key so each key's sub-history is checked on its own.
    module KeyValue =

        /// Key-value operations.
        type Input<'K, 'V> =
            /// Overwrite the value at `key`.
            | Put of key: 'K * value: 'V
            /// Read the value at `key`.
            | Get of key: 'K
            /// Append `suffix` to the value at `key` (a missing value counts as empty: the result is `suffix`).
            | Append of key: 'K * suffix: 'V
            /// Set `key` to `replacement` if its value is `expected` (`None`: absent).
            | Cas of key: 'K * expected: 'V option * replacement: 'V

        /// Key-value outputs.
        type Output<'V> =
            /// A `Put` or `Append` completed.
            | Written
            /// A `Get` read this value (`None`: absent).
            | Value of 'V option
            /// A `Cas` did (`true`) or did not (`false`) swap.
            | Swapped of bool

        /// The key an operation touches.
        let keyOf input =
            match input with
            | Put(key, _)
            | Get key
            | Append(key, _)
            | Cas(key, _, _) -> key

        let private apply (append: 'V -> 'V -> 'V) (state: Map<'K, 'V>) input =
            match input with
            | Put(key, value) -> Written, Map.add key value state
            | Get key -> Value(Map.tryFind key state), state
            | Append(key, suffix) ->
                let value =
                    match Map.tryFind key state with
                    | Some current -> append current suffix
                    | None -> suffix
                Written, Map.add key value state
            | Cas(key, expected, replacement) ->
                if Map.tryFind key state = expected then Swapped true, Map.add key replacement state
                else Swapped false, state

        /// The key-value model with `append current suffix` defining `Append`. The state is the whole map, so
        /// the model is also correct with the partition removed (`{ m with Partition = None }`).
        let modelWith (append: 'V -> 'V -> 'V) : Model<Map<'K, 'V>, Input<'K, 'V>, Output<'V>> =
            Model.ofApply Map.empty (apply append) |> Model.partitionBy keyOf

        /// The key-value model for string values, where `Append` concatenates.
        let model<'K when 'K: comparison> : Model<Map<'K, string>, Input<'K, string>, Output<string>> =
            modelWith (+)
