using System.Collections.Immutable;
using System.Net.Http.Headers;
using System.Text.Json;

namespace Raft.Tui;

/// <summary>Every <see cref="TuiOptions.Interval"/>: each node's <c>/raft/status</c> (all at once), and, with a token,
/// the member list from one node that answered. Results go to the <see cref="Inbox"/>.</summary>
public sealed class StatusPoller(HttpClient http, Inbox inbox, TuiOptions options)
{
    /// <summary>How long one poll may take: well under the period would hide a slow node; a paused node still answers.</summary>
    private static readonly TimeSpan PollTimeout = TimeSpan.FromSeconds(1);

    private ImmutableList<string> _urls = [.. options.Nodes.Select(u => u.TrimEnd('/'))];

    /// <summary>Polls <paramref name="url"/> too from the next round (a joining node).</summary>
    public void Watch(string url) => ImmutableInterlocked.Update(ref _urls, l => l.Contains(url) ? l : l.Add(url));

    public async Task RunAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(options.Interval);
        do
        {
            var urls = _urls;
            var answers = await Task.WhenAll(urls.Select(u => PollAsync(u, ct)));
            var members = options.Token is null ? null : await MembersAsync(urls.Where((_, i) => answers[i].Snapshot is not null), ct);
            inbox.Post(model =>
            {
                for (var i = 0; i < urls.Count; i++)
                {
                    model.AddNode(urls[i]);
                    var index = model.Nodes.ToList().FindIndex(n => n.Url == urls[i]);
                    if (answers[i].Snapshot is { } s) model.Observe(index, s);
                    else model.ObserveDown(index, answers[i].Error!);
                }
                if (members is not null) model.ObserveMembers(members);
                model.EndPollRound();
            });
        }
        while (await timer.WaitForNextTickAsync(ct));
    }

    private async Task<(NodeSnapshot? Snapshot, string? Error)> PollAsync(string url, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(PollTimeout);
        try
        {
            using var response = await http.GetAsync(url + "/raft/status", timeout.Token);
            var body = await response.Content.ReadAsStringAsync(timeout.Token);
            if (!response.IsSuccessStatusCode) return (null, $"status {(int)response.StatusCode}");
            return (NodeSnapshot.Parse(body), null);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return (null, "no answer in 1 s"); }
        catch (HttpRequestException e) { return (null, e.HttpRequestError == HttpRequestError.ConnectionError ? "connection refused" : e.Message); }
        // Anything else that is not a status document (a field of another type, a missing one): the node is shown down
        // with the reason rather than ending the polling.
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            return (null, $"bad status: {e.Message}");
        }
    }

    /// <summary>The member list from the first of <paramref name="live"/> that gives it; null when none does.</summary>
    private async Task<IReadOnlyList<MemberInfo>?> MembersAsync(IEnumerable<string> live, CancellationToken ct)
    {
        foreach (var url in live)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(PollTimeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url + "/admin/members");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", options.Token);
                using var response = await http.SendAsync(request, timeout.Token);
                if (!response.IsSuccessStatusCode) continue;
                return ParseMembers(await response.Content.ReadAsStringAsync(timeout.Token));
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or InvalidOperationException or KeyNotFoundException
                                          || e is OperationCanceledException && !ct.IsCancellationRequested) { }
        }
        return null;
    }

    /// <summary>Reads <c>GET /admin/members</c>: <c>[{"id", "raftEndpoint", "apiUrl"}, ...]</c>.</summary>
    public static IReadOnlyList<MemberInfo> ParseMembers(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.EnumerateArray().Select(m => new MemberInfo(m.GetProperty("id").GetInt64(),
            m.GetProperty("raftEndpoint").GetString() ?? "",
            m.TryGetProperty("apiUrl", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null)).ToArray();
    }
}
