/// RaftOptions: the defaults every layer reads, and the one validation every layer calls (the C# host names the
/// fields after its properties or configuration keys through `problemsNamed`).
module Raft.Core.Tests.OptionsTests

open Expecto
open Microsoft.FSharp.Reflection
open Raft.Core

let private valid = RaftOptions.defaults (Ids.node 1L)

/// Each rule broken alone, with the message it gives.
let private rules: (string * RaftOptions * string) list =
    [
        "Id", { valid with Id = Ids.none }, "Id must be a positive node id (got 0)"
        "ElectionTicks", { valid with ElectionTicks = 1; HeartbeatTicks = 1; LeaseDriftTicks = 0 }, "ElectionTicks must be at least 2 (got 1)"
        "HeartbeatTicks at least 1", { valid with HeartbeatTicks = 0 }, "HeartbeatTicks must be at least 1 (got 0)"
        "HeartbeatTicks below ElectionTicks", { valid with HeartbeatTicks = 12; ElectionTicks = 10 },
        "HeartbeatTicks must be less than ElectionTicks (got 12 and 10)"
        "MaxSizePerMsg", { valid with MaxSizePerMsg = 0L }, "MaxSizePerMsg must be positive (got 0)"
        "MaxInflightMsgs", { valid with MaxInflightMsgs = 0 }, "MaxInflightMsgs must be at least 1 (got 0)"
        "MaxInflightBytes", { valid with MaxInflightBytes = -1L }, "MaxInflightBytes must not be negative (got -1; 0 means unlimited)"
        "MaxUncommittedBytes", { valid with MaxUncommittedBytes = -1L }, "MaxUncommittedBytes must not be negative (got -1; 0 means unlimited)"
        "MaxWindowEntries", { valid with MaxWindowEntries = 0 }, "MaxWindowEntries must be at least 1 (got 0)"
        "LeaseDriftTicks not negative", { valid with LeaseDriftTicks = -1 }, "LeaseDriftTicks must not be negative (got -1)"
        "LeaseDriftTicks below ElectionTicks", { valid with LeaseDriftTicks = 10 }, "LeaseDriftTicks must be less than ElectionTicks (got 10 and 10)"
        "ReadMode", { valid with ReadMode = LeaseBased; CheckQuorum = false }, "ReadMode LeaseBased requires CheckQuorum (got false)"
        "SnapshotEntries", { valid with SnapshotEntries = -1L }, "SnapshotEntries must not be negative (got -1; 0 turns count-based snapshots off)"
        "SnapshotLogBytes", { valid with SnapshotLogBytes = -5L }, "SnapshotLogBytes must not be negative (got -5; 0 turns size-based snapshots off)"
        "CompactionTrailing", { valid with CompactionTrailing = -1L }, "CompactionTrailing must not be negative (got -1)"
        "LearnerCatchUpLag", { valid with LearnerCatchUpLag = -1L }, "LearnerCatchUpLag must not be negative (got -1)"
        "SnapshotChunkBytes", { valid with SnapshotChunkBytes = 0 }, "SnapshotChunkBytes must be positive (got 0)"
    ]

/// Options breaking every rule at once (a heartbeat and a lease drift that break their own floors, so the two
/// rules relating them to ElectionTicks are checked in `rules` instead).
let private allBroken =
    { valid with
        Id = Ids.none
        ElectionTicks = 1
        HeartbeatTicks = 0
        MaxSizePerMsg = 0L
        MaxInflightMsgs = 0
        MaxInflightBytes = -1L
        MaxUncommittedBytes = -1L
        MaxWindowEntries = 0
        LeaseDriftTicks = -1
        ReadMode = LeaseBased
        CheckQuorum = false
        SnapshotEntries = -1L
        SnapshotLogBytes = -1L
        CompactionTrailing = -1L
        LearnerCatchUpLag = -1L
        SnapshotChunkBytes = 0 }

let private fieldNames = FSharpType.GetRecordFields typeof<RaftOptions> |> Array.map _.Name

[<Tests>]
let optionsTests =
    testList
        "options"
        [
            test "the defaults are valid" { Expect.equal (RaftOptions.problems valid) [] "no problem" }

            testList
                "each rule gives its fields and the values it got"
                [ for name, options, message in rules ->
                      test name {
                          // An election timeout of 1 tick leaves no valid heartbeat: that rule is broken with it.
                          let others = if name = "ElectionTicks" then [ "HeartbeatTicks must be less than ElectionTicks (got 1 and 1)" ] else []
                          Expect.equal (RaftOptions.problems options) (message :: others) "the broken rule"
                      } ]

            test "every broken rule is reported, not only the first" {
                let found = RaftOptions.problems allBroken
                Expect.hasLength found 15 "one message per broken rule"

                match RaftOptions.validate allBroken with
                | Ok _ -> failtest "invalid options accepted"
                | Error e -> Expect.equal e (String.concat "; " found) "validate lists them all"
            }

            test "problemsNamed shows every field under the caller's name" {
                let key (field: string) = $"Raft:{field}"

                for message in RaftOptions.problemsNamed key allBroken @ List.collect (fun (_, o, _) -> RaftOptions.problemsNamed key o) rules do
                    Expect.stringStarts message "Raft:" "the message starts with the key"
                    // Every field name the message mentions is the key's tail: none is left bare.
                    let words = message.Split([| ' '; '('; ')'; ';' |], System.StringSplitOptions.RemoveEmptyEntries)

                    for word in words do
                        Expect.isFalse (Array.contains word fieldNames) $"'{word}' is named as a key in: {message}"
            }

            test "the C#-facing Problems method gives the same messages" {
                let viaMethod = allBroken.Problems(fun field -> "Raft:" + field) |> List.ofSeq
                Expect.equal viaMethod (RaftOptions.problemsNamed (fun field -> "Raft:" + field) allBroken) "same list"
            }
        ]
