/// Random multi-group operation sequences against a model, for the shared log: appends (with overwrites), truncations,
/// compactions, hard states, removals, commits, clean reopens, and crashes, which lose what was staged since the last
/// commit and, half the time, cut the last batch at a random byte (a torn final write). After every operation each
/// group equals its model: after a crash, the model as of the last commit, or as of the commit before it when the cut
/// tore the last batch.
module Raft.Storage.Tests.SharedLogPropertyTests

open System
open System.IO
open FsCheck
open FsCheck.FSharp
open Xunit
open Raft.Storage
open Raft.Storage.Tests.Support

let private groups = 4

type Op =
    | Append of group: int * start: int * count: int * bump: bool
    | Truncate of group: int * at: int
    | Compact of group: int * at: int * sameTerm: bool
    | HardState of group: int * value: byte
    | Remove of group: int
    | Commit
    | Reopen
    | Crash of cut: int option

let private genOp =
    let n = Gen.choose (0, 10000)
    let g = Gen.choose (0, groups - 1)
    Gen.frequency
        [ 10, Gen.map4 (fun g s c b -> Append(g, s, c, b)) g n (Gen.choose (1, 5)) (Gen.elements [ true; false; false ])
          2, Gen.map2 (fun g a -> Truncate(g, a)) g n
          2, Gen.map3 (fun g a s -> Compact(g, a, s)) g n (Gen.elements [ true; true; false ])
          3, Gen.map2 (fun g v -> HardState(g, byte v)) g (Gen.choose (0, 255))
          1, Gen.map Remove g
          5, Gen.constant Commit
          1, Gen.constant Reopen
          2, Gen.map Crash (Gen.optionOf (Gen.choose (0, 100000))) ]

/// One group's model: FirstIndex, the term before it, the terms of FirstIndex..LastIndex, the hard state.
type private Group =
    { First: int64; PrevTerm: int64; Terms: int64 list; Hard: byte[] option }
    member m.Last = m.First + int64 m.Terms.Length - 1L
    member m.TermAt(i: int64) = if i = m.First - 1L then m.PrevTerm else m.Terms[int (i - m.First)]
    static member Empty = { First = 1L; PrevTerm = 0L; Terms = []; Hard = None }

let private options () = SharedLogOptions(FileSize = 4096L, ZeroAheadBytes = 0)

/// The active file and its length: where the next batch goes.
let private activeEnd (log: SharedLog) = let f = Seq.last log.Files in f, FileInfo(f).Length

