/// The shared log: the log contract over one group's view (alone, and among noisy neighbour groups that write,
/// overwrite, compact and reset between every call), one fdatasync per commit for any number of groups, rotation and
/// garbage collection, removal, and recovery: torn final batches cut, corruption elsewhere refused with file and offset.
module Raft.Storage.Tests.SharedLogTests

open System
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support
open Raft.Storage.Tests.LogContractTests

/// Small files so a few hundred entries rotate and collect garbage.
let smallShared () = SharedLogOptions(FileSize = 8192L, ZeroAheadBytes = 4096)

let openShared (dir: string) = SharedLog.Open(dir, smallShared ())

type SharedLogContract() =
    inherit LogContract()
    let dir = new TempDir()
    let mutable shared = openShared dir.Path
    override _.Create() = shared.Group 7L :> ILogStorage
    override _.Reopen _ =
        shared.Dispose()
        shared <- openShared dir.Path
        shared.Group 7L :> ILogStorage
    override _.Cleanup() =
        shared.Dispose()
        (dir :> IDisposable).Dispose()

/// Ten other groups of the same shared log, each a model (MemoryLogStorage) and the real view: `Disturb` makes a
/// seeded random change to one of them (append, overwrite, truncate, compact keeping later entries, reset, hard state,
/// commit), and `Check` compares every neighbour with its model.
type Neighbours(seed: int) =
    let rnd = Random seed
    let models = [| for _ in 1..10 -> new MemoryLogStorage() |]
    let hardStates: byte[] option array = Array.create 10 None
    member _.Disturb(shared: SharedLog) =
        let k = rnd.Next models.Length
        let id = 100L + int64 k
        let model, real = models[k], shared.Group id
        let last = model.LastIndex
        let term = if last >= model.FirstIndex - 1L then model.TermAt last else 0L
        match rnd.Next 7 with
        | 0 | 1 | 2 ->
            let bump = rnd.Next 2 // a new term for the whole run, or the same one
            let rs = records (last + 1L) [ for _ in 1 .. rnd.Next(1, 5) -> term + int64 bump ]
            append model rs
            append real rs
        | 3 when last >= model.FirstIndex ->
            let from = model.FirstIndex + int64 (rnd.Next(int (last - model.FirstIndex + 1L)))
            let rs = records from [ term + 1L; term + 1L ]
            append model rs
            append real rs
        | 4 when last >= model.FirstIndex ->
            let upTo = model.FirstIndex + int64 (rnd.Next(int (last - model.FirstIndex + 1L)))
            let t = if rnd.Next 4 = 0 then model.TermAt upTo + 1L else model.TermAt upTo
            model.CompactPrefix(upTo, t)
            real.CompactPrefix(upTo, t)
        | 5 ->
            let hs = Array.init (rnd.Next(1, 40)) (fun _ -> byte (rnd.Next 256))
            hardStates[k] <- Some hs
            shared.HardState(id).Stage(ReadOnlySpan hs)
        | _ -> shared.Commit()
    member _.Check(shared: SharedLog) =
        for k in 0 .. models.Length - 1 do
            let id = 100L + int64 k
            if shared.Contains id then
                let real = shared.Group id
                (id, real.FirstIndex, real.LastIndex) |> should equal (id, models[k].FirstIndex, models[k].LastIndex)
                triples (readAll real) |> should equal (triples (readAll models[k]))
                shared.HardState(id).Load() |> Option.ofObj |> should equal hardStates[k]

/// The group's view, with the neighbours disturbing the shared log before every call.
type NoisyView(shared: unit -> SharedLog, neighbours: Neighbours) =
    inherit DelegatingLogStorage(shared().Group 7L)
    let noise () = for _ in 1..3 do neighbours.Disturb(shared ())
    override _.FirstIndex = noise (); base.FirstIndex
    override _.LastIndex = noise (); base.LastIndex
    override _.TermAt i = noise (); base.TermAt i
    override _.Append rs = noise (); base.Append rs
    override _.ReadRange(a, b, m) = noise (); base.ReadRange(a, b, m)
    override _.TruncateSuffix i = noise (); base.TruncateSuffix i
    override _.CompactPrefix(i, t) = noise (); base.CompactPrefix(i, t)
    override _.Flush() = noise (); base.Flush()

