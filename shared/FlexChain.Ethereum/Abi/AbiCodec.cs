using System.Collections;
using System.Numerics;
using System.Text;

namespace FlexChain.Ethereum.Abi;

/// <summary>
/// Solidity ABI encoding and decoding (https://docs.soliditylang.org/en/latest/abi-spec.html).
/// </summary>
/// <remarks>
/// Values by type, for both directions:
/// uintN with N &lt;= 64 decodes to <see cref="ulong"/>, wider to <see cref="BigInteger"/>; intN with N &lt;= 64 to
/// <see cref="long"/>, wider to <see cref="BigInteger"/> (encoding accepts any .NET integer, <see cref="BigInteger"/> or
/// <see cref="Wei"/>, range-checked against N); address is <see cref="EthAddress"/>; bool is <see cref="bool"/>;
/// bytes32 decodes to <see cref="Hash32"/> and other bytesN to <see cref="T:byte[]"/> (encoding accepts either);
/// bytes is <see cref="T:byte[]"/>; string is <see cref="string"/>; arrays and tuples decode to <see cref="T:object[]"/>
/// (encoding accepts any <see cref="IEnumerable"/>).
/// </remarks>
public static class AbiCodec
{
    private const int Word = 32;

    /// <summary>Encodes <paramref name="values"/> as the tuple of <paramref name="types"/> (function arguments, return data).</summary>
    /// <exception cref="ArgumentException">Count mismatch, a value of the wrong .NET type, or out of range for its ABI type.</exception>
    public static byte[] Encode(IReadOnlyList<AbiType> types, IReadOnlyList<object?> values)
    {
        ArgumentNullException.ThrowIfNull(types);
        ArgumentNullException.ThrowIfNull(values);
        using var output = new MemoryStream();
        EncodeTuple(output, types, values);
        return output.ToArray();
    }

    /// <summary>Encodes values for a comma-separated type list, e.g. <c>Encode("uint256,address", 5, addr)</c>.</summary>
    /// <exception cref="FormatException">A type name is not supported.</exception>
    /// <exception cref="ArgumentException">See <see cref="Encode(IReadOnlyList{AbiType}, IReadOnlyList{object})"/>.</exception>
    public static byte[] Encode(string typeList, params object?[] values) => Encode(ParseTypes(typeList), values);

    /// <summary>Decodes <paramref name="data"/> as the tuple of <paramref name="types"/>.</summary>
    /// <exception cref="FormatException">Data too short, offsets or lengths out of bounds, or values not canonical
    /// (an address or bool with dirty high bits, an integer out of range).</exception>
    public static object?[] Decode(IReadOnlyList<AbiType> types, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(types);
        return DecodeTuple(types, data, 0);
    }

    /// <summary>Decodes for a comma-separated type list.</summary>
    /// <exception cref="FormatException">An unsupported type, or malformed data.</exception>
    public static object?[] Decode(string typeList, ReadOnlySpan<byte> data) => Decode(ParseTypes(typeList), data);

    /// <summary>Parses "uint256,address[]" (no parentheses) into types.</summary>
    /// <exception cref="FormatException">A type name is not supported.</exception>
    public static IReadOnlyList<AbiType> ParseTypes(string typeList)
    {
        ArgumentNullException.ThrowIfNull(typeList);
        return AbiType.SplitTopLevel(typeList).Select(AbiType.Parse).ToArray();
    }

    private static void EncodeTuple(Stream output, IReadOnlyList<AbiType> types, IReadOnlyList<object?> values)
    {
        if (types.Count != values.Count)
            throw new ArgumentException($"ABI encoding needs {types.Count} values, got {values.Count}");
        var headSize = types.Sum(t => t.HeadSize);
        using var tails = new MemoryStream();
        for (var i = 0; i < types.Count; i++)
        {
            if (types[i].IsDynamic)
            {
                output.Write(Word32(headSize + tails.Length));
                EncodeValue(tails, types[i], values[i]);
            }
            else
            {
                EncodeValue(output, types[i], values[i]);
            }
        }
        tails.Position = 0;
        tails.CopyTo(output);
    }

