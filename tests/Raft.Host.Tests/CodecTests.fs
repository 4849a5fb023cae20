/// Round trips and failure modes of the hand-written MessagePack formatters for Raft messages,
/// entries and hard state (shell-cs/Raft/Serialization).
module Raft.Host.Tests.CodecTests

open System
open System.Buffers
open FsCheck
open FsCheck.FSharp
open MessagePack
open Xunit
open FsUnit.Xunit
open Raft.Core
open Raft.Serialization

/// A user command type encoded by the user's resolver (attribute-based, not known to the Raft codec).
[<MessagePackObject>]
type KvCommand =
    { [<Key 0>] Key: string
      [<Key 1>] Value: int64 }

let private codec = RaftMessageCodec<string>()
let private batchCodec = RaftBatchCodec<string>(codec)

let private config = Config.QuickThrowOnFailure.WithMaxTest(200)

let private encodeBatch (batch: RaftEnvelope<string>[]) =
    let buffer = ArrayBufferWriter<byte>()
    batchCodec.Encode(batch, buffer)
    buffer.WrittenMemory.ToArray()

let private encodeMessage (m: Message<'T>) (c: RaftMessageCodec<'T>) =
    let buffer = ArrayBufferWriter<byte>()
    c.Serialize(buffer, m)
    buffer.WrittenMemory.ToArray()

