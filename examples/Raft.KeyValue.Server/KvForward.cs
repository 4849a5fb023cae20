using System.Net.Http.Json;
using System.Text.Json;
using Raft.MultiRaft;
using Raft.Server;

namespace Raft.KeyValue.Server;

/// <summary>A request for a key whose group this node does not replicate goes on, through the shared
/// <see cref="ServerForward"/>, to a member of the group, with its compare-and-set headers; a long poll's wait is
/// added to the forward's time.</summary>
internal sealed class KvForward(IReadOnlyList<ClusterMember> members, TimeSpan timeout) : IResult
{
    private static readonly string[] Headers = ["If-Match", "If-None-Match"];

    public Task ExecuteAsync(HttpContext http)
    {
        var waits = KvLongPoll.Asked(http.Request) ? KvLongPoll.MaxTimeout : TimeSpan.Zero;
        return new ServerForward(http.RequestServices.GetRequiredService<KvNode>(), members, timeout + waits, Headers).ExecuteAsync(http);
    }

    /// <summary>The names of groups this node does not replicate, each listed by one of its members (hash placement).</summary>
    public static async Task<IEnumerable<KvListed>> ListElsewhereAsync(KvNode node, IReadOnlyList<GroupPlacement> groups, string prefix, int limit, CancellationToken ct)
    {
        var lists = await Task.WhenAll(groups.Select(async g =>
        {
            var ids = node.Placement.Directory.MembersOf(g);
            var path = $"/kv?prefix={Uri.EscapeDataString(prefix)}&limit={limit}&group={g.GroupId}";
            using var response = await ServerForward.SendAsync(node, node.Placement.Directory.Members().Where(m => ids.Contains(m.Id)).ToArray(),
                () => new HttpRequestMessage(HttpMethod.Get, path), node.Options.RequestTimeout, ct);
            if (response is not { IsSuccessStatusCode: true })
                throw new NotPlacedHereException(g.Name, g.GroupId, node.Options.NodeId, []);
            return await response.Content.ReadFromJsonAsync<KvListed[]>(JsonSerializerOptions.Web, ct) ?? [];
        }));
        return lists.SelectMany(l => l);
    }
}

/// <summary>One key of a listing, as <c>GET /kv</c> answers it.</summary>
internal sealed record KvListed(string Key, long Group);
