/// The key-value register model on hand-made histories: it accepts what a linearizable server may answer (server-chosen
/// versions, writes of unknown outcome) and the checker rejects a stale read, a lost acknowledged write and a version
/// going backwards, so the HTTP-level check can fail.
module Raft.Host.Tests.KvRegisterModelTests

open Xunit
open FsUnit.Xunit
open Raft.Testing
open Raft.Host.Tests.KvRegisterModel

let private put value = { Key = "k"; Kind = KvKind.Put; Value = value; Expected = 0L }
let private cas expected value = { Key = "k"; Kind = KvKind.Cas; Value = value; Expected = expected }
let private get = { Key = "k"; Kind = KvKind.Get; Value = ""; Expected = 0L }
let private ok value version = { Status = 200; Value = value; Version = version }
let private notFound = { Status = 404; Value = ""; Version = 0L }
let private mismatch version = { Status = 412; Value = ""; Version = version }

let private done' client input call ret output = HistoryOperation<KvRequest, KvResponse>.Completed(client, input, call, ret, output)
let private unknown client input call = HistoryOperation<KvRequest, KvResponse>.Unknown(client, input, call)

let private verdict history = (snd (check history)).Verdict

[<Fact>]
let ``the register model accepts server-chosen versions, compare-and-set by version, and writes of unknown outcome`` () =
    [ done' 1 get 0L 5L notFound
      done' 1 (put "a") 10L 20L (ok "a" 3L)
      done' 2 (cas 3L "b") 30L 40L (ok "b" 7L)
      done' 3 (cas 3L "c") 45L 50L (mismatch 7L)
      unknown 1 (put "d") 60L
      done' 2 get 70L 80L (ok "b" 7L) // the unknown write has not happened yet
      done' 3 get 90L 95L (ok "d" 12L) // now it has, with a version the server chose
      unknown 2 (cas 12L "e") 100L
      done' 3 (cas 12L "f") 110L 120L (mismatch 15L) // the unknown compare-and-set won
      done' 1 get 130L 140L (ok "e" 15L) ]
    |> verdict |> should equal LinearizabilityVerdict.Linearizable

[<Fact>]
let ``the checker rejects a stale read, a lost acknowledged write, a version going backwards and a wrong compare-and-set`` () =
    let stale = [ done' 1 (put "a") 0L 10L (ok "a" 3L); done' 1 (put "b") 20L 30L (ok "b" 5L); done' 2 get 40L 50L (ok "a" 3L) ]
    let lost = [ done' 1 (put "a") 0L 10L (ok "a" 3L); done' 2 get 20L 30L notFound ]
    let backwards = [ done' 1 (put "a") 0L 10L (ok "a" 7L); done' 1 (put "b") 20L 30L (ok "b" 5L) ]
    let casWon = [ done' 1 (put "a") 0L 10L (ok "a" 3L); done' 2 (cas 2L "b") 20L 30L (ok "b" 5L) ]
    let casLost = [ done' 1 (put "a") 0L 10L (ok "a" 3L); done' 2 (cas 3L "b") 20L 30L (mismatch 3L) ]
    for name, history in [ "stale read", stale; "lost write", lost; "backwards", backwards; "cas won", casWon; "cas lost", casLost ] do
        (name, verdict history) |> should equal (name, LinearizabilityVerdict.NotLinearizable)
