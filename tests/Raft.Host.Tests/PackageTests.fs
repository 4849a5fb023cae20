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

/// The packed packages' ids, in dependency order.
let private packed =
    [ "core-fs/Raft.Core/Raft.Core.fsproj"; "shell-cs/Raft/Raft.csproj"; "core-fs/Raft.Simulation/Raft.Simulation.fsproj"
      "shell-cs/Raft.Testing/Raft.Testing.csproj" ]

/// Packs the libraries into a temporary feed, copies tests/Raft.PackageConsumer next to it, builds it against the
/// packages and runs it once: its output, a PASS or FAIL line per check, is what every test below reads.
let private consumerOutput =
    lazy
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
            for project in packed do
                let code, output = dotnet root [ "pack"; project; "-c"; configuration; "--no-build"; "-o"; feed; $"-p:PackageVersion={version}" ] (TimeSpan.FromMinutes 3.0)
                if code <> 0 then failwith $"dotnet pack {project} failed ({code}):\n{output}"
            Directory.CreateDirectory consumer |> ignore
            let source = Path.Combine(root, "tests", "Raft.PackageConsumer")
            for file in Directory.GetFiles(source, "*.cs") |> Array.append [| Path.Combine(source, "Raft.PackageConsumer.csproj") |] do
                File.Copy(file, Path.Combine(consumer, nonNull (Path.GetFileName file)))
            // Adds the packed packages to the machine's own sources (no <clear/>: dependencies come from where they always do).
            File.WriteAllText(Path.Combine(consumer, "nuget.config"),
                $"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<configuration><packageSources><add key=\"raft-packed\" value=\"{feed}\" /></packageSources></configuration>\n")
            let code, output = dotnet consumer [ "run"; "-c"; "Release"; $"-p:RaftVersion={version}" ] (TimeSpan.FromMinutes 6.0)
            // The exit code counts failed checks; each test below names the check it needs.
            if not (output.Contains "consumer checks:") then failwith $"the consumer failed ({code}):\n{output}"
            output
        finally
            if Directory.Exists work then Directory.Delete(work, true)
            for id in [ "raft"; "raft.core"; "raft.simulation"; "raft.testing" ] do
                let cached = Path.Combine(packagesRoot, id, version)
                if Directory.Exists cached then Directory.Delete(cached, true)
                let ids = Path.Combine(packagesRoot, id)
                if Directory.Exists ids && Array.isEmpty (Directory.GetFileSystemEntries ids) then Directory.Delete ids

/// The consumer's check `name` passed (its FAIL line, with the reason, is the failure message otherwise).
let private passed (name: string) =
    let output = consumerOutput.Force()
    let lines = output.Split('\n')
    match lines |> Array.tryFind (fun l -> l.StartsWith $"FAIL {name}:") with
    | Some _ -> failwith (output.Substring(output.IndexOf $"FAIL {name}:"))
    | None -> ()
    if not (lines |> Array.exists (fun l -> l.StartsWith $"PASS {name} (")) then
        failwith $"the consumer did not run the check '{name}':\n{output}"

[<Fact>]
let ``a C# project references the packed packages from a package source, builds and runs a node`` () =
    passed "a node in the generic host proposes and reads"
    consumerOutput.Force() |> should haveSubstring "counter = 3 at index"

[<Fact>]
let ``Raft.Testing from C#: a bank state machine passes 200 simulated seeds`` () = passed "the bank passes 200 seeds"

[<Fact>]
let ``Raft.Testing from C#: a non-deterministic apply is caught with a replayable seed and the first index where nodes differ`` () =
    passed "a non-deterministic apply (reads the clock) is caught with a replayable seed and the first index where nodes differ"

[<Fact>]
let ``Raft.Testing from C#: a serializer that does not round-trip is caught with a replayable seed`` () =
    passed "a serializer that does not round-trip is caught with a replayable seed"

[<Fact>]
let ``Raft.Testing from C#: a snapshot that drops a field is caught with a replayable seed`` () =
    passed "a snapshot that drops a field is caught with a replayable seed"

[<Fact>]
let ``Raft.Testing from C#: a read that bypasses consensus is caught with a replayable seed and its failing window`` () =
    passed "a read that bypasses consensus is caught as a stale read with a replayable seed and its failing window"

[<Fact>]
let ``Raft.Testing from C#: 2,000 recorded operations of 8 clients on 3 nodes with the leader killed are linearizable, also read back from JSON lines`` () =
    passed "the recorder: 2,000 operations of 8 clients on 3 nodes, the leader killed halfway, are linearizable"

[<Fact>]
let ``Raft.Testing from C#: a hand-made non-linearizable JSON-lines history is rejected with its failing window`` () =
    passed "a hand-made non-linearizable history in the file format is rejected with its failing window"

[<Fact>]
let ``Raft.Testing from C#: a full history recorder keeps what fits and cuts the history where it filled`` () =
    passed "a full recorder keeps what fits and cuts the history where it filled"
