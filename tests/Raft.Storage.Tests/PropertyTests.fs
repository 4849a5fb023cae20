/// Random operation sequences against a plain model of the Raft log, for the memory log and the file log (tiny
/// segments, so sequences cross segment boundaries and reopen often).
module Raft.Storage.Tests.PropertyTests

open System
open FsCheck
open FsCheck.FSharp
open Xunit
open FsUnit.Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

/// Positions are raw numbers mapped onto the current log, so every generated operation is valid.
type Op =
    | Append of start: int * count: int * bump: bool
    | Truncate of at: int
    | Compact of at: int * sameTerm: bool
    | Flush
    | Reopen

let private genOp =
    let n = Gen.choose (0, 10000)
    Gen.frequency
        [ 8, Gen.map3 (fun s c b -> Append(s, c, b)) n (Gen.choose (1, 6)) (Gen.elements [ true; false; false ])
          2, Gen.map Truncate n
          2, Gen.map2 (fun a s -> Compact(a, s)) n (Gen.elements [ true; true; false ])
          1, Gen.constant Flush
          2, Gen.constant Reopen ]

/// The model: FirstIndex, the term before it, and the terms of FirstIndex..LastIndex.
type private Model =
    { mutable First: int64
      mutable PrevTerm: int64
      Terms: ResizeArray<int64> }

    member m.Last = m.First + int64 m.Terms.Count - 1L
    member m.TermAt(i: int64) = if i = m.First - 1L then m.PrevTerm else m.Terms[int (i - m.First)]

let private run (create: unit -> ILogStorage) (reopen: ILogStorage -> ILogStorage) (ops: Op list) =
    let m = { First = 1L; PrevTerm = 0L; Terms = ResizeArray() }
    let mutable log = create ()
    let mutable maxTerm = 0L
    try
        for op in ops do
            match op with
            | Append(s, c, bump) ->
                let start = m.First + int64 s % (m.Last - m.First + 2L)
                let term = m.TermAt(start - 1L) + (if bump then 1L else 0L)
                let rs = records start (List.replicate c term)
                append log rs
                m.Terms.RemoveRange(int (start - m.First), m.Terms.Count - int (start - m.First))
                for _ in 1..c do
                    m.Terms.Add term
            | Truncate a ->
                let at = m.First + int64 a % (m.Last - m.First + 2L)
                log.TruncateSuffix at
                m.Terms.RemoveRange(int (at - m.First), m.Terms.Count - int (at - m.First))
            | Compact(a, same) ->
                let at = m.First - 1L + int64 a % (m.Last - m.First + 4L)
                let term = if same && at <= m.Last then m.TermAt at else maxTerm + 1L
                log.CompactPrefix(at, term)
                if at >= m.First then
                    if at < m.Last && m.TermAt at = term then
                        m.Terms.RemoveRange(0, int (at - m.First + 1L))
                    else
                        m.Terms.Clear()
                    m.First <- at + 1L
                    m.PrevTerm <- term
            | Flush -> log.Flush()
            | Reopen -> log <- reopen log
            maxTerm <- max maxTerm (if m.Terms.Count > 0 then m.Terms[m.Terms.Count - 1] else m.PrevTerm)
            let check what (actual: 'a) (want: 'a) =
                if actual <> want then failwithf "after %A: %s is %A, the model says %A" op what actual want
            check "FirstIndex" log.FirstIndex m.First
            check "LastIndex" log.LastIndex m.Last
            for i in m.First - 1L .. m.Last do
                check (sprintf "TermAt %d" i) (log.TermAt i) (m.TermAt i)
            let want = [ for i in m.First .. m.Last -> i, m.TermAt i, payloadOf i (m.TermAt i) ]
            check "the records" (triples (readAll log)) want
        true
    finally
        log.Dispose()

let private config n = Config.QuickThrowOnFailure.WithMaxTest(n)

[<Fact>]
let ``the memory log behaves like the model`` () =
    let prop = Prop.forAll (Arb.fromGen (Gen.listOf genOp)) (run (fun () -> new MemoryLogStorage()) id)
    Check.One(config 200, prop)

[<Fact>]
let ``the file log behaves like the model across reopen`` () =
    let prop =
        Prop.forAll (Arb.fromGen (Gen.listOf genOp)) (fun ops ->
            use dir = new TempDir()
            run (fun () -> openLog dir.Path) (fun log -> log.Dispose(); openLog dir.Path) ops)
    Check.One(config 50, prop)
