/// One contract suite for every ILogStorage: the in-memory log and the file log must behave identically.
module Raft.Storage.Tests.LogContractTests

open System
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

[<AbstractClass>]
type LogContract() =
    /// A fresh, empty log.
    abstract Create: unit -> ILogStorage
    /// The same log after a restart (the file log is closed and opened again; the memory log is kept).
    abstract Reopen: ILogStorage -> ILogStorage
    abstract Cleanup: unit -> unit

    interface IDisposable with
        member this.Dispose() = this.Cleanup()

    [<Fact>]
    member this.``a fresh log is empty at index 1 with term 0 at index 0``() =
        use log = this.Create()
        log.FirstIndex |> should equal 1L
        log.LastIndex |> should equal 0L
        log.TermAt 0L |> should equal 0L
        log.ReadRange(1L, 10L) |> should be Empty
        shouldThrow<ArgumentOutOfRangeException> (fun () -> log.TermAt 1L |> ignore) |> ignore

    [<Fact>]
    member this.``appended records read back exactly, before and after reopen``() =
        let rs = records 1L [ 1L; 1L; 2L; 2L; 3L ]
        let mutable log = this.Create()
        append log rs
        log.LastIndex |> should equal 5L
        triples (readAll log) |> should equal (expected rs)
        [ 0L .. 5L ] |> List.map log.TermAt |> should equal [ 0L; 1L; 1L; 2L; 2L; 3L ]
        log.Flush()
        log <- this.Reopen log
        triples (readAll log) |> should equal (expected rs)
        [ 0L .. 5L ] |> List.map log.TermAt |> should equal [ 0L; 1L; 1L; 2L; 2L; 3L ]
        log.Dispose()

    [<Fact>]
    member this.``ReadRange clamps to the end, honours maxBytes but returns at least one record``() =
        use log = this.Create()
        let rs = records 1L [ 1L; 1L; 1L; 1L; 1L; 1L ]
        append log rs
        triples (log.ReadRange(3L, 100L)) |> should equal (expected rs[2..])
        let first = rs[1].Payload.Length
        let second = rs[2].Payload.Length
        log.ReadRange(2L, 6L, int64 (first + second)).Count |> should equal 2
        log.ReadRange(2L, 6L, int64 (first + second - 1)).Count |> should equal 1
        log.ReadRange(2L, 6L, 0L).Count |> should equal 1
        log.ReadRange(7L, 9L) |> should be Empty
        log.ReadRange(4L, 3L) |> should be Empty

    [<Fact>]
    member this.``an append that starts inside the log replaces everything from there``() =
        let mutable log = this.Create()
        append log (records 1L [ 1L; 1L; 1L; 1L; 1L ])
        append log (records 3L [ 2L; 2L ])
        log.LastIndex |> should equal 4L
        let want = Array.append (records 1L [ 1L; 1L ]) (records 3L [ 2L; 2L ])
        triples (readAll log) |> should equal (expected want)
        log.Flush()
        log <- this.Reopen log
        triples (readAll log) |> should equal (expected want)
        append log (records 5L [ 3L ])
        log.TermAt 5L |> should equal 3L
        log.Dispose()

    [<Fact>]
    member this.``invalid appends are rejected and leave the log unchanged``() =
        use log = this.Create()
        append log (records 1L [ 2L; 2L; 3L ])
        shouldThrow<ArgumentException> (fun () -> append log (records 5L [ 3L ])) |> ignore // gap
        shouldThrow<ArgumentException> (fun () -> append log [| record 4L 3L; record 6L 3L |]) |> ignore
        shouldThrow<ArgumentException> (fun () -> append log (records 4L [ 2L ])) |> ignore // term goes down
        shouldThrow<ArgumentException> (fun () -> append log [| record 4L 4L; record 5L 3L |]) |> ignore
        log.LastIndex |> should equal 3L
        log.CompactPrefix(2L, 2L)
        shouldThrow<ArgumentOutOfRangeException> (fun () -> append log (records 2L [ 3L ])) |> ignore
        log.LastIndex |> should equal 3L
        append log [||]
        log.LastIndex |> should equal 3L

    [<Fact>]
    member this.``TruncateSuffix removes the tail, is a no-op past the end and survives reopen``() =
        let mutable log = this.Create()
        append log (records 1L [ 1L; 1L; 2L; 2L; 3L; 3L ])
        log.TruncateSuffix 10L
        log.LastIndex |> should equal 6L
        log.TruncateSuffix 4L
        log.LastIndex |> should equal 3L
        log.TermAt 3L |> should equal 2L
        shouldThrow<ArgumentOutOfRangeException> (fun () -> log.TermAt 4L |> ignore) |> ignore
        log <- this.Reopen log
        log.LastIndex |> should equal 3L
        triples (readAll log) |> should equal (expected (records 1L [ 1L; 1L; 2L ]))
        log.TruncateSuffix 1L
        log.LastIndex |> should equal 0L
        log <- this.Reopen log
        log.LastIndex |> should equal 0L
        append log (records 1L [ 5L ])
        log.TermAt 1L |> should equal 5L
        log.Dispose()

    [<Fact>]
    member this.``CompactPrefix keeps the suffix and the term of the compaction point``() =
        let mutable log = this.Create()
        let rs = records 1L [ 1L; 1L; 2L; 2L; 2L; 3L; 3L; 4L ]
        append log rs
        log.CompactPrefix(5L, 2L)
        log.FirstIndex |> should equal 6L
        log.LastIndex |> should equal 8L
        log.TermAt 5L |> should equal 2L
        shouldThrow<ArgumentOutOfRangeException> (fun () -> log.TermAt 4L |> ignore) |> ignore
        shouldThrow<ArgumentOutOfRangeException> (fun () -> log.ReadRange(5L, 8L) |> ignore) |> ignore
        shouldThrow<ArgumentOutOfRangeException> (fun () -> log.TruncateSuffix 5L) |> ignore
        triples (readAll log) |> should equal (expected rs[5..])
        log.CompactPrefix(3L, 1L) // already compacted: no-op
        log.FirstIndex |> should equal 6L
        log <- this.Reopen log
        log.FirstIndex |> should equal 6L
        log.TermAt 5L |> should equal 2L
        triples (readAll log) |> should equal (expected rs[5..])
        log.TruncateSuffix 6L
        log.LastIndex |> should equal 5L
        log.LastTerm() |> should equal 2L
        log <- this.Reopen log
        log.FirstIndex |> should equal 6L
        log.LastIndex |> should equal 5L
        log.TermAt 5L |> should equal 2L
        log.Dispose()

    [<Fact>]
    member this.``CompactPrefix past the end empties the log at the snapshot point``() =
        let mutable log = this.Create()
        append log (records 1L [ 1L; 1L; 1L ])
        log.CompactPrefix(20L, 7L)
        log.FirstIndex |> should equal 21L
        log.LastIndex |> should equal 20L
        log.TermAt 20L |> should equal 7L
        shouldThrow<ArgumentException> (fun () -> append log (records 5L [ 7L ])) |> ignore
        log <- this.Reopen log
        (log.FirstIndex, log.LastIndex, log.TermAt 20L) |> should equal (21L, 20L, 7L)
        append log (records 21L [ 7L; 8L ])
        log <- this.Reopen log
        triples (readAll log) |> should equal (expected (records 21L [ 7L; 8L ]))
        log.Dispose()

    [<Fact>]
    member this.``CompactPrefix with a different term at that index discards the whole log``() =
        let mutable log = this.Create()
        append log (records 1L [ 1L; 1L; 1L; 1L; 1L ])
        log.CompactPrefix(3L, 2L)
        (log.FirstIndex, log.LastIndex, log.TermAt 3L) |> should equal (4L, 3L, 2L)
        log <- this.Reopen log
        (log.FirstIndex, log.LastIndex, log.TermAt 3L) |> should equal (4L, 3L, 2L)
        log.Dispose()

    [<Fact>]
    member this.``many records across many segments round trip, with compaction and truncation between reopens``() =
        let mutable log = this.Create()
        let terms = [ for i in 1L .. 600L -> 1L + i / 50L ]
        let rs = records 1L terms
        for chunk in Array.chunkBySize 7 rs do
            append log chunk
        log.Flush()
        log <- this.Reopen log
        triples (readAll log) |> should equal (expected rs)
        for i in [ 1L; 49L; 50L; 51L; 300L; 600L ] do
            log.TermAt i |> should equal (1L + i / 50L)
        triples (log.ReadRange(333L, 340L)) |> should equal (expected rs[332..339])
        log.CompactPrefix(250L, log.TermAt 250L)
        log.TruncateSuffix 500L
        log <- this.Reopen log
        triples (readAll log) |> should equal (expected rs[250..498])
        log.Dispose()

    [<Fact>]
    member this.``FlushAsync completes``() =
        use log = this.Create()
        append log (records 1L [ 1L ])
        log.FlushAsync().AsTask().Wait()

type MemoryLogContract() =
    inherit LogContract()
    override _.Create() = new MemoryLogStorage() :> ILogStorage
    override _.Reopen log = log
    override _.Cleanup() = ()

type FileLogContract() =
    inherit LogContract()
    let dir = new TempDir()
    override _.Create() = openLog dir.Path :> ILogStorage
    override _.Reopen log =
        log.Dispose()
        openLog dir.Path :> ILogStorage
    override _.Cleanup() = (dir :> IDisposable).Dispose()
