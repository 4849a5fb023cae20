using System.Net;
using System.Net.Sockets;

namespace Raft.Observability.Tests;

/// <summary>Paths and ports the tests need.</summary>
internal static class Support
{
    /// <summary>The repository root: the first parent of the test binary holding Raft.sln.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>tests/Raft.ClusterNode/bin/&lt;config&gt;/&lt;tfm&gt;/Raft.ClusterNode.dll, built with this project.</summary>
    public static string ClusterNodeDll
    {
        get
        {
            var baseDir = Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory); // tests/X/bin/<config>/<tfm>
            var tfm = Path.GetFileName(baseDir);
            var config = Path.GetFileName(Path.GetDirectoryName(baseDir)!);
            return Path.Combine(RepositoryRoot, "tests", "Raft.ClusterNode", "bin", config, tfm, "Raft.ClusterNode.dll");
        }
    }

    /// <summary>Distinct ports free on 127.0.0.1 when chosen (bind-tested), outside Linux's ephemeral range so no
    /// outgoing connection takes one while its node is down.</summary>
    public static int[] FreePorts(int count)
    {
        var chosen = new HashSet<int>();
        while (chosen.Count < count)
        {
            var port = Random.Shared.Next(20000, 32000);
            if (!chosen.Contains(port) && IsFree(port)) chosen.Add(port);
        }
        return chosen.ToArray();
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>The full path of an executable on PATH, or null.</summary>
    public static string? OnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    /// <summary>Polls <paramref name="probe"/> until it returns a value or <paramref name="timeout"/> passes; then throws
    /// with <paramref name="what"/> and the last failure.</summary>
    public static async Task<T> Eventually<T>(string what, TimeSpan timeout, Func<Task<T?>> probe, TimeSpan? every = null) where T : class
    {
        var deadline = DateTime.UtcNow + timeout;
        Exception? last = null;
        while (true)
        {
            try
            {
                if (await probe() is { } value) return value;
            }
            catch (Exception e) { last = e; }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{what}: not within {timeout.TotalSeconds:0} s" + (last is null ? "" : $" (last error: {last.Message})"), last);
            await Task.Delay(every ?? TimeSpan.FromMilliseconds(200)); // the polling period, not a wait for the condition
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Raft.sln"))) return dir.FullName;
        throw new InvalidOperationException("Raft.sln not found above " + AppContext.BaseDirectory);
    }
}
