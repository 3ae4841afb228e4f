using System.Globalization;

namespace FlexChain.Ethereum.Abi;

/// <summary>The kinds of Solidity ABI types this library encodes and decodes.</summary>
public enum AbiTypeKind
{
    /// <summary>uint8 ... uint256.</summary>
    UInt = 1,
    /// <summary>int8 ... int256 (two's complement).</summary>
    Int = 2,
    /// <summary>address (20 bytes).</summary>
    Address = 3,
    /// <summary>bool.</summary>
    Bool = 4,
    /// <summary>bytes1 ... bytes32.</summary>
    FixedBytes = 5,
    /// <summary>Dynamic bytes.</summary>
    Bytes = 6,
    /// <summary>Dynamic UTF-8 string.</summary>
    String = 7,
    /// <summary>T[] (dynamic length).</summary>
    Array = 8,
    /// <summary>T[k] (fixed length).</summary>
    FixedArray = 9,
    /// <summary>(T1,...,Tn).</summary>
    Tuple = 10,
}

/// <summary>
/// A Solidity ABI type parsed from its canonical name ("uint256", "address[]", "(uint64,bytes32)").
/// Aliases "uint" and "int" mean 256 bits.
/// </summary>
public sealed class AbiType
{
    private AbiType(AbiTypeKind kind, int size, AbiType? element, IReadOnlyList<AbiType> components, string name)
    {
        Kind = kind;
        Size = size;
        Element = element;
        Components = components;
        CanonicalName = name;
        IsDynamic = kind switch
        {
            AbiTypeKind.Bytes or AbiTypeKind.String or AbiTypeKind.Array => true,
            AbiTypeKind.FixedArray => element!.IsDynamic,
            AbiTypeKind.Tuple => components.Any(c => c.IsDynamic),
            _ => false,
        };
    }

    /// <summary>What kind of type this is.</summary>
    public AbiTypeKind Kind { get; }

    /// <summary>Bits for integers (8..256), bytes for fixed bytes (1..32), length for fixed arrays; otherwise 0.</summary>
    public int Size { get; }

    /// <summary>The element type of an array, otherwise null.</summary>
    public AbiType? Element { get; }

    /// <summary>The component types of a tuple, otherwise empty.</summary>
    public IReadOnlyList<AbiType> Components { get; }

    /// <summary>The canonical name used in signatures, e.g. "uint256[]".</summary>
    public string CanonicalName { get; }

    /// <summary>Whether the encoding is dynamic (stored in the tail with an offset in the head).</summary>
    public bool IsDynamic { get; }

    /// <summary>Bytes this type occupies in the head of an enclosing tuple.</summary>
    internal int HeadSize => IsDynamic ? 32 : Kind switch
    {
        AbiTypeKind.FixedArray => Size * Element!.HeadSize,
        AbiTypeKind.Tuple => Components.Sum(c => c.HeadSize),
        _ => 32,
    };

    /// <summary>Parses a type name.</summary>
    /// <exception cref="FormatException">Unknown or malformed type.</exception>
    public static AbiType Parse(string type)
    {
        ArgumentNullException.ThrowIfNull(type);
        var text = type.Trim();
        if (text.EndsWith(']'))
        {
            var open = text.LastIndexOf('[');
            if (open < 0) throw new FormatException($"malformed ABI array type '{type}'");
            var element = Parse(text[..open]);
            var lengthText = text[(open + 1)..^1];
            if (lengthText.Length == 0)
                return new AbiType(AbiTypeKind.Array, 0, element, [], element.CanonicalName + "[]");
            if (!int.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var length) || length <= 0)
                throw new FormatException($"malformed ABI array length in '{type}'");
            return new AbiType(AbiTypeKind.FixedArray, length, element, [], $"{element.CanonicalName}[{length}]");
        }
        if (text.StartsWith('('))
        {
            if (!text.EndsWith(')')) throw new FormatException($"malformed ABI tuple type '{type}'");
            var components = SplitTopLevel(text[1..^1]).Select(Parse).ToArray();
            return Tuple(components);
        }
        if (text.StartsWith("tuple(", StringComparison.Ordinal))
            return Parse(text[5..]);

        switch (text)
        {
            case "address": return new AbiType(AbiTypeKind.Address, 0, null, [], "address");
            case "bool": return new AbiType(AbiTypeKind.Bool, 0, null, [], "bool");
            case "bytes": return new AbiType(AbiTypeKind.Bytes, 0, null, [], "bytes");
            case "string": return new AbiType(AbiTypeKind.String, 0, null, [], "string");
            case "uint": return new AbiType(AbiTypeKind.UInt, 256, null, [], "uint256");
            case "int": return new AbiType(AbiTypeKind.Int, 256, null, [], "int256");
        }
        if (TrySuffix(text, "uint", out var bits) && bits is >= 8 and <= 256 && bits % 8 == 0)
            return new AbiType(AbiTypeKind.UInt, bits, null, [], text);
        if (TrySuffix(text, "int", out bits) && bits is >= 8 and <= 256 && bits % 8 == 0)
            return new AbiType(AbiTypeKind.Int, bits, null, [], text);
        if (TrySuffix(text, "bytes", out var n) && n is >= 1 and <= 32)
            return new AbiType(AbiTypeKind.FixedBytes, n, null, [], text);
        throw new FormatException($"unsupported ABI type '{type}'");
    }

    /// <summary>A tuple of the given component types.</summary>
    public static AbiType Tuple(IReadOnlyList<AbiType> components)
    {
        ArgumentNullException.ThrowIfNull(components);
        return new AbiType(AbiTypeKind.Tuple, 0, null, components.ToArray(),
            "(" + string.Join(",", components.Select(c => c.CanonicalName)) + ")");
    }

    /// <inheritdoc />
    public override string ToString() => CanonicalName;

    /// <summary>Splits "a,(b,c),d[]" at commas outside parentheses.</summary>
    internal static List<string> SplitTopLevel(string text)
    {
        var parts = new List<string>();
        if (text.Trim().Length == 0) return parts;
        var depth = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '(': depth++; break;
                case ')':
                    if (--depth < 0) throw new FormatException("unbalanced parentheses in ABI signature");
                    break;
                case ',' when depth == 0:
                    parts.Add(text[start..i]);
                    start = i + 1;
                    break;
            }
        }
        if (depth != 0) throw new FormatException("unbalanced parentheses in ABI signature");
        parts.Add(text[start..]);
        return parts;
    }

    private static bool TrySuffix(string text, string prefix, out int number)
    {
        number = 0;
        return text.StartsWith(prefix, StringComparison.Ordinal) && text.Length > prefix.Length && char.IsAsciiDigit(text[prefix.Length])
            && text[prefix.Length] != '0'
            && int.TryParse(text.AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out number);
    }
}
