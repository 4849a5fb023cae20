// A planted serializer bug: a hand-written MessagePack formatter that loses the sign of the amount, so a follower
// decodes a withdrawal as a deposit.
using MessagePack;
using MessagePack.Formatters;
using MessagePack.Resolvers;

public sealed class LossyBankFormatter : IMessagePackFormatter<BankCommand>
{
    public static readonly MessagePackSerializerOptions Options =
        MessagePackSerializerOptions.Standard.WithResolver(CompositeResolver.Create([new LossyBankFormatter()], [StandardResolver.Instance]));

    public void Serialize(ref MessagePackWriter writer, BankCommand value, MessagePackSerializerOptions options)
    {
        writer.WriteArrayHeader(2);
        writer.Write(value.Account);
        writer.Write(Math.Abs(value.Amount));
    }

    public BankCommand Deserialize(ref MessagePackReader reader, MessagePackSerializerOptions options)
    {
        reader.ReadArrayHeader();
        return new BankCommand(reader.ReadInt32(), reader.ReadInt64());
    }
}
