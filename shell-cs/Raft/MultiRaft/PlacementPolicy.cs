using System.Text;

namespace Raft.MultiRaft;

/// <summary>
/// How names map to data groups. <see cref="PerKey"/>: every name its own group, created on the name's first write
/// and released with it (independent leaders and failover per name; each group costs memory and idle ticks).
/// <see cref="Hash"/>: a fixed number of groups, created when the cluster forms; a name lives in the group its
/// <see cref="Slot">stable hash</see> picks, so millions of names need no more groups than that and no directory write.
/// </summary>
public sealed record PlacementPolicy
{
    private PlacementPolicy(int hashGroups) => HashGroups = hashGroups;

    /// <summary>The most groups <see cref="Hash"/> takes (all are created, on every member, when the cluster forms).</summary>
    public const int MaxHashGroups = 65_536;

    /// <summary>The number of hashed groups; 0 for <see cref="PerKey"/>.</summary>
    public int HashGroups { get; }

    /// <summary>True for <see cref="Hash"/> placement.</summary>
    public bool IsHashed => HashGroups > 0;

    /// <summary>One group per name (the default).</summary>
    public static PlacementPolicy PerKey { get; } = new(0);

    /// <summary><paramref name="groups"/> groups, names hashed to them.</summary>
    public static PlacementPolicy Hash(int groups) =>
        groups is >= 1 and <= MaxHashGroups ? new(groups) : throw new ArgumentOutOfRangeException(nameof(groups), groups, $"Hash placement takes 1-{MaxHashGroups} groups.");

    /// <summary>Parses <c>per-key</c> or <c>hash:N</c> (what <see cref="ToString"/> writes).</summary>
    public static bool TryParse(string? text, out PlacementPolicy policy)
    {
        policy = PerKey;
        if (text == "per-key") return true;
        if (text is null || !text.StartsWith("hash:", StringComparison.Ordinal)) return false;
        if (!int.TryParse(text.AsSpan(5), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)
            || n is < 1 or > MaxHashGroups) return false;
        policy = new(n);
        return true;
    }

    public override string ToString() => IsHashed ? $"hash:{HashGroups}" : "per-key";

    /// <summary>The slot (0 to <paramref name="groups"/> - 1) of <paramref name="name"/>: FNV-1a (64 bits) of its UTF-8
    /// bytes, modulo the group count. Fixed by this definition, so every process and every version agrees (unlike
    /// <see cref="string.GetHashCode()"/>, randomised per process).</summary>
    public static int Slot(string name, int groups)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        const ulong offset = 14695981039346656037UL, prime = 1099511628211UL;
        var hash = offset;
        Span<byte> buffer = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetByteCount(name) <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(name, buffer)] : Encoding.UTF8.GetBytes(name);
        foreach (var b in bytes)
        {
            hash ^= b;
            hash *= prime;
        }
        return (int)(hash % (ulong)groups);
    }

    /// <summary>The directory's name of hashed group <paramref name="slot"/> (names under hash placement are never
    /// recorded in the directory, so these cannot clash with them).</summary>
    public static string SlotName(int slot) => $"hash/{slot}";
}
