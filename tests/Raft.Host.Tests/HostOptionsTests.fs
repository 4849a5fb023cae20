/// The generic host's options: every core setting comes from configuration under the core's name, with the core's
/// default and the core's validation (messages name the configuration key); unknown keys are refused; the README's
/// table of keys is the code's.
module Raft.Host.Tests.HostOptionsTests

open System
open System.Collections.Generic
open System.IO
open System.Text.RegularExpressions
open Microsoft.Extensions.Configuration
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Hosting
open Microsoft.Extensions.Options
open Microsoft.FSharp.Reflection
open Xunit
open FsUnit.Xunit
open Raft.Core
open Raft.Hosting
open Raft.Host.Tests.HostingTests
open Raft.Tests

let private bind (settings: (string * string) list) =
    let configuration =
        ConfigurationBuilder()
            .AddInMemoryCollection(settings |> List.map (fun (k, v) -> KeyValuePair(k, v)))
            .Build()

    configuration.GetSection("Raft").Get<RaftHostOptions>() |> Option.ofObj |> Option.defaultWith RaftHostOptions

let private minimal = [ "Raft:NodeId", "1"; "Raft:ClusterId", "c"; "Raft:InMemoryStorage", "true" ]

/// The core's settings a host sets (the node id is NodeId; the PRNG seed is derived per group).
let private coreFields =
    FSharpType.GetRecordFields typeof<RaftOptions> |> Array.filter (fun f -> f.Name <> "Id" && f.Name <> "Seed")

/// A valid value other than the default, as configuration text, for a core field.
let private otherValue (defaults: RaftOptions) (field: Reflection.PropertyInfo) =
    match field.GetValue defaults with
    | :? bool as b -> string (not b)
    | :? int as i -> string (i + 1)
    | :? int64 as l -> string (l + 1L)
    | :? ReadMode as m when m = ReadIndexQuorum -> "LeaseBased"
    | v -> failwith $"no other value for {field.Name} = {v}"

[<Fact>]
let ``every core setting is read from configuration under the core's name`` () =
    let defaults = RaftOptions.defaults (Ids.node 1L)
    let shown (value: obj) = match value with :? ReadMode as m -> (if m = LeaseBased then "LeaseBased" else "ReadIndexQuorum") | v -> string v
    // Lease reads need CheckQuorum, which the first binding turns off with every other switch: two bindings.
    let readMode, others = coreFields |> Array.partition (fun f -> f.Name = "ReadMode")

    for fields in [ others; readMode ] do
        let options = bind (minimal @ [ for f in fields -> $"Raft:{f.Name}", otherValue defaults f ])
        options.Validate() |> should be Empty
        let core = options.ToNodeOptions().CoreOptions 1L

        for f in fields do
            (f.Name, shown (f.GetValue core)) |> should equal (f.Name, otherValue defaults f)

[<Fact>]
let ``unset core settings take the core's defaults`` () =
    let defaults = RaftOptions.defaults (Ids.node 1L)
    let core = (bind minimal).ToNodeOptions().CoreOptions 1L

    for f in coreFields do
        (f.Name, f.GetValue core) |> should equal (f.Name, f.GetValue defaults)

[<Fact>]
let ``the core's rules name the configuration keys`` () =
    let options = bind (minimal @ [ "Raft:ElectionTicks", "4"; "Raft:HeartbeatTicks", "4"; "Raft:MaxInflightMsgs", "0" ])
    let errors = options.Validate() |> List.ofSeq
    errors |> should contain "Raft:HeartbeatTicks must be less than Raft:ElectionTicks (got 4 and 4)"
    errors |> should contain "Raft:MaxInflightMsgs must be at least 1 (got 0)"
    options.Validate("Cluster:Raft") |> should contain "Cluster:Raft:MaxInflightMsgs must be at least 1 (got 0)"

[<Fact>]
let ``a key that names no setting fails the host at start, naming the key`` () =
    task {
        use host = build (minimal @ [ "Raft:ElectionTick", "12"; "Raft:Peers:2", "127.0.0.1:1" ])
        let! ex = Assert.ThrowsAsync<OptionsValidationException>(fun () -> host.StartAsync())
        ex.Message |> should haveSubstring "Raft:ElectionTick is not a Raft setting"
        ex.Failures |> Seq.filter (fun f -> f.Contains "is not a Raft setting") |> Seq.length |> should equal 1
    }

/// The rows of the README's configuration table: key (without the section) to default cell.
let private readmeTable () =
    let text = File.ReadAllText(Path.Combine(Repository.root (), "README.md"))
    [ for m in Regex.Matches(text, @"^\| `Raft:(\w+)` \| ([^|]+) \|", RegexOptions.Multiline) -> m.Groups[1].Value, m.Groups[2].Value.Trim().Trim('`') ]

/// A default as the README writes it.
let private asReadme (value: obj) =
    match value with
    | :? bool as b -> (if b then "true" else "false")
    | :? TimeSpan as t -> t.ToString()
    | :? Dictionary<int64, string> as d when d.Count = 0 -> "{}"
    | :? List<int64> as l -> "[" + String.Join(", ", l) + "]"
    | :? Raft.Transport.Tcp.TcpTlsOptions as t -> string t.Mode // the section's own keys are in the README's TLS table
    | null -> "none"
    | v -> string v

/// Settings with no default: the host refuses to start without them.
let private required = set [ "NodeId"; "ClusterId"; "DataDirectory" ]

[<Fact>]
let ``the README's configuration table lists every setting with its default`` () =
    let table = readmeTable ()
    let defaults = RaftHostOptions()
    let properties = typeof<RaftHostOptions>.GetProperties() |> Array.filter _.CanWrite

    table |> List.map fst |> List.sort |> should equal (properties |> Array.map _.Name |> Array.sort |> List.ofArray)

    for p in properties do
        let documented = table |> List.find (fst >> (=) p.Name) |> snd
        let actual = p.GetValue defaults
        let expected = if required.Contains p.Name then "required" else asReadme actual
        // The README writes durations as configuration does (00:00:00.020); compare them as durations.
        let documented = match actual with :? TimeSpan -> string (TimeSpan.Parse documented) | _ -> documented
        (p.Name, documented) |> should equal (p.Name, expected)
