/// Separate network namespaces standing in for separate machines: one namespace per node, each with its own address
/// on a private /24 through a veth pair to a bridge, and iptables rules inside a node's namespace to cut its links.
/// Needs root, iproute2 (`ip netns`) and iptables (Debian's `iptables`, the nf_tables backend by default).
module Raft.Host.Tests.NetnsKit

open System
open System.Diagnostics
open System.IO
open System.Threading
open Raft.Tests

/// Runs `file args` to its end (at most 20 s) and returns its exit code and everything it printed.
let private exec (file: string) (args: string list) =
    let psi = ProcessStartInfo(file, args, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false)
    use p = try Process.Start psi |> nonNull with e -> failwithf "cannot run %s: %s" file e.Message
    let out = p.StandardOutput.ReadToEndAsync()
    let err = p.StandardError.ReadToEndAsync()
    if not (p.WaitForExit 20_000) then
        try p.Kill() with _ -> ()
        failwithf "%s %s did not finish within 20 s" file (String.Join(' ', args))
    p.ExitCode, (out.Result + err.Result).Trim()

/// Runs a command that must succeed; its failure names the command and what it printed.
let private must (file: string) (args: string list) =
    match exec file args with
    | 0, out -> out
    | code, out -> failwithf "'%s %s' failed (exit %d): %s" file (String.Join(' ', args)) code out

/// Whether `file` is an executable on PATH (or a path to one).
let private onPath (file: string) =
    let dirs = (Environment.GetEnvironmentVariable "PATH" |> Option.ofObj |> Option.defaultValue "").Split ':'
    Array.append dirs [| "/usr/sbin"; "/sbin" |] |> Array.exists (fun d -> d <> "" && File.Exists(Path.Combine(d, file)))

[<Runtime.InteropServices.DllImport("libc")>]
extern uint32 private geteuid()

[<Runtime.InteropServices.DllImport("libc")>]
extern int private kill(int pid, int signal)

/// SIGKILLs every process running in namespace `ns` (the servers of a run that died before it could stop them).
let private killAllIn (ns: string) =
    for pid in (snd (exec "ip" [ "netns"; "pids"; ns ])).Split('\n', StringSplitOptions.RemoveEmptyEntries) do
        match Int32.TryParse(pid.Trim()) with
        | true, p -> kill (p, 9) |> ignore
        | _ -> ()

/// Every name this kit creates starts with this, then the creating process's id: a later run can tell its own
/// leftovers (the process is gone) from a run still going in parallel.
let private prefix = "rkvn"

/// What this machine lacks to run namespace tests (root, `ip netns`, iptables inside a namespace), as one sentence
/// naming it and how to get it; None when everything works. Tries it for real with a namespace of its own.
let missing () : string option =
    if geteuid () <> 0u then Some $"network namespaces need root (this process runs as uid {geteuid ()})"
    elif not (onPath "ip") then Some "'ip' (iproute2) is not on PATH: apt-get install -y iproute2"
    elif not (onPath "iptables") then Some "'iptables' is not on PATH: apt-get install -y iptables (.ci/run does)"
    else
        let probe = $"{prefix}-{Environment.ProcessId}-probe"
        try
            match exec "ip" [ "netns"; "add"; probe ] with
            | code, out when code <> 0 -> Some $"'ip netns add' is refused here (exit {code}): {out}"
            | _ ->
                match exec "ip" [ "netns"; "exec"; probe; "iptables"; "-w"; "-S" ] with
                | code, out when code <> 0 -> Some $"iptables does not work inside a network namespace here (exit {code}): {out}"
                | _ -> None
        finally
            exec "ip" [ "netns"; "del"; probe ] |> ignore

/// The iptables in use, e.g. "iptables v1.8.9 (nf_tables)", for the test's output.
let iptablesVersion () = snd (exec "iptables" [ "--version" ])

