namespace FlexChain.Functions.Hosting;

/// <summary>
/// An Azure Functions timer schedule: the six-field NCRONTAB form <c>{second} {minute} {hour} {day} {month} {day-of-week}</c>
/// with <c>*</c>, numbers, ranges <c>a-b</c>, steps <c>*/n</c> and <c>a-b/n</c>, and lists. Times are UTC.
/// Names of months and days and the TimeSpan form are not supported and are rejected, never misread.
/// </summary>
public sealed class Cron
{
    private static readonly (int Min, int Max)[] Ranges = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6)];
    private readonly bool[][] _allowed;

    private Cron(bool[][] allowed) => _allowed = allowed;

    public static Cron Parse(string expression)
    {
        var fields = expression.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length != 6) throw new FormatException($"'{expression}' is not a six-field NCRONTAB expression.");
        var allowed = new bool[6][];
        for (var i = 0; i < 6; i++)
        {
            var (min, max) = Ranges[i];
            allowed[i] = new bool[max + 1];
            foreach (var part in fields[i].Split(','))
            {
                var slash = part.Split('/');
                var step = slash.Length == 2 ? ParseNumber(slash[1], 1, max + 1, expression) : 1;
                var (from, to) = slash[0] switch
                {
                    "*" => (min, max),
                    var r when r.Contains('-') => (ParseNumber(r.Split('-')[0], min, max, expression), ParseNumber(r.Split('-')[1], min, max, expression)),
                    var n => (ParseNumber(n, min, max, expression), slash.Length == 2 ? max : ParseNumber(n, min, max, expression)),
                };
                for (var v = from; v <= to; v += step) allowed[i][v] = true;
            }
        }
        return new Cron(allowed);
    }

    /// <summary>The first occurrence strictly after <paramref name="after"/>, to the second.</summary>
    public DateTimeOffset Next(DateTimeOffset after)
    {
        var t = new DateTimeOffset(after.UtcTicks - after.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero).AddSeconds(1);
        var limit = t.AddYears(5);
        while (t < limit)
        {
            if (!_allowed[4][t.Month] || !_allowed[3][t.Day] || !_allowed[5][(int)t.DayOfWeek])
                t = new DateTimeOffset(t.Year, t.Month, t.Day, 0, 0, 0, TimeSpan.Zero).AddDays(1);
            else if (!_allowed[2][t.Hour])
                t = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, 0, 0, TimeSpan.Zero).AddHours(1);
            else if (!_allowed[1][t.Minute])
                t = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, t.Minute, 0, TimeSpan.Zero).AddMinutes(1);
            else if (!_allowed[0][t.Second])
                t = t.AddSeconds(1);
            else return t;
        }
        throw new InvalidOperationException("The schedule never fires.");
    }

    private static int ParseNumber(string text, int min, int max, string expression) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new FormatException($"'{text}' in '{expression}' is not a number from {min} to {max}.");
}
