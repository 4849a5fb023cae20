namespace Raft.Testing;

/// <summary>Where two nodes' states first differed: the index and the snapshot bytes (or fingerprints) of each.</summary>
internal sealed record Divergence(long Index, int NodeA, int NodeB, ulong DigestA, ulong DigestB, byte[]? BytesA, byte[]? BytesB)
{
    public string Describe()
    {
        var text = $"first index where two nodes' states differ: {Index} (node {NodeA} and node {NodeB}";
        if (BytesA is null || BytesB is null) return text + $": fingerprints {DigestA:x} vs {DigestB:x})";
        var common = BytesA.AsSpan().CommonPrefixLength(BytesB);
        return text + $": snapshots of {BytesA.Length} and {BytesB.Length} bytes, equal up to byte {common})";
    }
}

/// <summary>
/// One seed's record of the states nodes reported at each index, kept only when a failing seed is run again to
/// find the first index where two nodes differ (every index compared). Seeds run on one thread each.
/// </summary>
internal sealed class DeterminismProbe(int interval, bool tracking)
{
    private readonly Dictionary<long, (int Node, ulong Digest, byte[]? Bytes)> _first = tracking ? new() : null!;

    /// <summary>Nodes compare snapshot bytes at indexes that are multiples of this.</summary>
    public int Interval { get; } = interval;

    public bool Tracking { get; } = tracking;

    /// <summary>The lowest index at which two nodes reported different states (tracking only).</summary>
    public Divergence? Earliest { get; private set; }

    public void Observe(int node, long index, ulong digest, byte[]? bytes)
    {
        if (!Tracking) return;
        if (!_first.TryGetValue(index, out var first)) _first[index] = (node, digest, bytes);
        else if (first.Digest != digest && (Earliest is null || index < Earliest.Index))
            Earliest = new Divergence(index, first.Node, node, first.Digest, digest, first.Bytes, bytes);
    }
}
