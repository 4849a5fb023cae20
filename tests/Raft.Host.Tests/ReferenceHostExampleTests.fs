/// The reference host (examples/Raft.ReferenceHost): three core nodes driven in memory, every effect interpreted in order.
module Raft.Host.Tests.ReferenceHostExampleTests

open System.IO
open Xunit
open FsUnit.Xunit
open Raft.ReferenceHost

let private commands = [| for i in 1..20 -> $"command-{i}" |]

[<Fact>]
let ``every node of the reference host applies the proposed commands exactly once, in the same order`` () =
    let nodes = ReferenceHost.Run(commands, TextWriter.Null)
    nodes.Count |> should equal 3
    for n in nodes do
        Array.ofSeq n.Applied |> should equal commands

[<Fact>]
let ``the reference host leaves identical logs and a durable hard state on every node`` () =
    let nodes = ReferenceHost.Run(commands, TextWriter.Null)
    let logOf (n: MemoryNode) = n.Log |> Seq.map (fun e -> e.Index, e.Term) |> Array.ofSeq
    for n in nodes do
        logOf n |> should equal (logOf nodes[0])
        isNull n.HardState |> should equal false
