/// Zeros written ahead of the records in the active segment: they are cut off on close, and when a log is opened after
/// a crash a record cut short inside them is a torn tail, while a complete record with different bytes is damage.
module Raft.Storage.Tests.PreallocationTests

open System
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

let private options () =
    FileLogOptions(SegmentSize = (1L <<< 20), IndexInterval = 4096, PreallocateSize = 65536, CreateIfMissing = true)

/// The files of an open log as a crash would leave them (the lock file is held, so it is not copied).
let private crashImage (from: string) (toDir: string) =
    for f in Directory.GetFiles from do
        if Path.GetFileName f <> "log.lock" then File.Copy(f, Path.Combine(toDir, Path.GetFileName f))

let private recordsEnd (rs: LogRecord[]) = 32L + (rs |> Array.sumBy (fun r -> 28L + int64 r.Payload.Length))

/// 20 small records, then one of 3000 non-zero bytes that spans several sectors.
let private writeWithBigLast (log: FileLogStorage) =
    let small = records 1L (List.replicate 20 1L)
    let big = LogRecord(21L, 1L, ReadOnlyMemory(Array.init 3000 (fun k -> byte (k % 251 + 1))))
    append log small
    append log [| big |]
    log.Flush()
    small, recordsEnd small

let private zero (path: string) (from: int64) (until: int64) =
    use f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite)
    f.Position <- from
    let n = int (until - from)
    f.Write(Array.zeroCreate<byte> n, 0, n)

[<Fact>]
let ``the active segment holds zeros ahead of its records, cut off on close and after a crash`` () =
    use dir = new TempDir()
    use crashed = new TempDir()
    let rs = records 1L (List.replicate 100 1L)
    let seg, dataEnd =
        use log = FileLogStorage.Open(dir.Path, options ())
        append log rs
        log.Flush()
        let seg = (segmentFiles dir.Path)[0]
        FileInfo(seg).Length |> should be (greaterThanOrEqualTo (recordsEnd rs + 60000L))
        crashImage dir.Path crashed.Path
        seg, recordsEnd rs
    FileInfo(seg).Length |> should equal dataEnd
    let crashedSeg = Path.Combine(crashed.Path, Path.GetFileName seg)
    let crashedLength = FileInfo(crashedSeg).Length
    use log = FileLogStorage.Open(crashed.Path, options ())
    log.LastIndex |> should equal 100L
    log.Recovery.TruncatedTailBytes |> should equal (crashedLength - dataEnd)
    FileInfo(crashedSeg).Length |> should equal dataEnd
    triples (readAll log) |> should equal (expected rs)
    append log (records 101L [ 2L ])
    log.Flush()
    log.TermAt 101L |> should equal 2L

[<Fact>]
let ``a record cut short at a sector boundary inside the zeros ahead is a torn tail`` () =
    use dir = new TempDir()
    use crashed = new TempDir()
    let small, bigAt =
        use log = FileLogStorage.Open(dir.Path, options ())
        let r = writeWithBigLast log
        crashImage dir.Path crashed.Path
        r
    let seg = (segmentFiles crashed.Path)[0]
    let cut = (bigAt + 100L + 511L) / 512L * 512L // the write reached the disk up to a sector boundary inside the payload
    zero seg cut (bigAt + 28L + 3000L)
    (use log = FileLogStorage.Open(crashed.Path, options ())
     log.LastIndex |> should equal 20L
     log.Recovery.TruncatedTailBytes |> should be (greaterThan 0L)
     triples (readAll log) |> should equal (expected small)
     append log (records 21L [ 2L ]))
    use log = FileLogStorage.Open(crashed.Path, options ())
    log.Recovery.TruncatedTailBytes |> should equal 0L
    log.TermAt 21L |> should equal 2L

[<Fact>]
let ``a complete last record with a changed byte is corruption even with zeros after it`` () =
    use dir = new TempDir()
    use crashed = new TempDir()
    let _, bigAt =
        use log = FileLogStorage.Open(dir.Path, options ())
        let r = writeWithBigLast log
        crashImage dir.Path crashed.Path
        r
    let seg = (segmentFiles crashed.Path)[0]
    flipByte seg (bigAt + 28L + 2990L)
    let e = shouldThrow<StorageCorruptedException> (fun () -> FileLogStorage.Open(crashed.Path, options ()) |> ignore)
    e.Reason |> containsText "payload checksum"
    e.Offset |> should equal bigAt
