module Raft.Core.Tests.Main

open Expecto
open Expecto.Impl

[<Tests>]
let smoke = test "smoke" { Expect.equal 1 1 "one" }

/// Wraps Expecto's summary printer so scripts/test.sh can sum results across test projects.
let private countingPrinter (inner: TestPrinters) =
    { inner with
        summary =
            fun config summary ->
                async {
                    do! inner.summary config summary
                    let failed = summary.failed.Length + summary.errored.Length
                    printfn "EXPECTO-SUMMARY passed=%d failed=%d" summary.passed.Length failed
                } }

[<EntryPoint>]
let main argv =
    let printer = countingPrinter ExpectoConfig.defaultConfig.printer
    runTestsInAssemblyWithCLIArgs [ CLIArguments.Printer printer; CLIArguments.Colours 0 ] argv
