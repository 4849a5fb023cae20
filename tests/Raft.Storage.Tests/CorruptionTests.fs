/// Damaged files: each gives the documented error (or the documented repair) and never wrong data.
module Raft.Storage.Tests.CorruptionTests

open System
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

let private build (dir: string) (count: int64) =
    use log = openLog dir
    fill log count

/// Byte offset of the record for `index` in the first segment (records start after the 32-byte file header).
let private offsetInFirstSegment (rs: LogRecord[]) (index: int64) =
    32L + (rs[0 .. int index - 2] |> Array.sumBy (fun r -> 28L + int64 r.Payload.Length))

[<Fact>]
let ``a flipped payload byte in a sealed segment fails the read that reaches it, naming file and offset`` () =
    use dir = new TempDir()
    let rs = build dir.Path 300L
    let seg = (segmentFiles dir.Path)[0]
    let at = offsetInFirstSegment rs 10L
    flipByte seg (at + 28L + 0L)
    use log = openLog dir.Path // the sparse index is trusted; the damage is found when read
    triples (log.ReadRange(1L, 9L)) |> should equal (expected rs[0..8])
    let e = shouldThrow<StorageCorruptedException> (fun () -> log.ReadRange(5L, 20L) |> ignore)
    e.Path |> should equal seg
    e.Offset |> should equal at
    e.Message |> containsText seg
    e.Message |> containsText (sprintf "offset %d" at)
    e.Message |> containsText "payload checksum"
    e.Message |> containsText "rejoin"
    shouldThrow<StorageCorruptedException> (fun () -> log.Verify()) |> ignore
    triples (log.ReadRange(11L, 12L)) |> should equal (expected rs[10..11])

[<Fact>]
let ``a flipped header byte in a sealed segment fails reads at that record`` () =
    use dir = new TempDir()
    let rs = build dir.Path 300L
    let seg = (segmentFiles dir.Path)[0]
    let at = offsetInFirstSegment rs 7L
    flipByte seg (at + 5L)
    use log = openLog dir.Path
    let e = shouldThrow<StorageCorruptedException> (fun () -> log.ReadRange(7L, 7L) |> ignore)
    e.Offset |> should equal at
    e.Reason |> containsText "header"

[<Fact>]
let ``a flipped byte in the scanned part of the last segment stops the open`` () =
    use dir = new TempDir()
    // One segment, no index point after the first record: open scans it all.
    let options = FileLogOptions(SegmentSize = (1L <<< 20), IndexInterval = (1 <<< 20), CreateIfMissing = true)
    let rs = records 1L (List.replicate 50 1L)
    (use log = FileLogStorage.Open(dir.Path, options)
     append log rs)
    let seg = (segmentFiles dir.Path)[0]
    let at = offsetInFirstSegment rs 25L
    flipByte seg (at + 30L)
    let e = shouldThrow<StorageCorruptedException> (fun () -> FileLogStorage.Open(dir.Path, options) |> ignore)
    e.Path |> should equal seg
    e.Offset |> should equal at
    e.Message |> containsText "TruncateCorruptTail"
    // The escape hatch keeps the valid prefix.
    use log = FileLogStorage.Open(dir.Path, FileLogOptions(SegmentSize = (1L <<< 20), IndexInterval = (1 <<< 20), TruncateCorruptTail = true))
    log.LastIndex |> should equal 24L
    triples (readAll log) |> should equal (expected rs[0..23])

[<Fact>]
let ``a flipped payload byte in the very last record is corruption, not a torn write`` () =
    use dir = new TempDir()
    let rs = build dir.Path 20L
    let seg = segmentFiles dir.Path |> Array.last
    flipByte seg (FileInfo(seg).Length - 1L)
    let e = shouldThrow<StorageCorruptedException> (fun () -> openLog dir.Path |> ignore)
    e.Reason |> containsText "payload checksum"
    ignore rs

[<Fact>]
let ``a flipped byte in an index file is detected and the index rebuilt from its segment`` () =
    use dir = new TempDir()
    let rs = build dir.Path 300L
    let idx = (indexFiles dir.Path)[0]
    for offset in [ 40L; 5L; FileInfo(idx).Length - 3L ] do // an entry, the header, the seal
        flipByte idx offset
        (use log = openLog dir.Path
         log.Recovery.RebuiltIndexFiles |> should contain idx
         triples (readAll log) |> should equal (expected rs)
         log.Verify())
    use log = openLog dir.Path
    log.Recovery.RebuiltIndexFiles |> should be Empty

[<Fact>]
let ``a damaged segment header stops the open`` () =
    use dir = new TempDir()
    build dir.Path 300L |> ignore
    let seg = (segmentFiles dir.Path)[1]
    flipByte seg 9L
    let e = shouldThrow<StorageCorruptedException> (fun () -> openLog dir.Path |> ignore)
    e.Path |> should equal seg
    e.Offset |> should equal 0L

[<Fact>]
let ``a truncated sealed segment stops the open`` () =
    use dir = new TempDir()
    build dir.Path 300L |> ignore
    let seg = (segmentFiles dir.Path)[1]
    truncateFile seg (FileInfo(seg).Length - 10L)
    let e = shouldThrow<StorageCorruptedException> (fun () -> openLog dir.Path |> ignore)
    e.Path |> should equal seg
    e.Reason |> containsText "past the end"

[<Fact>]
let ``a sealed segment truncated at a record boundary is a gap`` () =
    use dir = new TempDir()
    let rs = build dir.Path 300L
    let seg = (segmentFiles dir.Path)[0]
    truncateFile seg (offsetInFirstSegment rs 5L)
    let e = shouldThrow<StorageCorruptedException> (fun () -> openLog dir.Path |> ignore)
    e.Reason |> containsText "previous segment ends at 4"

[<Fact>]
let ``a missing middle segment stops the open`` () =
    use dir = new TempDir()
    build dir.Path 300L |> ignore
    let seg = (segmentFiles dir.Path)[2]
    File.Delete seg
    let e = shouldThrow<StorageCorruptedException> (fun () -> openLog dir.Path |> ignore)
    e.Reason |> containsText "missing"

[<Fact>]
let ``a missing first segment stops the open`` () =
    use dir = new TempDir()
    build dir.Path 300L |> ignore
    File.Delete((segmentFiles dir.Path)[0])
    let e = shouldThrow<StorageCorruptedException> (fun () -> openLog dir.Path |> ignore)
    e.Reason |> containsText "should start at index 1"

[<Fact>]
let ``a damaged compaction point file stops the open`` () =
    use dir = new TempDir()
    (use log = openLog dir.Path
     append log (records 1L [ 1L; 1L; 1L ])
     log.CompactPrefix(2L, 1L))
    let meta = dir.File "log.meta"
    flipByte meta 12L
    let e = shouldThrow<StorageCorruptedException> (fun () -> openLog dir.Path |> ignore)
    e.Path |> should equal meta
