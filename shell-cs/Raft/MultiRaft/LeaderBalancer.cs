using Microsoft.Extensions.Logging;
using Raft.Node;

namespace Raft.MultiRaft;

/// <summary>
/// Keeps each member leading its share of the groups. Every member runs one and moves only leaderships it holds:
/// while it leads more than one group above the member leading fewest, it transfers groups to that member, at most
/// <see cref="MultiRaftOptions.MaxTransfersPerRound"/> per round. When every member is a voter of every group it sees
/// every group's leader, and the members' rounds converge on a spread of at most one between the most and least
/// loaded. Under a replication factor below the member count a member sees only the leaders of the groups it
/// replicates (other members' counts are lower bounds), so it also keeps every leadership up to its fair share of all
/// groups: only the excess moves, and a member misjudged as lightly loaded is not handed groups it would hand on again.
/// </summary>
internal sealed class LeaderBalancer<TCommand, TResult>(MultiRaftNode<TCommand, TResult> node, MultiRaftOptions options, ILogger log)
{
    private long _started;
    // A round that moved nothing at this status version of the host: until a group here changes (a leadership, the
    // directory's members), the next rounds would find the same, so they skip the walk over every group.
    private long _settledAt = -1;
    private long _settledSince;

    private long _roundsWalked;

    /// <summary>Rounds that walked the groups (an on-demand rebalance always does).</summary>
    public long RoundsWalked => Interlocked.Read(ref _roundsWalked);

    public long Started => Interlocked.Read(ref _started);

    public async Task RunAsync(CancellationToken ct)
    {
        try
        {
            await Task.Delay(options.BalanceSettle, node.Host.Time, ct).ConfigureAwait(false);
            while (!ct.IsCancellationRequested)
            {
                if (options.Balance)
                {
                    try { await SettledOrRoundAsync(ct).ConfigureAwait(false); }
                    catch (Exception e) when (e is not OperationCanceledException) { MultiRaftLog.BalanceFailed(log, node.NodeId, e); }
                }
                await Task.Delay(options.BalanceInterval, node.Host.Time, ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private async Task SettledOrRoundAsync(CancellationToken ct)
    {
        var version = node.Host.StatusVersion;
        if (version == _settledAt && node.Host.Time.GetElapsedTime(_settledSince) < GroupReconciler<TCommand, TResult>.FullPassInterval) return;
        _settledAt = -1;
        if (await RoundAsync(ct).ConfigureAwait(false) > 0) return;
        _settledAt = version;
        _settledSince = node.Host.Time.GetTimestamp();
    }

    /// <summary>One round: the transfers it started (and waited for).</summary>
    public async Task<int> RoundAsync(CancellationToken ct)
    {
        Interlocked.Increment(ref _roundsWalked);
        var members = node.Directory.Members().Select(m => m.Id).ToArray();
        if (members.Length < 2 || !members.Contains(node.NodeId)) return 0;
        var groups = node.Host.Groups;
        var leading = Leaderships(groups, members);
        var mine = groups.Where(g => g.Status.IsLeader).ToList();
        var partial = node.Directory.ReplicationFactor > 0 && node.Directory.ReplicationFactor < members.Length;
        // The directory group counts too: it is led somewhere like any other.
        var fairShare = partial ? (node.Directory.Placements().Count + 1 + members.Length - 1) / members.Length : 0;
        var transfers = new List<Task>();
        foreach (var g in mine)
        {
            if (transfers.Count >= options.MaxTransfersPerRound) break;
            var (least, count) = leading.Where(kv => kv.Key != node.NodeId && g.Membership.Voters.Contains(kv.Key))
                .OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).Select(kv => (kv.Key, kv.Value)).FirstOrDefault();
            if (least == 0 || leading[node.NodeId] <= count + 1 || leading[node.NodeId] <= fairShare) continue;
            leading[node.NodeId]--;
            leading[least]++;
            transfers.Add(TransferAsync(g, least, ct));
        }
        await Task.WhenAll(transfers).ConfigureAwait(false);
        if (transfers.Count > 0) node.Raise(new PlacementEventArgs("rebalanced", 0, transfers.Count.ToString()));
        return transfers.Count;
    }

    /// <summary>A graceful stop: hands every leadership held here to the member leading fewest.</summary>
    public async Task HandOffAsync(CancellationToken ct)
    {
        var members = node.Directory.Members().Select(m => m.Id).Where(id => id != node.NodeId).ToArray();
        if (members.Length == 0 || options.HandOffTimeout <= TimeSpan.Zero) return;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(options.HandOffTimeout);
        var leading = Leaderships(node.Host.Groups, members);
        var transfers = new List<Task>();
        foreach (var g in node.Host.Groups.Where(g => g.Status.IsLeader))
        {
            var target = leading.Where(kv => g.Membership.Voters.Contains(kv.Key)).OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).Select(kv => kv.Key).FirstOrDefault();
            if (target == 0) continue;
            leading[target]++;
            transfers.Add(TransferAsync(g, target, limit.Token));
        }
        try { await Task.WhenAll(transfers).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
    }

    /// <summary>How many of <paramref name="groups"/> each of <paramref name="members"/> leads, as this node sees it.</summary>
    private static Dictionary<long, int> Leaderships(IEnumerable<RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>>> groups, long[] members)
    {
        var leading = members.ToDictionary(id => id, _ => 0);
        foreach (var g in groups)
            if (g.Status.Leader is var l and not 0 && leading.ContainsKey(l)) leading[l]++;
        return leading;
    }

    private async Task TransferAsync(RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>> g, long target, CancellationToken ct)
    {
        Interlocked.Increment(ref _started);
        try { await g.TransferLeadershipAsync(target, null, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is RaftException or TimeoutException) { MultiRaftLog.TransferFailed(log, g.GroupId, target, e.Message); }
    }
}