type NoisySharedLogContract() =
    inherit LogContract()
    let dir = new TempDir()
    let neighbours = Neighbours 42
    let mutable shared = openShared dir.Path
    override _.Create() = new NoisyView((fun () -> shared), neighbours) :> ILogStorage
    override _.Reopen _ =
        shared.Commit() // the neighbours' staged writes too: after the reopen they are compared with their models
        shared.Dispose()
        shared <- openShared dir.Path
        neighbours.Check shared
        new NoisyView((fun () -> shared), neighbours) :> ILogStorage
    override _.Cleanup() =
        shared.Dispose()
        (dir :> IDisposable).Dispose()

[<Fact>]
let ``a commit is one fdatasync whatever the number of groups it covers`` () =
    use dir = new TempDir()
    use shared = SharedLog.Open dir.Path
    let before = shared.DataSyncs
    for g in 1L .. 100L do
        append (shared.Group g) (records 1L [ 1L; 1L ])
        shared.HardState(g).Stage(ReadOnlySpan [| byte g |])
    shared.Commit()
    shared.DataSyncs - before |> should equal 1L
    shared.Commit() // nothing staged: no write, no fsync
    shared.DataSyncs - before |> should equal 1L

[<Fact>]
let ``every group's entries and hard state survive a reopen`` () =
    use dir = new TempDir()
    do
        use shared = openShared dir.Path
        for round in 1L .. 30L do
            for g in 1L .. 20L do
                append (shared.Group g) (records (round * 2L - 1L) [ round; round ])
                shared.HardState(g).Stage(ReadOnlySpan [| byte g; byte round |])
            shared.Commit()
        shared.Rotations |> should be (greaterThan 3L)
    use shared = openShared dir.Path
    List.ofSeq shared.GroupIds |> should equal [ 1L .. 20L ]
    for g in 1L .. 20L do
        let log = shared.Group g
        triples (readAll log) |> should equal (expected [ for r in 1L .. 30L do yield! records (r * 2L - 1L) [ r; r ] ])
        shared.HardState(g).Load() |> should equal [| byte g; 30uy |]

/// A busy group that writes 400 entries and compacts as it goes, and a group that wrote one entry and then fell idle.
let private busyBesideIdle (shared: SharedLog) =
    let busy, idle = shared.Group 1L, shared.Group 2L
    append idle (records 1L [ 1L ])
    for i in 1L .. 400L do
        append busy (records i [ 1L ])
        if i % 50L = 0L then busy.CompactPrefix(i - 10L, 1L) // the busy group snapshots as it goes
        shared.Commit()
    busy, idle

[<Fact>]
let ``with relocation off, files no live entry needs are deleted and a group that never compacts pins them`` () =
    use dir = new TempDir()
    use shared = SharedLog.Open(dir.Path, SharedLogOptions(FileSize = 8192L, ZeroAheadBytes = 4096, RelocationRatio = 0.0))
    let busy, idle = busyBesideIdle shared
    // The idle group's one entry is in the first file: nothing can be deleted, and it is named as the reason.
    shared.FilesDeleted |> should equal 0L
    shared.EntriesRelocated |> should equal 0L
    let pinned = shared.Files.Count
    pinned |> should be (greaterThan 3)
    List.ofSeq (shared.PinningGroups()) |> should equal [ 2L ]
    idle.CompactPrefix(1L, 1L)
    busy.CompactPrefix(390L, 1L)
    for i in 401L .. 440L do
        append busy (records i [ 1L ])
        shared.Commit()
    // Every file older than the busy group's oldest live entry (391) is gone.
    shared.Files.Count |> should be (lessThan 4)
    shared.FilesDeleted |> should be (greaterThanOrEqualTo (int64 (pinned - 3)))
    let files = shared.Files
    shared.Dispose()
    use reopened = openShared dir.Path
    triples (readAll (reopened.Group 1L)) |> should equal (expected [ for i in 391L .. 440L -> record i 1L ])
    (reopened.Group 2L).FirstIndex |> should equal 2L
    reopened.Files |> Seq.head |> should be (greaterThanOrEqualTo (Seq.head files))

[<Fact>]
let ``the entries of a group that never compacts are relocated, so old files go, and they survive a reopen`` () =
    use dir = new TempDir()
    let shared = openShared dir.Path
    let _, idle = busyBesideIdle shared
    shared.EntriesRelocated |> should be (greaterThan 0L)
    shared.FilesDeleted |> should be (greaterThan 0L)
    shared.Files.Count |> should be (lessThanOrEqualTo 3)
    shared.PinningGroups() |> should be Empty
    triples (readAll idle) |> should equal (expected [ record 1L 1L ])
    triples (readAll (shared.Group 1L)) |> should equal (expected [ for i in 391L .. 400L -> record i 1L ])
    shared.Dispose()
    use reopened = openShared dir.Path
    triples (readAll (reopened.Group 2L)) |> should equal (expected [ record 1L 1L ])
    triples (readAll (reopened.Group 1L)) |> should equal (expected [ for i in 391L .. 400L -> record i 1L ])

