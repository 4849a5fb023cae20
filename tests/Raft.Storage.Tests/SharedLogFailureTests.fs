/// A shared log whose disk fails (a write refused, as on a full disk, or an fdatasync error): the failing commit names
/// the file, the log refuses every later call for every group (what reached the disk of that round is unknown), and a
/// reopen on a working disk keeps everything committed before.
module Raft.Storage.Tests.SharedLogFailureTests

open System
open System.IO
open Microsoft.Win32.SafeHandles
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

/// The shared log's file layer with switches that make writes or fdatasyncs fail.
type FailingDisk() =
    inherit SharedLogDisk()
    member val FailWrites = false with get, set
    member val FailSyncs = false with get, set
    override this.Write(handle: SafeFileHandle, data: ReadOnlySpan<byte>, offset: int64, path: string) =
        if this.FailWrites then raise (IOException "No space left on device")
        base.Write(handle, data, offset, path)
    override this.DataSync(handle: SafeFileHandle, path: string) =
        if this.FailSyncs then raise (IOException "fdatasync: Input/output error")
        base.DataSync(handle, path)

let private failingRound (fail: FailingDisk -> unit) (reason: string) =
    use dir = new TempDir()
    let disk = FailingDisk()
    let shared = SharedLog.Open(dir.Path, SharedLogOptions(Disk = disk))
    append (shared.Group 1L) (records 1L [ 1L; 1L ])
    append (shared.Group 2L) (records 1L [ 1L ])
    shared.Commit()
    fail disk
    append (shared.Group 1L) (records 3L [ 2L ])
    let e = shouldThrow<StorageException> (fun () -> shared.Commit())
    e.Message |> should haveSubstring reason
    e.Path |> should equal (Seq.last shared.Files)
    shared.Failure |> should not' (be Null)
    // Every group is refused now, the one that did not write in the failed round too.
    for call in [ (fun () -> append (shared.Group 2L) (records 2L [ 1L ]))
                  (fun () -> (shared.Group 2L).LastIndex |> ignore)
                  (fun () -> shared.HardState(3L) |> ignore)
                  (fun () -> shared.Commit()) ] do
        (shouldThrow<StorageException> call).Message |> should haveSubstring "refuses further use"
    shared.Dispose()
    // Restarted on a working disk: what was committed before is there; the failed round was never acknowledged, so
    // it may or may not be.
    use reopened = SharedLog.Open dir.Path
    triples (readAll (reopened.Group 2L)) |> should equal (expected (records 1L [ 1L ]))
    let one = readAll (reopened.Group 1L)
    triples (List.truncate 2 one) |> should equal (expected (records 1L [ 1L; 1L ]))

[<Fact>]
let ``a failed fdatasync stops the log for every group, naming the file; a reopen keeps what was committed`` () =
    failingRound (fun d -> d.FailSyncs <- true) "Input/output error"

[<Fact>]
let ``a refused write (a full disk) stops the log for every group, naming the file; a reopen keeps what was committed`` () =
    failingRound (fun d -> d.FailWrites <- true) "Disk full"
