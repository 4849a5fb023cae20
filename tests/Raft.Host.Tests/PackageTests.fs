/// The library as its users get it: packed into NuGet packages, referenced by a C# project from a package source
/// (tests/Raft.PackageConsumer, built outside the repository), restored, built and run.
module Raft.Host.Tests.PackageTests

open System
open System.Diagnostics
open System.IO
open Xunit
open FsUnit.Xunit
open Raft.Tests

let private configuration =
#if DEBUG
    "Debug"
#else
    "Release"
#endif

/// Runs dotnet with a deadline; returns the exit code and everything it printed.
let private dotnet (workingDirectory: string) (args: string list) (limit: TimeSpan) =
    let psi = ProcessStartInfo("dotnet", args, WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true)
    psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] <- "1"
    psi.Environment["DOTNET_NOLOGO"] <- "1"
    use p = Process.Start psi |> nonNull
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    if not (p.WaitForExit limit) then
        p.Kill true
        failwith $"dotnet {String.Join(' ', args)} did not finish within {limit}"
    p.ExitCode, out.Result + err.Result

[<Fact>]
let ``a C# project references the packed packages from a package source, builds and runs a node`` () =
    let root = Repository.root ()
    let work = Path.Combine(Path.GetTempPath(), $"raft-package-{Guid.NewGuid():N}")
    // A version no earlier run used: the NuGet cache keeps packages by id and version, so reusing one would test stale code.
    let version = $"0.1.0-check.{DateTime.UtcNow:yyyyMMddHHmmss}.{Guid.NewGuid():N}"
    let feed = Path.Combine(work, "feed")
    let consumer = Path.Combine(work, "consumer")
    let packagesRoot =
        match Environment.GetEnvironmentVariable "NUGET_PACKAGES" with
        | null | "" -> Path.Combine(Environment.GetFolderPath Environment.SpecialFolder.UserProfile, ".nuget", "packages")
        | p -> p
    try
        // The libraries were built by this test run; packing them again must not rebuild them.
        for project in [ "core-fs/Raft.Core/Raft.Core.fsproj"; "shell-cs/Raft/Raft.csproj" ] do
            let code, output = dotnet root [ "pack"; project; "-c"; configuration; "--no-build"; "-o"; feed; $"-p:PackageVersion={version}" ] (TimeSpan.FromMinutes 3.0)
            if code <> 0 then failwith $"dotnet pack {project} failed ({code}):\n{output}"
        Directory.CreateDirectory consumer |> ignore
        for file in [ "Raft.PackageConsumer.csproj"; "Program.cs" ] do
            File.Copy(Path.Combine(root, "tests", "Raft.PackageConsumer", file), Path.Combine(consumer, file))
        // Adds the packed packages to the machine's own sources (no <clear/>: dependencies come from where they always do).
        File.WriteAllText(Path.Combine(consumer, "nuget.config"),
            $"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration><packageSources><add key=\"raft-packed\" value=\"{feed}\" /></packageSources></configuration>\n")
        let code, output = dotnet consumer [ "run"; "-c"; "Release"; $"-p:RaftVersion={version}" ] (TimeSpan.FromMinutes 5.0)
        if code <> 0 then failwith $"the consumer failed ({code}):\n{output}"
        output |> should haveSubstring "counter = 3 at index"
    finally
        if Directory.Exists work then Directory.Delete(work, true)
        for id in [ "raft"; "raft.core" ] do
            let cached = Path.Combine(packagesRoot, id, version)
            if Directory.Exists cached then Directory.Delete(cached, true)
            let ids = Path.Combine(packagesRoot, id)
            if Directory.Exists ids && Array.isEmpty (Directory.GetFileSystemEntries ids) then Directory.Delete ids