    private static void EncodeValue(Stream output, AbiType type, object? value)
    {
        if (value is null)
            throw new ArgumentException($"null value for ABI type {type}");
        switch (type.Kind)
        {
            case AbiTypeKind.UInt:
            case AbiTypeKind.Int:
                output.Write(EncodeInteger(type, ToBigInteger(value, type)));
                break;
            case AbiTypeKind.Address:
                if (value is not EthAddress address) throw WrongType(type, value);
                var word = new byte[Word];
                address.Bytes.CopyTo(word.AsSpan(12));
                output.Write(word);
                break;
            case AbiTypeKind.Bool:
                if (value is not bool flag) throw WrongType(type, value);
                output.Write(Word32(flag ? 1 : 0));
                break;
            case AbiTypeKind.FixedBytes:
                var fixedBytes = value switch
                {
                    Hash32 h => h.ToArray(),
                    byte[] b => b,
                    _ => throw WrongType(type, value),
                };
                if (fixedBytes.Length != type.Size)
                    throw new ArgumentException($"{type} needs exactly {type.Size} bytes, got {fixedBytes.Length}");
                output.Write(PadRight(fixedBytes));
                break;
            case AbiTypeKind.Bytes:
            case AbiTypeKind.String:
                var bytes = type.Kind == AbiTypeKind.String
                    ? Encoding.UTF8.GetBytes(value as string ?? throw WrongType(type, value))
                    : value as byte[] ?? throw WrongType(type, value);
                output.Write(Word32(bytes.Length));
                output.Write(PadRight(bytes));
                break;
            case AbiTypeKind.Array:
            case AbiTypeKind.FixedArray:
                if (value is not IEnumerable items || value is string) throw WrongType(type, value);
                var list = items.Cast<object?>().ToList();
                if (type.Kind == AbiTypeKind.FixedArray && list.Count != type.Size)
                    throw new ArgumentException($"{type} needs exactly {type.Size} elements, got {list.Count}");
                if (type.Kind == AbiTypeKind.Array)
                    output.Write(Word32(list.Count));
                EncodeTuple(output, Enumerable.Repeat(type.Element!, list.Count).ToArray(), list);
                break;
            case AbiTypeKind.Tuple:
                if (value is not IEnumerable fields || value is string) throw WrongType(type, value);
                EncodeTuple(output, type.Components, fields.Cast<object?>().ToList());
                break;
            default:
                throw new ArgumentException($"unsupported ABI type {type}");
        }
    }

    private static byte[] EncodeInteger(AbiType type, BigInteger value)
    {
        var bits = type.Size;
        var (min, max) = type.Kind == AbiTypeKind.UInt
            ? (BigInteger.Zero, (BigInteger.One << bits) - 1)
            : (-(BigInteger.One << (bits - 1)), (BigInteger.One << (bits - 1)) - 1);
        if (value < min || value > max)
            throw new ArgumentException($"value is out of range for {type}");
        if (value.Sign >= 0)
            return Hex.ToBigEndian(value, Word);
        return Hex.ToBigEndian((BigInteger.One << 256) + value, Word); // two's complement over 256 bits
    }

    private static BigInteger ToBigInteger(object value, AbiType type) => value switch
    {
        BigInteger b => b,
        Wei w => w.Value,
        ulong u => u,
        long l => l,
        uint u => u,
        int i => i,
        ushort u => u,
        short s => s,
        byte b => b,
        sbyte s => s,
        _ => throw WrongType(type, value),
    };

