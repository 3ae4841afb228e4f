using System.Numerics;

namespace FlexChain.Ethereum;

/// <summary>
/// One RLP item: either a byte string or a list of items (Ethereum Yellow Paper, appendix B).
/// </summary>
public sealed class RlpItem
{
    private readonly byte[]? _bytes;
    private readonly IReadOnlyList<RlpItem>? _items;

    private RlpItem(byte[]? bytes, IReadOnlyList<RlpItem>? items)
    {
        _bytes = bytes;
        _items = items;
    }

    /// <summary>Whether this item is a list (otherwise a byte string).</summary>
    public bool IsList => _items is not null;

    /// <summary>The byte string.</summary>
    /// <exception cref="InvalidOperationException">The item is a list.</exception>
    public ReadOnlySpan<byte> Bytes => _bytes ?? throw new InvalidOperationException("RLP item is a list, not a byte string");

    /// <summary>The list elements.</summary>
    /// <exception cref="InvalidOperationException">The item is a byte string.</exception>
    public IReadOnlyList<RlpItem> Items => _items ?? throw new InvalidOperationException("RLP item is a byte string, not a list");

    /// <summary>A byte string item (copied).</summary>
    public static RlpItem FromBytes(ReadOnlySpan<byte> bytes) => new(bytes.ToArray(), null);

    /// <summary>A non-negative integer as its minimal big-endian bytes (zero is the empty string).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is negative.</exception>
    public static RlpItem FromInteger(BigInteger value) => new(Hex.ToBigEndian(value), null);

    /// <summary>A list item.</summary>
    public static RlpItem List(params RlpItem[] items) => new(null, items.ToArray());

    /// <summary>A list item.</summary>
    public static RlpItem List(IEnumerable<RlpItem> items) => new(null, items.ToArray());

    /// <summary>The byte string read as a canonical non-negative integer.</summary>
    /// <exception cref="FormatException">The bytes have a leading zero (not canonical).</exception>
    public BigInteger ToBigInteger()
    {
        var bytes = Bytes;
        if (bytes.Length > 0 && bytes[0] == 0)
            throw new FormatException("RLP integer has leading zero bytes");
        return Hex.FromBigEndian(bytes);
    }

    /// <summary>The RLP encoding of this item.</summary>
    public byte[] Encode() => Rlp.Encode(this);
}

/// <summary>
/// Recursive Length Prefix encoding and strict (canonical-only) decoding.
/// </summary>
public static class Rlp
{
    /// <summary>Encodes an item tree.</summary>
    public static byte[] Encode(RlpItem item)
    {
        ArgumentNullException.ThrowIfNull(item);
        using var stream = new MemoryStream();
        Write(stream, item);
        return stream.ToArray();
    }

    /// <summary>Encodes a non-negative integer (minimal big-endian, zero as the empty string 0x80).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="value"/> is negative.</exception>
    public static byte[] EncodeInteger(BigInteger value) => Encode(RlpItem.FromInteger(value));

    /// <summary>
    /// Decodes exactly one item that spans all of <paramref name="encoded"/>.
    /// </summary>
    /// <exception cref="FormatException">Truncated input, trailing bytes, or a non-canonical encoding
    /// (a single byte below 0x80 wrapped as a string, a long form for a short payload, length with leading zeros).</exception>
    public static RlpItem Decode(ReadOnlySpan<byte> encoded)
    {
        var position = 0;
        var item = Read(encoded, ref position, depth: 0);
        if (position != encoded.Length)
            throw new FormatException("RLP input has trailing bytes");
        return item;
    }

    private static void Write(Stream stream, RlpItem item)
    {
        if (!item.IsList)
        {
            var bytes = item.Bytes;
            if (bytes.Length == 1 && bytes[0] < 0x80)
            {
                stream.WriteByte(bytes[0]);
                return;
            }
            WriteLength(stream, bytes.Length, 0x80);
            stream.Write(bytes);
            return;
        }

        using var payload = new MemoryStream();
        foreach (var child in item.Items)
            Write(payload, child);
        WriteLength(stream, checked((int)payload.Length), 0xc0);
        payload.Position = 0;
        payload.CopyTo(stream);
    }

    private static void WriteLength(Stream stream, int length, byte offset)
    {
        if (length <= 55)
        {
            stream.WriteByte((byte)(offset + length));
            return;
        }
        var lengthBytes = Hex.ToBigEndian(length);
        stream.WriteByte((byte)(offset + 55 + lengthBytes.Length));
        stream.Write(lengthBytes);
    }

    private static RlpItem Read(ReadOnlySpan<byte> data, ref int position, int depth)
    {
        // A hostile input of nested 0xc1 prefixes must not exhaust the stack.
        if (depth > 1024)
            throw new FormatException("RLP nesting too deep");
        if (position >= data.Length)
            throw new FormatException("RLP input ends early");

        var prefix = data[position];
        if (prefix < 0x80)
        {
            position++;
            return RlpItem.FromBytes(data.Slice(position - 1, 1));
        }

        var isList = prefix >= 0xc0;
        var offset = isList ? 0xc0 : 0x80;
        int length;
        position++;
        if (prefix - offset <= 55)
        {
            length = prefix - offset;
        }
        else
        {
            var lengthOfLength = prefix - offset - 55;
            if (position + lengthOfLength > data.Length)
                throw new FormatException("RLP length ends early");
            var lengthBytes = data.Slice(position, lengthOfLength);
            if (lengthBytes[0] == 0)
                throw new FormatException("RLP length has leading zeros");
            var longLength = Hex.FromBigEndian(lengthBytes);
            if (longLength <= 55)
                throw new FormatException("RLP long form used for a short payload");
            if (longLength > data.Length)
                throw new FormatException("RLP payload ends early");
            length = (int)longLength;
            position += lengthOfLength;
        }

        if (length > data.Length - position)
            throw new FormatException("RLP payload ends early");
        var payload = data.Slice(position, length);
        position += length;

        if (!isList)
        {
            if (length == 1 && payload[0] < 0x80)
                throw new FormatException("RLP single byte below 0x80 must encode itself");
            return RlpItem.FromBytes(payload);
        }

        var items = new List<RlpItem>();
        var inner = 0;
        while (inner < payload.Length)
            items.Add(Read(payload, ref inner, depth + 1));
        return RlpItem.List(items);
    }
}
