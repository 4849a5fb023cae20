/// The queue server's web UI in a real headless Chromium (BrowserKit) on three real processes: the page shows every
/// node up, the queue created beforehand with its depth and its group's leader, publishes through its form, consumes
/// everything through its stream toggle, charts the queue's group, and shows the chaos buttons only on a node that has
/// the chaos endpoints (pausing and resuming it with the token typed in).
module Raft.Host.Tests.QueueUiTests

open System.Net.Http
open System.Text.RegularExpressions
open Microsoft.Playwright
open Xunit
open FsUnit.Xunit
open Raft.Tests
open Raft.Host.Tests.QueueClusterKit
open Raft.Host.Tests.BrowserKit

let private token = "queue-ui-chaos-token-0123456789"

[<Fact>]
let ``the web UI in headless Chromium: every node up, the queue with its depth and leader, publish and consume through the page, chaos buttons only where enabled`` () =
    task {
        // Chaos on nodes 1 and 2 only: node 3's page must not show the buttons.
        use c = new QueueCluster(3, nodeSettings = fun i -> if i < 3 then [ "--Queue:Chaos:Enabled=true"; $"--Queue:Chaos:Token={token}" ] else [])
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/shown")
        created.Status |> should equal 200
        let! published = c.UntilAnswered(1, HttpMethod.Post, "/queues/shown/messages", """["1","2","3","4","5","6","7"]""", "application/json")
        published.Status |> should equal 201
        let! group = c.GroupOf(1, "shown")
        let! _ = c.WaitLeaderOf(2, group)
        do! withChromium "raft-queue-ui-chromium" (fun browser ->
            task {
                let! page = browser.NewPageAsync()
                let! _ = page.GotoAsync(c.Url 2)
                do! expect(page.Locator "#node-title").ToHaveTextAsync "node 2"
                // The nodes, each up (read through this node from every member's /raft/status).
                for i in 1 .. 3 do
                    do! expect(page.Locator($"#nodes tr[data-node='{i}'] td:nth-child(3)")).ToHaveTextAsync "up"
                // The queue: its depth, and a leader of its group among the nodes; one of the group's copies leads.
                let queueRow = page.Locator "#queues tr[data-queue='shown']"
                do! expect(queueRow.Locator "td:nth-child(3)").ToHaveTextAsync "7"
                do! expect(queueRow.Locator "td:nth-child(6)").ToHaveTextAsync(Regex "^[123]$")
                do! expect(page.Locator("#replicas tbody tr.Leader").Filter(LocatorFilterOptions(HasText = "shown"))).ToHaveCountAsync 1
                do! expect(page.Locator("#replicas tbody tr").Filter(LocatorFilterOptions(HasText = "shown"))).ToHaveCountAsync 3
                do! expect(page.Locator $"#charts canvas[data-group='{group}']").ToBeVisibleAsync()
                // Publish 5 more through the form.
                do! page.FillAsync("#publish-queue", "shown")
                do! page.FillAsync("#publish-count", "5")
                do! page.ClickAsync "#publish"
                do! expect(page.Locator "#publish-result").ToContainTextAsync "published 5"
                do! expect(queueRow.Locator "td:nth-child(3)").ToHaveTextAsync "12"
                // Consume through the stream: all 12 received and acked, the queue empty.
                do! page.FillAsync("#consume-queue", "shown")
                do! page.FillAsync("#consume-credit", "3")
                do! page.ClickAsync "#consume"
                do! expect(page.Locator "#consume-state").ToHaveTextAsync "consuming"
                do! expect(page.Locator "#consume-acked").ToHaveTextAsync "12"
                do! expect(page.Locator "#consume-received").ToHaveTextAsync "12"
                do! expect(queueRow.Locator "td:nth-child(3)").ToHaveTextAsync "0"
                do! expect(queueRow.Locator "td:nth-child(4)").ToHaveTextAsync "0"
                do! expect(queueRow.Locator "td:nth-child(5)").ToHaveTextAsync "12"
                do! page.ClickAsync "#consume"
                do! expect(page.Locator "#consume-state").ToHaveTextAsync "stopped"
                // Chaos on node 2: a wrong token is refused, the right one pauses and resumes it.
                do! expect(page.Locator "#chaos-section").ToBeVisibleAsync()
                do! page.FillAsync("#chaos-token", "not-the-token-000000000")
                do! page.ClickAsync "button[data-admin='pause']"
                do! expect(page.Locator "#chaos-result").ToContainTextAsync "pause: 403"
                do! page.FillAsync("#chaos-token", token)
                do! page.ClickAsync "button[data-admin='pause']"
                do! expect(page.Locator "#chaos-result").ToContainTextAsync "pause: 200"
                // A paused node holds its page's requests (as a frozen process would); node 1's page shows it paused.
                let! first = browser.NewPageAsync()
                let! _ = first.GotoAsync(c.Url 1)
                do! expect(first.Locator "#nodes tr[data-node='2'] td:nth-child(3)").ToHaveTextAsync "paused"
                do! page.ClickAsync "button[data-admin='resume']"
                do! expect(page.Locator "#chaos-result").ToContainTextAsync "resume: 200"
                do! expect(first.Locator "#nodes tr[data-node='2'] td:nth-child(3)").ToHaveTextAsync "up"
                // Node 3 has no chaos endpoints: its page hides the buttons.
                let! third = browser.NewPageAsync()
                let! _ = third.GotoAsync(c.Url 3)
                do! expect(third.Locator "#node-title").ToHaveTextAsync "node 3"
                do! expect(third.Locator "#queues tr[data-queue='shown'] td:nth-child(3)").ToHaveTextAsync "0"
                do! expect(third.Locator "#chaos-section").ToBeHiddenAsync()
            })
    }