let private run (ops: Op list) =
    let dirs = ResizeArray<TempDir>()
    let newDir () = let d = new TempDir() in dirs.Add d; d.Path
    let mutable dir = newDir ()
    let mutable log = SharedLog.Open(dir, options ())
    let mutable model = Array.create groups Group.Empty
    // The model as of the last commit and of the one before, with the extent of the last commit's batch.
    let mutable durable = Array.copy model
    let mutable beforeLast = Array.copy model
    let mutable lastBatch: (string * int64 * int64) option = None
    let mutable maxTerm = 0L
    let committed (start: string * int64) =
        let file, from = start
        let now, until = activeEnd log
        beforeLast <- durable
        durable <- Array.copy model
        // A batch is cut only when the commit wrote one and did not start a new file (a torn checkpoint of a new file
        // is an empty file, which recovery deletes: the state is the commit's).
        lastBatch <- if now = file && until > from then Some(file, from, until) else None
    try
        for op in ops do
            let id (g: int) = int64 g + 1L
            match op with
            | Append(g, s, c, bump) ->
                let m = model[g]
                let start = m.First + int64 s % (m.Last - m.First + 2L)
                let term = m.TermAt(start - 1L) + (if bump then 1L else 0L)
                append (log.Group(id g)) (records start (List.replicate c term))
                model[g] <- { m with Terms = List.take (int (start - m.First)) m.Terms @ List.replicate c term }
            | Truncate(g, a) ->
                let m = model[g]
                let at = m.First + int64 a % (m.Last - m.First + 2L)
                log.Group(id g).TruncateSuffix at
                model[g] <- { m with Terms = List.take (int (at - m.First)) m.Terms }
            | Compact(g, a, same) ->
                let m = model[g]
                let at = m.First - 1L + int64 a % (m.Last - m.First + 4L)
                let term = if same && at <= m.Last && at >= m.First then m.TermAt at else maxTerm + 1L
                let before = activeEnd log
                log.Group(id g).CompactPrefix(at, term) // commits
                if at >= m.First then
                    let terms = if at < m.Last && m.TermAt at = term then List.skip (int (at - m.First + 1L)) m.Terms else []
                    model[g] <- { m with First = at + 1L; PrevTerm = term; Terms = terms }
                    committed before
            | HardState(g, v) ->
                log.HardState(id g).Stage(ReadOnlySpan [| v; byte g |])
                model[g] <- { model[g] with Hard = Some [| v; byte g |] }
            | Remove g ->
                let before = activeEnd log
                log.RemoveGroup(id g)
                model[g] <- Group.Empty
                committed before
            | Commit ->
                let before = activeEnd log
                log.Commit()
                committed before
            | Reopen ->
                log.Dispose() // a clean close commits what is staged
                durable <- Array.copy model
                beforeLast <- Array.copy model
                lastBatch <- None
                log <- SharedLog.Open(dir, options ())
            | Crash cut ->
                // The disk as a crash leaves it: the files as written (nothing staged), the last batch maybe torn.
                let copy = newDir ()
                for f in Directory.GetFiles(dir, "*.rlog") do File.Copy(f, Path.Combine(copy, Path.GetFileName f))
                model <- Array.copy durable
                match cut, lastBatch with
                | Some c, Some(file, from, until) ->
                    let at = from + int64 c % (until - from)
                    use s = new FileStream(Path.Combine(copy, Path.GetFileName file), FileMode.Open)
                    // The batch's own bytes end before its zero padding: a cut in the padding leaves it whole.
                    let header = Array.zeroCreate<byte> 8
                    s.Position <- from
                    s.ReadExactly(header, 0, 8)
                    let batchEnd = from + 24L + int64 (BitConverter.ToInt32(header, 4))
                    s.SetLength at
                    if at < batchEnd then model <- Array.copy beforeLast
                | _ -> ()
                log.Dispose()
                dir <- copy
                log <- SharedLog.Open(dir, options ())
                durable <- Array.copy model
                beforeLast <- Array.copy model
                lastBatch <- None
            for m in model do
                maxTerm <- max maxTerm (if m.Terms.IsEmpty then m.PrevTerm else List.last m.Terms)
            for g in 0 .. groups - 1 do
                let m = model[g]
                let view = log.Group(id g)
                let check what (actual: 'a) (want: 'a) =
                    if actual <> want then failwithf "after %A: group %d %s is %A, the model says %A" op (id g) what actual want
                check "FirstIndex" view.FirstIndex m.First
                check "LastIndex" view.LastIndex m.Last
                for i in m.First - 1L .. m.Last do
                    check (sprintf "TermAt %d" i) (view.TermAt i) (m.TermAt i)
                check "the records" (triples (readAll view)) [ for i in m.First .. m.Last -> i, m.TermAt i, payloadOf i (m.TermAt i) ]
                check "the hard state" (log.HardState(id g).Load() |> Option.ofObj) m.Hard
        true
    finally
        log.Dispose()
        for d in dirs do (d :> IDisposable).Dispose()

[<Fact>]
let ``the shared log behaves like the model across commits, reopens and crashes that tear the last batch`` () =
    Check.One(Config.QuickThrowOnFailure.WithMaxTest(150), Prop.forAll (Arb.fromGen (Gen.listOf genOp)) run)
