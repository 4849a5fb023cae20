module Raft.Core.Tests.LinearizabilityTests

open System
open Expecto
open Raft.Simulation
open Raft.Simulation.Linearizability

// ---- Register history shorthands: client, value, call tick, return tick. ----

let private put client v call ret = Operation.returned client (Register.Put v) Register.Written call ret
let private get client v call ret = Operation.returned client Register.Get (Register.Value v) call ret
let private putLost client v call = Operation.timedOut client (Register.Put v) call
let private register = Register.model<int>

// ---- Key-value history shorthands. ----

let private kvPut client k v call ret = Operation.returned client (KeyValue.Put(k, v)) KeyValue.Written call ret
let private kvGet client k v call ret = Operation.returned client (KeyValue.Get k) (KeyValue.Value v) call ret
let private kvAppend client k s call ret = Operation.returned client (KeyValue.Append(k, s)) KeyValue.Written call ret
let private kvCas client k expected next swapped call ret =
    Operation.returned client (KeyValue.Cas(k, expected, next)) (KeyValue.Swapped swapped) call ret
let private kv = KeyValue.model<string>

let private expectLinearizable model history =
    match check model history with
    | Linearizable -> ()
    | other -> failtestf "expected Linearizable, got %A" other

let private expectViolation model history =
    match check model history with
    | NotLinearizable violation -> violation
    | other -> failtestf "expected NotLinearizable, got %A" other

// ---- A simulated atomic object: the source of histories that are linearizable by construction. ----

/// Where a simulated client is in its current operation.
type private Client<'Input, 'Output> =
    | Idle
    | Sent of input: 'Input * call: int64
    | Applied of input: 'Input * call: int64 * output: 'Output

/// Runs clients against one atomic object: each operation takes effect at a single tick between its call and its
/// return, so the history is linearizable by construction. Each `(client, roll)` choice advances one client by one
/// tick; rolls also decide timeouts (the client gives up before or after the operation took effect) and whether an
/// abandoned request is later applied by the network or dropped, so timed-out operations both do and do not happen.
let private simulate apply init nextInput clients (choices: (int * int) list) =
    let mutable state = init
    let clientsNow = Array.create clients Idle
    let history = ResizeArray()
    let abandoned = Collections.Generic.Queue()
    choices
    |> List.iteri (fun t (pick, roll) ->
        let tick = int64 t
        let c = (pick % clients + clients) % clients
        let roll = roll &&& Int32.MaxValue
        if abandoned.Count > 0 && roll % 7 = 0 then
            let input = abandoned.Dequeue()
            if roll % 2 = 0 then state <- snd (apply state input)
        match clientsNow[c] with
        | Idle -> clientsNow[c] <- Sent(nextInput tick roll, tick)
        | Sent(input, call) when roll % 11 = 0 ->
            history.Add(Operation.timedOut c input call)
            abandoned.Enqueue input
            clientsNow[c] <- Idle
        | Sent(input, call) ->
            let output, next = apply state input
            state <- next
            clientsNow[c] <- Applied(input, call, output)
        | Applied(input, call, _) when roll % 13 = 0 ->
            history.Add(Operation.timedOut c input call)
            clientsNow[c] <- Idle
        | Applied(input, call, output) ->
            history.Add(Operation.returned c input output call tick)
            clientsNow[c] <- Idle)
    // Operations still in flight when the run stops never returned.
    clientsNow
    |> Array.iteri (fun c now ->
        match now with
        | Sent(input, call)
        | Applied(input, call, _) -> history.Add(Operation.timedOut c input call)
        | Idle -> ())
    List.ofSeq history

let private applyRegister state input =
    match input with
    | Register.Put v -> Register.Written, Some v
    | Register.Get -> Register.Value state, state

/// Every Put writes its own tick, so values are unique and a corrupted read can be made certainly wrong.
let private registerInput (tick: int64) roll =
    if roll % 3 = 0 then Register.Get else Register.Put(int tick)

let private simulateRegister clients choices =
    simulate applyRegister None registerInput clients choices

let private applyKv (state: Map<string, string>) input =
    match input with
    | KeyValue.Put(k, v) -> KeyValue.Written, Map.add k v state
    | KeyValue.Get k -> KeyValue.Value(Map.tryFind k state), state
    | KeyValue.Append(k, s) -> KeyValue.Written, Map.add k (defaultArg (Map.tryFind k state) "" + s) state
    | KeyValue.Cas(k, expected, next) ->
        if Map.tryFind k state = expected then KeyValue.Swapped true, Map.add k next state
        else KeyValue.Swapped false, state