[<Fact>]
let ``the web UI in headless Chromium: a node that missed compacted entries is shown catching up by snapshot, and the chart keeps the group's log`` () =
    task {
        // Every 20 entries a snapshot and the log compacted behind it: a node down for 60 publishes must get a snapshot.
        use c = new QueueCluster(3, [ "--Queue:Raft:SnapshotEntries=20"; "--Queue:Raft:CompactionTrailing=0" ])
        do! c.StartAll()
        let! created = c.UntilAnswered(1, HttpMethod.Put, "/queues/behind")
        created.Status |> should equal 200
        let! group = c.GroupOf(1, "behind")
        do! withChromium "raft-queue-ui-snapshot-chromium" (fun browser ->
            task {
                let! page = browser.NewPageAsync()
                let! _ = page.GotoAsync(c.Url 1)
                let copies = page.Locator("#replicas tbody tr").Filter(LocatorFilterOptions(HasText = "behind"))
                do! expect(copies).ToHaveCountAsync 3 // the page has seen node 3's copy before it goes
                let! leader = c.WaitLeaderOf(1, group)
                let down = if leader = 3 then 2 else 3
                let up = [ 1; 2; 3 ] |> List.find (fun i -> i <> leader && i <> down)
                c.Kill down
                do! expect(page.Locator($"#nodes tr[data-node='{down}'] td:nth-child(3)")).ToContainTextAsync "unreachable"
                for i in 1 .. 60 do
                    let! a = c.UntilAnswered(up, HttpMethod.Post, "/queues/behind/messages", $"m{i}")
                    a.Status |> should equal 201
                do! c.Start down
                do! expect(page.Locator($"#nodes tr[data-node='{down}'] td:nth-child(6)")).ToContainTextAsync "behind"
                do! expect(page.Locator($"#nodes tr[data-node='{down}']")).ToHaveClassAsync(Regex "snapshot")
                // Its copy caught up: 60 waiting, its snapshot index past the entries it missed.
                do! expect(page.Locator "#queues tr[data-queue='behind'] td:nth-child(3)").ToHaveTextAsync "60"
                let downCopy = copies.Filter(LocatorFilterOptions(Has = page.Locator($"td:nth-child(2):text-is('{down}')")))
                do! expect(downCopy.Locator "td:nth-child(9)").Not.ToHaveTextAsync "0"
                do! expect(page.Locator $"#charts canvas[data-group='{group}']").ToBeVisibleAsync()
            })
    }
