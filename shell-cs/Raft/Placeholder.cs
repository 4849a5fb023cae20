namespace Raft;
internal static class Placeholder { }