let private kvInput keys (tick: int64) roll =
    let key = sprintf "k%d" (roll / 5 % keys)
    match roll % 5 with
    | 0
    | 1 -> KeyValue.Get key
    | 2 -> KeyValue.Put(key, string tick)
    | 3 -> KeyValue.Append(key, sprintf "%d;" tick)
    | _ -> KeyValue.Cas(key, (if roll % 2 = 0 then None else Some(string (tick - 1L))), string tick)

let private randomChoices (seed: int) count =
    let random = Random seed
    List.init count (fun _ -> random.Next(), random.Next())

/// Makes the first completed read certainly wrong: it returns a value first written by a Put called after the read
/// returned, or, with no such Put, a value never written. Appends a read of a never-written value if there is none.
let private corrupt (history: Operation<Register.Input<int>, Register.Output<int>> list) =
    let firstRead =
        history
        |> List.tryFindIndex (fun op ->
            match op.Input, op.Outcome with
            | Register.Get, Returned _ -> true
            | _ -> false)
    match firstRead with
    | None ->
        let last = history |> List.map (fun op -> op.Call) |> List.fold max 0L
        history @ [ get 99 (Some -1) (last + 1L) (last + 2L) ]
    | Some index ->
        let read = history[index]
        let returnedAt =
            match read.Outcome with
            | Returned(at, _) -> at
            | TimedOut -> failwith "unreachable: a completed read"
        let future =
            history
            |> List.tryPick (fun op ->
                match op.Input with
                | Register.Put v when op.Call > returnedAt -> Some v
                | _ -> None)
        let wrong = { read with Outcome = Returned(returnedAt, Register.Value(Some(defaultArg future -1))) }
        history |> List.updateAt index wrong

/// The definition, searched naively: some operation that no other pending completed operation returned before
/// may go next; timed-out operations may be left out. Exponential, so only for a handful of operations.
let rec private bruteForce state (pending: Operation<Register.Input<int>, Register.Output<int>> list) =
    pending |> List.forall Operation.isTimedOut
    || pending
       |> List.exists (fun op ->
           let mayGoNext =
               pending
               |> List.forall (fun other ->
                   match other.Outcome with
                   | Returned(at, _) -> not (at < op.Call)
                   | TimedOut -> true)
           mayGoNext
           && match register.Step state op.Input (Operation.observed op) with
              | Some after -> bruteForce after (pending |> List.filter (fun other -> not (obj.ReferenceEquals(other, op))))
              | None -> false)

/// Small arbitrary register histories, most of them not linearizable: few values, short overlapping intervals.
let private arbitraryHistory (ops: (bool * byte * byte * byte * bool) list) =
    ops
    |> List.truncate 7
    |> List.mapi (fun client (isPut, value, call, length, lost) ->
        let v, call = int value % 3, int64 (call % 12uy)
        let input = if isPut then Register.Put v else Register.Get
        if lost then
            Operation.timedOut client input call
        else
            let output = if isPut then Register.Written else Register.Value(if v = 0 then None else Some v)
            Operation.returned client input output call (call + int64 (length % 6uy)))

let private properties = { FsCheckConfig.defaultConfig with maxTest = 200 }

