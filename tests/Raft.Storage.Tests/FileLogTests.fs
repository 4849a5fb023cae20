/// File-log behaviour beyond the shared contract: segments, the sparse index on open, torn tails, leftovers of
/// interrupted operations, and the errors for a missing directory, a second opener, a full disk, a permission problem.
module Raft.Storage.Tests.FileLogTests

open System
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

[<Fact>]
let ``segments roll at the size limit and are named by their first index`` () =
    use dir = new TempDir()
    use log = openLog dir.Path
    fill log 500L |> ignore
    log.SegmentCount |> should be (greaterThan 5)
    let names = segmentFiles dir.Path |> Array.map Path.GetFileName
    names[0] |> should equal "00000000000000000001.seg"
    for f in segmentFiles dir.Path do
        FileInfo(f).Length |> should be (lessThanOrEqualTo 4096L)
    indexFiles dir.Path |> Array.length |> should equal names.Length

[<Fact>]
let ``opening reads index files and scans only the tail of the last segment`` () =
    use dir = new TempDir()
    let options = FileLogOptions(SegmentSize = (1L <<< 20), IndexInterval = 4096, CreateIfMissing = true)
    let rs =
        use log = FileLogStorage.Open(dir.Path, options)
        let rs = records 1L [ for i in 1L .. 60000L -> 1L + i / 7000L ]
        for chunk in Array.chunkBySize 100 rs do
            append log chunk
        log.Flush()
        rs
    use log = FileLogStorage.Open(dir.Path, options)
    log.Recovery.ScannedBytes |> should be (lessThanOrEqualTo 4200L)
    log.Recovery.TruncatedTailBytes |> should equal 0L
    log.LastIndex |> should equal 60000L
    for i in [ 1L; 6999L; 7000L; 35000L; 60000L ] do
        log.TermAt i |> should equal (1L + i / 7000L)
    triples (log.ReadRange(41234L, 41240L)) |> should equal (expected rs[41233..41239])
    log.Verify()

[<Fact>]
let ``a torn last record is cut off on open and the log continues`` () =
    use dir = new TempDir()
    let rs =
        use log = openLog dir.Path
        fill log 50L
    let last = (segmentFiles dir.Path |> Array.last)
    truncateFile last (FileInfo(last).Length - 3L)
    let lastIndex =
        use log = openLog dir.Path
        log.Recovery.TruncatedTailBytes |> should be (greaterThan 0L)
        log.LastIndex |> should equal 49L
        triples (readAll log) |> should equal (expected rs[0..48])
        append log (records 50L [ 9L ])
        log.LastIndex
    use log = openLog dir.Path
    log.Recovery.TruncatedTailBytes |> should equal 0L
    log.LastIndex |> should equal lastIndex
    log.TermAt 50L |> should equal 9L

[<Fact>]
let ``a torn record header and a zero-filled tail are cut off`` () =
    use dir = new TempDir()
    let rs =
        use log = openLog dir.Path
        fill log 20L
    let last = segmentFiles dir.Path |> Array.last
    let length = FileInfo(last).Length
    File.AppendAllBytes(last, Array.zeroCreate 100)
    (use log = openLog dir.Path
     log.Recovery.TruncatedTailBytes |> should equal 100L
     log.LastIndex |> should equal 20L)
    File.AppendAllBytes(last, [| 1uy; 2uy; 3uy |])
    use log = openLog dir.Path
    log.Recovery.TruncatedTailBytes |> should equal 3L
    FileInfo(last).Length |> should equal length
    triples (readAll log) |> should equal (expected rs)

[<Fact>]
let ``a last segment shorter than its header is removed`` () =
    use dir = new TempDir()
    (use log = openLog dir.Path
     fill log 30L |> ignore)
    let next = Path.Combine(dir.Path, SegmentFormat.SegmentName 31L)
    File.WriteAllBytes(next, [| 0x52uy; 0x53uy |])
    use log = openLog dir.Path
    log.LastIndex |> should equal 30L
    File.Exists next |> should equal false
    append log (records 31L [ 1L ])

[<Fact>]
let ``segments left behind by an interrupted compaction are deleted on open`` () =
    use dir = new TempDir()
    let first = segmentFiles dir.Path
    let saved =
        use log = openLog dir.Path
        fill log 300L |> ignore
        let path = (segmentFiles dir.Path)[0]
        let bytes = File.ReadAllBytes path, File.ReadAllBytes(Path.ChangeExtension(path, ".idx"))
        log.CompactPrefix(200L, log.TermAt 200L)
        File.Exists path |> should equal false
        path, bytes
    let path, (seg, idx) = saved
    File.WriteAllBytes(path, seg)
    File.WriteAllBytes(Path.ChangeExtension(path, ".idx"), idx)
    use log = openLog dir.Path
    log.FirstIndex |> should equal 201L
    log.Recovery.DeletedFiles |> should contain path
    File.Exists path |> should equal false
    ignore first

