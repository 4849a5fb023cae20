namespace Raft.MultiRaft;

/// <summary>
/// Which members replicate each data group when the replication factor is below the member count. Pure and
/// deterministic: it runs inside the directory's state machine, so every node computes the same members from the same
/// directory state. Greedy by load: a group takes the members holding the fewest groups (lowest id first on a tie),
/// which keeps every member within one group of the even share while groups are only added; a departed member's
/// groups each take the least loaded member not already in them.
/// </summary>
internal static class GroupAssignment
{
    /// <summary>How many groups each of <paramref name="members"/> replicates.</summary>
    public static Dictionary<long, int> Load(IEnumerable<long> members, IEnumerable<GroupPlacement> placements)
    {
        var load = members.ToDictionary(id => id, _ => 0);
        foreach (var p in placements)
            foreach (var m in p.Members ?? [])
                if (load.ContainsKey(m)) load[m]++;
        return load;
    }

    /// <summary>The members of a new group: <paramref name="factor"/> (at most every member) of the least loaded;
    /// <paramref name="load"/> is updated with them.</summary>
    public static long[] Choose(int factor, Dictionary<long, int> load)
    {
        var chosen = load.OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).Take(factor).Select(kv => kv.Key).Order().ToArray();
        foreach (var id in chosen) load[id]++;
        return chosen;
    }

    /// <summary>Every placement whose members must change after the cluster's members did: departed members dropped,
    /// and each group topped up to <paramref name="factor"/> (at most every member) with the least loaded members it
    /// lacks. Groups are visited in id order, so the result depends on the directory state only.</summary>
    public static List<GroupPlacement> Repair(int factor, IReadOnlyCollection<long> members, IEnumerable<GroupPlacement> placements)
    {
        var ordered = placements.OrderBy(p => p.GroupId).ToList();
        var load = Load(members, ordered);
        var want = Math.Min(factor, members.Count);
        var changed = new List<GroupPlacement>();
        foreach (var p in ordered)
        {
            var current = (p.Members ?? []).Where(load.ContainsKey).ToList();
            var dropped = current.Count != (p.Members?.Length ?? 0);
            if (!dropped && current.Count >= want) continue;
            while (current.Count < want)
            {
                var next = load.Where(kv => !current.Contains(kv.Key)).OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
                current.Add(next);
                load[next]++;
            }
            changed.Add(p with { Members = [.. current.Order()] });
        }
        return changed;
    }
}
