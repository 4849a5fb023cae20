/// CRC-32C, the checksum of every storage file and transport frame: published check values, and every way of
/// computing it (whole spans of every length up to 1,100 bytes and a few larger, running checksums split anywhere,
/// multi-segment sequences) against a bit-at-a-time reference of the definition.
module Raft.Storage.Tests.Crc32CTests

open System
open System.Buffers
open Xunit
open FsUnit.Xunit
open Raft.Storage

/// The definition: reflected polynomial 0x82F63B78, initial value and final XOR 0xFFFFFFFF, one bit at a time.
let private reference (data: byte[]) =
    let mutable crc = 0xFFFFFFFFu
    for b in data do
        crc <- crc ^^^ uint32 b
        for _ in 1..8 do
            crc <- (crc >>> 1) ^^^ (0x82F63B78u &&& (0u - (crc &&& 1u)))
    ~~~crc

type private Segment(memory: ReadOnlyMemory<byte>, runningIndex: int64) as this =
    inherit ReadOnlySequenceSegment<byte>()
    do
        this.Memory <- memory
        this.RunningIndex <- runningIndex
    member this.Append(next: ReadOnlyMemory<byte>) =
        let s = Segment(next, this.RunningIndex + int64 this.Memory.Length)
        this.Next <- s
        s

/// `data` as a sequence of segments cut at `cuts` (ascending offsets inside the data).
let private sequence (data: byte[]) (cuts: int list) =
    let bounds = 0 :: cuts @ [ data.Length ]
    let pieces = bounds |> List.pairwise |> List.map (fun (a, b) -> ReadOnlyMemory(data, a, b - a))
    let first = Segment(List.head pieces, 0L)
    let last = pieces |> List.tail |> List.fold (fun (s: Segment) p -> s.Append p) first
    ReadOnlySequence<byte>(first, 0, last, last.Memory.Length)

let private crc (data: byte[]) = Crc32C.Compute(ReadOnlySpan data)

let private lengths = [ 0 .. 1100 ] @ [ 4095; 4096; 4097; 65535; 65536; 65537 ]

let private random (length: int) =
    let data = Array.zeroCreate<byte> length
    Random(length).NextBytes data
    data

[<Fact>]
let ``CRC-32C gives the published check values`` () =
    crc "123456789"B |> should equal 0xE3069283u
    // RFC 3720 (iSCSI), appendix B.4.
    crc (Array.zeroCreate 32) |> should equal 0x8A9136AAu
    crc (Array.create 32 0xFFuy) |> should equal 0x62A8AB43u
    crc (Array.init 32 byte) |> should equal 0x46DD794Eu
    crc (Array.init 32 (fun i -> byte (31 - i))) |> should equal 0x113FDB5Cu
    Crc32C.Compute(ReadOnlySpan<byte>.Empty) |> should equal 0u
    Crc32C.Finish(Crc32C.Seed) |> should equal 0u

[<Fact>]
let ``a whole span gives the reference value at every length`` () =
    for n in lengths do
        let data = random n
        if crc data <> reference data then failwithf "length %d: %08x, expected %08x" n (crc data) (reference data)

[<Fact>]
let ``a running checksum split anywhere equals the whole one`` () =
    let data = Array.init 1000 byte
    Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, ReadOnlySpan(data, 0, 333)), ReadOnlySpan(data, 333, 667)))
    |> should equal (crc data)
    let rnd = Random 7
    for n in lengths do
        let data = random n
        let mutable running = Crc32C.Seed
        let mutable at = 0
        while at < n do
            let piece = min (n - at) (rnd.Next(0, 3) |> function 0 -> rnd.Next(1, 9) | 1 -> rnd.Next(1, 700) | _ -> rnd.Next(1, 5000))
            running <- Crc32C.Append(running, ReadOnlySpan(data, at, piece))
            at <- at + piece
        if Crc32C.Finish running <> reference data then failwithf "length %d in pieces: %08x, expected %08x" n (Crc32C.Finish running) (reference data)

[<Fact>]
let ``a multi-segment sequence gives the value of its bytes, whatever the cuts`` () =
    let rnd = Random 11
    for n in lengths |> List.filter (fun n -> n >= 2) do
        let data = random n
        let cuts = List.init (rnd.Next(1, 6)) (fun _ -> rnd.Next(1, n)) |> List.distinct |> List.sort
        let s = sequence data cuts
        s.IsSingleSegment |> should equal false
        if Crc32C.Compute(&s) <> reference data then failwithf "length %d cut at %A: %08x, expected %08x" n cuts (Crc32C.Compute(&s)) (reference data)
