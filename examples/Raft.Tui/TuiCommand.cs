namespace Raft.Tui;

/// <summary>What a key asks for. The chaos ones act on the selected node or the focused group's leader; the rest
/// change only what the screen shows.</summary>
public enum TuiCommand
{
    Quit,
    SelectPrevious,
    SelectNext,
    /// <summary>Focus the next group (the leader keys act on it).</summary>
    NextGroup,
    /// <summary><c>POST /admin/kill</c> on the focused group's leader.</summary>
    KillLeader,
    Pause,
    Resume,
    /// <summary>Cut the selected node off from every other node (<c>/admin/partition?peers=...</c> on it).</summary>
    Partition,
    Heal,
    HealAll,
    /// <summary><c>POST /admin/reset</c>: the node leaves, dies, and wipes its data when started again.</summary>
    Reset,
    /// <summary>Run the start command for a node that is down (the selected one, else the first down).</summary>
    StartNode,
    /// <summary>Start a new node (the join command) and add it to the members.</summary>
    JoinNode,
    AddMember,
    RemoveMember,
    /// <summary>Move the focused group's leadership to the selected node (or on, when it leads).</summary>
    TransferLeader,
    Rebalance,
}

/// <summary>The key bindings (those of the seed's raft.cr chaos UI).</summary>
public static class KeyMap
{
    /// <summary>The help line the screen shows.</summary>
    public const string Help =
        "↑/↓ or 1-9 select  g next group  k kill leader  p/r pause/resume  x/h partition/heal  a heal all  d reset  " +
        "f start down node  j join new node  +/- add/remove member  t transfer leader  b rebalance  q quit";

    /// <summary>The command of a key (<paramref name="key"/> for the keys without a character, like the arrows), or null
    /// when unbound. Digits select by node id and are not commands: see <see cref="Digit"/>.</summary>
    public static TuiCommand? Map(char keyChar, ConsoleKey key) => key switch
    {
        ConsoleKey.UpArrow => TuiCommand.SelectPrevious,
        ConsoleKey.DownArrow => TuiCommand.SelectNext,
        ConsoleKey.Tab => TuiCommand.NextGroup,
        _ => keyChar switch
        {
            'q' or 'Q' => TuiCommand.Quit,
            'g' => TuiCommand.NextGroup,
            'k' => TuiCommand.KillLeader,
            'p' => TuiCommand.Pause,
            'r' => TuiCommand.Resume,
            'x' => TuiCommand.Partition,
            'h' => TuiCommand.Heal,
            'a' => TuiCommand.HealAll,
            'd' => TuiCommand.Reset,
            'f' => TuiCommand.StartNode,
            'j' => TuiCommand.JoinNode,
            '+' or '=' => TuiCommand.AddMember,
            '-' => TuiCommand.RemoveMember,
            't' => TuiCommand.TransferLeader,
            'b' => TuiCommand.Rebalance,
            _ => null,
        },
    };

    /// <summary>The node id a digit key selects (1-9), or null.</summary>
    public static int? Digit(char keyChar) => keyChar is >= '1' and <= '9' ? keyChar - '0' : null;
}
