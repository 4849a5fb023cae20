using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Raft.MultiRaft;

namespace Raft.AspNetCore;

/// <summary>
/// A node reset done safely. Wiping a voter in place is amnesia (it forgets its vote and log, so two leaders in one term
/// become possible), so a reset first removes the node from the cluster's members and waits until no group counts it
/// as a voter, then leaves a marker and dies. At its next start <see cref="Prepare"/> sees the marker, wipes the data
/// folder and makes the node start joining (no bootstrap from the initial members); <see cref="RejoinAsync"/> asks a
/// member to add it back, and the groups catch it up by snapshot.
/// </summary>
public static class RaftReset
{
    /// <summary>The marker's file name inside the data folder.</summary>
    public const string MarkerName = "RAFT-RESET";

    private const string Wipe = "wipe", Joining = "joining";

    /// <summary>Writes the marker asking the next start to wipe <paramref name="dataDirectory"/> (durably, by a rename).</summary>
    public static void RequestWipe(string dataDirectory) => WriteMarker(dataDirectory, Wipe);

    /// <summary>At start, before the node opens its storage: with a wipe marker, deletes everything in
    /// <paramref name="dataDirectory"/> but the marker, which then says "joining"; returns whether the node must start
    /// joining (a wipe was asked for, or done and the node is not back among the members yet).</summary>
    /// <exception cref="InvalidDataException">The marker holds neither state.</exception>
    public static bool Prepare(string dataDirectory)
    {
        var marker = Path.Combine(dataDirectory, MarkerName);
        if (!File.Exists(marker)) return false;
        var state = File.ReadAllText(marker).Trim();
        switch (state)
        {
            case Joining: return true;
            case Wipe:
                foreach (var entry in new DirectoryInfo(dataDirectory).EnumerateFileSystemInfos())
                {
                    if (entry.Name == MarkerName) continue;
                    if (entry is DirectoryInfo d) d.Delete(true);
                    else entry.Delete();
                }
                // A crash from here on restarts joining without wiping again: what the node holds then came from the cluster.
                WriteMarker(dataDirectory, Joining);
                return true;
            default:
                throw new InvalidDataException($"The reset marker '{marker}' holds '{state}'; expected '{Wipe}' or '{Joining}'.");
        }
    }

    /// <summary>Asks the members (their <c>POST /admin/members</c>, with <paramref name="token"/>) to add this node back,
    /// one after the other every second until one accepts, then waits for this node's directory to list it and removes
    /// the marker (later starts are ordinary restarts). Runs until done or <paramref name="cancellationToken"/>.</summary>
    public static async Task RejoinAsync<TCommand, TResult>(MultiRaftNode<TCommand, TResult> node, ClusterMember self,
        IReadOnlyList<ClusterMember> members, string token, string dataDirectory, HttpClient client, ILogger log, CancellationToken cancellationToken)
    {
        var added = false;
        while (!cancellationToken.IsCancellationRequested)
        {
            if (node.Directory.Members().Any(m => m.Id == self.Id))
            {
                File.Delete(Path.Combine(dataDirectory, MarkerName));
                log.LogInformation("Node {Node} is a member again after its reset", self.Id);
                return;
            }
            foreach (var m in members.Where(m => !added && m.Id != self.Id && !string.IsNullOrEmpty(m.ApiUrl)))
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, m.ApiUrl!.TrimEnd('/') + "/admin/members") { Content = JsonContent.Create(self) };
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    using var response = await client.SendAsync(request, cancellationToken).ConfigureAwait(false);
                    added = response.IsSuccessStatusCode;
                    if (!added) log.LogWarning("Node {Member} refused to add node {Node} back: {Status}", m.Id, self.Id, (int)response.StatusCode);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    log.LogWarning("Node {Member} did not answer the request to add node {Node} back: {Reason}", m.Id, self.Id, e.Message);
                }
            }
            try { await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>What still counts <paramref name="self"/> as a voter according to the other members' <c>/raft/status</c>
    /// (every group any of them holds must be led by one of them whose replicas leave it out); null when nothing does.</summary>
    internal static async Task<string?> StillCountedAsync(IEnumerable<ClusterMember> others, long self, HttpClient client, CancellationToken ct)
    {
        var seen = new SortedSet<long>();
        var leaders = new Dictionary<long, (long Node, bool Counts)>();
        foreach (var m in others)
        {
            if (string.IsNullOrEmpty(m.ApiUrl)) return $"node {m.Id} has no ApiUrl to ask";
            JsonDocument doc;
            try
            {
                await using var body = await client.GetStreamAsync(m.ApiUrl.TrimEnd('/') + "/raft/status", ct).ConfigureAwait(false);
                doc = await JsonDocument.ParseAsync(body, cancellationToken: ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException && !ct.IsCancellationRequested)
            {
                return $"node {m.Id} did not answer /raft/status ({e.Message})";
            }
            using (doc)
                foreach (var g in doc.RootElement.GetProperty("groups").EnumerateArray())
                {
                    var id = g.GetProperty("groupId").GetInt64();
                    seen.Add(id);
                    if (g.GetProperty("role").GetString() != "Leader") continue;
                    var counts = g.GetProperty("replicas").EnumerateArray().Any(r => r.GetProperty("nodeId").GetInt64() == self);
                    leaders[id] = (m.Id, counts);
                }
        }
        var problems = new List<string>();
        foreach (var id in seen)
            if (!leaders.TryGetValue(id, out var l)) problems.Add($"group {id} has no leader among the other members");
            else if (l.Counts) problems.Add($"group {id}'s leader, node {l.Node}, still counts node {self}");
        return problems.Count == 0 ? null : string.Join("; ", problems.Take(5)) + (problems.Count > 5 ? $" (and {problems.Count - 5} more)" : "");
    }

    private static void WriteMarker(string dataDirectory, string state)
    {
        Directory.CreateDirectory(dataDirectory);
        var marker = Path.Combine(dataDirectory, MarkerName);
        var temp = marker + ".tmp";
        using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            f.Write(System.Text.Encoding.UTF8.GetBytes(state));
            f.Flush(flushToDisk: true);
        }
        File.Move(temp, marker, overwrite: true);
        SyncDirectory(dataDirectory); // the rename itself is durable once the folder is synced
    }

    private static void SyncDirectory(string directory)
    {
        if (!(OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())) return;
        var fd = Libc.open(directory, 0);
        if (fd < 0) throw new IOException($"Cannot open '{directory}' to sync it (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        try
        {
            if (Libc.fsync(fd) < 0) throw new IOException($"Cannot sync '{directory}' (errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}).");
        }
        finally { Libc.close(fd); }
    }

    private static class Libc
    {
        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int open([System.Runtime.InteropServices.MarshalAs(System.Runtime.InteropServices.UnmanagedType.LPUTF8Str)] string path, int flags);

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int fsync(int fd);

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
        public static extern int close(int fd);
    }
}
