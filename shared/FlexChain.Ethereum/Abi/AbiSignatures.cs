using System.Numerics;

namespace FlexChain.Ethereum.Abi;

/// <summary>One parameter of a function, error or event: its type, optional name, and (events only) whether it is indexed.</summary>
public sealed record AbiParameter(AbiType Type, string? Name, bool Indexed);

/// <summary>
/// A function from a human-readable signature such as <c>"transfer(address to, uint256 amount) returns (bool)"</c>.
/// Parameter names and the returns clause are optional.
/// </summary>
public sealed class AbiFunction
{
    private AbiFunction(string name, IReadOnlyList<AbiParameter> inputs, IReadOnlyList<AbiParameter> outputs)
    {
        Name = name;
        Inputs = inputs;
        Outputs = outputs;
        Signature = Signatures.Canonical(name, inputs);
        Selector = Keccak256.Hash(Signature)[..4];
    }

    /// <summary>The function name.</summary>
    public string Name { get; }

    /// <summary>The canonical signature, e.g. "transfer(address,uint256)".</summary>
    public string Signature { get; }

    /// <summary>The 4-byte selector: the first 4 bytes of Keccak-256 of <see cref="Signature"/>.</summary>
    public byte[] Selector { get; }

    /// <summary>The parameters.</summary>
    public IReadOnlyList<AbiParameter> Inputs { get; }

    /// <summary>The return values (empty when the signature has no returns clause).</summary>
    public IReadOnlyList<AbiParameter> Outputs { get; }

    /// <summary>Parses a signature.</summary>
    /// <exception cref="FormatException">Malformed signature or unsupported type.</exception>
    public static AbiFunction Parse(string signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        var text = signature.Trim();
        if (text.StartsWith("function ", StringComparison.Ordinal)) text = text[9..];
        var returns = text.IndexOf(" returns", StringComparison.Ordinal);
        var outputs = Array.Empty<AbiParameter>();
        if (returns >= 0)
        {
            var clause = text[(returns + 8)..].Trim();
            if (!clause.StartsWith('(') || !clause.EndsWith(')')) throw new FormatException("malformed returns clause");
            outputs = Signatures.ParseParameters(clause[1..^1], allowIndexed: false);
            text = text[..returns];
        }
        var (name, inputs) = Signatures.ParseNamed(text, allowIndexed: false);
        return new AbiFunction(name, inputs, outputs);
    }

    /// <summary>The 4-byte selector of a signature string, e.g. <c>Selector("transfer(address,uint256)")</c> is a9059cbb.</summary>
    /// <exception cref="FormatException">Malformed signature.</exception>
    public static byte[] SelectorOf(string signature) => Parse(signature).Selector;

    /// <summary>Call data: selector followed by the ABI-encoded arguments.</summary>
    /// <remarks>A single array argument must be cast to <see cref="object"/>, or C# passes it as the argument list itself.</remarks>
    /// <exception cref="ArgumentException">Wrong number or types of arguments.</exception>
    public byte[] EncodeCall(params object?[] arguments)
    {
        var encoded = AbiCodec.Encode(Inputs.Select(p => p.Type).ToArray(), arguments);
        return [.. Selector, .. encoded];
    }

    /// <summary>Decodes the data an eth_call returned according to <see cref="Outputs"/>.</summary>
    /// <exception cref="FormatException">The data does not match the output types.</exception>
    public object?[] DecodeOutput(ReadOnlySpan<byte> data) => AbiCodec.Decode(Outputs.Select(p => p.Type).ToArray(), data);
}

/// <summary>A Solidity custom error, e.g. <c>"InsufficientBalance(uint256 available, uint256 required)"</c>.</summary>
public sealed class AbiError
{
    private AbiError(string name, IReadOnlyList<AbiParameter> inputs)
    {
        Name = name;
        Inputs = inputs;
        Signature = Signatures.Canonical(name, inputs);
        Selector = Keccak256.Hash(Signature)[..4];
    }

    /// <summary>The error name.</summary>
    public string Name { get; }

    /// <summary>The canonical signature.</summary>
    public string Signature { get; }

    /// <summary>The 4-byte selector that starts the revert data.</summary>
    public byte[] Selector { get; }

    /// <summary>The parameters.</summary>
    public IReadOnlyList<AbiParameter> Inputs { get; }

    /// <summary>Parses a signature (the keyword "error" is optional).</summary>
    /// <exception cref="FormatException">Malformed signature or unsupported type.</exception>
    public static AbiError Parse(string signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        var text = signature.Trim();
        if (text.StartsWith("error ", StringComparison.Ordinal)) text = text[6..];
        var (name, inputs) = Signatures.ParseNamed(text, allowIndexed: false);
        return new AbiError(name, inputs);
    }

    /// <summary>Revert data for this error (selector + encoded arguments), as a contract would produce it.</summary>
    public byte[] Encode(params object?[] arguments) =>
        [.. Selector, .. AbiCodec.Encode(Inputs.Select(p => p.Type).ToArray(), arguments)];
}

