/// Group commit: concurrent appenders, durability tags, truncation while appends wait, failures and shutdown.
module Raft.Storage.Tests.GroupCommitTests

open System
open System.Collections.Concurrent
open System.IO
open System.Threading
open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

let private concurrentAppenders (log: ILogStorage) =
    let marks = ConcurrentQueue<DurableMark>()
    let reported = ConcurrentQueue<DurableMark>()
    use group = new GroupCommitLog(log, (fun m -> reported.Enqueue m), ownsLog = false)
    let payload = ReadOnlyMemory(Array.create 128 1uy)
    let appender () =
        task {
            for _ in 1..50 do
                let! m = group.AppendNextAsync(3L, payload)
                marks.Enqueue m
        }
        :> Task
    Task.WaitAll([| for _ in 1..64 -> Task.Run(fun () -> appender ()) |], TimeSpan.FromSeconds 30.0) |> should equal true
    marks |> Seq.map (fun m -> m.LastIndex) |> Seq.sort |> List.ofSeq |> should equal [ 1L .. 3200L ]
    group.LastDurable |> should equal (DurableMark(3200L, 3L))
    let r = List.ofSeq reported
    r |> List.last |> should equal (DurableMark(3200L, 3L))
    r |> List.pairwise |> List.forall (fun (a, b) -> a.LastIndex < b.LastIndex) |> should equal true
    log.LastIndex |> should equal 3200L
    (readAll log).Length |> should equal 3200

[<Fact>]
let ``64 concurrent appenders each get their own durable index (memory)`` () =
    use log = new MemoryLogStorage()
    concurrentAppenders log
    log.FlushCount |> should be (lessThan 3200)

[<Fact>]
let ``64 concurrent appenders each get their own durable index (file), and all survive reopen`` () =
    use dir = new TempDir()
    (use log = openLog dir.Path
     concurrentAppenders log)
    use log = openLog dir.Path
    log.LastIndex |> should equal 3200L

[<Fact>]
let ``appends waiting during a truncation complete with their own tags`` () =
    use dir = new TempDir()
    use group = new GroupCommitLog(openLog dir.Path)
    let first = group.AppendAsync(ReadOnlySpan(records 1L [ 1L; 1L; 1L; 1L ]))
    group.TruncateSuffix 3L
    let second = group.AppendAsync(ReadOnlySpan(records 3L [ 2L ]))
    first.AsTask().Result |> should equal (DurableMark(4L, 1L))
    second.AsTask().Result |> should equal (DurableMark(3L, 2L))
    group.WhenDurableAsync().AsTask().Result |> should equal (DurableMark(3L, 2L))
    group.Storage.TermAt 3L |> should equal 2L
    triples (readAll group.Storage) |> should equal (expected (Array.append (records 1L [ 1L; 1L ]) (records 3L [ 2L ])))

[<Fact>]
let ``fire-and-forget appends are reported through the callback`` () =
    let reported = ConcurrentQueue<DurableMark>()
    use log = new MemoryLogStorage()
    use group = new GroupCommitLog(log, (fun m -> reported.Enqueue m), ownsLog = false)
    group.Append(ReadOnlySpan(records 1L [ 1L; 2L ]))
    group.WhenDurableAsync().AsTask().Result |> should equal (DurableMark(2L, 2L))
    Seq.last reported |> should equal (DurableMark(2L, 2L))

[<Fact>]
let ``a batch counts as durable only after the callback has seen it`` () =
    use callbackEntered = new ManualResetEventSlim()
    use releaseCallback = new ManualResetEventSlim()
    use log = new MemoryLogStorage()
    let onDurable (_: DurableMark) =
        callbackEntered.Set()
        releaseCallback.Wait(TimeSpan.FromSeconds 10.0) |> ignore
    use group = new GroupCommitLog(log, onDurable, ownsLog = false)
    group.Append(ReadOnlySpan(records 1L [ 1L ]))
    callbackEntered.Wait(TimeSpan.FromSeconds 10.0) |> should equal true
    let waiting = group.WhenDurableAsync().AsTask()
    waiting.IsCompleted |> should equal false
    releaseCallback.Set()
    waiting.Wait(TimeSpan.FromSeconds 10.0) |> should equal true
    waiting.Result |> should equal (DurableMark(1L, 1L))

/// A log whose flush fails, as after an fsync error.
type private FailingLog(inner: ILogStorage) =
    inherit DelegatingLogStorage(inner)
    override _.Flush() = raise (IOException "fsync failed: Input/output error")
    override _.FlushAsync _ = ValueTask()

[<Fact>]
let ``a failed flush fails the waiting appends and every later one`` () =
    use group = new GroupCommitLog(new FailingLog(new MemoryLogStorage()))
    let t = group.AppendNextAsync(1L, ReadOnlyMemory [| 1uy |]).AsTask()
    let e = shouldThrow<AggregateException> (fun () -> t.Wait())
    e.InnerException.Message |> containsText "fsync failed"
    let e2 = shouldThrow<StorageException> (fun () -> group.AppendNextAsync(1L, ReadOnlyMemory [| 1uy |]) |> ignore)
    e2.Message |> containsText "fsync failed"

[<Fact>]
let ``dispose makes pending appends durable and refuses new ones`` () =
    use dir = new TempDir()
    let group = new GroupCommitLog(openLog dir.Path)
    group.Append(ReadOnlySpan(records 1L [ 1L; 1L; 1L ]))
    group.Dispose()
    shouldThrow<ObjectDisposedException> (fun () -> group.Append(ReadOnlySpan(records 4L [ 1L ]))) |> ignore
    use log = openLog dir.Path
    log.LastIndex |> should equal 3L
