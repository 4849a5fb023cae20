/// TLS helpers of the transport tests beside the shared certificates (`Shared/TestCertificates.fs`): a hand-driven
/// TLS client, as an attacker would write one.
module Raft.Host.Tests.TlsTestKit

open System
open System.Net.Security
open System.Net.Sockets
open System.Security.Authentication
open System.Security.Cryptography.X509Certificates
open System.Threading
open Raft.Tests

/// A hand-driven TLS 1.3 client to `endPoint` presenting `certificate` (or none), trusting whatever the server shows:
/// an attacker's client. Returns the TLS stream, or the handshake's exception when the server refused at once.
let tlsConnect (endPoint: Net.EndPoint) (certificate: X509Certificate2 option) =
    task {
        let socket = new Socket(SocketType.Stream, ProtocolType.Tcp)
        do! socket.ConnectAsync endPoint
        let ssl = new SslStream(new NetworkStream(socket, true), false)
        let options =
            SslClientAuthenticationOptions(
                TargetHost = "raft", EnabledSslProtocols = SslProtocols.Tls13,
                RemoteCertificateValidationCallback = RemoteCertificateValidationCallback(fun _ _ _ _ -> true))
        match certificate with
        | Some c -> options.ClientCertificateContext <- SslStreamCertificateContext.Create(c, null, true)
        | None -> ()
        use cts = new CancellationTokenSource(Wait.standard)
        try
            do! ssl.AuthenticateAsClientAsync(options, cts.Token)
            return Ok ssl
        with e ->
            ssl.Dispose()
            return Error e
    }
