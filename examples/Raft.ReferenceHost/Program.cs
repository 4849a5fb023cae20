// Three in-memory nodes replicate five commands; exit code 1 if any node applied something else.
using Raft.ReferenceHost;

string[] commands = ["set x=1", "set y=2", "incr x", "del y", "set z=3"];
var nodes = ReferenceHost.Run(commands, Console.Out);
foreach (var n in nodes) Console.WriteLine($"node {n.Id} applied: {string.Join(", ", n.Applied)}");
return nodes.All(n => n.Applied.SequenceEqual(commands)) ? 0 : 1;