    private static object?[] DecodeTuple(IReadOnlyList<AbiType> types, ReadOnlySpan<byte> data, int start)
    {
        var result = new object?[types.Count];
        var head = start;
        for (var i = 0; i < types.Count; i++)
        {
            if (types[i].IsDynamic)
            {
                var offset = ReadLength(data, head);
                result[i] = DecodeValue(types[i], data, checked(start + offset));
                head += Word;
            }
            else
            {
                result[i] = DecodeValue(types[i], data, head);
                head += types[i].HeadSize;
            }
        }
        return result;
    }

    private static object? DecodeValue(AbiType type, ReadOnlySpan<byte> data, int position)
    {
        switch (type.Kind)
        {
            case AbiTypeKind.UInt:
            {
                var value = Hex.FromBigEndian(ReadWord(data, position));
                if (value >> type.Size != 0) throw new FormatException($"value out of range for {type}");
                return type.Size <= 64 ? (object)(ulong)value : value;
            }
            case AbiTypeKind.Int:
            {
                var value = new BigInteger(ReadWord(data, position), isUnsigned: false, isBigEndian: true);
                var limit = BigInteger.One << (type.Size - 1);
                if (value < -limit || value >= limit) throw new FormatException($"value out of range for {type}");
                return type.Size <= 64 ? (object)(long)value : value;
            }
            case AbiTypeKind.Address:
            {
                var word = ReadWord(data, position);
                if (word[..12].ContainsAnyExcept((byte)0)) throw new FormatException("address has non-zero high bytes");
                return new EthAddress(word[12..]);
            }
            case AbiTypeKind.Bool:
            {
                var value = Hex.FromBigEndian(ReadWord(data, position));
                if (value > 1) throw new FormatException("bool is neither 0 nor 1");
                return value == 1;
            }
            case AbiTypeKind.FixedBytes:
            {
                var word = ReadWord(data, position);
                return type.Size == 32 ? new Hash32(word) : word[..type.Size].ToArray();
            }
            case AbiTypeKind.Bytes:
            case AbiTypeKind.String:
            {
                var length = ReadLength(data, position);
                var begin = checked(position + Word);
                if (length > data.Length - begin) throw new FormatException($"{type} runs past the end of the data");
                var bytes = data.Slice(begin, length);
                return type.Kind == AbiTypeKind.Bytes ? bytes.ToArray() : new UTF8Encoding(false, true).GetString(bytes);
            }
            case AbiTypeKind.Array:
            {
                var count = ReadLength(data, position);
                // Each element takes at least one word: a huge count in short data is malformed, not a huge allocation.
                if (count > (data.Length - position) / Word) throw new FormatException($"{type} length exceeds the data");
                return DecodeTuple(Enumerable.Repeat(type.Element!, count).ToArray(), data, checked(position + Word));
            }
            case AbiTypeKind.FixedArray:
                return DecodeTuple(Enumerable.Repeat(type.Element!, type.Size).ToArray(), data, position);
            case AbiTypeKind.Tuple:
                return DecodeTuple(type.Components, data, position);
            default:
                throw new FormatException($"unsupported ABI type {type}");
        }
    }

    private static ReadOnlySpan<byte> ReadWord(ReadOnlySpan<byte> data, int position)
    {
        if (position < 0 || position > data.Length - Word)
            throw new FormatException("ABI data is too short");
        return data.Slice(position, Word);
    }

    private static int ReadLength(ReadOnlySpan<byte> data, int position)
    {
        var value = Hex.FromBigEndian(ReadWord(data, position));
        if (value > data.Length)
            throw new FormatException("ABI offset or length exceeds the data");
        return (int)value;
    }

    private static byte[] Word32(long value) => Hex.ToBigEndian(value, Word);

    private static byte[] PadRight(byte[] bytes)
    {
        var padded = new byte[(bytes.Length + Word - 1) / Word * Word];
        bytes.CopyTo(padded, 0);
        return padded;
    }

    private static ArgumentException WrongType(AbiType type, object value) =>
        new($"a {value.GetType().Name} cannot be encoded as {type}");
}
