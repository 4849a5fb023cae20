// The smallest test runner: each check prints PASS or FAIL with its name (PackageTests asserts on those lines).
public static class Checks
{
    public static int Failed { get; private set; }

    public static async Task Run(string name, Func<Task<string>> check)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var detail = await check();
            Console.WriteLine($"PASS {name} ({watch.Elapsed.TotalSeconds:F1} s)");
            if (detail.Length > 0) Console.WriteLine("  " + detail.ReplaceLineEndings(Environment.NewLine + "  "));
        }
        catch (Exception e)
        {
            Failed++;
            Console.WriteLine($"FAIL {name}: {e}");
        }
    }

    public static void Expect(bool condition, string what)
    {
        if (!condition) throw new Exception("expected " + what);
    }
}
