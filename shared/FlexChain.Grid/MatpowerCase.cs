using System.Globalization;

namespace FlexChain.Grid;

// Power-flow numerics use double throughout this project: they are physics (per-unit voltages, MW flows), not money.
// Money and traded energy stay decimal (FlexChain.Domain's quantities) wherever they meet the market.

/// <summary>One bus of a MATPOWER case, in MATPOWER's units after its own conversion (MW, MVAr, p.u.).</summary>
/// <param name="Id">MATPOWER's bus number.</param>
/// <param name="Type">1 load (PQ), 2 generator (PV), 3 reference (slack).</param>
/// <param name="LoadMw">Active load Pd (MW).</param>
/// <param name="LoadMvar">Reactive load Qd (MVAr).</param>
/// <param name="VmaxPu">Upper voltage bound (p.u.).</param>
/// <param name="VminPu">Lower voltage bound (p.u.).</param>
/// <param name="GenerationMw">The scheduled output Pg of the in-service generators at the bus (MW).</param>
public sealed record Bus(int Id, int Type, double LoadMw, double LoadMvar, double VmaxPu, double VminPu, double GenerationMw)
{
    /// <summary>Whether this is the case's reference (slack) bus.</summary>
    public bool IsSlack => Type == 3;
}

/// <summary>One branch of a MATPOWER case, impedances in p.u. on the case's MVA base.</summary>
/// <param name="From">From bus.</param>
/// <param name="To">To bus.</param>
/// <param name="R">Resistance (p.u.).</param>
/// <param name="X">Reactance (p.u.).</param>
/// <param name="RateAMva">Long-term rating (MVA); 0 means none given (every case here: limits come from <see cref="StudySettings"/>).</param>
/// <param name="Ratio">Transformer tap ratio; 0 in MATPOWER means a line (ratio 1).</param>
public sealed record Branch(int From, int To, double R, double X, double RateAMva, double Ratio)
{
    /// <summary>The tap ratio with MATPOWER's convention applied (0 is 1).</summary>
    public double Tap => Ratio == 0 ? 1 : Ratio;

    public override string ToString() => $"{From}-{To}";
}

/// <summary>
/// A MATPOWER test case read from the bus, generator and branch tables in <c>data/grids</c> (embedded in this assembly), with the unit conversion
/// MATPOWER's own case file applies on load: impedances in ohms divided by (baseKV^2 / baseMVA), loads in kW or kVA
/// to MW (kVA times the power factor, MVAr from the same power factor). See data/grids/README.md.
/// </summary>
public sealed record MatpowerCase(string Name, double BaseMva, IReadOnlyList<Bus> Buses, IReadOnlyList<Branch> Branches)
{
    /// <summary>The names of the cases shipped with the study.</summary>
    public static readonly IReadOnlyList<string> Shipped = ["case14", "case69", "case141"];

    /// <summary>Loads a shipped case by name (<c>case14</c>, <c>case69</c>, <c>case141</c>).</summary>
    /// <exception cref="ArgumentException">No case of that name is shipped.</exception>
    public static MatpowerCase Load(string name)
    {
        var meta = Rows("cases").FirstOrDefault(r => r[0] == name)
            ?? throw new ArgumentException($"No grid case '{name}' in data/grids/cases.csv.", nameof(name));
        var baseMva = Number(meta[1]);
        var impedanceInOhm = meta[2] switch
        {
            "pu" => false,
            "ohm" => true,
            _ => throw new InvalidDataException($"{name}: impedance unit '{meta[2]}' is neither pu nor ohm."),
        };
        var loadToMw = meta[3] switch { "MW" => 1.0, "kW" or "kVA" => 1e-3, _ => throw new InvalidDataException($"{name}: load unit '{meta[3]}'.") };
        double? powerFactor = meta[3] == "kVA" ? Number(meta[4]) : null;

        var generation = Rows($"{name}.gen").Where(r => Number(r[7]) != 0)
            .GroupBy(r => (int)Number(r[0])).ToDictionary(g => g.Key, g => g.Sum(r => Number(r[1])));
        var bus = Rows($"{name}.bus").Select(r =>
        {
            double p = Number(r[2]) * loadToMw, q = Number(r[3]) * loadToMw;
            // kVA with a power factor (case141): P = S pf, Q = S sin(acos pf), exactly as the case file converts.
            if (powerFactor is { } pf) (p, q) = (p * pf, p * Math.Sin(Math.Acos(pf)));
            var id = (int)Number(r[0]);
            return (Bus: new Bus(id, (int)Number(r[1]), p, q, Number(r[11]), Number(r[12]), generation.GetValueOrDefault(id)), BaseKv: Number(r[9]));
        }).ToList();
        var zBase = impedanceInOhm ? bus[0].BaseKv * bus[0].BaseKv / baseMva : 1.0;
        var branches = Rows($"{name}.branch")
            .Where(r => Number(r[10]) != 0) // out-of-service branches (none in the shipped cases) carry nothing
            .Select(r => new Branch((int)Number(r[0]), (int)Number(r[1]), Number(r[2]) / zBase, Number(r[3]) / zBase, Number(r[5]), Number(r[8])))
            .ToList();
        return new MatpowerCase(name, baseMva, bus.Select(b => b.Bus).ToList(), branches);
    }

    private static IEnumerable<string[]> Rows(string table)
    {
        using var stream = typeof(MatpowerCase).Assembly.GetManifestResourceStream($"grids/{table}.csv")
            ?? throw new InvalidDataException($"data/grids/{table}.csv is not embedded.");
        using var reader = new StreamReader(stream);
        reader.ReadLine(); // header
        var rows = new List<string[]>();
        while (reader.ReadLine() is { } line)
            if (line.Length > 0) rows.Add(line.Split(','));
        return rows;
    }

    private static double Number(string text) => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
}
