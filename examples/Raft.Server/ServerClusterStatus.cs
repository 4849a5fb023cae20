using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Raft.AspNetCore;

namespace Raft.Server;

/// <summary><c>GET /cluster/status</c>: every member the directory lists with its <c>/raft/status</c> document (this
/// node's read here, the others' fetched over HTTP), or the reason it could not be had. One origin for a page that
/// shows the whole cluster: a browser page may not read the other nodes' ports itself.</summary>
public static class ServerClusterStatus
{
    /// <summary>How long one member may take to answer.</summary>
    public static readonly TimeSpan MemberTimeout = TimeSpan.FromSeconds(2);

    // One client for the process: connections to the other nodes are pooled.
    private static readonly HttpClient Client = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) }) { Timeout = MemberTimeout };

    /// <summary>Maps <c>GET /cluster/status</c>: a JSON array of <c>{id, apiUrl, status, error}</c> by member id.</summary>
    public static void MapClusterStatus(this WebApplication app, IServerNode node) =>
        app.MapGet("/cluster/status", async (CancellationToken ct) =>
        {
            var members = node.Directory.Members().OrderBy(m => m.Id).ToArray();
            var answers = await Task.WhenAll(members.Select(async m =>
            {
                if (m.Id == node.Settings.NodeId)
                    return new MemberStatus(m.Id, m.ApiUrl, JsonSerializer.SerializeToElement(node.Host.GetStatus(), RaftStatusEndpoint.JsonOptions), null);
                if (!Uri.TryCreate(m.ApiUrl, UriKind.Absolute, out var api)) return new MemberStatus(m.Id, m.ApiUrl, null, "no API URL");
                try
                {
                    using var response = await Client.GetAsync(new Uri(api, "/raft/status"), ct);
                    if (!response.IsSuccessStatusCode) return new MemberStatus(m.Id, m.ApiUrl, null, $"/raft/status answered {(int)response.StatusCode}");
                    return new MemberStatus(m.Id, m.ApiUrl, JsonSerializer.Deserialize<JsonElement>(await response.Content.ReadAsStringAsync(ct)), null);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException && !ct.IsCancellationRequested)
                {
                    return new MemberStatus(m.Id, m.ApiUrl, null, e is TaskCanceledException ? $"no answer within {MemberTimeout.TotalSeconds:0}s" : e.Message);
                }
            }));
            return Results.Json(answers, RaftStatusEndpoint.JsonOptions);
        });

    /// <summary>One member: its status document, or null and why.</summary>
    private sealed record MemberStatus(long Id, string? ApiUrl, JsonElement? Status, string? Error);
}
