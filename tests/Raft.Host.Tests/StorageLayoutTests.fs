/// The node's storage layouts: every group in one shared log (the default) or a log per group. A data directory keeps
/// the layout it was written with: opened with the other one it is refused, never read as empty.
module Raft.Host.Tests.StorageLayoutTests

open System
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Storage

let private tempRoot () = Path.Combine(Path.GetTempPath(), "raft-layout-tests", Guid.NewGuid().ToString("N"))

let private record (index: int64) = LogRecord(index, 1L, ReadOnlyMemory [| byte index |])

[<Fact>]
let ``a per-group data directory is refused by the shared layout, and a shared one by the per-group layout`` () =
    let perGroup, shared = tempRoot (), tempRoot ()
    try
        do
            use g = FileRaftStorageProvider(perGroup).Open 1L
            g.Log.Append(ReadOnlySpan [| record 1L |])
            g.Log.Flush()
            g.HardState.Save(ReadOnlySpan [| 1uy |])
        let e = Assert.Throws<StorageException>(fun () -> SharedLogStorageProvider(perGroup).Open 1L |> ignore)
        e.Message |> should haveSubstring "per-group log"
        do
            use g = SharedLogStorageProvider(shared).Open 1L
            g.Log.Append(ReadOnlySpan [| record 1L |])
            g.Log.Flush()
        let e = Assert.Throws<StorageException>(fun () -> FileRaftStorageProvider(shared).Open 1L |> ignore)
        e.Message |> should haveSubstring "holds a shared log"
    finally
        for d in [ perGroup; shared ] do
            try Directory.Delete(d, true) with _ -> ()

[<Fact>]
let ``groups of a shared log come back after the provider closes, and a deleted group does not`` () =
    let root = tempRoot ()
    try
        do
            let provider = SharedLogStorageProvider root
            use one = provider.Open 1L
            use two = provider.Open 2L
            one.Log.Append(ReadOnlySpan [| record 1L; record 2L |])
            two.Log.Append(ReadOnlySpan [| record 1L |])
            (two.HardState :?> SharedHardState).Stage(ReadOnlySpan [| 7uy |])
            one.Log.Flush() // one commit for both groups
            provider.Log.DataSyncs |> should be (greaterThan 0L)
        // Both groups closed: the shared log is closed with the last one, so a new provider can open it.
        let provider = SharedLogStorageProvider root
        do
            use one = provider.Open 1L
            use two = provider.Open 2L
            one.Log.LastIndex |> should equal 2L
            two.HardState.Load() |> should equal [| 7uy |]
        provider.Delete 2L
        use two = provider.Open 2L
        two.Log.LastIndex |> should equal 0L
        two.HardState.Load() |> should equal null
    finally
        try Directory.Delete(root, true) with _ -> ()
