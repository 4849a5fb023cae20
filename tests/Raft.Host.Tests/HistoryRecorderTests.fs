/// Raft.Testing's HistoryRecorder against a clock the test holds still: where a full recorder cuts its history when
/// two readings of the clock fall in the same tick.
module Raft.Host.Tests.HistoryRecorderTests

open System
open Xunit
open FsUnit.Xunit
open Raft.Testing

/// A monotonic clock that moves only when told to.
type private HeldClock() =
    inherit TimeProvider()
    member val Ticks = 1_000L with get, set
    override this.GetTimestamp() = this.Ticks
    override _.TimestampFrequency = TimeSpan.TicksPerSecond

[<Fact>]
let ``an operation returning in the same tick as the call that filled the recorder is unknown, not completed`` () =
    let clock = HeldClock()
    let recorder = HistoryRecorder<int, int>(capacity = 2, clock = clock)
    let first = recorder.Invoke(1, 5)
    clock.Ticks <- clock.Ticks + 10L
    recorder.Complete(first, 5)
    clock.Ticks <- clock.Ticks + 10L
    let second = recorder.Invoke(2, 3)
    clock.Ticks <- clock.Ticks + 10L
    // The call that does not fit and the second's return read the same tick: the return may be after the cut.
    recorder.Invoke(3, 0) |> should equal -1L
    recorder.Complete(second, 8)
    let ops = recorder.Operations()
    [ for o in ops -> o.Outcome ] |> should equal [ OperationOutcome.Completed; OperationOutcome.Unknown ]
    recorder.FullAt |> should equal (Nullable 3_000L)
