/// The kv server's HTTP endpoints over HTTPS (one configuration switch, certificates made at test time) and its admin
/// endpoints authorized by a bearer token or a client certificate (allowed by thumbprint or by chaining to a CA).
module Raft.Host.Tests.KvAdminHttpsTests

open System
open System.Diagnostics
open System.IO
open System.Net.Http
open System.Net.Security
open System.Security.Cryptography
open System.Security.Cryptography.X509Certificates
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Tests.TestCertificates
open Raft.Host.Tests.ProcessCrashKit
open Raft.Host.Tests.KvServerTests

let private token = "https-admin-token-0123"

/// One kv server process (a one-member cluster) started with `settings` on top of its node settings; killed on dispose.
type private OneNode(pem: PemDirectory, scheme: string, settings: string list) =
    let ports = choosePorts 2
    let url = $"{scheme}://127.0.0.1:{ports[0]}"
    let data = Path.Combine(pem.Root, "data")
    let args =
        [ serverDll; "--Kv:NodeId=1"; $"--Kv:RaftEndpoint=127.0.0.1:{ports[1]}"; $"--Kv:HttpUrl={url}"; $"--Kv:DataDirectory={data}"
          "--Kv:Members:0:Id=1"; $"--Kv:Members:0:RaftEndpoint=127.0.0.1:{ports[1]}"; $"--Kv:Members:0:ApiUrl={url}"
          "--Logging:LogLevel:Default=Warning" ] @ settings
    let p = Process.Start(ProcessStartInfo("dotnet", args, RedirectStandardOutput = true, RedirectStandardError = true)) |> nonNull
    let errors = Text.StringBuilder()
    do
        p.ErrorDataReceived.Add(fun e -> if not (isNull e.Data) then lock errors (fun () -> errors.AppendLine e.Data |> ignore))
        p.BeginErrorReadLine()
        p.BeginOutputReadLine()
    member _.Url = url
    member _.Port = ports[0]
    member _.Process = p
    member _.Errors = lock errors (fun () -> errors.ToString())
    interface IDisposable with
        member _.Dispose() =
            try (if not p.HasExited then p.Kill(); p.WaitForExit 10_000 |> ignore) with _ -> ()

/// An HTTPS client trusting only certificates that chain to `ca`, presenting `certificate` when asked for one.
let private client (ca: Issued) (certificate: X509Certificate2 option) =
    let ssl = SslClientAuthenticationOptions()
    ssl.RemoteCertificateValidationCallback <-
        RemoteCertificateValidationCallback(fun _ cert _ _ ->
            match cert with
            | null -> false
            | cert ->
                use chain = new X509Chain()
                chain.ChainPolicy.TrustMode <- X509ChainTrustMode.CustomRootTrust
                chain.ChainPolicy.CustomTrustStore.Add ca.Certificate |> ignore
                chain.ChainPolicy.RevocationMode <- X509RevocationMode.NoCheck
                chain.Build(X509CertificateLoader.LoadCertificate(cert.GetRawCertData())))
    match certificate with
    | Some c -> ssl.LocalCertificateSelectionCallback <- LocalCertificateSelectionCallback(fun _ _ _ _ _ -> c)
    | None -> ()
    new HttpClient(new SocketsHttpHandler(SslOptions = ssl), Timeout = TimeSpan.FromSeconds 15.0)

