using Raft.Fuzz.Targets;

namespace Raft.Fuzz;

/// <summary>Every target, by name.</summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyList<FuzzTarget> All =
    [
        FrameTarget.Target,
        HandshakeTarget.Target,
        CodecTarget.Target,
        SegmentTarget.Target,
        SharedLogTarget.Target,
        ReceivingTarget.Target,
        HardStateTarget.Target,
    ];

    /// <summary>The target called <paramref name="name"/>, or null.</summary>
    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