/// Removes what crashed earlier runs left behind (namespaces and root-side links whose creating process is gone),
/// killing any process still running in such a namespace; the names of live runs are left alone.
let cleanStale () =
    let ownerGone (name: string) =
        let parts = name.Substring(prefix.Length).TrimStart('-').Split([| '-'; 'x' |])
        match Int32.TryParse parts[0] with
        | true, pid -> pid <> Environment.ProcessId && not (Directory.Exists $"/proc/{pid}")
        | _ -> false
    let namespaces =
        (must "ip" [ "netns"; "list" ]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
        |> Array.map (fun line -> line.Split(' ')[0])
        |> Array.filter (fun n -> n.StartsWith(prefix + "-") && ownerGone n)
    for ns in namespaces do
        killAllIn ns
        exec "ip" [ "netns"; "del"; ns ] |> ignore
    let links =
        (must "ip" [ "-o"; "link"; "show" ]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
        |> Array.choose (fun line -> match line.Split(':') with | parts when parts.Length > 1 -> Some(parts[1].Trim().Split('@')[0]) | _ -> None)
        |> Array.filter (fun n -> n.StartsWith prefix && ownerGone n)
    for link in links do exec "ip" [ "link"; "del"; link ] |> ignore

/// Which traffic of a node a cut drops.
type Direction =
    /// What arrives from the peers (their packets to this node, and so the ACKs of its own connections).
    | Inbound
    /// What this node sends to the peers.
    | Outbound
    | Both

/// Serializes the choice of a subnet between test processes on this machine.
let private subnetLock = Path.Combine(Path.GetTempPath(), "raft-netns-subnet.lock")

let private networkCount = ref 0

/// `size` namespaces, node i at 10.231.S.i, joined by a bridge in a namespace of its own (so no rule of the root
/// namespace's firewall applies between the nodes); this process reaches them from 10.231.S.254 on a veth to that
/// bridge. S is chosen free among the subnets on this machine's links. Disposing kills whatever still runs in the
/// namespaces and deletes them, which removes their links and iptables rules with them.
type Network(size: int) =
    let number = Interlocked.Increment networkCount
    let run = $"{prefix}-{Environment.ProcessId}-{number}"
    let hub = $"{run}-hub"
    let rootLink = $"{prefix}{Environment.ProcessId}x{number}" // at most 15 characters: a link name's limit
    let nodeNs i = $"{run}-n{i}"
    let mutable subnet = -1
    let created = Collections.Generic.List<string>()

    let setUp () =
        cleanStale ()
        let addNs name =
            must "ip" [ "netns"; "add"; name ] |> ignore
            created.Add name
            must "ip" [ "-n"; name; "link"; "set"; "lo"; "up" ] |> ignore
        addNs hub
        must "ip" [ "-n"; hub; "link"; "add"; "br0"; "type"; "bridge" ] |> ignore
        must "ip" [ "-n"; hub; "link"; "set"; "br0"; "up" ] |> ignore
        // The subnet is chosen and claimed (the root side's address) under a lock, so two runs never pick the same.
        use _lock =
            let mutable file: FileStream option = None
            let opened () =
                try file <- Some(new FileStream(subnetLock, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); true
                with :? IOException -> false // another run holds it for the few commands below
            (Wait.until $"the subnet lock {subnetLock}" Wait.standard opened).GetAwaiter().GetResult()
            file.Value
        let routes = must "ip" [ "-4"; "route"; "show" ]
        subnet <-
            seq { for k in 0 .. 249 -> (Environment.ProcessId + k) % 250 + 1 }
            |> Seq.tryFind (fun s -> not (routes.Contains $"10.231.{s}."))
            |> Option.defaultWith (fun () -> failwith "no free 10.231.x.0/24 subnet left on this machine")
        must "ip" [ "link"; "add"; rootLink; "type"; "veth"; "peer"; "name"; "host"; "netns"; hub ] |> ignore
        must "ip" [ "-n"; hub; "link"; "set"; "host"; "master"; "br0"; "up" ] |> ignore
        must "ip" [ "addr"; "add"; $"10.231.{subnet}.254/24"; "dev"; rootLink ] |> ignore
        must "ip" [ "link"; "set"; rootLink; "up" ] |> ignore
        for i in 1 .. size do
            let ns = nodeNs i
            addNs ns
            must "ip" [ "-n"; hub; "link"; "add"; $"n{i}"; "type"; "veth"; "peer"; "name"; "eth0"; "netns"; ns ] |> ignore
            must "ip" [ "-n"; hub; "link"; "set"; $"n{i}"; "master"; "br0"; "up" ] |> ignore
            must "ip" [ "-n"; ns; "addr"; "add"; $"10.231.{subnet}.{i}/24"; "dev"; "eth0" ] |> ignore
            must "ip" [ "-n"; ns; "link"; "set"; "eth0"; "up" ] |> ignore

    let tearDown () =
        for ns in Seq.rev created do
            killAllIn ns
            exec "ip" [ "netns"; "del"; ns ] |> ignore
        exec "ip" [ "link"; "del"; rootLink ] |> ignore // gone with the hub already, unless the hub was never made

    do
        try setUp ()
        with _ ->
            tearDown ()
            reraise ()

    /// Node i's address.
    member _.Address(i: int) = $"10.231.{subnet}.{i}"

    /// Node i's namespace.
    member _.Namespace(i: int) = nodeNs i

    /// The command and leading arguments that run `dotnet` inside node i's namespace.
    member _.Dotnet(i: int) = "ip", [ "netns"; "exec"; nodeNs i; "dotnet" ]

    /// Node i drops its traffic with `peers` in `direction` (added to its cuts in place) until `Heal i`.
    member this.Cut(i: int, peers: int list, direction: Direction) =
        let ipt (rule: string list) = must "ip" ([ "netns"; "exec"; nodeNs i; "iptables"; "-w" ] @ rule) |> ignore
        for p in peers do
            if direction <> Outbound then ipt [ "-A"; "INPUT"; "-s"; this.Address p; "-j"; "DROP" ]
            if direction <> Inbound then ipt [ "-A"; "OUTPUT"; "-d"; this.Address p; "-j"; "DROP" ]

    /// Node i's cuts are removed.
    member _.Heal(i: int) =
        for chain in [ "INPUT"; "OUTPUT" ] do must "ip" [ "netns"; "exec"; nodeNs i; "iptables"; "-w"; "-F"; chain ] |> ignore

    /// The rules now in node i's namespace (for a failure message).
    member _.Rules(i: int) = snd (exec "ip" [ "netns"; "exec"; nodeNs i; "iptables"; "-w"; "-S" ])

    interface IDisposable with
        member _.Dispose() = tearDown ()