let private adminState (http: HttpClient) (url: string) (bearer: string option) =
    task {
        use request = new HttpRequestMessage(HttpMethod.Get, url + "/admin/state")
        bearer |> Option.iter (fun b -> request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {b}") |> ignore)
        use! response = http.SendAsync request
        return int response.StatusCode
    }

[<Fact>]
let ``HTTPS by configuration: a request over https succeeds, plain http is not served; admin by token or client certificate: none 401, wrong 403, right 200`` () =
    task {
        use pem = new PemDirectory()
        let ca = newCa "kv-admin-ca"
        let other = newCa "another-ca"
        pem.WriteCa("ca.pem", [ ca ]) |> ignore
        pem.WriteNode("server", issue ca 1L)
        let byThumbprint = issue other 7L
        let stranger = issue other 9L
        let fromCa = issue ca 8L
        let file name = Path.Combine(pem.Root, name)
        let thumbprint = byThumbprint.Certificate.GetCertHashString HashAlgorithmName.SHA256
        use node =
            new OneNode(pem, "https",
                        [ "--Kv:Https:CertificatePath=" + file "server.crt"; "--Kv:Https:KeyPath=" + file "server.key"
                          "--Kv:Chaos:Enabled=true"; $"--Kv:Chaos:Token={token}"; "--Kv:Chaos:ClientCaPath=" + file "ca.pem"
                          $"--Kv:Chaos:AllowedThumbprints:0={thumbprint}" ])
        use anonymous = client ca None
        do! Wait.until "the node answers /alive over https" (TimeSpan.FromSeconds 60.0) (fun () ->
            if node.Process.HasExited then failwithf "the node exited with %d: %s" node.Process.ExitCode node.Errors
            try anonymous.GetAsync(node.Url + "/alive").Result.IsSuccessStatusCode with _ -> false)
        let! put = anonymous.PutAsync(node.Url + "/kv/k", new StringContent "v")
        int put.StatusCode |> should equal 200
        // Plain HTTP on the same port is not served.
        use plain = new HttpClient(Timeout = TimeSpan.FromSeconds 15.0)
        let! plainAnswer =
            task {
                try
                    let! r = plain.GetAsync($"http://127.0.0.1:{node.Port}/kv/k")
                    return Some(int r.StatusCode)
                with :? HttpRequestException -> return None
            }
        (plainAnswer = Some 200) |> should equal false
        // The token: none 401, wrong 403, right 200.
        let! none = adminState anonymous node.Url None
        let! wrong = adminState anonymous node.Url (Some "not-the-admin-token-at-all")
        let! right = adminState anonymous node.Url (Some token)
        (none, wrong, right) |> should equal (401, 403, 200)
        // Client certificates: one from the CA and one allowed by thumbprint get in; another CA's is refused, unless
        // the right token comes with it.
        use viaCa = client ca (Some(withKey fromCa))
        use viaThumbprint = client ca (Some(withKey byThumbprint))
        use refused = client ca (Some(withKey stranger))
        let! caAnswer = adminState viaCa node.Url None
        let! thumbprintAnswer = adminState viaThumbprint node.Url None
        let! strangerAnswer = adminState refused node.Url None
        let! strangerWithToken = adminState refused node.Url (Some token)
        (caAnswer, thumbprintAnswer, strangerAnswer, strangerWithToken) |> should equal (200, 200, 403, 200)
    }

[<Fact>]
let ``membership changes with the chaos endpoints off and only a client certificate rule: the allowed certificate gets in, another is 403, none 401`` () =
    task {
        use pem = new PemDirectory()
        let ca = newCa "kv-members-ca"
        let other = newCa "another-members-ca"
        pem.WriteNode("server", issue ca 1L)
        let allowed = issue other 7L
        let stranger = issue other 9L
        let file name = Path.Combine(pem.Root, name)
        let thumbprint = allowed.Certificate.GetCertHashString HashAlgorithmName.SHA256
        use node =
            new OneNode(pem, "https", [ "--Kv:Https:CertificatePath=" + file "server.crt"; "--Kv:Https:KeyPath=" + file "server.key"
                                        $"--Kv:Chaos:AllowedThumbprints:0={thumbprint}" ])
        use anonymous = client ca None
        use viaThumbprint = client ca (Some(withKey allowed))
        use refused = client ca (Some(withKey stranger))
        do! Wait.until "the node answers /alive over https" (TimeSpan.FromSeconds 60.0) (fun () ->
            if node.Process.HasExited then failwithf "the node exited with %d: %s" node.Process.ExitCode node.Errors
            try anonymous.GetAsync(node.Url + "/alive").Result.IsSuccessStatusCode with _ -> false)
        // Removing a member that does not exist: past the check it is 404 (no such member), short of it 401 / 403.
        let remove (http: HttpClient) =
            task {
                let! r = http.DeleteAsync(node.Url + "/cluster/members/9")
                return int r.StatusCode
            }
        let! none = remove anonymous
        let! strangerAnswer = remove refused
        let! allowedAnswer =
            Wait.untilSome "the allowed certificate's removal is answered by a leader" (TimeSpan.FromSeconds 60.0) (fun () ->
                task {
                    let! s = remove viaThumbprint
                    return if s = 503 then None else Some s
                })
        (none, strangerAnswer, allowedAnswer) |> should equal (401, 403, 404)
        // The chaos endpoints stay off.
        let! chaos = adminState viaThumbprint node.Url None
        chaos |> should equal 404
    }

[<Fact>]
let ``an https URL without Kv:Https, or a certificate without its key, stops the server naming the key`` () =
    task {
        use pem = new PemDirectory()
        pem.WriteNode("server", issue (newCa "kv-ca") 1L)
        for settings, key in [ [], "Kv:Https:CertificatePath"
                               [ "--Kv:Https:CertificatePath=" + Path.Combine(pem.Root, "server.crt") ], "Kv:Https:KeyPath" ] do
            use node = new OneNode(pem, "https", settings)
            if not (node.Process.WaitForExit 60_000) then failwith "the server did not stop on bad settings"
            do! Wait.until "the error is read" Wait.standard (fun () -> node.Errors.Contains key)
            (node.Process.ExitCode, node.Errors.Contains key) |> should equal (2, true)
    }
