namespace Raft.Fuzz;

/// <summary>An input broke the rule every target enforces: it raised an exception outside the target's documented
/// types, allocated beyond the target's limit, or produced a result that contradicts itself. Under afl-fuzz it is
/// unhandled, so the input is recorded as a crash.</summary>
public sealed class FuzzViolation(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The rule: any input yields a result or one of the target's documented exceptions, and allocates at most
/// the target's limit (plus a few copies of the input itself, which a parser may read whole). Hangs are caught by the
/// caller's deadline (afl-fuzz's <c>-t</c>, the replay test's timeout).</summary>
public static class Check
{
    /// <summary>Copies of the input a target may allocate on top of its limit (reading a file whole, slicing it).</summary>
    public const int InputCopies = 4;

    /// <summary>Runs <paramref name="target"/> on <paramref name="input"/>; returns "ok" or the documented exception's
    /// type name. Throws <see cref="FuzzViolation"/> (or lets an undocumented exception through) otherwise.</summary>
    public static string Run(FuzzTarget target, byte[] input)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        string outcome;
        try
        {
            target.Run(input);
            outcome = "ok";
        }
        catch (Exception ex) when (target.Documented.Any(t => t.IsInstanceOfType(ex)))
        {
            outcome = ex.GetType().Name;
        }
        catch (Exception ex) when (ex is not FuzzViolation)
        {
            throw new FuzzViolation($"{target.Name}: undocumented {ex.GetType().FullName}: {ex.Message}", ex);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        long limit = target.AllocationLimit + InputCopies * (long)input.Length;
        if (allocated > limit)
            throw new FuzzViolation($"{target.Name}: allocated {allocated:N0} bytes for a {input.Length}-byte input, over the limit of {limit:N0}");
        return outcome;
    }
}
