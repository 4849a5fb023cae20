// A user's replicated bank, written as a service would deploy it: a production IStateMachine with MessagePack
// commands and stream snapshots, and the model its clients' histories are checked against.
using MessagePack;
using Raft.Node;
using Raft.Testing;

/// <summary>Deposit (Amount &gt; 0), withdraw (Amount &lt; 0, refused without funds) or read (Amount 0) one account.</summary>
[MessagePackObject]
public sealed record BankCommand([property: Key(0)] int Account, [property: Key(1)] long Amount);

/// <summary>Bugs a bank can have, planted to show the simulator catches each.</summary>
public enum BankBug { None, ClockInApply, SnapshotDropsLastAccount }

/// <summary>Balances of a few accounts; Apply returns the account's balance after the command.</summary>
public sealed class Bank(BankBug bug = BankBug.None) : IStateMachine<BankCommand, long>
{
    public const int Accounts = 8;
    private readonly long[] _balances = new long[Accounts];
    private long _lastChange;

    public long Balance(int account) => _balances[account];

    public long Apply(long index, long term, BankCommand command)
    {
        ref var balance = ref _balances[command.Account];
        if (balance + command.Amount >= 0) balance += command.Amount;
        // The planted bug: a timestamp from the node's own clock becomes part of the replicated state.
        _lastChange = bug == BankBug.ClockInApply ? DateTime.UtcNow.Ticks : index;
        return balance;
    }

    public void Snapshot(Stream output)
    {
        using var w = new BinaryWriter(output, System.Text.Encoding.UTF8, leaveOpen: true);
        w.Write(_lastChange);
        var saved = bug == BankBug.SnapshotDropsLastAccount ? Accounts - 1 : Accounts;
        for (var i = 0; i < saved; i++) w.Write(_balances[i]);
    }

    public void Restore(Stream input)
    {
        using var r = new BinaryReader(input, System.Text.Encoding.UTF8, leaveOpen: true);
        _lastChange = r.ReadInt64();
        Array.Clear(_balances);
        for (var i = 0; input.Position < input.Length; i++) _balances[i] = r.ReadInt64();
    }
}

/// <summary>The bank's sequential specification, one account per partition: the state is that account's balance.</summary>
public sealed class BankModel : IModel<long, BankCommand, long>
{
    public long Initial => 0;

    public (long Output, long State) Apply(long balance, BankCommand command)
    {
        var next = balance + command.Amount >= 0 ? balance + command.Amount : balance;
        return (next, next);
    }

    public object? PartitionKey(BankCommand command) => command.Account;
}
