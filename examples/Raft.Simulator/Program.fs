module Raft.Simulator.Program
[<EntryPoint>]
let main _ = 0
