namespace Raft.Simulation

open Raft.Simulation.Linearizability

/// The clients' history as the linearizability checker reads it, and its check against the key-value model.
module internal ClientHistory =
    type Op = Operation<KeyValue.Input<int, int64>, KeyValue.Output<int64>>

    /// The key-value model with last-writer-wins values, checked key by key.
    let model = KeyValue.modelWith (fun (_: int64) (value: int64) -> value)

    /// Budget per key: histories are bounded by `SimOptions.HistoryLimit`, so a search that runs out is a sign
    /// of a pathological schedule, reported as inconclusive rather than a violation.
    let checkOptions = { MaxStepsPerPartition = 2_000_000L }

    /// Operations from the recorded reads (served ones only: a read has no effect) and every put whose call
    /// came before `cutoff` (the last return of a recorded read): a later put cannot take effect before any
    /// recorded operation returned, so leaving it out changes nothing. An acknowledged put returned when its
    /// leader applied it; a refused one certainly did not happen and is left out; any other may have
    /// happened, at any time after its call, or not at all (timed out).
    let build (view: KeyValueView<'T>) (proposals: ClientProposal<'T> seq) (reads: ClientRead seq) : Op list =
        let served =
            [ for r in reads do
                  match r.Served with
                  | ValueSome(struct (at, value)) ->
                      Operation.returned r.Node (KeyValue.Get r.Key) (KeyValue.Value(ValueOption.toOption value)) r.Call at
                  | ValueNone -> () ]

        let cutoff =
            served
            |> List.fold (fun m op -> match op.Outcome with Returned(at, _) -> max m at | TimedOut -> m) System.Int64.MinValue

        let puts =
            [ for p in proposals do
                  if not p.Refused && p.Call <= cutoff then
                      for c in p.Commands do
                          let struct (key, value) = view.Write c
                          let input = KeyValue.Put(key, value)

                          match p.Acknowledged with
                          | ValueSome at -> Operation.returned p.Node input KeyValue.Written p.Call at
                          | ValueNone -> Operation.timedOut p.Node input p.Call ]

        puts @ served

    /// The verdict on the history: None when linearizable (or inconclusive), else the checker's explanation.
    let check (history: Op list) : string option =
        match checkWith checkOptions model history with
        | NotLinearizable v -> Some v.Explanation
        | Linearizable
        | Inconclusive _ -> None
