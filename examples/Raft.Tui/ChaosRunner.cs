using System.Diagnostics;
using System.Net.Http.Headers;

namespace Raft.Tui;

/// <summary>Carries out a <see cref="ChaosPlan"/> in the background, step by step (stopping at the first that fails),
/// and logs each step's answer through the <see cref="Inbox"/>.</summary>
public sealed class ChaosRunner(HttpClient http, Inbox inbox, StatusPoller poller, string? token)
{
    /// <summary>How much of an answer's body the log shows.</summary>
    private const int AnswerChars = 160;

    /// <summary>How long a start command may run (the cluster script waits until the node answers).</summary>
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);

    public void Start(ChaosPlan plan)
    {
        if (plan.Refusal is { } why)
        {
            inbox.Post(m => m.AddLog($"{plan.Title}: not done, {why}", failed: true));
            return;
        }
        inbox.Post(m => m.AddLog(plan.Title));
        _ = Task.Run(async () =>
        {
            foreach (var step in plan.Steps)
            {
                var (text, failed) = await RunAsync(step);
                if (text is not null) inbox.Post(m => m.AddLog(text, failed));
                if (failed && !plan.Independent) break;
            }
        });
    }

    private async Task<(string? Text, bool Failed)> RunAsync(ChaosStep step)
    {
        try
        {
            switch (step)
            {
                case HttpStep h: return await SendAsync(h);
                case RunStep r: return await RunCommandAsync(r.CommandLine);
                case WatchStep w:
                    poller.Watch(w.Url);
                    return ($"polling {w.Url}", false);
                default: return ($"unknown step {step}", true);
            }
        }
        catch (Exception e) { return ($"{Describe(step)}: {e.GetType().Name}: {e.Message}", true); }
    }

    private async Task<(string?, bool)> SendAsync(HttpStep step)
    {
        using var request = new HttpRequestMessage(step.Method, step.Url);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (step.Body is not null) request.Content = new StringContent(step.Body, System.Text.Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var status = (int)response.StatusCode;
        return ($"{Describe(step)} → {status} {Shorten(body)}", status >= 400);
    }

    private static async Task<(string?, bool)> RunCommandAsync(string commandLine)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(commandLine);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("sh did not start");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { return ($"$ {commandLine}: still running after {CommandTimeout.TotalSeconds:0} s", true); }
        var said = ((await output) + (await errors)).Trim().Split('\n').LastOrDefault() ?? "";
        return ($"$ {commandLine} → exit {process.ExitCode} {Shorten(said)}", process.ExitCode != 0);
    }

    private static string Describe(ChaosStep step) => step switch
    {
        HttpStep h => $"{h.Method} {h.Url}",
        RunStep r => $"$ {r.CommandLine}",
        _ => step.ToString(),
    };

    private static string Shorten(string text)
    {
        var one = text.ReplaceLineEndings(" ").Trim();
        return one.Length <= AnswerChars ? one : one[..AnswerChars] + "…";
    }
}
