namespace Raft.Simulation
module Placeholder = let x = 1
