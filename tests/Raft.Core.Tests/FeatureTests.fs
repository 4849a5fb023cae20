/// Tests of the features beyond the basic protocol: membership changes (thesis §4), linearizable reads
/// (thesis §6.4), snapshots (§7), and the planted bugs that prove the tests can see each violation.
module Raft.Core.Tests.FeatureTests

open Expecto
open Raft.Core

[<Tests>]
let featureTests = testList "features" []
