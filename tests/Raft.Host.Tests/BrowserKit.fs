/// A real headless Chromium for the web UI tests: Debian's (/usr/bin/chromium), driven by Playwright with no browser
/// download; a missing Chromium fails the test saying how to install it.
module Raft.Host.Tests.BrowserKit

open System.IO
open System.Threading.Tasks
open Microsoft.Playwright
open Raft.Tests

let chromium = "/usr/bin/chromium"

/// Chromium as root on a machine with no internet: no sandbox, no GPU, none of its background connections.
let private flags =
    [ "--headless"; "--no-sandbox"; "--disable-gpu"; "--disable-quic"; "--no-first-run"; "--disable-background-networking"
      "--disable-component-update"; "--disable-sync" ]

/// Playwright's assertions on a locator (retried until they hold or the standard deadline passes).
let expect (locator: ILocator) = Assertions.Expect locator

/// Runs `body` with a browser on a fresh profile (deleted after), its assertions waiting up to Wait.standard.
let withChromium (profileName: string) (body: IBrowserContext -> Task) =
    task {
        if not (File.Exists chromium) then
            failwithf "Debian's Chromium is not at %s: install it with 'apt-get install -y chromium' (.ci/run does)" chromium
        Assertions.SetDefaultExpectTimeout(float32 Wait.standard.TotalMilliseconds)
        use! playwright = Playwright.CreateAsync()
        // A fresh profile for every run (the persistent context is how Playwright takes a user data dir).
        let profile = Directory.CreateTempSubdirectory profileName
        try
            let! browser =
                playwright.Chromium.LaunchPersistentContextAsync(profile.FullName,
                    BrowserTypeLaunchPersistentContextOptions(ExecutablePath = chromium, Headless = true, Args = flags))
            try do! body browser
            finally browser.CloseAsync().Wait()
        finally
            try profile.Delete true with _ -> ()
    }