[<Fact>]
let ``disk stays within the relocation ratio of live data while one busy group never compacts`` () =
    use dir = new TempDir()
    let options = SharedLogOptions(FileSize = 16384L, ZeroAheadBytes = 0)
    use shared = SharedLog.Open(dir.Path, options)
    let hoarder = shared.Group 1L // never compacts: all it ever wrote is live
    let payload (i: int64) = Array.init 64 (fun k -> byte (i + int64 k))
    let mutable worst = 0.0
    for i in 1L .. 3000L do
        hoarder.Append(ReadOnlySpan [| LogRecord(i, 1L, payload i) |])
        for g in 2L .. 4L do
            let view = shared.Group g
            view.Append(ReadOnlySpan [| LogRecord(i, 1L, payload i) |])
            if i % 20L = 0L then view.CompactPrefix(i - 5L, 1L)
        shared.Commit()
        // Live: the hoarder's entries and up to 25 of each other group's, at 64 payload + 12 index bytes each.
        let live = float (i * 76L + 3L * 25L * 76L)
        let used = shared.Files |> Seq.sumBy (fun f -> FileInfo(f).Length) |> float
        worst <- max worst ((used - float options.FileSize) / live) // the active file is not garbage yet
    shared.EntriesRelocated |> should be (greaterThan 0L)
    // Without relocation the hoarder pins every file: about 4x live data (four groups write, one keeps).
    worst |> should be (lessThanOrEqualTo 2.5)
    triples (readAll hoarder) |> should equal (expected [ for i in 1L .. 3000L -> LogRecord(i, 1L, payload i) ])

[<Fact>]
let ``a removed group is gone after a reopen, and opening it again starts empty`` () =
    use dir = new TempDir()
    do
        use shared = openShared dir.Path
        append (shared.Group 1L) (records 1L [ 1L; 1L ])
        append (shared.Group 2L) (records 1L [ 1L ])
        shared.Commit()
        let view = shared.Group 2L
        shared.RemoveGroup 2L
        shouldThrow<ObjectDisposedException> (fun () -> view.LastIndex |> ignore) |> ignore
    use shared = openShared dir.Path
    List.ofSeq shared.GroupIds |> should equal [ 1L ]
    (shared.Group 2L).LastIndex |> should equal 0L

[<Fact>]
let ``a write staged but not committed is lost in a crash, a committed one is not`` () =
    use dir = new TempDir()
    use copy = new TempDir()
    do
        use shared = openShared dir.Path
        append (shared.Group 1L) (records 1L [ 1L ])
        shared.Commit()
        append (shared.Group 1L) (records 2L [ 1L ])
        // The disk as a crash now leaves it: the second entry is staged, not written.
        for f in Directory.GetFiles(dir.Path, "*.rlog") do File.Copy(f, Path.Combine(copy.Path, Path.GetFileName f))
    use shared = openShared copy.Path
    triples (readAll (shared.Group 1L)) |> should equal (expected [ record 1L 1L ])

/// The active file's path and the end offset of each batch in it, after the given rounds.
let private writeRounds (dir: string) (rounds: int) =
    use shared = SharedLog.Open(dir, SharedLogOptions(ZeroAheadBytes = 0))
    let path = shared.Files |> Seq.last
    let ends = Collections.Generic.List<int64>()
    ends.Add(FileInfo(path).Length)
    for r in 1 .. rounds do
        append (shared.Group 1L) (records (int64 r) [ 1L ])
        append (shared.Group 2L) (records (int64 r) [ 1L ])
        shared.Commit()
        ends.Add(FileInfo(path).Length)
    path, List.ofSeq ends

[<Fact>]
let ``a final batch cut at any byte is dropped as torn, and the rounds before it survive`` () =
    use dir = new TempDir()
    let path, ends = writeRounds dir.Path 3
    let full = File.ReadAllBytes path
    let lastStart, lastEnd = ends[ends.Length - 2], ends[ends.Length - 1]
    for cut in lastStart .. 3L .. lastEnd - 1L do
        use d = new TempDir()
        for f in Directory.GetFiles dir.Path do File.Copy(f, Path.Combine(d.Path, Path.GetFileName f))
        File.WriteAllBytes(Path.Combine(d.Path, Path.GetFileName path), full[.. int cut - 1])
        use shared = SharedLog.Open d.Path
        (cut, (shared.Group 1L).LastIndex, (shared.Group 2L).LastIndex) |> should equal (cut, 2L, 2L)

