using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Raft.Observability.Tests;

/// <summary>A Prometheus server (Debian's prometheus package, 2.42) started as a child process with a generated
/// configuration scraping the given targets every second, its TSDB in a temporary directory; and promtool.</summary>
internal sealed class PrometheusServer : IDisposable
{
    private const string Missing = "is not installed: install Debian's prometheus package (apt-get install -y prometheus; .ci/run does)";
    private readonly Process _process;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private readonly List<string> _log = new();

    public PrometheusServer(string directory, int port, IEnumerable<string> targets)
    {
        Port = port;
        ConfigFile = Path.Combine(directory, "prometheus.yml");
        File.WriteAllText(ConfigFile, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: raft
                static_configs:
                  - targets: [{string.Join(", ", targets.Select(t => $"'{t}'"))}]
            """);
        var exe = Executable("prometheus");
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { $"--config.file={ConfigFile}", $"--web.listen-address=127.0.0.1:{port}",
                     $"--storage.tsdb.path={Path.Combine(directory, "tsdb")}", "--log.level=warn" })
            psi.ArgumentList.Add(a);
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + exe);
        _process.ErrorDataReceived += (_, e) => { if (e.Data is { } l) lock (_log) _log.Add(l); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is { } l) lock (_log) _log.Add(l); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
    }

    public int Port { get; }
    public string ConfigFile { get; }
    public string Log { get { lock (_log) return string.Join("\n", _log.TakeLast(30)); } }

    /// <summary>The path of a Prometheus executable; fails the test saying what is missing.</summary>
    public static string Executable(string name) =>
        Support.OnPath(name) ?? throw new InvalidOperationException($"{name} {Missing}");

    /// <summary>Waits until /-/ready answers 200.</summary>
    public Task WaitReady(TimeSpan timeout) => Support.Eventually("prometheus ready", timeout, async () =>
    {
        if (_process.HasExited) throw new InvalidOperationException($"prometheus exited ({_process.ExitCode}):\n{Log}");
        using var r = await _http.GetAsync($"http://127.0.0.1:{Port}/-/ready");
        return r.IsSuccessStatusCode ? "ready" : null;
    });

    /// <summary>Runs an instant query; the result vector's samples as (labels, value).</summary>
    public async Task<IReadOnlyList<(string Labels, double Value)>> Query(string promql)
    {
        var url = $"http://127.0.0.1:{Port}/api/v1/query?query={Uri.EscapeDataString(promql)}";
        using var response = await _http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        using var doc = JsonDocument.Parse(body);
        var root = doc.RootElement;
        if (root.GetProperty("status").GetString() != "success")
            throw new InvalidOperationException($"query {promql} failed: {body}");
        var data = root.GetProperty("data");
        var result = data.GetProperty("result");
        var samples = new List<(string, double)>();
        switch (data.GetProperty("resultType").GetString())
        {
            case "vector":
                foreach (var s in result.EnumerateArray())
                    samples.Add((s.GetProperty("metric").GetRawText(), ParseValue(s.GetProperty("value"))));
                break;
            case "scalar":
                samples.Add(("scalar", ParseValue(result)));
                break;
            default:
                throw new InvalidOperationException($"query {promql}: unexpected result {body}");
        }
        return samples;
    }

    /// <summary>Polls <paramref name="promql"/> until it returns at least one finite sample (satisfying
    /// <paramref name="accept"/> when given); returns the samples.</summary>
    public Task<IReadOnlyList<(string Labels, double Value)>> WaitForData(string promql, TimeSpan timeout, Func<double, bool>? accept = null) =>
        Support.Eventually($"query {promql} returning data", timeout, async () =>
        {
            var samples = await Query(promql);
            return samples.Any(s => double.IsFinite(s.Value) && (accept?.Invoke(s.Value) ?? true)) ? samples : null;
        }, TimeSpan.FromMilliseconds(500));

    /// <summary>Runs promtool with <paramref name="args"/> (and <paramref name="stdin"/>); its exit code and output.</summary>
    public static async Task<(int Code, string Output)> Promtool(string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo(Executable("promtool"))
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        await p.WaitForExitAsync();
        return (p.ExitCode, (await stdout) + (await stderr));
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(5000);
        _process.Dispose();
        _http.Dispose();
    }

    private static double ParseValue(JsonElement pair) => pair[1].GetString() switch
    {
        "NaN" => double.NaN,
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        var v => double.Parse(v!, NumberStyles.Float, CultureInfo.InvariantCulture),
    };
}
