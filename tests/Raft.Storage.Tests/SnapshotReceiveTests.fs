/// Snapshots received in chunks resume after a restart at their last checkpoint: torn tails are cut off, damaged or
/// stale records and partial files are discarded (never fail the start), unreadable ones name the file.
module Raft.Storage.Tests.SnapshotReceiveTests

open System
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

let private data = Array.init 10000 (fun i -> byte (i * 13 + 1))
let private config = [| 7uy; 8uy; 9uy |]
let private partialName = "00000000000000000042-00000000000000000003.snap.partial"
/// The data of a partial file starts after the 48-byte snapshot header and the configuration.
let private dataStart = 48L + int64 config.Length

let private readAllData (reader: SnapshotReader) =
    use ms = new MemoryStream()
    reader.Data.CopyTo ms
    ms.ToArray()

let private files (dir: TempDir) = Directory.GetFiles(dir.Path) |> Array.map Path.GetFileName |> Array.sort

/// Receives snapshot 42/3 in 1000-byte chunks with transfer id 5, checkpointing each of the first `durable` chunks;
/// then writes chunk `durable` without a checkpoint and stops as a crash would (the files stay).
let private receiveThenStop (dir: TempDir) (durable: int) =
    let store = FileSnapshotStore(dir.Path)
    let w = store.BeginReceive(42L, 3L, ReadOnlySpan config, 5L)
    for k in 0 .. durable - 1 do
        w.WriteChunk(int64 k * 1000L, ReadOnlySpan(data, k * 1000, 1000))
        w.Checkpoint 5L
    w.WriteChunk(int64 durable * 1000L, ReadOnlySpan(data, durable * 1000, 1000)) // written, not durable
    w.DurableBytes |> should equal (int64 durable * 1000L)
    w.Close()

let private resume (dir: TempDir) =
    let mutable discarded = null
    let w = FileSnapshotStore(dir.Path).ResumeReceive(&discarded)
    w, discarded

let private shouldDiscard (dir: TempDir) (reason: string) =
    let w, discarded = resume dir
    w |> should equal (null: SnapshotWriter)
    discarded |> containsText reason
    discarded |> containsText "starts over from offset 0"
    files dir |> should equal ([||]: string[])

[<Fact>]
let ``a received snapshot resumes after a restart at its last checkpoint and completes with the right data`` () =
    use dir = new TempDir()
    receiveThenStop dir 3
    files dir |> should equal [| partialName; "receiving" |]
    let w, discarded = resume dir
    discarded |> should equal (null: string)
    use w = w
    (w.Index, w.Term, w.TransferId, w.BytesWritten, w.Configuration.ToArray()) |> should equal (42L, 3L, 5L, 3000L, config)
    // The chunk written after the last checkpoint is gone: the next chunk continues right after the durable bytes.
    FileInfo(dir.File partialName).Length |> should equal (dataStart + 3000L)
    w.WriteChunk(2500L, ReadOnlySpan(data, 2500, 1000)) // re-sent overlap is skipped
    w.BytesWritten |> should equal 3500L
    w.Checkpoint 9L // a new leader continues the same snapshot
    w.WriteChunk(3500L, ReadOnlySpan(data, 3500, data.Length - 3500))
    w.Complete().DataLength |> should equal 10000L
    use reader = FileSnapshotStore(dir.Path).OpenLatest()
    (reader.Metadata.Index, reader.Metadata.Term, reader.Metadata.Configuration) |> should equal (42L, 3L, config)
    readAllData reader |> should equal data
    files dir |> should equal [| "00000000000000000042-00000000000000000003.snap" |]

[<Fact>]
let ``a torn tail after the last checkpoint is cut off and the new transfer id is what resumes`` () =
    use dir = new TempDir()
    (let w = FileSnapshotStore(dir.Path).BeginReceive(42L, 3L, ReadOnlySpan config, 5L)
     w.Write(ReadOnlySpan(data, 0, 2000))
     w.Checkpoint 5L
     w.Checkpoint 6L // the same bytes under another transfer
     w.Close())
    // A chunk write cut short by a crash: garbage after the durable bytes.
    File.AppendAllBytes(dir.File partialName, Array.create 700 0xEEuy)
    let w, _ = resume dir
    use w = w
    (w.BytesWritten, w.TransferId) |> should equal (2000L, 6L)
    FileInfo(dir.File partialName).Length |> should equal (dataStart + 2000L)
    w.Write(ReadOnlySpan(data, 2000, 8000))
    w.Complete() |> ignore
    use reader = FileSnapshotStore(dir.Path).OpenLatest()
    readAllData reader |> should equal data

[<Fact>]
let ``a partial file without a record (no checkpoint yet) is deleted and the transfer starts at 0`` () =
    use dir = new TempDir()
    (let w = FileSnapshotStore(dir.Path).BeginReceive(42L, 3L, ReadOnlySpan config, 5L)
     w.Write(ReadOnlySpan(data, 0, 2000))
     w.Close())
    let w, discarded = resume dir
    (w, discarded) |> should equal ((null: SnapshotWriter), (null: string))
    files dir |> should equal ([||]: string[])

