// A user's project that references the packed packages: a node in the generic host (Raft), then the simulator, the
// checker and the history recorder on a user's own state machine (Raft.Testing). Each check prints PASS or FAIL
// with its name; the exit code is the number of failed checks.
using static Checks;

await Run("a node in the generic host proposes and reads", NodeCheck.Run);
if (args.Length == 0 || args.Contains("simulation")) await SimulationChecks.All();
if (args.Length == 0 || args.Contains("recorder")) await RecorderChecks.All();
Console.WriteLine($"consumer checks: {Failed} failed");
return Failed;
