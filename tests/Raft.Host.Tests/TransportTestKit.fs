/// Helpers for transport tests: an inbox that records deliveries (wait on them with `Wait`), and Raft envelopes to send.
module Raft.Host.Tests.TransportTestKit

open System
open System.Collections.Concurrent
open System.Net
open System.Net.Sockets
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.Logging
open Raft.Core
open Raft.Serialization
open Raft.Transport
open Raft.Transport.Tcp
open Raft.Tests

/// A heartbeat of group `group` from `from` to `to_`, its context tagging the message.
let envelope (group: int64) (from: int64) (to_: int64) (context: int64) =
    RaftEnvelope<string>(group,
        { From = Ids.node from; To = Ids.node to_; Term = Ids.term 1L
          Body = Heartbeat { Commit = Ids.index 0L; Context = context } })

/// The context of an envelope's heartbeat.
let contextOf (e: RaftEnvelope<string>) =
    match e.Message.Body with
    | Heartbeat h -> h.Context
    | _ -> -1L

/// Records every delivery.
type Inbox<'T>() =
    let items = ResizeArray<int64 * 'T>()

    /// The receive handler to pass to StartAsync.
    member _.Handler =
        TransportReceiveHandler<'T>(fun from message _ ->
            lock items (fun () -> items.Add((from, message)))
            ValueTask.CompletedTask)

    /// Everything received so far, in arrival order.
    member _.Items = lock items (fun () -> items.ToArray())

    /// Waits until the received items satisfy `condition`, calling `resend` every 100 ms meanwhile
    /// (the transport is best effort: a message sent while connections settle may be lost, as Raft allows).
    member this.WaitResending(what, resend: unit -> unit, condition: (int64 * 'T)[] -> bool) =
        let sinceResend = Diagnostics.Stopwatch.StartNew()
        resend ()
        Wait.until what Wait.standard (fun () ->
            condition this.Items
            || (if sinceResend.ElapsedMilliseconds >= 100L then
                    resend ()
                    sinceResend.Restart()
                false))

// ---- TCP transports on 127.0.0.1 (the TCP, TLS and cluster-secret tests) ----

type Msg = RaftEnvelope<string>[]

/// Collects formatted log lines so tests can check that refusals and bad frames are logged.
type ListLogger<'T>() =
    let entries = ConcurrentQueue<LogLevel * string>()
    member _.Entries = entries.ToArray()
    member _.Has(level: LogLevel, text: string) = entries |> Seq.exists (fun (l, m) -> l = level && m.Contains text)
    interface ILogger<'T> with
        member _.BeginScope<'TState when 'TState: not null>(_: 'TState) : IDisposable = { new IDisposable with member _.Dispose() = () }
        member _.IsEnabled _ = true
        member _.Log<'TState>(level: LogLevel, _: EventId, state: 'TState, ex: exn, formatter: Func<'TState, exn, string>) =
            entries.Enqueue((level, formatter.Invoke(state, ex)))

let codec = RaftBatchCodec<string>(RaftMessageCodec<string>())
let cluster = "test-cluster"

let options (id: int64) =
    TcpTransportOptions(
        NodeId = id, ClusterId = cluster, ListenEndpoint = "127.0.0.1:0", QueueCapacity = 1024,
        MaxFrameBytes = 64 * 1024, ReconnectBackoffMin = TimeSpan.FromMilliseconds 10.0,
        ReconnectBackoffMax = TimeSpan.FromMilliseconds 200.0, ConnectTimeout = TimeSpan.FromSeconds 5.0)

type Node =
    { T: TcpTransport<Msg>; Inbox: Inbox<Msg>; Log: ListLogger<TcpTransport<Msg>> }
    member n.Id = n.T.LocalId
    member n.EndPoint = nonNull n.T.LocalEndPoint :> EndPoint

let start (opts: TcpTransportOptions) =
    task {
        let log = ListLogger<TcpTransport<Msg>>()
        let t = new TcpTransport<Msg>(opts, codec, log)
        let inbox = Inbox<Msg>()
        do! t.StartAsync(inbox.Handler, CancellationToken.None)
        return { T = t; Inbox = inbox; Log = log }
    }

let mesh (nodes: Node list) =
    for a in nodes do
        for b in nodes do
            if a.Id <> b.Id then a.T.SetPeer(b.Id, b.EndPoint)

let stopAll (nodes: Node list) =
    task { for n in nodes do do! n.T.DisposeAsync() }

/// A socket bound to a loopback port but not listening: dials to it are refused at once.
let deadEndPoint () =
    let s = new Socket(SocketType.Stream, ProtocolType.Tcp)
    s.Bind(IPEndPoint(IPAddress.Loopback, 0))
    s, nonNull s.LocalEndPoint

let heardFrom (from: int64) (context: int64) (items: (int64 * Msg)[]) =
    items |> Array.exists (fun (f, batch) -> f = from && batch |> Array.exists (fun e -> contextOf e = context))

/// Sends `context` from a to b until b has it.
let exchange (a: Node) (b: Node) (context: int64) =
    b.Inbox.WaitResending(
        sprintf "%d hears %d (context %d)" b.Id a.Id context,
        (fun () -> a.T.TrySend(b.Id, [| envelope 1L a.Id b.Id context |]) |> ignore),
        heardFrom a.Id context)

/// Nodes 1 and 2, meshed, each having heard the other once (so both directions are connected).
let connectedPair () =
    task {
        let! a = start (options 1L)
        let! b = start (options 2L)
        mesh [ a; b ]
        do! exchange a b 1L
        do! exchange b a 1L
        return a, b
    }

// ---- raw client helpers: speak the wire format by hand ----

let frameBytes (write: PooledBufferWriter -> unit) =
    use buffer = new PooledBufferWriter(256)
    write buffer
    buffer.WrittenSpan.ToArray()

type RawClient =
    { Socket: Socket; Reader: System.IO.Pipelines.PipeReader }
    member c.Send(bytes: byte[]) = c.Socket.SendAsync(ArraySegment bytes, SocketFlags.None)

    /// Sends a hello and returns the acceptor's reply.
    member c.Hello(clusterId: string, from: int64, to_: int64) =
        task {
            let! _ = c.Send(frameBytes (fun b -> TcpHandshake.WriteHello(b, Hello(clusterId, from, to_))))
            use cts = new CancellationTokenSource(Wait.standard)
            return! TcpConnection.ReadOneFrameAsync(c.Reader, FrameKind.HelloReply, Func<_, _>(TcpHandshake.ReadReply), cts.Token)
        }

    /// Completes when the server has closed the connection (end of stream or reset); fails after the deadline.
    member c.WaitClosed() =
        task {
            use cts = new CancellationTokenSource(Wait.standard)
            let mutable closed = false
            while not closed do
                try
                    let! r = c.Reader.ReadAsync(cts.Token)
                    c.Reader.AdvanceTo(r.Buffer.End)
                    closed <- r.IsCompleted
                with
                | :? OperationCanceledException -> failwith "the server did not close the connection"
                | _ -> closed <- true
        }

let rawConnect (endPoint: EndPoint) =
    task {
        let s = new Socket(SocketType.Stream, ProtocolType.Tcp)
        do! s.ConnectAsync(endPoint)
        return { Socket = s; Reader = TcpConnection.CreateReader s }
    }

/// Refusals that judge a node's credentials: plaintext, each certificate verdict, the cluster secret. Tests that expect
/// none look at these alone: a node dialing a peer not yet told of it is refused as an unknown node (`handshake`, a race
/// of the test's setup), and a handshake cut short by the other side's deadline on a loaded machine counts as `tls`.
let credentialRefusals (stats: Raft.Transport.TransportStats) =
    let r = stats.Refusals
    r.Plaintext + r.CertificateMissing + r.CertificateUntrusted + r.CertificateExpired + r.CertificateIdentity + r.ClusterSecret
