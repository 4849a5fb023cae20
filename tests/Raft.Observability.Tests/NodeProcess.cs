using System.Collections.Concurrent;
using System.Diagnostics;

namespace Raft.Observability.Tests;

/// <summary>One run of a Raft.ClusterNode process (TCP on 127.0.0.1, its own data directory, HTTP endpoints on
/// <see cref="HttpPort"/>), driven through its line protocol on stdin/stdout; killed with SIGKILL.</summary>
internal sealed class NodeProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<string>> _proposals = new();
    private readonly SemaphoreSlim _statusGate = new(1, 1);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ConcurrentQueue<string> _stderr = new();
    private TaskCompletionSource<string>? _status;

    public NodeProcess(long id, int httpPort, string dataDirectory, IEnumerable<string> endpoints)
    {
        Id = id;
        HttpPort = httpPort;
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in new[] { Support.ClusterNodeDll, "--http", $"127.0.0.1:{httpPort}", id.ToString(), dataDirectory }.Concat(endpoints))
            psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + Support.ClusterNodeDll);
        _process.OutputDataReceived += (_, e) => { if (e.Data is { } line) OnLine(line); else Exited(); };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            _stderr.Enqueue(e.Data);
            while (_stderr.Count > 50) _stderr.TryDequeue(out string? _);
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public long Id { get; }
    public int HttpPort { get; }
    public bool Alive => !_process.HasExited;
    public Task Ready => _ready.Task;
    public string StderrTail => string.Join("\n", _stderr);

    /// <summary>Proposes <paramref name="command"/>: the node's "ack ..." or "nack ..." line, or "dead" if it died first.</summary>
    public Task<string> Propose(long command)
    {
        var tcs = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _proposals[command] = tcs;
        if (!Send($"propose {command}")) tcs.TrySetResult("dead");
        return tcs.Task;
    }

    /// <summary>The node's role ("Leader", "Follower", ...), or null if it does not answer within 2 s.</summary>
    public async Task<string?> Role()
    {
        if (!Alive) return null;
        await _statusGate.WaitAsync();
        try
        {
            var tcs = _status = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!Send("status")) return null;
            var done = await Task.WhenAny(tcs.Task, Task.Delay(TimeSpan.FromSeconds(2)));
            return done == tcs.Task ? tcs.Task.Result.Split(' ')[1] : null;
        }
        finally { _statusGate.Release(); }
    }

    /// <summary>SIGKILL, as a crash.</summary>
    public void Kill()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(5000);
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }

    private bool Send(string line)
    {
        try
        {
            lock (_process) { _process.StandardInput.WriteLine(line); _process.StandardInput.Flush(); }
            return true;
        }
        catch (Exception e) when (e is IOException or InvalidOperationException) { return false; }
    }

    private void OnLine(string raw)
    {
        if (!raw.EndsWith(';')) return; // cut by a kill
        var line = raw[..^1];
        var parts = line.Split(' ');
        switch (parts[0])
        {
            case "ready": _ready.TrySetResult(); break;
            case "status": _status?.TrySetResult(line); break;
            case "ack" or "nack" when long.TryParse(parts[1], out var cmd) && _proposals.TryRemove(cmd, out var tcs):
                tcs.TrySetResult(line);
                break;
        }
    }

    private void Exited()
    {
        _ready.TrySetException(new InvalidOperationException($"node {Id} exited before ready:\n{StderrTail}"));
        foreach (var (cmd, tcs) in _proposals)
            if (_proposals.TryRemove(cmd, out _)) tcs.TrySetResult("dead");
        _status?.TrySetResult("status dead");
    }
}
