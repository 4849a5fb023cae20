/// The sequential specification of one key of the key-value server, for the linearizability checker. The server picks
/// versions (a write's version is its Raft log index), so the model cannot predict them: each operation carries what
/// its client saw, and the model says whether that answer is possible in its state (Porcupine's form of a model,
/// through the checker's deterministic one: the output is just "possible"). A write whose answer is unknown moves
/// the state to its value with a version known only to be above the previous one; the next answer that names a
/// version pins it again.
module Raft.Host.Tests.KvRegisterModel

open Raft.Testing

/// What a client asks of one key.
type KvKind =
    | Put = 0
    | Cas = 1
    | Get = 2

/// A request: `Value` is the value written (Put, Cas; unique per write, so a read names the write it saw);
/// `Expected` is the version a Cas names in `If-Match`.
type KvRequest = { Key: string; Kind: KvKind; Value: string; Expected: int64 }

/// An answer: 200 with the value and version (for a write: the value written and the version it got), 404 (absent),
/// 412 with the key's version as the server named it; `Status` 0 when the client never learned the outcome.
type KvResponse = { Status: int; Value: string; Version: int64 }

/// One operation as the checker sees it.
type KvStep = { Request: KvRequest; Response: KvResponse }

/// The key's value ("" when absent: values written are never empty) and version. When `Known` is false the
/// version is only known to be greater than `Version` (an unknown write may have taken effect).
type KvState = { Value: string; Version: int64; Known: bool }

let private absent = { Value = ""; Version = 0L; Known = true }

/// The answer a client did not get.
let noResponse = { Status = 0; Value = ""; Version = 0L }

/// Whether the key's actual version could be `v` in `state`.
let private couldBe (state: KvState) v = if state.Known then v = state.Version else v > state.Version

/// Whether `response` is a possible answer to `request` in `state`, and the state after it.
let step (state: KvState) (request: KvRequest) (response: KvResponse) : bool * KvState =
    let written v = { Value = request.Value; Version = v; Known = true }
    match request.Kind, response.Status with
    | KvKind.Get, 200 ->
        state.Value <> "" && state.Value = response.Value && couldBe state response.Version, { state with Version = response.Version; Known = true }
    | KvKind.Get, 404 -> state.Value = "", state
    | KvKind.Put, 200 -> response.Version > state.Version, written response.Version
    | KvKind.Cas, 200 -> state.Value <> "" && couldBe state request.Expected && response.Version > request.Expected, written response.Version
    | KvKind.Cas, 412 ->
        response.Version <> request.Expected && couldBe state response.Version && (response.Version = 0L) = (state.Value = ""),
        { state with Version = response.Version; Known = true }
    // Unknown writes: applied here (the checker also tries them never applied). A Cas that may have matched is taken
    // to have matched: had it not, it changed nothing, which is the "never applied" case.
    | KvKind.Put, 0 -> true, { Value = request.Value; Version = state.Version; Known = false }
    | KvKind.Cas, 0 ->
        true, (if state.Value <> "" && couldBe state request.Expected then { Value = request.Value; Version = request.Expected; Known = false } else state)
    | kind, status -> failwithf "no model of %A answered %d (the client records only 200, 404, 412 and unknown writes)" kind status

/// The model for `LinearizabilityChecker`: one register per key, checked key by key.
type KvRegisters() =
    interface IModel<KvState, KvStep, bool> with
        member _.Initial = absent
        member _.Apply(state, op) =
            let ok, next = step state op.Request op.Response
            struct (ok, next)
        member _.PartitionKey(op) = box op.Request.Key

/// The checker's history from what clients recorded: answered operations with their answers; unknown writes with
/// none; failed operations and unknown reads left out (neither changed anything).
let steps (recorded: HistoryOperation<KvRequest, KvResponse> seq) =
    [ for op in recorded do
          match op.Outcome with
          | OperationOutcome.Completed ->
              yield HistoryOperation<KvStep, bool>.Completed(op.Client, { Request = op.Input; Response = op.Output }, op.Call, op.Return, true)
          | OperationOutcome.Unknown when op.Input.Kind <> KvKind.Get ->
              yield HistoryOperation<KvStep, bool>.Unknown(op.Client, { Request = op.Input; Response = noResponse }, op.Call)
          | _ -> () ]

/// Checks a recorded history.
let check (recorded: HistoryOperation<KvRequest, KvResponse> seq) =
    let history = steps recorded
    history, LinearizabilityChecker.Check(KvRegisters(), history)
