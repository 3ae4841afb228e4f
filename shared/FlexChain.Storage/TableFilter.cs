using System.Globalization;
using System.Text;

namespace FlexChain.Storage;

/// <summary>
/// Builds OData <c>$filter</c> expressions from values without string concatenation, so a caller's data can never
/// change the shape of a filter.
/// </summary>
/// <example><code>
/// var filter = TableFilter.Create($"PartitionKey eq {gateId} and Amount ge {minimum}");
/// </code></example>
public static class TableFilter
{
    /// <summary>
    /// Formats an interpolated filter: every hole becomes an OData literal of its type (strings quoted with
    /// <c>'</c> doubled, <see cref="long"/> with an <c>L</c> suffix, <see cref="Guid"/> as <c>guid'…'</c>,
    /// <see cref="DateTimeOffset"/> as <c>datetime'…'</c> in UTC, <c>byte[]</c> as <c>X'…'</c>).
    /// </summary>
    /// <exception cref="ArgumentException">A hole's value has no OData literal form (for example a decimal or null).</exception>
    public static string Create(FormattableString filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var args = filter.GetArguments();
        var literals = new object[args.Length];
        for (var i = 0; i < args.Length; i++) literals[i] = Literal(args[i]);
        return string.Format(CultureInfo.InvariantCulture, filter.Format, literals);
    }

    /// <summary>A quoted OData string literal: <c>O'Brien</c> becomes <c>'O''Brien'</c>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="value"/> is null.</exception>
    public static string Quote(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
    }

    /// <summary>The OData literal for a value of a type a table property can hold.</summary>
    /// <exception cref="ArgumentException">The value has no OData literal form.</exception>
    public static string Literal(object? value) => value switch
    {
        string s => Quote(s),
        bool b => b ? "true" : "false",
        int i => i.ToString(CultureInfo.InvariantCulture),
        long l => l.ToString(CultureInfo.InvariantCulture) + "L",
        double d when double.IsFinite(d) => d.ToString("R", CultureInfo.InvariantCulture) is var r && (r.Contains('.') || r.Contains('E')) ? r : r + ".0",
        Guid g => "guid'" + g.ToString("D") + "'",
        DateTimeOffset dto => "datetime'" + TableEntityJson.FormatDateTime(dto) + "'",
        DateTime { Kind: not DateTimeKind.Unspecified } dt => "datetime'" + TableEntityJson.FormatDateTime(new DateTimeOffset(dt.ToUniversalTime(), TimeSpan.Zero)) + "'",
        byte[] bytes => "X'" + Convert.ToHexStringLower(bytes) + "'",
        null => throw new ArgumentException("null has no OData literal; filter on a property's absence differently.", nameof(value)),
        _ => throw new ArgumentException($"{value.GetType().Name} has no OData literal form.", nameof(value)),
    };

    /// <summary>Joins conditions with <c>and</c>, each in parentheses.</summary>
    public static string And(params IEnumerable<string> conditions)
    {
        var sb = new StringBuilder();
        foreach (var c in conditions)
        {
            if (sb.Length > 0) sb.Append(" and ");
            sb.Append('(').Append(c).Append(')');
        }
        return sb.ToString();
    }
}
