namespace Raft.Fuzz;

/// <summary>One fuzz target: what it feeds the bytes to, the exceptions that code documents for bad input, and how
/// much it may allocate for one input.</summary>
/// <param name="Name">The name on the command line and the corpus folder.</param>
/// <param name="Feeds">What the bytes are fed to (for the usage text).</param>
/// <param name="Run">Feeds one input; returns normally for a valid one, throws a documented exception for a bad one,
/// and throws <see cref="FuzzViolation"/> when the result contradicts itself.</param>
/// <param name="Documented">Exception types the parse documents for bad input.</param>
/// <param name="AllocationLimit">Bytes one input may allocate on the running thread, beyond copies of the input.</param>
/// <param name="Seeds">Small valid inputs made with the library's own writers.</param>
public sealed record FuzzTarget(
    string Name, string Feeds, Action<byte[]> Run, Type[] Documented, long AllocationLimit,
    Func<IEnumerable<(string Name, byte[] Bytes)>> Seeds);
