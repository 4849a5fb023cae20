namespace Raft.MultiRaft;

/// <summary>
/// Which members replicate each data group when the replication factor is below the member count. Pure and
/// deterministic: it runs inside the directory's state machine, so every node computes the same members from the same
/// directory state. Greedy by load: a group takes the members holding the fewest groups (lowest id first on a tie),
/// which keeps every member within one group of the even share while groups are only added; after a member joins or
/// leaves, departed members' groups take the least loaded members they lack and replicas move from the most to the
/// least loaded members until every member is within one group of the others again.
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
    /// each group topped up to <paramref name="factor"/> (at most every member) with the least loaded members it
    /// lacks, and then replicas moved from the most to the least loaded members until every member holds within one
    /// group of every other (so a member added later takes its share of the existing groups, not only new ones).
    /// Groups are visited in id order, so the result depends on the directory state only.</summary>
    public static List<GroupPlacement> Repair(int factor, IReadOnlyCollection<long> members, IEnumerable<GroupPlacement> placements)
    {
        var ordered = placements.OrderBy(p => p.GroupId).ToList();
        var load = Load(members, ordered);
        var want = Math.Min(factor, members.Count);
        var current = new List<long>[ordered.Count];
        var changed = new bool[ordered.Count];
        for (var i = 0; i < ordered.Count; i++)
        {
            var p = ordered[i];
            current[i] = (p.Members ?? []).Where(load.ContainsKey).ToList();
            changed[i] = current[i].Count != (p.Members?.Length ?? 0);
            while (current[i].Count < want)
            {
                var next = load.Where(kv => !current[i].Contains(kv.Key)).OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
                current[i].Add(next);
                load[next]++;
                changed[i] = true;
            }
        }
        Spread(current, changed, load);
        var result = new List<GroupPlacement>();
        for (var i = 0; i < ordered.Count; i++)
            if (changed[i]) result.Add(ordered[i] with { Members = [.. current[i].Order()] });
        return result;
    }

    /// <summary>Moves one replica at a time, in each group, from its most loaded member to the least loaded member it
    /// lacks while they differ by two or more, in passes until a pass moves nothing. At that point no member holds two
    /// more than another: the most loaded holds more groups than the least, so some group has the first and not the
    /// second, and that group would have moved. Every move lowers the sum of squared loads, so the passes end.</summary>
    private static void Spread(List<long>[] groups, bool[] changed, Dictionary<long, int> load)
    {
        if (load.Count < 2) return;
        bool moved;
        do
        {
            moved = false;
            for (var i = 0; i < groups.Length; i++)
            {
                var g = groups[i];
                if (g.Count == 0 || g.Count >= load.Count) continue;
                var over = g.OrderByDescending(id => load[id]).ThenBy(id => id).First();
                var under = load.Where(kv => !g.Contains(kv.Key)).OrderBy(kv => kv.Value).ThenBy(kv => kv.Key).First().Key;
                if (load[over] - load[under] < 2) continue;
                g[g.IndexOf(over)] = under;
                load[over]--;
                load[under]++;
                changed[i] = moved = true;
            }
        } while (moved);
    }
}
