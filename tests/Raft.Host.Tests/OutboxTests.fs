/// The node's one send path hands the transport batches the batch codec accepts.
module Raft.Host.Tests.OutboxTests

open System.Threading.Tasks
open Xunit
open FsUnit.Xunit
open Raft.Node
open Raft.Serialization
open Raft.Transport
open Raft.Host.Tests.TransportTestKit

/// Records the size of every batch it is given.
type private CountingTransport() =
    let sizes = ResizeArray<int>()
    member _.Sizes = List.ofSeq sizes
    interface ITransport<RaftEnvelope<string>[]> with
        member _.LocalId = 1L
        member _.StartAsync(_, _) = Task.CompletedTask
        member _.TrySend(_, batch) =
            sizes.Add batch.Length
            true
        member _.StopAsync _ = Task.CompletedTask
        member _.Stats = TransportStats()
        member _.DisposeAsync() = ValueTask.CompletedTask

[<Fact>]
let ``more envelopes for one peer than a batch may hold leave in several batches, none over the codec's limit`` () =
    let transport = CountingTransport()
    use metrics = new RaftMetrics(1L)
    let outbox = Outbox<string>(transport, metrics)
    let limit = RaftBatchCodec<string>.DefaultMaxEnvelopes
    for i in 1 .. limit + 10 do outbox.Add(2L, envelope (int64 i) 1L 2L 0L)
    outbox.Flush(fun _ _ -> failwith "nothing is dropped")
    transport.Sizes |> should equal [ limit; 10 ]
