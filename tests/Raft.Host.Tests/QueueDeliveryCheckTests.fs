/// The no-loss test's judge on hand-made histories: it finds each broken promise and accepts a lawful history.
module Raft.Host.Tests.QueueDeliveryCheckTests

open Xunit
open FsUnit.Xunit
open Raft.Host.Tests.QueueDeliveryCheck

let private vis = 3000L

/// Delivery `d` of message 7, answered at `answered` (sent 5 ms before), valid one visibility after `made`.
let private seen (d: int) (made: int64) (answered: int64) =
    { Id = 7L; Body = "m-7"; Delivery = d; Deadline = made + vis; Sent = answered - 5L; Answered = answered }

let private ack (d: int) (status: int) (answered: int64) = { Id = 7L; Delivery = d; Status = status; Answered = answered }

[<Fact>]
let ``a lawful history: abandoned, delivered again after its deadline, acked; an expired ack; a lost receive answer`` () =
    let history = [ seen 1 1000L 1010L; seen 3 4500L 4510L; seen 4 7600L 7610L ]
    violations vis history [ ack 3 409 7700L; ack 4 204 7700L ] |> should be Empty
    unseenDeliveries history |> should equal 1

[<Fact>]
let ``a delivery after a 204 ack, by count or by time, is a violation`` () =
    violations vis [ seen 1 1000L 1010L; seen 2 4100L 4110L ] [ ack 1 204 1100L ] |> List.length |> should equal 1
    violations vis [ seen 1 1000L 1010L; seen 1 1000L 1200L ] [ ack 1 204 1100L ] |> List.isEmpty |> should equal false

[<Fact>]
let ``a second delivery inside the first receipt's validity is a violation, past the skew margin only`` () =
    violations vis [ seen 1 1000L 1010L; { seen 2 2000L 2010L with Deadline = 4000L + vis } ] [] |> List.length |> should equal 1
    let withinMargin = { seen 2 (4000L - skewMarginMs) (4000L - skewMarginMs + 10L) with Deadline = 4000L + vis }
    violations vis [ seen 1 1000L 1010L; withinMargin ] [] |> should be Empty
    violations vis [ seen 1 1000L 1010L; seen 1 1000L 1500L ] [] |> List.length |> should equal 1
