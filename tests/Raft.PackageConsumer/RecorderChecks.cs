// The history recorder on a real in-process cluster: 8 client tasks, 2,000 operations, the leader killed halfway,
// the history written as JSON lines, read back and checked; and hand-made histories the checker must reject.
using Raft.Node;
using Raft.Serialization;
using Raft.Testing;
using Raft.Transport.InMemory;
using static Checks;

public static class RecorderChecks
{
    const int Clients = 8, OperationsPerClient = 250;

    public static async Task All()
    {
        await Run("the recorder: 2,000 operations of 8 clients on 3 nodes, the leader killed halfway, are linearizable", Recorded);
        await Run("a full recorder keeps what fits and cuts the history where it filled", () =>
        {
            var recorder = new HistoryRecorder<BankCommand, long>(capacity: 2);
            var first = recorder.Invoke(1, new BankCommand(0, 5));
            recorder.Complete(first, 5);
            var second = recorder.Invoke(2, new BankCommand(0, 3));
            var third = recorder.Invoke(3, new BankCommand(0, 0));   // does not fit: the history is cut here
            recorder.Complete(second, 8);                            // returned after the cut: its output cannot count
            var ops = recorder.Operations();
            Expect(third == -1 && recorder.Dropped == 1 && recorder.FullAt is not null, "the third operation dropped and the cut time set");
            Expect(ops.Count == 2 && ops[0].Outcome == OperationOutcome.Completed && ops[1].Outcome == OperationOutcome.Unknown,
                "the first completed and the second unknown, got " + string.Join("; ", ops));
            Expect(ops[0].Call <= ops[0].Return && ops[0].Return <= ops[1].Call, "monotonic timestamps");
            return Task.FromResult(string.Join("; ", ops));
        });
        await Run("a hand-made non-linearizable history in the file format is rejected with its failing window", () =>
        {
            var lines = """
                {"type":"invoke","op":0,"client":1,"time":0,"value":{"Account":0,"Amount":5}}
                {"type":"complete","op":0,"client":1,"time":10,"value":5}
                {"type":"invoke","op":1,"client":2,"time":20,"value":{"Account":0,"Amount":0}}
                {"type":"invoke","op":2,"client":3,"time":21,"value":{"Account":1,"Amount":7}}
                {"type":"complete","op":1,"client":2,"time":30,"value":0}
                {"type":"unknown","op":2,"client":3,"time":40}
                """;
            var history = HistoryFile.Read<BankCommand, long>(new StringReader(lines));
            var result = LinearizabilityChecker.Check(new BankModel(), history);
            Expect(history.Count == 3 && history[2].Outcome == OperationOutcome.Unknown, "three operations, the last unknown");
            Expect(result.Verdict == LinearizabilityVerdict.NotLinearizable, "a violation, got " + result);
            Expect(result.FailingWindow is { } w && w.Contains("Smallest failing window: 1 of 2 operations") && w.Contains("It starts from state 5")
                && w.Contains("BankCommand { Account = 0, Amount = 0 } -> 0 [20..30]"), "the window of the stale read in " + result);
            return Task.FromResult(result.ToString());
        });
    }

