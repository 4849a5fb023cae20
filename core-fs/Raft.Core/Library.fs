namespace Raft.Core
module Placeholder = let x = 1
