using System.Globalization;
using System.Xml;

namespace FlexChain.Functions.Api;

/// <summary>
/// Meter readings as CSV, the shape meter data hubs export (<c>Content-Type: text/csv</c>, UTF-8, comma-separated, no
/// quoting, <c>\n</c> or <c>\r\n</c> line ends, a dot as decimal separator). The first line is the header, exactly one of
/// <code>
/// stationId,start,end,energyKwh
/// stationId,start,duration,energyKwh
/// </code>
/// then one reading per line: the station id, the interval start as UTC ISO 8601 ending in <c>Z</c>
/// (<c>2026-12-06T10:00:00Z</c>), its end likewise or its length as an ISO 8601 duration (<c>PT15M</c>), and the
/// energy in kWh (at most 3 decimals). Blank lines are skipped. Rows are numbered from 0 after the header (row i is on
/// line i + 2), and a row's problem names its column as <c>rows[i].{column}</c>.
/// </summary>
public static class ReadingsCsv
{
    public const string ContentType = "text/csv";

    private const string EndHeader = "stationId,start,end,energyKwh";
    private const string DurationHeader = "stationId,start,duration,energyKwh";

    /// <summary>Why a row could not be read: the column (<c>rows[i].start</c>), the rule and a sentence.</summary>
    public sealed record RowProblem(string Field, string Rule, string Detail);

    /// <summary>One data row: the reading it holds, or why it could not be read.</summary>
    public sealed record Row(int Index, MeterReadingItem? Item, RowProblem? Problem);

    /// <summary>Reads the rows of <paramref name="body"/>.</summary>
    /// <exception cref="ApiProblemException">400: the header is missing or not one of the two, or there are no rows or more than <paramref name="maxRows"/>.</exception>
    public static async Task<List<Row>> ReadAsync(Stream body, int maxRows, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(body);
        var header = await reader.ReadLineAsync(cancellationToken);
        var byDuration = header?.Trim() switch
        {
            EndHeader => false,
            DurationHeader => true,
            _ => throw new ApiProblemException(400, "header", "csv-header", $"The first line must be the header '{EndHeader}' or '{DurationHeader}'."),
        };
        var rows = new List<Row>();
        while (await reader.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Trim().Length == 0) continue;
            if (rows.Count == maxRows) throw new ApiProblemException(400, "body", "count", $"At most {maxRows:N0} rows per call.");
            rows.Add(Parse(rows.Count, line, byDuration));
        }
        if (rows.Count == 0) throw new ApiProblemException(400, "body", "count", "The CSV has no rows after its header.");
        return rows;
    }

    private static Row Parse(int index, string line, bool byDuration)
    {
        Row Bad(string column, string rule, string detail) => new(index, null, new RowProblem($"rows[{index}]{column}", rule, detail));
        var cells = line.Split(',');
        if (cells.Length != 4) return Bad("", "columns", $"Row {index} (line {index + 2}) has {cells.Length} columns, not 4.");
        if (Time(cells[1]) is not { } start) return Bad(".start", "utc-time", "start must be a UTC time in ISO 8601 ending in Z.");
        DateTimeOffset end;
        if (!byDuration)
        {
            if (Time(cells[2]) is not { } e) return Bad(".end", "utc-time", "end must be a UTC time in ISO 8601 ending in Z.");
            end = e;
        }
        else if (Duration(cells[2]) is { } length) end = start + length;
        else return Bad(".duration", "duration", "duration must be an ISO 8601 duration such as PT15M.");
        if (!decimal.TryParse(cells[3], NumberStyles.AllowDecimalPoint | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var kwh))
            return Bad(".energyKwh", "number", "energyKwh must be a number with a dot as decimal separator.");
        return new Row(index, new MeterReadingItem(start, end, kwh, StationId: cells[0]), null);
    }

    private static DateTimeOffset? Time(string text) =>
        text.EndsWith('Z') && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal, out var t) ? t : null;

    private static TimeSpan? Duration(string text)
    {
        try
        {
            // Longer lengths are refused here, before they could overflow the end; the reading rules then ask for 1 to 60 minutes.
            return text.StartsWith('P') && XmlConvert.ToTimeSpan(text) is var t && t >= TimeSpan.Zero && t <= TimeSpan.FromDays(1) ? t : null;
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            return null;
        }
    }
}
