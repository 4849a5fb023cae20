/// Where the repository is, for tests that read its files (the README) or build its projects.
[<RequireQualifiedAccess>]
module Raft.Tests.Repository

open System
open System.IO

/// The directory holding Raft.sln, found above the test's binaries.
let root () =
    let rec up (dir: DirectoryInfo | null) =
        match dir with
        | null -> failwith $"Raft.sln not found above {AppContext.BaseDirectory}"
        | d when File.Exists(Path.Combine(d.FullName, "Raft.sln")) -> d.FullName
        | d -> up d.Parent

    up (DirectoryInfo AppContext.BaseDirectory)
