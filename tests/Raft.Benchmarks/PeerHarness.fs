/// The peers beside which the benchmarks measure (../shared/peers/<name>/run.sh: DotNext, etcd), run as child
/// processes in the same run; each prints one JSON line per mode.
module Raft.Benchmarks.PeerHarness

open System
open System.Diagnostics
open System.IO
open System.Text.Json

/// One mode's figures from a peer: ops/s, p50 µs, p99 µs.
type PeerFigures = { OpsPerSecond: float; P50: float; P99: float }

/// The peer's run.sh: `envVar` when set, else ../shared/peers/<name>/run.sh beside the repository.
let find (name: string) (envVar: string) =
    let beside = Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "..", "..", "shared", "peers", name, "run.sh")
    [ Environment.GetEnvironmentVariable envVar; $"/work/shared/peers/{name}/run.sh"; Path.GetFullPath beside ]
    |> List.tryFind (fun p -> not (String.IsNullOrEmpty p) && File.Exists p)

/// Runs the harness at `path` with `arguments`; its JSON lines by their "mode". A failing harness is reported, and
/// whatever modes it printed before failing are kept.
let run (path: string) (arguments: string) =
    eprintfn "running %s %s ..." path arguments
    let psi = ProcessStartInfo("bash", $"\"{path}\" {arguments}", RedirectStandardOutput = true, UseShellExecute = false)
    use p = nonNull (Process.Start psi)
    let out = p.StandardOutput.ReadToEnd()
    p.WaitForExit()
    if p.ExitCode <> 0 then eprintfn "%s exited with %d" path p.ExitCode
    out.Split('\n', StringSplitOptions.RemoveEmptyEntries)
    |> Array.choose (fun line ->
        try
            let d = JsonDocument.Parse(line).RootElement
            Some(nonNull (d.GetProperty("mode").GetString()),
                 { OpsPerSecond = d.GetProperty("ops_per_s").GetDouble(); P50 = d.GetProperty("p50_us").GetDouble(); P99 = d.GetProperty("p99_us").GetDouble() })
        with _ -> None)
    |> Map.ofArray

/// The load average, for printing beside figures measured on a shared machine.
let loadAverage () =
    try (File.ReadAllText "/proc/loadavg").Split(' ') |> Array.take 3 |> String.concat " " with _ -> "unknown"
