module Raft.Core.Tests.Main

open Expecto
open Expecto.Impl

/// Wraps Expecto's summary printer so scripts/test.sh can sum results across test projects. A skipped test (ptest,
/// skiptest) proves nothing, so it counts as failed and is named; `ignored` records how many there were.
let private countingPrinter (inner: TestPrinters) (ignored: int ref) =
    { inner with
        summary =
            fun config summary ->
                async {
                    do! inner.summary config summary
                    for (test, _) in summary.ignored do
                        printfn "FAILED (skipped; a test must fail with its reason instead): %s" (String.concat "/" test.name)
                    ignored.Value <- summary.ignored.Length
                    let failed = summary.failed.Length + summary.errored.Length + summary.ignored.Length
                    printfn "EXPECTO-SUMMARY passed=%d failed=%d" summary.passed.Length failed
                } }

[<EntryPoint>]
let main argv =
    let ignored = ref 0
    let printer = countingPrinter ExpectoConfig.defaultConfig.printer ignored
    let code = runTestsInAssemblyWithCLIArgs [ CLIArguments.Printer printer; CLIArguments.Colours 0; CLIArguments.Fail_On_Focused_Tests ] argv
    if code = 0 && ignored.Value > 0 then 1 else code