[<Fact>]
let ``a missing index file is rebuilt from its segment`` () =
    use dir = new TempDir()
    let rs =
        use log = openLog dir.Path
        fill log 200L
    let idx = (indexFiles dir.Path)[1]
    File.Delete idx
    (use log = openLog dir.Path
     log.Recovery.RebuiltIndexFiles |> should contain idx
     triples (readAll log) |> should equal (expected rs))
    use log = openLog dir.Path
    log.Recovery.RebuiltIndexFiles |> should be Empty

[<Fact>]
let ``a missing directory is an error unless CreateIfMissing is set`` () =
    use dir = new TempDir()
    let missing = dir.File "nope"
    let e = shouldThrow<StorageException> (fun () -> FileLogStorage.Open(missing) |> ignore)
    e.Message |> containsText "does not exist"
    e.Message |> containsText missing
    e.Message |> containsText "volume is mounted"
    use log = FileLogStorage.Open(missing, FileLogOptions(CreateIfMissing = true))
    log.LastIndex |> should equal 0L

[<Fact>]
let ``a path that is a file is an error`` () =
    use dir = new TempDir()
    File.WriteAllText(dir.File "afile", "x")
    let e = shouldThrow<StorageException> (fun () -> FileLogStorage.Open(dir.File "afile") |> ignore)
    e.Message |> containsText "is a file"

[<Fact>]
let ``a second open of the same directory is refused`` () =
    use dir = new TempDir()
    use log = openLog dir.Path
    let e = shouldThrow<StorageException> (fun () -> openLog dir.Path |> ignore)
    e.Message |> containsText "already open"

[<Fact>]
let ``a full disk gives a disk-full error naming the path`` () =
    // /dev/full fails every write with ENOSPC, exactly like a full volume.
    if File.Exists "/dev/full" then
        use h = File.OpenHandle("/dev/full", FileMode.Open, FileAccess.Write)
        let e =
            try
                RandomAccess.Write(h, ReadOnlySpan<byte>([| 1uy |]), 0L)
                failwith "write to /dev/full succeeded"
            with :? IOException as io -> StorageErrors.Wrap(io, "write", "/data/00000000000000000001.seg")
        e.Message |> containsText "Disk full"
        e.Message |> containsText "/data/00000000000000000001.seg"
        e.Message |> containsText "Free space"

[<Fact>]
let ``a permission error says which path and what access is needed`` () =
    use dir = new TempDir()
    if Environment.UserName <> "root" && not (OperatingSystem.IsWindows()) then
        let locked = dir.File "locked"
        Directory.CreateDirectory locked |> ignore
        File.SetUnixFileMode(locked, UnixFileMode.None)
        try
            let e = shouldThrow<StorageException> (fun () -> FileLogStorage.Open(locked) |> ignore)
            e.Message |> containsText "Permission denied"
            e.Message |> containsText locked
        finally
            File.SetUnixFileMode(locked, UnixFileMode.UserRead ||| UnixFileMode.UserWrite ||| UnixFileMode.UserExecute)
    // Root ignores file modes, so also check the mapping itself.
    let e = StorageErrors.FromErrno(13, "open", "/data/log.lock")
    e.Message |> containsText "Permission denied"
    e.Message |> containsText "/data/log.lock"
    let e2 = StorageErrors.Wrap(UnauthorizedAccessException "denied", "open", "/data/x.seg")
    e2.Message |> containsText "Permission denied"

[<Fact>]
let ``large records bigger than the write buffer round trip`` () =
    use dir = new TempDir()
    let big = Array.init 20000 byte
    (use log = openLog dir.Path
     append log (records 1L [ 1L ])
     log.Append(ReadOnlySpan [| LogRecord(2L, 1L, ReadOnlyMemory big) |])
     append log (records 3L [ 1L ]))
    use log = openLog dir.Path
    let rs = readAll log
    rs.Length |> should equal 3
    rs[1].Payload.ToArray() |> should equal big
    shouldThrow<ArgumentException> (fun () ->
        use small = new MemoryLogStorage()
        let opts = FileLogOptions(MaxRecordSize = 10, CreateIfMissing = true)
        use l = FileLogStorage.Open(dir.File "other", opts)
        l.Append(ReadOnlySpan [| LogRecord(1L, 1L, ReadOnlyMemory big) |]))
    |> ignore