/// <summary>
/// An event, e.g. <c>"Transfer(address indexed from, address indexed to, uint256 value)"</c>.
/// </summary>
public sealed class AbiEvent
{
    private AbiEvent(string name, IReadOnlyList<AbiParameter> inputs)
    {
        Name = name;
        Inputs = inputs;
        Signature = Signatures.Canonical(name, inputs);
        Topic = new Hash32(Keccak256.Hash(Signature));
    }

    /// <summary>The event name.</summary>
    public string Name { get; }

    /// <summary>The canonical signature (no "indexed", no names).</summary>
    public string Signature { get; }

    /// <summary>topic[0] of its logs: Keccak-256 of <see cref="Signature"/>.</summary>
    public Hash32 Topic { get; }

    /// <summary>The parameters in declaration order.</summary>
    public IReadOnlyList<AbiParameter> Inputs { get; }

    /// <summary>Parses a signature (the keyword "event" is optional).</summary>
    /// <exception cref="FormatException">Malformed signature, unsupported type, or more than 3 indexed parameters.</exception>
    public static AbiEvent Parse(string signature)
    {
        ArgumentNullException.ThrowIfNull(signature);
        var text = signature.Trim();
        if (text.StartsWith("event ", StringComparison.Ordinal)) text = text[6..];
        var (name, inputs) = Signatures.ParseNamed(text, allowIndexed: true);
        if (inputs.Count(p => p.Indexed) > 3) throw new FormatException("an event has at most 3 indexed parameters");
        return new AbiEvent(name, inputs);
    }

    /// <summary>
    /// Decodes a log of this event: indexed parameters from topics 1..3, the others from the data. Indexed parameters
    /// of dynamic type (string, bytes, arrays, tuples) are stored as their Keccak-256 hash and decode to <see cref="Hash32"/>.
    /// </summary>
    /// <returns>The values in declaration order.</returns>
    /// <exception cref="FormatException">topic[0] is not <see cref="Topic"/>, the topic count is wrong, or the data is malformed.</exception>
    public object?[] DecodeLog(IReadOnlyList<Hash32> topics, ReadOnlySpan<byte> data)
    {
        ArgumentNullException.ThrowIfNull(topics);
        var indexed = Inputs.Where(p => p.Indexed).ToArray();
        if (topics.Count != indexed.Length + 1 || topics[0] != Topic)
            throw new FormatException($"log is not a {Signature} event");
        var plain = AbiCodec.Decode(Inputs.Where(p => !p.Indexed).Select(p => p.Type).ToArray(), data);
        var result = new object?[Inputs.Count];
        int nextTopic = 1, nextPlain = 0;
        for (var i = 0; i < Inputs.Count; i++)
        {
            if (!Inputs[i].Indexed)
            {
                result[i] = plain[nextPlain++];
                continue;
            }
            var topic = topics[nextTopic++];
            var type = Inputs[i].Type;
            var isHashed = type.IsDynamic || type.Kind is AbiTypeKind.Tuple or AbiTypeKind.FixedArray;
            result[i] = isHashed ? topic : AbiCodec.Decode([type], topic.Bytes)[0];
        }
        return result;
    }

    /// <summary>Decodes a log returned by the node.</summary>
    /// <exception cref="FormatException">The log is not this event or is malformed.</exception>
    public object?[] DecodeLog(LogEntry log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return DecodeLog(log.Topics, log.Data);
    }
}

/// <summary>What kind of revert data a failed call or transaction produced.</summary>
public enum RevertKind
{
    /// <summary>No data (revert(), require without message, out of gas, invalid opcode before 0.8).</summary>
    Empty = 0,
    /// <summary><c>Error(string)</c>: require/revert with a message.</summary>
    Error = 1,
    /// <summary><c>Panic(uint256)</c>: assert, arithmetic overflow, division by zero, array bounds (Solidity 0.8+).</summary>
    Panic = 2,
    /// <summary>A custom error whose selector was among the known errors.</summary>
    CustomError = 3,
    /// <summary>A selector that is not known, or data that does not decode.</summary>
    Unknown = 4,
}