    static async Task<string> Recorded()
    {
        var network = new InMemoryNetwork<RaftEnvelope<BankCommand>[]>();
        var nodes = new Dictionary<long, RaftNodeHost<BankCommand, long>>();
        long[] ids = [1, 2, 3];
        foreach (var id in ids)
        {
            var options = new RaftNodeOptions
            {
                NodeId = id, TickInterval = TimeSpan.FromMilliseconds(10), ElectionTicks = 10, HeartbeatTicks = 2,
                RequestTimeout = TimeSpan.FromSeconds(2),
            };
            var host = new RaftNodeHost<BankCommand, long>(options, network.CreateTransport(id), new MemoryRaftStorageProvider(),
                _ => new Bank());
            await host.CreateGroupAsync(1, ids);
            await host.StartAsync();
            nodes[id] = host;
        }
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var recorder = new HistoryRecorder<BankCommand, long>(capacity: 10_000);
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var done = 0;
        long killed = 0;
        try
        {
            await nodes[1].GetGroup(1).WaitForLeaderAsync(TimeSpan.FromSeconds(30), deadline.Token);
            async Task Client(int client)
            {
                var random = new Random(client);
                var target = ids[client % ids.Length];
                for (var i = 0; i < OperationsPerClient; i++)
                {
                    var live = nodes.Where(n => n.Key != Volatile.Read(ref killed)).Select(n => n.Value).ToArray();
                    var group = live.FirstOrDefault(n => n.NodeId == target)?.GetGroup(1) ?? live[random.Next(live.Length)].GetGroup(1);
                    var command = new BankCommand(random.Next(Bank.Accounts), random.Next(4) == 0 ? 0 : random.Next(-10, 21));
                    try
                    {
                        if (command.Amount == 0)
                            await recorder.ReadAsync(client, group, command, machine => ((Bank)machine).Balance(command.Account), deadline.Token);
                        else
                            await recorder.ProposeAsync(client, group, command, command, balance => balance, deadline.Token);
                    }
                    catch (NotLeaderException e) { target = e.LeaderHint != 0 ? e.LeaderHint : ids[random.Next(ids.Length)]; }
                    catch (Exception e) when (e is RaftException or TimeoutException) { target = ids[random.Next(ids.Length)]; }
                    if (Interlocked.Increment(ref done) == Clients * OperationsPerClient / 2) halfway.TrySetResult();
                }
            }
            var clients = Enumerable.Range(1, Clients).Select(c => Task.Run(() => Client(c))).ToArray();
            await halfway.Task.WaitAsync(deadline.Token);
            var leader = nodes[await nodes[1].GetGroup(1).WaitForLeaderAsync(TimeSpan.FromSeconds(30), deadline.Token)];
            Volatile.Write(ref killed, leader.NodeId);
            await leader.DisposeAsync();
            await Task.WhenAll(clients).WaitAsync(deadline.Token);
        }
        finally
        {
            foreach (var (id, host) in nodes)
                if (id != killed) await host.DisposeAsync();
        }
        var history = recorder.Operations();
        Expect(killed != 0 && history.Count == Clients * OperationsPerClient, $"{Clients * OperationsPerClient} operations recorded and a leader killed, got {history.Count}");
        var completed = history.Count(o => o.Outcome == OperationOutcome.Completed);
        Expect(completed > history.Count / 2, $"most operations completed, got {completed}");
        var result = LinearizabilityChecker.Check(new BankModel(), history);
        Expect(result.IsLinearizable, "a linearizable history, got " + result);

        var path = Path.Combine(Path.GetTempPath(), $"raft-history-{Guid.NewGuid():N}.jsonl");
        try
        {
            HistoryFile.Write(path, history);
            var read = HistoryFile.Read<BankCommand, long>(path);
            // The file lists operations in call order; the recorder in the order their slots were taken.
            Expect(read.OrderBy(o => (o.Call, o.Client)).SequenceEqual(history.OrderBy(o => (o.Call, o.Client))), "the file gives back the same operations");
            var again = LinearizabilityChecker.Check(new BankModel(), read);
            Expect(again.IsLinearizable && again.Operations == result.Operations, "the same verdict from the file");
            // The check can fail: one completed read made to return a value no write ever produced.
            var i = read.ToList().FindIndex(o => o.Outcome == OperationOutcome.Completed && o.Input.Amount == 0);
            var tampered = read.Select((o, k) => k == i ? o with { Output = -1 } : o).ToList();
            Expect(!LinearizabilityChecker.Check(new BankModel(), tampered).IsLinearizable, "a tampered read rejected");
        }
        finally { File.Delete(path); }
        var unknown = history.Count(o => o.Outcome == OperationOutcome.Unknown);
        var failed = history.Count(o => o.Outcome == OperationOutcome.Failed);
        return $"leader {killed} killed; {completed} completed, {failed} failed, {unknown} unknown; {result}";
    }
}