[<Fact>]
let ``a flipped byte in the final batch drops it as torn`` () =
    use dir = new TempDir()
    let path, ends = writeRounds dir.Path 3
    let bytes = File.ReadAllBytes path
    let at = int ends[ends.Length - 2] + 40
    bytes[at] <- bytes[at] ^^^ 0xFFuy
    File.WriteAllBytes(path, bytes)
    use shared = SharedLog.Open dir.Path
    (shared.Group 1L).LastIndex |> should equal 2L

[<Fact>]
let ``a flipped byte in a batch with a valid one after it is corruption, naming the file and offset`` () =
    use dir = new TempDir()
    let path, ends = writeRounds dir.Path 3
    let bytes = File.ReadAllBytes path
    let batch = ends[1]
    bytes[int batch + 40] <- bytes[int batch + 40] ^^^ 0x01uy
    File.WriteAllBytes(path, bytes)
    let e = shouldThrow<StorageCorruptedException> (fun () -> SharedLog.Open dir.Path |> ignore)
    e.Path |> should equal path
    e.Offset |> should equal batch
    e.Message |> should haveSubstring "fails its checksum, and a valid batch follows"

[<Fact>]
let ``a flipped byte in an older file is corruption, naming the file and offset`` () =
    use dir = new TempDir()
    let path, ends = writeRounds dir.Path 3
    do
        use shared = SharedLog.Open dir.Path // seals that file and starts another
        append (shared.Group 1L) (records 4L [ 1L ])
        shared.Commit()
    let bytes = File.ReadAllBytes path
    let batch = ends[2]
    bytes[int batch + 30] <- bytes[int batch + 30] ^^^ 0x10uy
    File.WriteAllBytes(path, bytes)
    let e = shouldThrow<StorageCorruptedException> (fun () -> SharedLog.Open dir.Path |> ignore)
    (e.Path, e.Offset) |> should equal (path, batch)

[<Fact>]
let ``a second process cannot open the same log`` () =
    use dir = new TempDir()
    use _first = SharedLog.Open dir.Path
    let e = shouldThrow<StorageException> (fun () -> SharedLog.Open dir.Path |> ignore)
    e.Message |> should haveSubstring "already open"

[<Fact>]
let ``a crash that cuts only the zero padding after the final batch keeps that batch`` () =
    // Batches are padded to 8 bytes; the first run of rounds whose final batch has padding is cut inside it.
    let padded =
        [ 1..8 ]
        |> List.tryPick (fun rounds ->
            let dir = new TempDir()
            let path, ends = writeRounds dir.Path rounds
            let lastStart, lastEnd = ends[ends.Length - 2], ends[ends.Length - 1]
            let bytes = File.ReadAllBytes path
            let batchEnd = lastStart + 24L + int64 (BitConverter.ToInt32(bytes, int lastStart + 4))
            if batchEnd < lastEnd then Some(dir, path, rounds, bytes[.. int batchEnd - 1])
            else
                (dir :> IDisposable).Dispose()
                None)
    match padded with
    | None -> failwith "no run of 1 to 8 rounds ended with a padded batch"
    | Some(dir, path, rounds, cut) ->
        use _ = dir
        File.WriteAllBytes(path, cut)
        use shared = SharedLog.Open dir.Path
        ((shared.Group 1L).LastIndex, (shared.Group 2L).LastIndex) |> should equal (int64 rounds, int64 rounds)

[<Fact>]
let ``a group that held many entries and then compacted keeps reading and writing correctly after its index shrinks`` () =
    use dir = new TempDir()
    let shared = openShared dir.Path
    let log = shared.Group 1L
    append log (records 1L [ for _ in 1 .. 1000 -> 1L ])
    shared.Commit()
    log.CompactPrefix(995L, 1L) // 5 entries left of a ring sized for 1,000
    append log (records 1001L [ for _ in 1 .. 100 -> 2L ])
    shared.Commit()
    let expectedLog = expected [ yield! records 996L [ for _ in 1 .. 5 -> 1L ]; yield! records 1001L [ for _ in 1 .. 100 -> 2L ] ]
    triples (readAll log) |> should equal expectedLog
    log.TermAt 995L |> should equal 1L
    shared.Dispose()
    use reopened = openShared dir.Path
    triples (readAll (reopened.Group 1L)) |> should equal expectedLog