/// <summary>Decoded revert data.</summary>
/// <param name="Kind">The kind of revert.</param>
/// <param name="Data">The raw revert data.</param>
/// <param name="Message">The reason string for <see cref="RevertKind.Error"/>, otherwise null.</param>
/// <param name="PanicCode">The panic code for <see cref="RevertKind.Panic"/> (0x01 assert, 0x11 overflow, 0x12 division by zero, 0x32 index out of bounds...).</param>
/// <param name="Selector">The first 4 bytes of the data, when it has at least 4.</param>
/// <param name="Error">The matching custom error for <see cref="RevertKind.CustomError"/>.</param>
/// <param name="Arguments">The decoded custom error arguments.</param>
public sealed record RevertReason(
    RevertKind Kind, byte[] Data, string? Message, BigInteger? PanicCode, byte[]? Selector, AbiError? Error, IReadOnlyList<object?>? Arguments)
{
    private static readonly AbiError ErrorString = AbiError.Parse("Error(string)");
    private static readonly AbiError PanicError = AbiError.Parse("Panic(uint256)");

    /// <summary>Decodes revert data; never throws on malformed data (that is <see cref="RevertKind.Unknown"/>).</summary>
    /// <param name="data">The revert data.</param>
    /// <param name="knownErrors">Custom errors of the called contract, matched by selector.</param>
    public static RevertReason Decode(ReadOnlySpan<byte> data, IEnumerable<AbiError>? knownErrors = null)
    {
        var bytes = data.ToArray();
        if (bytes.Length == 0) return new RevertReason(RevertKind.Empty, bytes, null, null, null, null, null);
        if (bytes.Length < 4) return new RevertReason(RevertKind.Unknown, bytes, null, null, null, null, null);
        var selector = bytes[..4];
        try
        {
            if (selector.AsSpan().SequenceEqual(ErrorString.Selector))
                return new RevertReason(RevertKind.Error, bytes, (string)AbiCodec.Decode([AbiType.Parse("string")], bytes.AsSpan(4))[0]!, null, selector, null, null);
            if (selector.AsSpan().SequenceEqual(PanicError.Selector))
                return new RevertReason(RevertKind.Panic, bytes, null, (BigInteger)AbiCodec.Decode([AbiType.Parse("uint256")], bytes.AsSpan(4))[0]!, selector, null, null);
            var error = knownErrors?.FirstOrDefault(e => e.Selector.AsSpan().SequenceEqual(selector));
            if (error is not null)
            {
                var arguments = AbiCodec.Decode(error.Inputs.Select(p => p.Type).ToArray(), bytes.AsSpan(4));
                return new RevertReason(RevertKind.CustomError, bytes, null, null, selector, error, arguments);
            }
        }
        catch (FormatException)
        {
            // fall through: undecodable data is reported raw
        }
        return new RevertReason(RevertKind.Unknown, bytes, null, null, selector, null, null);
    }

    /// <summary>A short human-readable description, e.g. <c>Error("not operator")</c> or <c>Panic(0x11)</c>.</summary>
    public override string ToString() => Kind switch
    {
        RevertKind.Empty => "reverted without data",
        RevertKind.Error => $"Error(\"{Message}\")",
        RevertKind.Panic => $"Panic(0x{PanicCode!.Value:x2})",
        RevertKind.CustomError => $"{Error!.Name}({string.Join(", ", Arguments!.Select(Format))})",
        _ => Selector is null ? $"reverted with {Hex.Encode(Data)}" : $"custom error {Hex.Encode(Selector)} ({Data.Length} bytes)",
    };

    private static string? Format(object? value) => value switch
    {
        byte[] b => Hex.Encode(b),
        object?[] list => "[" + string.Join(", ", list.Select(Format)) + "]",
        _ => value?.ToString(),
    };
}

internal static class Signatures
{
    public static string Canonical(string name, IReadOnlyList<AbiParameter> inputs) =>
        name + "(" + string.Join(",", inputs.Select(p => p.Type.CanonicalName)) + ")";

    public static (string Name, AbiParameter[] Inputs) ParseNamed(string text, bool allowIndexed)
    {
        var open = text.IndexOf('(');
        if (open <= 0 || !text.EndsWith(')'))
            throw new FormatException("a signature looks like name(type,type)");
        var name = text[..open].Trim();
        if (!name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '$') || char.IsAsciiDigit(name[0]))
            throw new FormatException("invalid name in signature");
        return (name, ParseParameters(text[(open + 1)..^1], allowIndexed));
    }

    public static AbiParameter[] ParseParameters(string list, bool allowIndexed)
    {
        return AbiType.SplitTopLevel(list).Select(part =>
        {
            var text = part.Trim();
            // The type is everything up to the last space outside parentheses and brackets; then "indexed" and/or a name.
            var words = SplitWords(text);
            if (words.Count == 0) throw new FormatException("empty parameter in signature");
            var type = AbiType.Parse(words[0]);
            var indexed = false;
            string? name = null;
            foreach (var word in words.Skip(1))
            {
                if (word == "indexed" && allowIndexed && !indexed && name is null) indexed = true;
                else if (word is "memory" or "calldata" or "storage") continue;
                else if (name is null) name = word;
                else throw new FormatException("unexpected word in signature parameter");
            }
            return new AbiParameter(type, name, indexed);
        }).ToArray();
    }

    private static List<string> SplitWords(string text)
    {
        var words = new List<string>();
        var depth = 0;
        var start = 0;
        for (var i = 0; i <= text.Length; i++)
        {
            if (i < text.Length && text[i] is '(' or '[') depth++;
            if (i < text.Length && text[i] is ')' or ']') depth--;
            if (i == text.Length || (text[i] == ' ' && depth == 0))
            {
                if (i > start) words.Add(text[start..i]);
                start = i + 1;
            }
        }
        return words;
    }
}
