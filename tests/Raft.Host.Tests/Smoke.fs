module Raft.Host.Tests.Smoke
open Xunit
open FsUnit.Xunit
[<Fact>]
let ``smoke`` () = 1 |> should equal 1
