using Microsoft.Extensions.Logging;
using Raft.Node;

namespace Raft.MultiRaft;

/// <summary>
/// Makes this node's groups match the directory, in passes run when the directory changes and every
/// <see cref="MultiRaftOptions.ReconcileInterval"/>: seeds the directory on its first leader, opens the groups placed
/// on this node and closes (deleting their data) the released ones and those it no longer replicates, tells the
/// transport the members' addresses, and on the groups this node leads adds missing members and removes departed ones
/// (a group's members are every member of the cluster, or the ones the directory records for it under a replication
/// factor), one change per group per pass (a change refused because another is pending is simply tried again next
/// pass, so a change of several nodes completes).
/// </summary>
internal sealed class GroupReconciler<TCommand, TResult>(MultiRaftNode<TCommand, TResult> node, MultiRaftOptions options,
    Action<IReadOnlyList<ClusterMember>>? membersChanged, ILogger log)
{
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly HashSet<long> _changing = new();
    private readonly object _changingGate = new();
    private IReadOnlyList<ClusterMember> _lastMembers = [];
    private long _confChanges;
    private bool _seeded;
    private bool _swept;
    // The last pass found nothing to do at this status version of the host; until a group changes (or a directory
    // entry applies, which moves the directory group's status), or someone asks, the next passes skip the walk over
    // every group: with thousands of idle groups that walk was most of an idle node's CPU.
    private long _quietAt = -1;
    private long _quietSince;
    private int _asked;

    /// <summary>How often a quiet node still walks every group, in case a change went unseen.</summary>
    internal static readonly TimeSpan FullPassInterval = TimeSpan.FromSeconds(30);

    private long _passes, _passesWalked;

    /// <summary>Passes run, walking the groups or not.</summary>
    public long Passes => Interlocked.Read(ref _passes);

    /// <summary>Passes that walked the directory and every group (the others found nothing changed since a quiet one).</summary>
    public long PassesWalked => Interlocked.Read(ref _passesWalked);

    public long ConfChangesStarted => Interlocked.Read(ref _confChanges);

    /// <summary>Asks for a pass soon (any thread; coalesced).</summary>
    public void Wake()
    {
        Volatile.Write(ref _asked, 1);
        if (_wake.CurrentCount == 0)
        {
            try { _wake.Release(); } catch (SemaphoreFullException) { }
        }
    }

    public async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await PassAsync(ct).ConfigureAwait(false);
                await _wake.WaitAsync(options.ReconcileInterval, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) when (e is RaftShutdownException && ct.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                MultiRaftLog.PassFailed(log, node.NodeId, e);
                try { await Task.Delay(options.ReconcileInterval, node.Host.Time, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>At start, before the transport runs: opens the groups the restored directory places on this node.</summary>
    public async Task OpenPlacedGroupsAsync(CancellationToken ct)
    {
        var members = node.Directory.Members();
        if (members.Count > 0 && !members.Any(m => m.Id == node.NodeId)) return;
        foreach (var p in node.Directory.Placements())
            if (Wanted(p) && !node.Host.TryGetGroup(p.GroupId, out _)) await OpenAsync(p, ct).ConfigureAwait(false);
        PublishMembers(members.Count > 0 ? members : options.InitialMembers);
    }

    private async Task PassAsync(CancellationToken ct)
    {
        var host = node.Host;
        var version = host.StatusVersion;
        Interlocked.Increment(ref _passes);
        var asked = Interlocked.Exchange(ref _asked, 0) == 1;
        if (!asked && version == _quietAt && host.Time.GetElapsedTime(_quietSince) < FullPassInterval) return;
        _quietAt = -1;
        Interlocked.Increment(ref _passesWalked);
        if (await WalkAsync(ct).ConfigureAwait(false))
        {
            _quietAt = version;
            _quietSince = host.Time.GetTimestamp();
        }
    }

    /// <summary>One pass over the directory and every group here; whether it found nothing to do.</summary>
    private async Task<bool> WalkAsync(CancellationToken ct)
    {
        var host = node.Host;
        var quiet = true;
        var directory = host.GetGroup(options.DirectoryGroupId);
        var members = node.Directory.Members();
        if (members.Count == 0)
        {
            // A new cluster: the directory's first leader records the initial members (a refused seed means another did).
            if (directory.Status.IsLeader && !_seeded && node.Seeds)
            {
                await node.SeedAsync(ct).ConfigureAwait(false);
                _seeded = true;
            }
            return false;
        }
        if (!ReferenceEquals(members, _lastMembers) && !SameMembers(members, _lastMembers)) PublishMembers(members);
        var ids = members.Select(m => m.Id).ToHashSet();
        var memberHere = ids.Contains(node.NodeId);

        // Open what the directory places here, close what it released.
        if (memberHere)
            foreach (var p in node.Directory.Placements())
            {
                ct.ThrowIfCancellationRequested();
                if (!Wanted(p) || host.TryGetGroup(p.GroupId, out _)) continue;
                quiet = false;
                await OpenAsync(p, ct).ConfigureAwait(false);
            }
        foreach (var g in host.Groups)
        {
            if (g.GroupId < options.FirstDataGroupId || node.Directory.FindGroup(g.GroupId) is not null) continue;
            quiet = false;
            await host.RemoveGroupAsync(g.GroupId, deleteData: true, ct).ConfigureAwait(false);
            node.Opened(g.GroupId, null);
            node.Raise(new PlacementEventArgs("closed", g.GroupId, null));
        }

        if (!_swept && memberHere) _swept = SweepStoredLeftovers();
        if (!_swept) quiet = false;

        // Voters follow the members, on the groups this node leads. A departed member leaves the directory group last:
        // until every data group is rid of it, it keeps hearing the directory, so when it leads a data group it learns
        // it departed and hands that leadership over (cut off from the directory first, it would hold it for good).
        var departedButPlaced = DepartedButPlaced(host.Groups, ids);
        var started = new List<Task>();
        foreach (var g in host.Groups)
        {
            if (started.Count >= options.MaxConfChangesPerPass)
            {
                quiet = false;
                break;
            }
            if (!g.Status.IsLeader || g.Faulted) continue;
            var placedHere = g.GroupId == options.DirectoryGroupId ? null : node.Directory.FindGroup(g.GroupId);
            var want = g.GroupId == options.DirectoryGroupId ? ids : placedHere is { } placed ? Voters(placed, ids) : null;
            if (want is null) continue;
            var change = NextChange(g, want);
            // A change still to make (or in flight), or a joint configuration still to leave: the next pass looks again.
            if (change is not null || !g.Membership.Outgoing.IsEmpty || !g.Membership.LearnersNext.IsEmpty) quiet = false;
            if (change is null)
            {
                // Settled: the directory learns the voters are committed, so members the group no longer has delete their copies.
                if (placedHere is { Members: { } recorded, MembersConfirmed: false } && g.MembershipCommitted
                    && g.Membership.Voters.Select(v => (long)v).Order().SequenceEqual(recorded))
                {
                    quiet = false;
                    lock (_changingGate)
                        if (_changing.Add(g.GroupId)) started.Add(ConfirmAsync(g, recorded, ct));
                }
                continue;
            }
            if (g.GroupId == options.DirectoryGroupId && change.Value is { Add: false } removal && departedButPlaced.Contains(removal.Node)) continue;
            lock (_changingGate)
                if (!_changing.Add(g.GroupId)) continue;
            Interlocked.Increment(ref _confChanges);
            started.Add(ChangeAsync(g, change.Value, want, ct));
        }
        await Task.WhenAll(started).ConfigureAwait(false);

        // A node the directory no longer lists (or no longer places in a group) leaves each such group once the
        // group's configuration no longer has it: until then it may still be needed for a quorum.
        foreach (var g in host.Groups)
        {
            if (g.GroupId == options.DirectoryGroupId || node.Directory.FindGroup(g.GroupId) is not { } p || (memberHere && Wanted(p))) continue;
            quiet = false; // leaving, or waiting for the group's leader to let this node go
            // Or once the directory records the group's leader committed voters without this node: removed, it may
            // never hear so from the group (its leader stopped sending here).
            if ((g.Membership.Voters.Contains(node.NodeId) || g.Membership.Learners.Contains(node.NodeId)) && !p.Retired(node.NodeId)) continue;
            await host.RemoveGroupAsync(g.GroupId, deleteData: true, ct).ConfigureAwait(false);
            node.Raise(new PlacementEventArgs("closed", g.GroupId, "this node was removed"));
        }
        return quiet;
    }

    /// <summary>Deletes the stored data of groups that went on without this node while it was down, groups not open
    /// here that are either released (no longer in the directory, and below its next group id: placed once and
    /// released since; the release sealed the group) or retired here (<see cref="GroupPlacement.Retired"/>: moved to
    /// other members, which committed that). Returns whether nothing is left to decide: a stored group at or above the
    /// next id (this node's copy of the directory has not caught up yet) or moved away but not yet confirmed is looked
    /// at again in the next pass.</summary>
    private bool SweepStoredLeftovers()
    {
        var host = node.Host;
        var next = node.Directory.NextGroupId;
        var settled = true;
        foreach (var id in host.StoredGroups())
        {
            if (id < options.FirstDataGroupId || id == options.DirectoryGroupId || host.TryGetGroup(id, out _)) continue;
            string why;
            if (node.Directory.FindGroup(id) is { } p)
            {
                if (Wanted(p)) continue;
                if (!p.Retired(node.NodeId))
                {
                    settled = false; // moved away: its data waits until the group's leader confirms it is rid of this node
                    continue;
                }
                why = "moved to other members while this node was down";
            }
            else if (id >= next)
            {
                settled = false;
                continue;
            }
            else why = "released while this node was down";
            host.DeleteStoredGroup(id);
            MultiRaftLog.DeletedStored(log, node.NodeId, id, why);
            node.Raise(new PlacementEventArgs("closed", id, why));
        }
        return settled;
    }

    /// <summary>Whether the directory places group <paramref name="p"/> on this node.</summary>
    private bool Wanted(GroupPlacement p) => node.Directory.MembersOf(p).Contains(node.NodeId);

    /// <summary>The voters a data group should have: its recorded members, or every member (<paramref name="ids"/>).</summary>
    private static HashSet<long> Voters(GroupPlacement p, HashSet<long> ids) => p.Members is { } members ? members.Where(ids.Contains).ToHashSet() : ids;

    /// <summary>Nodes the directory no longer lists that are still a voter or learner of some data group here.</summary>
    private HashSet<long> DepartedButPlaced(IEnumerable<RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>>> groups, HashSet<long> ids)
    {
        var placed = new HashSet<long>();
        foreach (var g in groups)
        {
            if (g.GroupId == options.DirectoryGroupId) continue;
            foreach (var v in g.Membership.Voters) if (!ids.Contains(v)) placed.Add(v);
            foreach (var l in g.Membership.Learners) if (!ids.Contains(l)) placed.Add(l);
        }
        return placed;
    }

    /// <summary>The one change a group led here needs next: add (or promote, when the core made it a learner first)
    /// the lowest missing member, else remove the lowest departed one; none while a joint configuration is in progress.
    /// A learner is promoted explicitly rather than left to automatic promotion: a group that went quiet before the
    /// learner caught up would otherwise keep it a learner until the next write.</summary>
    private static (bool Add, long Node)? NextChange(RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>> g, HashSet<long> ids)
    {
        var m = g.Membership;
        if (!m.Outgoing.IsEmpty || !m.LearnersNext.IsEmpty) return null;
        foreach (var id in ids.Order())
            if (!m.Voters.Contains(id)) return (true, id);
        foreach (var v in m.Voters)
            if (!ids.Contains(v)) return (false, v);
        foreach (var l in m.Learners)
            if (!ids.Contains(l)) return (false, l);
        return null;
    }

    private async Task ChangeAsync(RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>> g, (bool Add, long Node) change, HashSet<long> ids,
        CancellationToken ct)
    {
        try
        {
            if (change.Add) await g.AddVoterAsync(change.Node, ct).ConfigureAwait(false);
            else if (change.Node != node.NodeId) await g.RemoveNodeAsync(change.Node, ct).ConfigureAwait(false);
            else
            {
                // This leader is the departing member: another member takes over and removes it.
                var target = ids.Where(id => g.Membership.Voters.Contains(id)).Order().FirstOrDefault();
                if (target != 0) await g.TransferLeadershipAsync(target, null, ct).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is RaftException or TimeoutException)
        {
            MultiRaftLog.ChangeRetried(log, g.GroupId, change.Add ? "add" : "remove", change.Node, e.Message);
        }
        finally
        {
            lock (_changingGate) _changing.Remove(g.GroupId);
        }
    }

    /// <summary>Tells the directory this group's committed voters are its recorded members (the group is led here).</summary>
    private async Task ConfirmAsync(RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>> g, long[] voters, CancellationToken ct)
    {
        try { await node.ConfirmAsync(g.GroupId, voters, ct).ConfigureAwait(false); }
        catch (Exception e) when (e is RaftException or TimeoutException)
        {
            MultiRaftLog.ChangeRetried(log, g.GroupId, "confirm", node.NodeId, e.Message);
        }
        finally
        {
            lock (_changingGate) _changing.Remove(g.GroupId);
        }
    }

    private async Task OpenAsync(GroupPlacement p, CancellationToken ct)
    {
        RaftGroup<PlacedCommand<TCommand>, PlacedResult<TResult>> group;
        try
        {
            group = p.InitialMembers.Contains(node.NodeId)
                ? await node.Host.CreateGroupAsync(p.GroupId, p.InitialMembers, ct).ConfigureAwait(false)
                // Added after the group was made: the group's leader adds this node and sends it the log or a snapshot.
                : await node.Host.JoinGroupAsync(p.GroupId, node.Directory.MembersOf(p).Where(id => id != node.NodeId), ct).ConfigureAwait(false);
        }
        catch (InvalidOperationException) when (node.Host.TryGetGroup(p.GroupId, out var already)) { group = already; }
        node.Opened(p.GroupId, group);
        node.Raise(new PlacementEventArgs("opened", p.GroupId, p.Name));
    }

    private void PublishMembers(IReadOnlyList<ClusterMember> members)
    {
        _lastMembers = members;
        membersChanged?.Invoke(members);
        node.Raise(new PlacementEventArgs("members", 0, string.Join(",", members.Select(m => m.Id))));
    }

    private static bool SameMembers(IReadOnlyList<ClusterMember> a, IReadOnlyList<ClusterMember> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First == p.Second);
}
