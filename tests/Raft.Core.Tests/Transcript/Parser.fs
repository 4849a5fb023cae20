/// The transcript file format (datadriven, as in etcd-io/raft's testdata):
///
///     # comment
///     command arg1 arg2 key=value
///     ----
///     expected output line
///     expected output line
///     <blank line or end of file>
///
/// Comments and blank lines between blocks are kept verbatim when a file is rewritten.
module Raft.Core.Tests.Transcript.Parser

open System

/// One command with its expected output.
type Block =
    {
        /// Comment and blank lines before the command, kept verbatim on rewrite.
        Leading: string list
        /// 1-based line number of the command, for error messages.
        Line: int
        /// The command line as written.
        Command: string
        /// Expected output lines.
        Expected: string list
    }

/// A parsed transcript file.
type File = { Blocks: Block list; Trailing: string list }

/// A parsed command: its name, positional arguments and key=value options.
type Command =
    {
        Name: string
        Args: string list
        Options: Map<string, string>
        Line: int
    }

let private isFiller (line: string) =
    String.IsNullOrWhiteSpace line || line.TrimStart().StartsWith "#"

/// Parses a transcript; a command must be followed by a `----` line.
let parse (path: string) (text: string) : File =
    let lines = text.Replace("\r\n", "\n").Split('\n')
    // A final newline leaves one empty element that is not a line of its own.
    let lines = if lines.Length > 0 && lines[lines.Length - 1] = "" then lines[.. lines.Length - 2] else lines
    let blocks = ResizeArray()
    let mutable leading = []
    let mutable i = 0

    while i < lines.Length do
        let line = lines[i]

        if isFiller line then
            leading <- line :: leading
            i <- i + 1
        else
            if i + 1 >= lines.Length || lines[i + 1].Trim() <> "----" then
                failwithf "%s:%d: command '%s' must be followed by a '----' line" path (i + 1) line

            let commandLine = i + 1
            i <- i + 2
            let expected = ResizeArray()

            while i < lines.Length && not (String.IsNullOrWhiteSpace lines[i]) do
                expected.Add lines[i]
                i <- i + 1

            // The blank line ending the block belongs to the block.
            if i < lines.Length then i <- i + 1

            blocks.Add
                {
                    Leading = List.rev leading
                    Line = commandLine
                    Command = line.Trim()
                    Expected = List.ofSeq expected
                }

            leading <- []

    { Blocks = List.ofSeq blocks; Trailing = List.rev leading }

/// Renders a file with the given output for every block (the rewrite mode).
let render (file: File) (outputs: string list list) =
    let sb = Text.StringBuilder()

    for block, output in List.zip file.Blocks outputs do
        for l in block.Leading do
            sb.Append(l).Append('\n') |> ignore

        sb.Append(block.Command).Append('\n').Append("----\n") |> ignore

        for l in output do
            sb.Append(l).Append('\n') |> ignore

        sb.Append('\n') |> ignore

    for l in file.Trailing do
        sb.Append(l).Append('\n') |> ignore

    // Exactly one newline at the end of the file.
    sb.ToString().TrimEnd('\n') + "\n"

/// Splits a command line into words; double quotes group words and are removed.
let tokenize (line: string) =
    let words = ResizeArray<string>()
    let current = Text.StringBuilder()
    let mutable quoted = false
    let mutable any = false

    for c in line do
        if c = '"' then
            quoted <- not quoted
            any <- true
        elif Char.IsWhiteSpace c && not quoted then
            if any then words.Add(current.ToString())
            current.Clear() |> ignore
            any <- false
        else
            current.Append c |> ignore
            any <- true

    if quoted then failwithf "unterminated quote in '%s'" line
    if any then words.Add(current.ToString())
    List.ofSeq words

/// Parses a command line: the first word is the name, `key=value` words are options, the rest arguments.
let parseCommand (line: int) (text: string) : Command =
    match tokenize text with
    | [] -> failwithf "line %d: empty command" line
    | name :: words ->
        let options, args = words |> List.partition (fun w -> w.Contains '=' && not (w.StartsWith "="))

        {
            Name = name
            Args = args
            Options =
                options
                |> List.map (fun w ->
                    let k = w.IndexOf '='
                    w.Substring(0, k), w.Substring(k + 1))
                |> Map.ofList
            Line = line
        }
