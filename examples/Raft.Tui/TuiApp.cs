using Spectre.Console;

namespace Raft.Tui;

/// <summary>The live loop: applies what the poller and the actions posted, reads keys, redraws. The model's only writer.</summary>
public sealed class TuiApp(TuiOptions options)
{
    /// <summary>How often the loop looks for keys and posted changes.</summary>
    private static readonly TimeSpan Frame = TimeSpan.FromMilliseconds(50);

    public async Task RunAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var stop = new CancellationTokenSource();
        var inbox = new Inbox();
        var model = new ClusterModel(options.Nodes);
        var poller = new StatusPoller(http, inbox, options);
        var runner = new ChaosRunner(http, inbox, poller, options.Token);
        if (options.Token is null) model.AddLog("no --token (or RAFT_CHAOS_TOKEN): the admin endpoints will answer 401", failed: true);
        var polling = poller.RunAsync(stop.Token);
        await AnsiConsole.Live(Screen.Render(model, options)).AutoClear(false).StartAsync(async live =>
        {
            while (!stop.IsCancellationRequested)
            {
                var changed = inbox.Drain(model);
                while (Console.KeyAvailable)
                {
                    var key = Console.ReadKey(intercept: true);
                    changed = true;
                    if (KeyMap.Digit(key.KeyChar) is { } id)
                    {
                        if (!model.SelectId(id)) model.AddLog($"no node {id}", failed: true);
                        continue;
                    }
                    switch (KeyMap.Map(key.KeyChar, key.Key))
                    {
                        case null: break;
                        case TuiCommand.Quit: stop.Cancel(); break;
                        case TuiCommand.SelectPrevious: model.MoveSelection(-1); break;
                        case TuiCommand.SelectNext: model.MoveSelection(1); break;
                        case TuiCommand.NextGroup: model.NextGroup(); break;
                        case { } command: runner.Start(ActionPlanner.Plan(command, model, options)); break;
                    }
                }
                if (changed) live.UpdateTarget(Screen.Render(model, options));
                try { await Task.Delay(Frame, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        try { await polling; } catch (OperationCanceledException) { }
    }
}
