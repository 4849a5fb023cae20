/// Hard state and snapshot files: atomic replacement, round trips, detection of every kind of damage.
module Raft.Storage.Tests.HardStateAndSnapshotTests

open System
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

[<Fact>]
let ``hard state round trips and replaces the previous one`` () =
    use dir = new TempDir()
    let store = FileHardStateStore(dir.Path)
    store.Load() |> should equal (null: byte[])
    store.Save(ReadOnlySpan [| 1uy; 2uy; 3uy |])
    store.Load() |> should equal [| 1uy; 2uy; 3uy |]
    store.Save(ReadOnlySpan(Array.create 1000 7uy))
    FileHardStateStore(dir.Path).Load() |> should equal (Array.create 1000 7uy)
    store.Save(ReadOnlySpan<byte>([||]))
    store.Load() |> should equal ([||]: byte[])
    Directory.GetFiles(dir.Path) |> Array.map Path.GetFileName |> should equal [| "hardstate" |]

[<Fact>]
let ``a leftover temp file from an interrupted save is ignored and removed`` () =
    use dir = new TempDir()
    let store = FileHardStateStore(dir.Path)
    store.Save(ReadOnlySpan [| 9uy |])
    File.WriteAllBytes(dir.File "hardstate.tmp", [| 1uy; 2uy |])
    store.Load() |> should equal [| 9uy |]
    File.Exists(dir.File "hardstate.tmp") |> should equal false

[<Fact>]
let ``a flipped or truncated hard state file is a clear error`` () =
    use dir = new TempDir()
    let store = FileHardStateStore(dir.Path)
    for damage in [ (fun p -> flipByte p 20L); (fun p -> flipByte p 0L); (fun p -> flipByte p 9L); (fun p -> truncateFile p 30L); (fun p -> truncateFile p 5L) ] do
        store.Save(ReadOnlySpan(Array.init 64 byte))
        damage store.FilePath
        let e = shouldThrow<StorageCorruptedException> (fun () -> store.Load() |> ignore)
        e.Path |> should equal store.FilePath
        e.Message |> containsText "hardstate"
        e.Message |> containsText "vote"

[<Fact>]
let ``the hard state store refuses a missing directory`` () =
    use dir = new TempDir()
    let e = shouldThrow<StorageException> (fun () -> FileHardStateStore(dir.File "missing") |> ignore)
    e.Message |> containsText "does not exist"

[<Fact>]
let ``the in-memory hard state store round trips`` () =
    let store = MemoryHardStateStore()
    store.Load() |> should equal (null: byte[])
    store.Save(ReadOnlySpan [| 4uy |])
    store.Load() |> should equal [| 4uy |]

let private readAllData (reader: SnapshotReader) =
    use ms = new MemoryStream()
    reader.Data.CopyTo ms
    ms.ToArray()

[<Fact>]
let ``a snapshot written from a stream reads back with its metadata`` () =
    use dir = new TempDir()
    let store = FileSnapshotStore(dir.Path)
    store.Latest() |> should equal (null: SnapshotMetadata)
    let data = Array.init 300000 (fun i -> byte (i * 7))
    let meta = store.Write(100L, 5L, ReadOnlySpan [| 1uy; 2uy |], new MemoryStream(data))
    (meta.Index, meta.Term, meta.DataLength) |> should equal (100L, 5L, 300000L)
    store.Write(50L, 4L, ReadOnlySpan [| 3uy |], new MemoryStream([| 1uy |])) |> ignore
    let latest = store.Latest()
    (latest.Index, latest.Term, latest.Configuration) |> should equal (100L, 5L, [| 1uy; 2uy |])
    use reader = store.OpenLatest()
    readAllData reader |> should equal data
    store.DeleteOlderThan 100L |> should equal 1
    Directory.GetFiles(dir.Path) |> Array.length |> should equal 1

[<Fact>]
let ``a snapshot opened by index and term reads at any offset, and keeps reading after a newer one deletes its file`` () =
    use dir = new TempDir()
    let store = FileSnapshotStore(dir.Path)
    let data = Array.init 100000 (fun i -> byte (i * 13))
    store.Write(10L, 2L, ReadOnlySpan [| 9uy |], new MemoryStream(data)) |> ignore
    store.Open(10L, 3L) |> should equal (null: SnapshotReader)
    use reader = store.Open(10L, 2L)
    (reader.Metadata.Index, reader.Metadata.Term) |> should equal (10L, 2L)
    store.Write(20L, 2L, ReadOnlySpan [| 9uy |], new MemoryStream([| 1uy |])) |> ignore
    store.DeleteOlderThan 20L |> should equal 1
    store.Open(10L, 2L) |> should equal (null: SnapshotReader)
    // Chunks at their offsets, last one short, past the end empty: what a leader sends.
    let buffer = Array.zeroCreate<byte> 4096
    for offset in [ 0L; 4096L; 50001L; 98000L ] do
        let n = reader.ReadAt(offset, Span buffer)
        n |> should equal (min 4096 (100000 - int offset))
        buffer[.. n - 1] |> should equal data[int offset .. int offset + n - 1]
    reader.ReadAt(100000L, Span buffer) |> should equal 0

[<Fact>]
let ``a snapshot written in chunks tolerates re-sent chunks, rejects gaps and is invisible until complete`` () =
    use dir = new TempDir()
    let store = FileSnapshotStore(dir.Path)
    let data = Array.init 10000 byte
    use w = store.BeginWrite(7L, 2L, ReadOnlySpan [| 9uy |])
    w.WriteChunk(0L, ReadOnlySpan(data, 0, 4000))
    w.WriteChunk(0L, ReadOnlySpan(data, 0, 4000)) // re-sent
    w.WriteChunk(3000L, ReadOnlySpan(data, 3000, 5000)) // overlapping
    shouldThrow<ArgumentOutOfRangeException> (fun () -> w.WriteChunk(9000L, ReadOnlySpan(data, 9000, 1000))) |> ignore
    store.Latest() |> should equal (null: SnapshotMetadata)
    w.WriteChunk(8000L, ReadOnlySpan(data, 8000, 2000))
    w.Complete().DataLength |> should equal 10000L
    use reader = store.OpenLatest()
    readAllData reader |> should equal data

[<Fact>]
let ``an abandoned chunked snapshot leaves nothing behind`` () =
    use dir = new TempDir()
    let store = FileSnapshotStore(dir.Path)
    (use w = store.BeginWrite(7L, 2L, ReadOnlySpan<byte>([||]))
     w.Write(ReadOnlySpan [| 1uy |]))
    Directory.GetFiles(dir.Path) |> should be Empty

[<Fact>]
let ``damaged snapshot files are clear errors`` () =
    use dir = new TempDir()
    let store = FileSnapshotStore(dir.Path)
    let write () = store.Write(10L, 1L, ReadOnlySpan [| 5uy |], new MemoryStream(Array.init 5000 byte)).FilePath
    // data byte: detected when the data is read to its end
    let path = write ()
    flipByte path 2000L
    (use reader = store.OpenLatest()
     let e = shouldThrow<StorageCorruptedException> (fun () -> readAllData reader |> ignore)
     e.Path |> should equal path
     e.Message |> containsText "snapshot data checksum")
    // header byte, configuration byte, truncation: detected on open
    for damage in [ (fun p -> flipByte p 3L); (fun p -> flipByte p 48L); (fun p -> truncateFile p 3000L) ] do
        let path = write ()
        damage path
        let e = shouldThrow<StorageCorruptedException> (fun () -> store.Latest() |> ignore)
        e.Path |> should equal path
