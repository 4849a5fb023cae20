/// The one way the tests wait for something: poll until a condition holds or a deadline passes, never sleep a fixed
/// time. Linked into every test project (`<Compile Include="../Shared/Wait.fs" />`).
[<RequireQualifiedAccess>]
module Raft.Tests.Wait

open System
open System.Diagnostics
open System.Threading.Tasks

/// The deadline of a wait with no reason to choose its own: generous, so that a loaded 2-vCPU CI machine is slow
/// rather than failing. A deadline only bounds a failing test; a passing one waits only as long as it must.
let standard = TimeSpan.FromSeconds 20.0

/// Longest pause between two polls. Polls start at 1 ms and double up to this, so a condition that holds soon is seen
/// soon, and a long wait costs little CPU on a machine shared with the nodes under test.
let private maxPoll = 5

/// The loop behind every wait: runs `attempt` until `holds` accepts its value, pausing 1 ms, then 2, 4, up to
/// `maxPoll` between runs; gives up after `deadline`. Returns whether it held, and the last value seen.
let private poll (deadline: TimeSpan) (attempt: unit -> Task<'T>) (holds: 'T -> bool) : Task<struct (bool * 'T)> =
    task {
        let clock = Stopwatch.StartNew()
        let mutable pause = 1
        let! first = attempt ()
        let mutable last = first
        let mutable held = holds last
        while not held && clock.Elapsed <= deadline do
            do! Task.Delay pause
            pause <- min maxPoll (pause * 2)
            let! next = attempt ()
            last <- next
            held <- holds last
        return struct (held, last)
    }

/// `poll`, failing with "timed out after {deadline} waiting for: {what}" and `shown` of the last value seen.
let private pollOrFail (what: string) (deadline: TimeSpan) (attempt: unit -> Task<'T>) (holds: 'T -> bool) (shown: 'T -> string) =
    task {
        let! struct (held, last) = poll deadline attempt holds
        if not held then failwithf "timed out after %O waiting for: %s%s" deadline what (shown last)
        return last
    }

/// Polls `condition` until it holds; after `deadline` fails with "timed out after {deadline} waiting for: {what}".
/// `condition` runs on every poll, so it may also throw to end the wait early (a background part of the test failed,
/// a child process exited).
let until (what: string) (deadline: TimeSpan) (condition: unit -> bool) : Task =
    pollOrFail what deadline (condition >> Task.FromResult) id (fun _ -> "") :> Task

/// Like `until`, on a value: polls `observe` until `holds` accepts it and returns that value; the failure message
/// ends with the last value observed ("(last observed: ...)"), which usually says how far the wait got.
let untilValue (what: string) (deadline: TimeSpan) (observe: unit -> 'T) (holds: 'T -> bool) : Task<'T> =
    pollOrFail what deadline (observe >> Task.FromResult) holds (sprintf " (last observed: %A)")

/// Runs `attempt` until it returns Some value and returns that value: a request that may be refused while the state it
/// needs settles (no leader yet, leadership moving). Fails like `until` after `deadline`.
let untilSome (what: string) (deadline: TimeSpan) (attempt: unit -> Task<'T option>) : Task<'T> =
    task {
        let! result = pollOrFail what deadline attempt Option.isSome (fun _ -> "")
        return result.Value
    }

/// Polls `condition` until it holds or `deadline` passes, and returns whether it held: for a test that tries again
/// (or checks something else) instead of failing when the moment it looks for passes unseen.
let within (deadline: TimeSpan) (condition: unit -> bool) : Task<bool> =
    task {
        let! struct (held, _) = poll deadline (condition >> Task.FromResult) id
        return held
    }

/// Waits for `work` to finish (successfully or not: the caller inspects it); fails naming `what` after `deadline`.
let forTask (what: string) (deadline: TimeSpan) (work: Task) : Task =
    task {
        let! first = Task.WhenAny(work, Task.Delay deadline)
        if not (obj.ReferenceEquals(first, work)) then failwithf "timed out after %O waiting for: %s" deadline what
    }
