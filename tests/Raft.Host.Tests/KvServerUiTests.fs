/// The key-value server's web UI in a real headless Chromium (Debian's, at /usr/bin/chromium, driven by Playwright; no
/// browser download): a key put through the page's form is listed and read back, on this node's page and another's,
/// and the page's event log shows the write; the key's leader killed, the page of the node elected shows it leading.
module Raft.Host.Tests.KvServerUiTests

open System
open Microsoft.Playwright
open Xunit
open Raft.Tests
open Raft.Host.Tests.KvServerTests
open Raft.Host.Tests.BrowserKit

[<Fact>]
let ``the web UI in headless Chromium: a key put through the form is listed with its value on two nodes' pages, and the event log shows its commit`` () =
    task {
        use c = new KvCluster()
        for i in 1 .. 3 do do! c.Start i
        let! _ = c.PutUntilDone(1, "warm-up", "x") // the cluster has leaders
        do! withChromium "raft-kv-ui-chromium" (fun browser ->
            task {
                let! page = browser.NewPageAsync()
                let! _ = page.GotoAsync(c.Url 1)
                do! expect(page.Locator "#node-title").ToHaveTextAsync "node 1"
                do! expect(page.Locator "#events-state").ToHaveTextAsync "live"
                do! page.FillAsync("#key", "from-the-page")
                do! page.FillAsync("#value", "typed in Chromium")
                do! page.ClickAsync "#put"
                do! expect(page.Locator "#result").ToContainTextAsync "PUT from-the-page: 200"
                let listed = page.Locator "#keys li[data-key='from-the-page']"
                do! expect(listed).ToBeVisibleAsync()
                do! page.FillAsync("#value", "")
                do! listed.ClickAsync()
                do! expect(page.Locator "#result").ToContainTextAsync "GET from-the-page: 200"
                do! expect(page.Locator "#value").ToHaveValueAsync "typed in Chromium"
                do! expect(page.Locator("#events li[data-type='commit']").Filter(LocatorFilterOptions(HasText = "from-the-page")).First).ToBeVisibleAsync()
                do! expect(page.Locator("#groups tbody tr").Filter(LocatorFilterOptions(HasText = "from-the-page")).First).ToBeVisibleAsync()
                // Another node's page lists the key and reads the same value.
                let! other = browser.NewPageAsync()
                let! _ = other.GotoAsync(c.Url 2)
                do! expect(other.Locator "#node-title").ToHaveTextAsync "node 2"
                do! other.FillAsync("#prefix", "from-")
                do! other.ClickAsync "#list"
                do! other.Locator("#keys li[data-key='from-the-page']").ClickAsync()
                do! expect(other.Locator "#value").ToHaveValueAsync "typed in Chromium"
                // The key's leader killed: a survivor's page shows another leader, and the page of the node elected
                // shows its role in the group become Leader, with the move in its event log.
                let! third = browser.NewPageAsync()
                let! _ = third.GotoAsync(c.Url 3)
                let pages = [| page; other; third |]
                for p in pages do do! expect(p.Locator "#events-state").ToHaveTextAsync "live" // listening before the kill
                let groupRow (p: IPage) = p.Locator("#groups tbody tr").Filter(LocatorFilterOptions(HasText = "from-the-page")).First
                let leaderCell (p: IPage) = (groupRow p).Locator "td:nth-child(4)"
                do! expect(leaderCell page).ToHaveTextAsync(Text.RegularExpressions.Regex "^[123]$")
                let! victimText = (leaderCell page).TextContentAsync()
                let victim = int (nonNull victimText)
                let survivor = pages[if victim = 1 then 1 else 0]
                c.Kill victim
                let others = [ 1; 2; 3 ] |> List.filter ((<>) victim) |> List.map string |> String.concat ""
                do! expect(leaderCell survivor).ToHaveTextAsync(Text.RegularExpressions.Regex $"^[{others}]$")
                let! electedText = (leaderCell survivor).TextContentAsync()
                let elected = pages[int (nonNull electedText) - 1]
                do! expect((groupRow elected).Locator "td:nth-child(3)").ToHaveTextAsync "Leader"
                let roleEvents = elected.Locator("#events li[data-type='role']").Filter(LocatorFilterOptions(HasText = "from-the-page"))
                do! expect(roleEvents.Filter(LocatorFilterOptions(HasText = "-> Leader")).First).ToBeVisibleAsync()
            })
    }