[<Fact>]
let ``an interrupted checkpoint leaves the previous record in force`` () =
    use dir = new TempDir()
    receiveThenStop dir 2
    // The new record was being written when the process died: its temp file is ignored and removed.
    File.WriteAllBytes(dir.File "receiving.tmp", Array.create 30 1uy)
    let w, _ = resume dir
    use w = w
    w.BytesWritten |> should equal 2000L
    File.Exists(dir.File "receiving.tmp") |> should equal false

[<Fact>]
let ``a damaged record is discarded with the files, naming the record and offset`` () =
    let cases : (string * (TempDir -> unit)) list =
        [ "checksum mismatch", (fun d -> flipByte (d.File "receiving") 33L)
          "checksum mismatch", (fun d -> flipByte (d.File "receiving") 53L) // a configuration byte
          "shorter than its 52-byte header", (fun d -> truncateFile (d.File "receiving") 20L)
          "configuration bytes but holds", (fun d -> truncateFile (d.File "receiving") 53L)
          "wrong magic number", (fun d -> flipByte (d.File "receiving") 0L) ]
    for reason, damage in cases do
        use dir = new TempDir()
        receiveThenStop dir 3
        damage dir
        shouldDiscard dir reason
        // And a new transfer resumes normally afterwards.
        receiveThenStop dir 1
        let w, discarded = resume dir
        discarded |> should equal (null: string)
        w.BytesWritten |> should equal 1000L
        w.Close()

[<Fact>]
let ``the reason a record is discarded names the file and the byte offset`` () =
    use dir = new TempDir()
    receiveThenStop dir 1
    truncateFile (dir.File "receiving") 20L
    let _, discarded = resume dir
    discarded |> containsText (dir.File "receiving")
    discarded |> containsText "byte offset 20"

[<Fact>]
let ``a partial file shorter than its record, or with damaged durable bytes, is discarded`` () =
    let cases : (string * (TempDir -> unit)) list =
        [ "shorter than the", (fun d -> truncateFile (d.File partialName) (dataStart + 2500L))
          "fail their checksum", (fun d -> flipByte (d.File partialName) (dataStart + 1234L))
          "configuration different", (fun d -> flipByte (d.File partialName) 49L)
          "is missing", (fun d -> File.Delete(d.File partialName)) ]
    for reason, damage in cases do
        use dir = new TempDir()
        receiveThenStop dir 3
        damage dir
        shouldDiscard dir reason

[<Fact>]
let ``a record not newer than the stored snapshot is stale and discarded`` () =
    use dir = new TempDir()
    receiveThenStop dir 3
    // The transfer completed and the crash came before the record was deleted; or a newer snapshot was taken since.
    FileSnapshotStore(dir.Path).Write(42L, 3L, ReadOnlySpan config, new MemoryStream(data)) |> ignore
    let w, discarded = resume dir
    w |> should equal (null: SnapshotWriter)
    discarded |> containsText "not newer than the stored snapshot 42/3"
    files dir |> should equal [| "00000000000000000042-00000000000000000003.snap" |]

[<Fact>]
let ``an abandoned or replaced transfer and old partial files leave nothing behind`` () =
    use dir = new TempDir()
    let store = FileSnapshotStore(dir.Path)
    (use w = store.BeginReceive(42L, 3L, ReadOnlySpan config, 5L)
     w.Write(ReadOnlySpan(data, 0, 100))
     w.Checkpoint 5L)
    files dir |> should equal ([||]: string[])
    receiveThenStop dir 2
    // A newer snapshot's transfer replaces the older one's files before writing its own.
    let w = store.BeginReceive(50L, 4L, ReadOnlySpan config, 1L)
    files dir |> should equal [| "00000000000000000050-00000000000000000004.snap.partial" |]
    w.Write(ReadOnlySpan(data, 0, 100))
    w.Checkpoint 1L
    w.Close()
    // A snapshot taken past it makes it useless: DeleteOlderThan removes it with the older snapshots.
    store.Write(60L, 4L, ReadOnlySpan config, new MemoryStream(data)) |> ignore
    store.DeleteOlderThan 60L |> should equal 0
    files dir |> should equal [| "00000000000000000060-00000000000000000004.snap" |]

[<Fact>]
let ``a plain chunked write is not resumable`` () =
    use dir = new TempDir()
    let store = FileSnapshotStore(dir.Path)
    let w = store.BeginWrite(42L, 3L, ReadOnlySpan config)
    w.Write(ReadOnlySpan(data, 0, 100))
    w.Checkpoint 5L // nothing to record
    files dir |> should equal [| "00000000000000000042-00000000000000000003.snap.tmp" |]
    w.Close()
    files dir |> should equal ([||]: string[])

[<Fact>]
let ``a record that cannot be read fails with an error naming it`` () =
    use dir = new TempDir()
    Directory.CreateDirectory(dir.File "receiving") |> ignore
    let e = shouldThrow<StorageException> (fun () -> resume dir |> ignore)
    e.Path |> should equal (dir.File "receiving")
    e.Message |> containsText (dir.File "receiving")
