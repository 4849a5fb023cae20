/// CRC-32C benchmark (`dotnet run -c Release --project tests/Raft.Benchmarks -- crc`, BenchmarkDotNet, short job,
/// in process): the library's `Raft.Storage.Crc32C` (the crc32 instruction, 8 bytes per step) against System.IO.Hashing's
/// folding (`Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, ...)`, a test-only package here) and against a hybrid of the
/// two (the instruction below 512 bytes, folding from there on), on the sizes the library checksums: a record header
/// (24 B), a record of a 128-byte command (152 B), a transport frame of a small batch (1 KiB, 16 KiB) and a 64 KiB
/// frame or snapshot chunk. The hybrid is what a product dependency on System.IO.Hashing would buy.
module Raft.Benchmarks.CrcBench

open System
open System.IO.Hashing
open BenchmarkDotNet.Attributes
open BenchmarkDotNet.Columns
open BenchmarkDotNet.Configs
open BenchmarkDotNet.Jobs
open BenchmarkDotNet.Running
open BenchmarkDotNet.Toolchains.InProcess.Emit
open Raft.Storage

type CrcBenchmarks() =
    let mutable data: byte[] = [||]

    [<Params(24, 152, 1024, 16384, 65536)>]
    member val Size = 0 with get, set

    [<GlobalSetup>]
    member this.Setup() =
        data <- Array.zeroCreate this.Size
        Random(42).NextBytes data
        if Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, ReadOnlySpan data) <> Crc32C.Compute(ReadOnlySpan data) then
            failwith "System.IO.Hashing and Crc32C disagree"

    /// The library as it is.
    [<Benchmark(Baseline = true)>]
    member _.Instruction() = Crc32C.Compute(ReadOnlySpan data)

    [<Benchmark>]
    member _.Folding() = Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, ReadOnlySpan data)

    [<Benchmark>]
    member _.Hybrid() =
        let span = ReadOnlySpan data
        if span.Length < 512 then Crc32C.Compute span else Crc32.HashToUInt32(Crc32ParameterSet.Crc32C, span)

let run (argv: string list) =
    let loadavg () = IO.File.ReadAllText("/proc/loadavg").Trim()
    printfn "CRC-32C benchmark, %s UTC, %d cores, load average %s" (DateTime.UtcNow.ToString "yyyy-MM-dd HH:mm") Environment.ProcessorCount (loadavg ())
    let job = Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance)
    let config = ManualConfig.CreateMinimumViable().AddJob(job).AddColumn(StatisticColumn.Median)
    BenchmarkRunner.Run<CrcBenchmarks>(config, Array.ofList argv) |> ignore
    printfn "load average after: %s" (loadavg ())