/// Runs `f` and returns the RaftCodecException it raised; fails on any other outcome.
let private codecError (f: unit -> 'a) : RaftCodecException =
    try
        f () |> ignore
        failwith "expected RaftCodecException, decode succeeded"
    with
    | :? RaftCodecException as ex -> ex
    | ex -> failwithf "expected RaftCodecException, got %s: %s" (ex.GetType().Name) ex.Message

let private emptyMembership =
    { Voters = Set.empty; Outgoing = Set.empty; Learners = Set.empty; LearnersNext = Set.empty; AutoLeave = false }

let private heartbeat : Message<string> =
    { From = Ids.node 1L; To = Ids.node 2L; Term = Ids.term 3L
      Body = Heartbeat { Commit = Ids.index 7L; Context = 9L } }

[<Fact>]
let ``every generated batch of messages round-trips through the batch codec`` () =
    Check.One(config, fun (batch: (int64 * Message<string>) list) ->
        let envelopes = batch |> List.map RaftEnvelope |> Array.ofList
        batchCodec.Decode(ReadOnlySequence(encodeBatch envelopes)) = envelopes)

[<Fact>]
let ``every generated message round-trips through Serialize and Deserialize`` () =
    Check.One(config, fun (m: Message<string>) ->
        codec.Deserialize(ReadOnlyMemory(encodeMessage m codec)) = m)

[<Fact>]
let ``every generated entry round-trips as storage bytes`` () =
    Check.One(config, fun (e: Entry<string>) -> codec.DecodeEntry(ReadOnlyMemory(codec.EncodeEntry e)) = e)

[<Fact>]
let ``every generated hard state and snapshot meta round-trips as storage bytes`` () =
    Check.One(config.WithMaxTest(100), fun (h: HardState) (s: SnapshotMeta) ->
        RaftStateCodec.DecodeHardState(ReadOnlyMemory(RaftStateCodec.EncodeHardState h)) = h
        && RaftStateCodec.DecodeSnapshotMeta(ReadOnlyMemory(RaftStateCodec.EncodeSnapshotMeta s)) = s)

[<Fact>]
let ``every strict prefix of an encoded batch raises RaftCodecException Truncated`` () =
    Check.One(config.WithMaxTest(30), fun (batch: (int64 * Message<string>) list) ->
        let bytes = batch |> List.map RaftEnvelope |> Array.ofList |> encodeBatch
        for cut in 0 .. bytes.Length - 1 do
            let ex = codecError (fun () -> batchCodec.Decode(ReadOnlySequence(bytes, 0, cut)))
            ex.Reason |> should equal RaftCodecError.Truncated)

[<Fact>]
let ``a batch over MaxEnvelopes is refused both ways, one at the limit round-trips`` () =
    let small = RaftBatchCodec<string>(codec, MaxEnvelopes = 3)
    let batch n = Array.init n (fun i -> RaftEnvelope<string>(int64 i, heartbeat))
    let encode (b: RaftEnvelope<string>[]) =
        let buffer = ArrayBufferWriter<byte>()
        small.Encode(b, buffer)
        buffer.WrittenMemory.ToArray()
    small.Decode(ReadOnlySequence(encode (batch 3))).Length |> should equal 3
    (codecError (fun () -> encode (batch 4))).Reason |> should equal RaftCodecError.PayloadEncodeFailed
    // Written by a codec with the default limit, read by one with a smaller limit: refused before allocating.
    let ex = codecError (fun () -> small.Decode(ReadOnlySequence(encodeBatch (batch 4))))
    ex.Reason |> should equal RaftCodecError.Malformed
    ex.Message |> should haveSubstring "MaxEnvelopes"

[<Fact>]
let ``every strict prefix of a stored entry or hard state raises RaftCodecException`` () =
    Check.One(config.WithMaxTest(60), fun (e: Entry<string>) (h: HardState) ->
        let entry = codec.EncodeEntry e
        for cut in 0 .. entry.Length - 1 do
            codecError (fun () -> codec.DecodeEntry(ReadOnlyMemory(entry, 0, cut))) |> ignore
        let hs = RaftStateCodec.EncodeHardState h
        for cut in 0 .. hs.Length - 1 do
            codecError (fun () -> RaftStateCodec.DecodeHardState(ReadOnlyMemory(hs, 0, cut))) |> ignore)

[<Fact>]
let ``random garbage either decodes or raises RaftCodecException, never anything else`` () =
    Check.One(config.WithMaxTest(2000), fun (garbage: byte[]) ->
        let attempt f =
            try f () |> ignore with
            | :? RaftCodecException -> ()
        attempt (fun () -> batchCodec.Decode(ReadOnlySequence garbage))
        attempt (fun () -> codec.DecodeEntry(ReadOnlyMemory garbage))
        attempt (fun () -> RaftStateCodec.DecodeHardState(ReadOnlyMemory garbage)))

[<Fact>]
let ``random byte flips in a valid batch either decode or raise RaftCodecException`` () =
    Check.One(config.WithMaxTest(500), fun (batch: (int64 * Message<string>) list) (flips: (int * byte) list) ->
        let bytes = batch |> List.map RaftEnvelope |> Array.ofList |> encodeBatch
        for (pos, value) in flips do
            bytes[abs (pos % bytes.Length)] <- value
        try batchCodec.Decode(ReadOnlySequence bytes) |> ignore with
        | :? RaftCodecException -> ())

[<Fact>]
let ``a payload that the user's formatter cannot read raises PayloadDecodeFailed`` () =
    let m : Message<string> =
        { heartbeat with
            Body = AppendEntries
                { PrevIndex = Ids.index 1L; PrevTerm = Ids.term 1L; Commit = Ids.index 1L
                  Entries = [| { Index = Ids.index 2L; Term = Ids.term 3L; Payload = Command "not a number"; Size = 12 } |] } }
    let bytes = encodeMessage m codec
    let ex = codecError (fun () -> RaftMessageCodec<int64>().Deserialize(ReadOnlyMemory bytes))
    ex.Reason |> should equal RaftCodecError.PayloadDecodeFailed

[<Fact>]
let ``a user record payload round-trips with the caller's resolver`` () =
    let kv = RaftMessageCodec<KvCommand>(MessagePackSerializerOptions.Standard)
    let entry = { Index = Ids.index 5L; Term = Ids.term 2L; Payload = Command { Key = "k"; Value = 42L }; Size = 8 }
    kv.DecodeEntry(ReadOnlyMemory(kv.EncodeEntry entry)) |> should equal entry
    let config = { Index = Ids.index 6L; Term = Ids.term 2L; Size = 0
                   Payload = Config { emptyMembership with Voters = set [ Ids.node 1L; Ids.node 2L ]; AutoLeave = true } }
    kv.DecodeEntry(ReadOnlyMemory(kv.EncodeEntry config)) |> should equal config

[<Fact>]
let ``a newer format version is refused with UnsupportedVersion`` () =
    let bytes = encodeMessage heartbeat codec
    bytes[1] <- byte (WireFormat.Version + 1) // [0x92, version, ...]: version is a positive fixint
    (codecError (fun () -> codec.Deserialize(ReadOnlyMemory bytes))).Reason |> should equal RaftCodecError.UnsupportedVersion

/// One MessagePack token of a hand-made body.
type private Tok =
    | Arr of int
    | I of int64
    | U8 of byte
    | S of string

/// Hand-writes [version, [from=1, to=2, term=3, body]] where the body is the given token stream.
let private handMade (body: Tok list) =
    let buffer = ArrayBufferWriter<byte>()
    let mutable w = MessagePackWriter(buffer)
    w.WriteArrayHeader 2
    w.Write WireFormat.Version
    w.WriteArrayHeader 4
    w.Write 1L
    w.Write 2L
    w.Write 3L
    for t in body do
        match t with
        | Arr n -> w.WriteArrayHeader n
        | I v -> w.Write v
        | U8 v -> w.Write v
        | S v -> w.Write v
    w.Flush()
    buffer.WrittenMemory

[<Fact>]
let ``an unknown message kind is refused with UnknownKind`` () =
    let bytes = handMade [ Arr 1; U8 200uy ]
    (codecError (fun () -> codec.Deserialize bytes)).Reason |> should equal RaftCodecError.UnknownKind

[<Fact>]
let ``fields appended by a newer writer are skipped`` () =
    let bytes = handMade [ Arr 5; U8 5uy (* Heartbeat *); I 7L; I 9L; S "a field from the future"; Arr 2; I 1L; I 2L ]
    codec.Deserialize bytes |> should equal heartbeat

[<Fact>]
let ``a body with too few fields is refused with Malformed`` () =
    let bytes = handMade [ Arr 2; U8 5uy; I 7L ]
    (codecError (fun () -> codec.Deserialize bytes)).Reason |> should equal RaftCodecError.Malformed

[<Fact>]
let ``trailing bytes after a stored entry are refused with Malformed`` () =
    let bytes = Array.append (codec.EncodeEntry { Index = Ids.index 1L; Term = Ids.term 1L; Payload = Noop; Size = 0 }) [| 0xC0uy |]
    (codecError (fun () -> codec.DecodeEntry(ReadOnlyMemory bytes))).Reason |> should equal RaftCodecError.Malformed

[<Fact>]
let ``a huge element count with few bytes is refused before allocating`` () =
    let bytes = handMade [ Arr 5; U8 3uy (* AppendEntries *); I 1L; I 1L; Arr Int32.MaxValue ]
    codecError (fun () -> codec.Deserialize bytes) |> ignore

[<Fact>]
let ``the single-envelope codec shares the batch wire shape`` () =
    let single = RaftEnvelopeCodec<string>(codec)
    let buffer = ArrayBufferWriter<byte>()
    single.Encode(RaftEnvelope(42L, heartbeat), buffer)
    single.Decode(ReadOnlySequence(buffer.WrittenMemory)) |> should equal (RaftEnvelope(42L, heartbeat))
    batchCodec.Decode(ReadOnlySequence(buffer.WrittenMemory)) |> should equal [| RaftEnvelope(42L, heartbeat) |]
    let two = encodeBatch [| RaftEnvelope(1L, heartbeat); RaftEnvelope(2L, heartbeat) |]
    (codecError (fun () -> single.Decode(ReadOnlySequence two))).Reason |> should equal RaftCodecError.Malformed

[<Fact>]
let ``host messages (forwarded proposals and outcomes) round-trip in a batch next to Raft messages`` () =
    let batch =
        [| RaftEnvelope(4L, heartbeat)
           RaftEnvelope.ForHost(4L, ForwardedProposals(17L, [| "a"; ""; "ccc" |]))
           RaftEnvelope.ForHost(5L, ForwardedOutcome<string>(17L, 2, ForwardStatus.Applied, 12L, 3L, [| 1uy; 2uy |], null, 0L))
           RaftEnvelope.ForHost(5L, ForwardedOutcome<string>(18L, 0, ForwardStatus.NotLeader, 0L, 0L, null, "moved", 3L))
           RaftEnvelope.ForHost(5L, ForwardedOutcome<string>(19L, 1, ForwardStatus.Lost, 9L, 4L, null, "overwritten", 0L)) |]
    let decoded = batchCodec.Decode(ReadOnlySequence(encodeBatch batch))
    decoded.Length |> should equal 5
    decoded[0] |> should equal batch[0]
    match decoded[1].Host with
    | :? ForwardedProposals<string> as p ->
        decoded[1].GroupId |> should equal 4L
        p.RequestId |> should equal 17L
        p.Commands |> should equal [| "a"; ""; "ccc" |]
    | other -> failwithf "expected forwarded proposals, got %A" other
    match decoded[2].Host, decoded[3].Host with
    | (:? ForwardedOutcome<string> as a), (:? ForwardedOutcome<string> as b) ->
        (a.RequestId, a.Slot, a.Status, a.Index, a.Term, a.Result, a.Error, a.LeaderHint)
        |> should equal (17L, 2, ForwardStatus.Applied, 12L, 3L, [| 1uy; 2uy |], (null: string | null), 0L)
        (b.RequestId, b.Status, b.Result, b.Error, b.LeaderHint)
        |> should equal (18L, ForwardStatus.NotLeader, (null: byte[] | null), "moved", 3L)
    | other -> failwithf "expected two outcomes, got %A" other
    match decoded[4].Host with
    | :? ForwardedOutcome<string> as lost -> (lost.Status, lost.Index, lost.Term) |> should equal (ForwardStatus.Lost, 9L, 4L)
    | other -> failwithf "expected a lost outcome, got %A" other

[<Fact>]
let ``forwarded proposals carry one trace context per command, and a request without them (an older node's) still decodes`` () =
    let traced = ForwardedProposals(9L, [| "a"; "b" |], [| "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"; null |])
    let decoded = batchCodec.Decode(ReadOnlySequence(encodeBatch [| RaftEnvelope.ForHost(1L, traced) |]))
    match decoded[0].Host with
    | :? ForwardedProposals<string> as p ->
        p.Commands |> should equal [| "a"; "b" |]
        p.TraceParents |> should equal traced.TraceParents
    | other -> failwithf "expected forwarded proposals, got %A" other
    // [1, 9, ["a"]]: the three fields a node before tracing writes.
    let w = ArrayBufferWriter<byte>()
    let mutable writer = MessagePack.MessagePackWriter(w)
    writer.WriteArrayHeader 3
    writer.Write 1uy
    writer.Write 9L
    writer.WriteArrayHeader 1
    writer.Write "a"
    writer.Flush()
    let codec = HostMessageCodec<string>(MessagePack.MessagePackSerializerOptions.Standard)
    let mutable reader = MessagePack.MessagePackReader(w.WrittenMemory)
    match codec.Read(&reader) with
    | :? ForwardedProposals<string> as p ->
        p.Commands |> should equal [| "a" |]
        p.TraceParents |> should equal (null: string array | null)
    | other -> failwithf "expected forwarded proposals, got %A" other
    // A count of trace contexts that differs from the commands' is a codec error.
    let bad = ForwardedProposals(9L, [| "a"; "b" |], [| "x" |])
    (codecError (fun () -> batchCodec.Decode(ReadOnlySequence(encodeBatch [| RaftEnvelope.ForHost(1L, bad) |])))).Reason |> should equal RaftCodecError.Malformed

[<Fact>]
let ``a host message of an unknown kind or status is a codec error, not a crash`` () =
    let outcome = ForwardedOutcome<string>(1L, 0, ForwardStatus.Applied, 1L, 1L, [| 0uy |], null, 0L)
    let bytes = encodeBatch [| RaftEnvelope.ForHost(1L, outcome) |]
    // The status byte follows [2, requestId=1, slot=0]: find "02 01 00 00" and corrupt the status.
    let at = bytes |> Array.windowed 4 |> Array.findIndex (fun w -> w = [| 2uy; 1uy; 0uy; 0uy |])
    let badStatus = Array.copy bytes
    badStatus[at + 3] <- 9uy
    (codecError (fun () -> batchCodec.Decode(ReadOnlySequence badStatus))).Message |> should haveSubstring "status"
    let badKind = Array.copy bytes
    badKind[at] <- 7uy
    (codecError (fun () -> batchCodec.Decode(ReadOnlySequence badKind))).Message |> should haveSubstring "kind"
