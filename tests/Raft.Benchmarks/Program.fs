module Raft.Benchmarks.Program

let private usage () =
    eprintfn "usage: Raft.Benchmarks <core [runs] | crc [BenchmarkDotNet options] | storage [--size-mb N] [--dir PATH] | cluster [--n N] [--size B] [--conc C] [--mode seq|conc|both] [--groups G] [--layout shared|per-group] [--runs R] [--no-dotnext] [--instrumented] [--tls] | cluster --idle [groups] [--no-quiescence] [--layout shared|memory] | kv [--n N] [--conc C] [--size B] [--keys K] [--target leader|spread] [--no-etcd] | kv --footprint K [--idle S] | kv --failover [keys] [rounds] | queue [--n N] [--conc C] [--size B] [--consumers K] [--no-rabbitmq] | scrape [groups] | shared-open [--mb N] [--groups G] [--runs R] [--dir PATH] | facade [--seeds N] [--rounds R] [-- simulator flags]>"
    2

[<EntryPoint>]
let main argv =
    match List.ofArray argv with
    | "storage" :: rest ->
        StorageBench.run rest
        0
    | "cluster" :: "--idle" :: rest ->
        ClusterIdle.run rest
        0
    | "cluster" :: rest ->
        ClusterBench.run rest
        0
    | "kv" :: "--footprint" :: keys :: rest ->
        KvFootprint.run (int keys) (match rest with "--idle" :: s :: _ -> int s | _ -> 30)
        0
    | "kv" :: "--failover" :: rest ->
        KvFailover.run (match rest with k :: _ -> int k | [] -> 96) (match rest with _ :: r :: _ -> int r | _ -> 5)
        0
    | "kv" :: rest ->
        KvBench.run rest
        0
    | "queue" :: rest ->
        QueueBench.run rest
        0
    | "scrape" :: rest ->
        ScrapeBench.run rest
        0
    | "shared-open" :: rest ->
        SharedLogOpenBench.run rest
        0
    | "crc" :: rest ->
        CrcBench.run rest
        0
    | "facade" :: rest ->
        FacadeBench.run rest
        0
    | "core" :: rest ->
        CoreBench.run (match rest with r :: _ -> int r | [] -> 5)
        0
    | _ -> usage ()
