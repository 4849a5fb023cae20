/// Temp directories, record builders and assertions shared by the storage tests.
module Raft.Storage.Tests.Support

open System
open System.IO
open Raft.Storage
open FsUnit.Xunit

/// A fresh directory under the system temp folder, deleted with everything in it on dispose.
type TempDir() =
    let path = Path.Combine(Path.GetTempPath(), "raft-storage-tests", Guid.NewGuid().ToString("N"))
    do Directory.CreateDirectory path |> ignore
    member _.Path = path
    member _.File(name: string) = Path.Combine(path, name)
    interface IDisposable with
        member _.Dispose() =
            try Directory.Delete(path, true) with _ -> ()

/// Deterministic payload for (index, term): length 1..60, bytes derived from both.
let payloadOf (index: int64) (term: int64) : byte[] =
    let len = 1 + int ((index * 7L + term * 13L) % 60L)
    Array.init len (fun k -> byte (index * 31L + term * 17L + int64 k))

let record (index: int64) (term: int64) = LogRecord(index, term, ReadOnlyMemory(payloadOf index term))

/// Records from `first` with the given terms.
let records (first: int64) (terms: int64 list) =
    terms |> List.mapi (fun k t -> record (first + int64 k) t) |> List.toArray

let append (log: ILogStorage) (rs: LogRecord[]) = log.Append(ReadOnlySpan<LogRecord>(rs))

let readAll (log: ILogStorage) : LogRecord list =
    if log.LastIndex < log.FirstIndex then [] else log.ReadRange(log.FirstIndex, log.LastIndex) |> List.ofSeq

/// (index, term, payload) triples, comparable with `should equal`.
let triples (rs: LogRecord seq) = rs |> Seq.map (fun r -> r.Index, r.Term, r.Payload.ToArray()) |> List.ofSeq

let expected (rs: LogRecord seq) = triples rs

/// Small segments and a dense index so a few hundred records exercise rolling and index points.
let smallOptions () =
    FileLogOptions(SegmentSize = 4096L, IndexInterval = 256, WriteBufferSize = 4096, CreateIfMissing = true)

let openLog (dir: string) = FileLogStorage.Open(dir, smallOptions ())

let shouldThrow<'e when 'e :> exn> (f: unit -> unit) : 'e =
    let ex =
        try
            f ()
            None
        with
        | :? 'e as e -> Some e
        | e -> failwithf "expected %s but got %s: %s" typeof<'e>.Name (e.GetType().Name) e.Message
    match ex with
    | Some e -> e
    | None -> failwithf "expected %s but nothing was thrown" typeof<'e>.Name

/// Segment files of a log directory, in index order.
let segmentFiles (dir: string) = Directory.GetFiles(dir, "*.seg") |> Array.sort

let indexFiles (dir: string) = Directory.GetFiles(dir, "*.idx") |> Array.sort

/// XORs one byte of a file.
let flipByte (path: string) (offset: int64) =
    use f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite)
    f.Position <- offset
    let b = f.ReadByte()
    f.Position <- offset
    f.WriteByte(byte (b ^^^ 0x5A))

let truncateFile (path: string) (length: int64) =
    use f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite)
    f.SetLength length

let containsText (text: string) (s: string) =
    if not (s.Contains(text, StringComparison.OrdinalIgnoreCase)) then
        failwithf "expected the message to contain %A but it was: %s" text s

/// Appends `count` records from index 1 (the term rises every 100 entries) in batches of 10, flushes, returns them.
let fill (log: ILogStorage) (count: int64) =
    let rs = records 1L [ for i in 1L .. count -> 1L + i / 100L ]
    for chunk in Array.chunkBySize 10 rs do
        append log chunk
    log.Flush()
    rs
