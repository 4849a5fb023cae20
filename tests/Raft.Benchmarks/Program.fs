module Raft.Benchmarks.Program
[<EntryPoint>]
let main _ = 0