[<Tests>]
let tests =
    testList
        "linearizability"
        [ testList
              "register, linearizable"
              [ test "empty history" { expectLinearizable register [] }

                test "overlapping write and reads may see either side of the write" {
                    // The write takes effect after client 3's read and before client 2's read returns.
                    expectLinearizable
                        register
                        [ put 1 1 0L 10L; get 2 (Some 1) 2L 5L; get 3 None 3L 12L; get 4 (Some 1) 11L 13L ]
                }

                test "concurrent writes may be ordered either way" {
                    expectLinearizable register [ put 1 1 0L 10L; put 2 2 0L 10L; get 3 (Some 1) 11L 12L ]
                    expectLinearizable register [ put 1 1 0L 10L; put 2 2 0L 10L; get 3 (Some 2) 11L 12L ]
                }

                test "equal timestamps count as concurrent" {
                    expectLinearizable register [ put 1 1 0L 5L; get 2 None 5L 6L ]
                }

                test "history order in the list does not matter" {
                    expectLinearizable register [ get 2 (Some 2) 6L 7L; put 1 2 4L 5L; put 1 1 0L 1L ]
                } ]

          testList
              "register, not linearizable"
              [ test "stale read after a completed write" {
                    let first, second, read = put 1 1 0L 1L, put 1 2 2L 3L, get 2 (Some 1) 4L 5L
                    let violation = expectViolation register [ first; second; read ]
                    Expect.equal violation.Linearized [ first; second ] "both writes linearize first"
                    Expect.equal violation.Blocking read "the stale read is stuck"
                    Expect.equal violation.Candidates [ read ] "nothing else could go next"
                    Expect.equal violation.StateAfter "Some 2" "state after the writes"
                    Expect.stringContains violation.Explanation "impossible in this state" "explains the rejection"
                }

                test "two readers observe concurrent writes in contradicting orders" {
                    expectViolation
                        register
                        [ put 1 1 0L 10L
                          put 2 2 0L 10L
                          get 3 (Some 1) 1L 2L
                          get 3 (Some 2) 3L 4L
                          get 4 (Some 2) 1L 2L
                          get 4 (Some 1) 3L 4L ]
                    |> ignore
                }

                test "read of a value never written" {
                    let write, read = put 1 1 0L 10L, get 2 (Some 42) 2L 12L
                    let violation = expectViolation register [ write; read ]
                    Expect.equal violation.Linearized [ write ] "the write linearizes"
                    Expect.equal violation.Blocking read "the read cannot follow it, nor precede it"
                }

                test "read of a value whose write starts after the read returned" {
                    expectViolation register [ get 1 (Some 1) 0L 1L; put 2 1 2L 3L ] |> ignore
                } ]

          testList
              "timed-out operations"
              [ test "a timed-out write that took effect" {
                    expectLinearizable register [ putLost 1 1 0L; get 2 (Some 1) 5L 6L ]
                }

                test "a timed-out write that never took effect" {
                    expectLinearizable register [ putLost 1 1 0L; get 2 None 5L 6L; get 2 None 100L 101L ]
                }

                test "a timed-out write may take effect long after its call" {
                    expectLinearizable register [ putLost 1 1 0L; get 2 None 5L 6L; get 2 (Some 1) 7L 8L ]
                }

                test "only timed-out operations" { expectLinearizable register [ putLost 1 1 0L; putLost 2 2 0L ] }

                test "a timed-out write cannot take effect before its call" {
                    expectViolation register [ get 1 (Some 1) 0L 1L; putLost 2 1 5L ] |> ignore
                }

                test "a timed-out write takes effect at most once" {
                    expectViolation
                        register
                        [ put 1 1 0L 1L; putLost 2 2 2L; get 3 (Some 2) 3L 4L; put 1 1 5L 6L; get 3 (Some 2) 7L 8L ]
                    |> ignore
                }

                test "a timed-out compare-and-swap that took effect" {
                    let history =
                        [ Operation.timedOut 1 (KeyValue.Cas("k", None, "x")) 0L; kvGet 2 "k" (Some "x") 3L 4L ]
                    expectLinearizable kv history
                } ]

          testList
              "key-value"
              [ test "keys are checked independently" {
                    expectLinearizable
                        kv
                        [ kvPut 1 "a" "1" 0L 10L; kvPut 2 "b" "2" 1L 3L; kvGet 3 "a" (Some "1") 4L 11L
                          kvGet 3 "b" (Some "2") 12L 13L; kvGet 4 "a" None 2L 5L ]
                }

                test "a violation names only the key it is on" {
                    let violation =
                        expectViolation
                            kv
                            [ kvPut 1 "a" "1" 0L 1L; kvPut 1 "b" "1" 0L 1L; kvPut 1 "b" "2" 2L 3L
                              kvGet 2 "a" (Some "1") 4L 5L; kvGet 2 "b" (Some "1") 4L 5L ]
                    let keys = violation.Operations |> List.map (fun op -> KeyValue.keyOf op.Input) |> List.distinct
                    Expect.equal keys [ "b" ] "only key b is involved"
                }

                test "concurrent appends in either order, never losing one" {
                    let appends = [ kvAppend 1 "k" "a" 0L 10L; kvAppend 2 "k" "b" 0L 10L ]
                    expectLinearizable kv (appends @ [ kvGet 3 "k" (Some "ab") 11L 12L ])
                    expectLinearizable kv (appends @ [ kvGet 3 "k" (Some "ba") 11L 12L ])
                    expectViolation kv (appends @ [ kvGet 3 "k" (Some "a") 11L 12L ]) |> ignore
                }

                test "two compare-and-swaps from the same value cannot both succeed" {
                    let first = kvCas 1 "k" None "x" true 0L 10L
                    expectLinearizable kv [ first; kvCas 2 "k" None "y" false 0L 10L ]
                    expectViolation kv [ first; kvCas 2 "k" None "y" true 0L 10L ] |> ignore
                }

                test "without partitioning the key-value model gives the same verdicts" {
                    let whole = { kv with Partition = None }
                    expectLinearizable whole [ kvPut 1 "a" "1" 0L 10L; kvPut 2 "b" "2" 1L 3L; kvGet 3 "a" (Some "1") 4L 11L ]
                    expectViolation whole [ kvPut 1 "b" "1" 0L 1L; kvPut 1 "b" "2" 2L 3L; kvGet 2 "b" (Some "1") 4L 5L ]
                    |> ignore
                } ]

          testList
              "failing window"
              [ test "the window starts at the last quiescent point and ends at the return that breaks the history" {
                    // A quiet prefix leaving 2; a write of 3 seen by one read, then a stale read of 2; later noise.
                    let history =
                        [ put 1 1 0L 2L
                          put 2 2 3L 5L
                          get 3 (Some 2) 6L 8L
                          put 1 3 10L 16L
                          get 2 (Some 3) 11L 12L
                          get 3 (Some 2) 13L 15L
                          put 3 4 17L 18L
                          get 1 (Some 4) 19L 20L ]
                    match FailingWindow.find CheckOptions.defaults register history with
                    | None -> failtest "expected a window"
                    | Some w ->
                        // The write returned after the stale read: its return plays no part, so it shows as timed out.
                        Expect.equal w.Operations [ putLost 1 3 10L; get 2 (Some 3) 11L 12L; get 3 (Some 2) 13L 15L ] "the write, the read that saw it, the stale read"
                        Expect.equal w.StartState (Some 2) "the prefix leaves 2"
                        Expect.equal (w.Skipped, w.Later, w.From, w.Until) (3, 2, 10L, 15L) "what is left out, and the bounds"
                        Expect.equal w.Violation.Blocking (get 3 (Some 2) 13L 15L) "the stale read blocks"
                        // The window is itself a failing history from its start state.
                        expectViolation { register with Init = w.StartState } w.Operations |> ignore
                }

                test "operations returning after the breaking return count as timed out in the window" {
                    // The read of 5 overlaps the end of the window; its output cannot matter to the violation.
                    let history = [ put 1 1 0L 2L; get 2 (Some 7) 3L 4L; get 3 (Some 5) 3L 30L; put 1 5 10L 12L ]
                    match FailingWindow.find CheckOptions.defaults register history with
                    | None -> failtest "expected a window"
                    | Some w ->
                        Expect.equal w.Until 4L "broken by the read of a value never written"
                        Expect.contains w.Operations { get 3 (Some 5) 3L 30L with Outcome = TimedOut } "the late read, timed out"
                        Expect.isFalse (w.Operations |> List.exists (fun op -> op.Call = 10L)) "the write called after the break"
                }

                test "a linearizable history has no failing window" {
                    let history = simulateRegister 4 (randomChoices 11 200)
                    Expect.isTrue (isLinearizable (check register history)) "linearizable"
                    Expect.isNone (FailingWindow.find CheckOptions.defaults register history) "no window"
                }

                testPropertyWithConfig properties "the window of a corrupted history fails from its start state and is no longer than the history"
                <| fun (seed: int) ->
                    let history = corrupt (simulateRegister 4 (randomChoices seed 120))
                    match FailingWindow.find CheckOptions.defaults register history with
                    | Some w ->
                        w.Operations.Length <= history.Length
                        && w.Skipped + w.Operations.Length + w.Later = history.Length
                        && not (isLinearizable (check { register with Init = w.StartState } w.Operations))
                    | None -> false

                test "linearize returns an order that explains every output, and the state after it" {
                    let history = [ put 1 1 0L 10L; get 2 (Some 1) 2L 5L; put 3 2 6L 8L; get 4 (Some 2) 9L 11L ]
                    match linearize CheckOptions.defaults register history with
                    | Some(order, state) ->
                        Expect.equal order [ put 1 1 0L 10L; get 2 (Some 1) 2L 5L; put 3 2 6L 8L; get 4 (Some 2) 9L 11L ] "the order"
                        Expect.equal state (Some 2) "the final state"
                    | None -> failtest "linearizable"
                    Expect.isNone (linearize CheckOptions.defaults register [ put 1 1 0L 1L; get 2 (Some 3) 2L 3L ]) "impossible read"
                } ]

          testList
              "limits and misuse"
              [ test "an exhausted budget is inconclusive, not a verdict" {
                    // Twenty concurrent writes and an impossible read: the search must try every subset of writes.
                    let writes = [ for v in 1..20 -> put v v 0L 100L ]
                    let history = writes @ [ get 21 (Some -1) 101L 102L ]
                    match checkWith { MaxStepsPerPartition = 1_000L } register history with
                    | Inconclusive(_, steps) -> Expect.equal steps 1_000L "stopped at the budget"
                    | other -> failtestf "expected Inconclusive, got %A" other
                }

                test "a return before the call is rejected" {
                    Expect.throwsT<ArgumentException> (fun () -> check register [ put 1 1 5L 4L ] |> ignore) "malformed"
                }

                test "checking is deterministic" {
                    let history = simulateRegister 5 (randomChoices 7 400)
                    Expect.equal (check register history) (check register history) "same verdict twice"
                } ]

          testList
              "properties"
              [ testPropertyWithConfig properties "sequential register histories from the model are linearizable"
                <| fun (writes: (bool * int) list) ->
                    let inputs = writes |> List.map (fun (isPut, v) -> if isPut then Register.Put v else Register.Get)
                    let history, _ =
                        inputs
                        |> List.mapFold
                            (fun (state, tick) input ->
                                let output, next = applyRegister state input
                                Operation.returned (int tick % 3) input output tick (tick + 1L), (next, tick + 2L))
                            (None, 0L)
                    isLinearizable (check register history)

                testPropertyWithConfig properties "sequential key-value histories from the model are linearizable"
                <| fun (steps: (byte * byte * int) list) ->
                    let inputs = steps |> List.map (fun (kind, key, roll) -> kvInput 3 (int64 kind) (int key * 5 + abs (roll % 5)))
                    let history, _ =
                        inputs
                        |> List.mapFold
                            (fun (state, tick) input ->
                                let output, next = applyKv state input
                                Operation.returned (int tick % 4) input output tick tick, (next, tick + 1L))
                            (Map.empty, 0L)
                    isLinearizable (check kv history)

                testPropertyWithConfig
                    { properties with maxTest = 1_000 }
                    "agrees with a brute-force search on small arbitrary histories"
                <| fun ops ->
                    let history = arbitraryHistory ops
                    isLinearizable (check register history) = bruteForce None history

                testPropertyWithConfig properties "an atomic register under random interleavings is linearizable"
                <| fun (clients: byte) (choices: (int * int) list) ->
                    isLinearizable (check register (simulateRegister (1 + int clients % 6) choices))

                testPropertyWithConfig properties "an atomic key-value map under random interleavings is linearizable"
                <| fun (seed: int) ->
                    let history = simulate applyKv Map.empty (kvInput 3) 5 (randomChoices seed 300)
                    isLinearizable (check kv history)

                testPropertyWithConfig properties "a corrupted read makes a simulated register history non-linearizable"
                <| fun (seed: int) ->
                    let history = corrupt (simulateRegister 4 (randomChoices seed 200))
                    match check register history with
                    | NotLinearizable _ -> true
                    | Linearizable
                    | Inconclusive _ -> false ]

          test "a 1,000-operation key-value history with 10 clients checks well under a second" {
              let history = simulate applyKv Map.empty (kvInput 10) 10 (randomChoices 2024 3_300)
              Expect.isGreaterThanOrEqual history.Length 1_000 "at least 1,000 operations"
              let clock = Diagnostics.Stopwatch.StartNew()
              let result = check kv history
              clock.Stop()
              Expect.equal result Linearizable "an atomic map is linearizable"
              Expect.isLessThan clock.ElapsedMilliseconds 1_000L "checked in under a second"
          } ]
