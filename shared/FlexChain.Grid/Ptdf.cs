namespace FlexChain.Grid;

/// <summary>
/// The DC power flow of a meshed (transmission) grid as power transfer distribution factors: the MW that flows on each
/// branch (from-bus to to-bus) per MW injected at a bus and withdrawn at the slack bus. Lossless, flat voltages,
/// branch susceptance 1/(x tap), as MATPOWER's DC model without phase shifters.
/// </summary>
public sealed class Ptdf
{
    private readonly double[,] _factors; // [branch, bus index]
    private readonly Dictionary<int, int> _busIndex;

    /// <summary>Builds the factors of <paramref name="grid"/> with its slack bus as the reference.</summary>
    /// <exception cref="ArgumentException">The grid has no slack bus or is not connected (its susceptance matrix is singular).</exception>
    public Ptdf(MatpowerCase grid)
    {
        ArgumentNullException.ThrowIfNull(grid);
        Grid = grid;
        _busIndex = grid.Buses.Select((b, i) => (b.Id, i)).ToDictionary(p => p.Id, p => p.i);
        var slack = grid.Buses.FirstOrDefault(b => b.IsSlack) ?? throw new ArgumentException($"{grid.Name} has no slack bus.", nameof(grid));
        int n = grid.Buses.Count, s = _busIndex[slack.Id];

        // B' without the slack row and column; its inverse maps injections to angles.
        var reduced = new int[n]; // bus index -> row in the reduced matrix, -1 for the slack
        for (int i = 0, k = 0; i < n; i++) reduced[i] = i == s ? -1 : k++;
        var b = new double[n - 1, n - 1];
        foreach (var br in grid.Branches)
        {
            var y = 1 / (br.X * br.Tap);
            int f = reduced[_busIndex[br.From]], t = reduced[_busIndex[br.To]];
            if (f >= 0) b[f, f] += y;
            if (t >= 0) b[t, t] += y;
            if (f >= 0 && t >= 0) { b[f, t] -= y; b[t, f] -= y; }
        }
        var x = Invert(b, grid.Name);
        _factors = new double[grid.Branches.Count, n];
        for (var l = 0; l < grid.Branches.Count; l++)
        {
            var br = grid.Branches[l];
            var y = 1 / (br.X * br.Tap);
            int f = reduced[_busIndex[br.From]], t = reduced[_busIndex[br.To]];
            for (var i = 0; i < n; i++)
            {
                var r = reduced[i];
                if (r < 0) continue; // an injection at the slack is withdrawn there: no flow
                _factors[l, i] = y * ((f >= 0 ? x[f, r] : 0) - (t >= 0 ? x[t, r] : 0));
            }
        }
    }

    /// <summary>The grid the factors belong to.</summary>
    public MatpowerCase Grid { get; }

    /// <summary>MW on branch <paramref name="branch"/> (index into the case's branches) per MW injected at bus <paramref name="busId"/>.</summary>
    public double Factor(int branch, int busId) => _factors[branch, _busIndex[busId]];

    /// <summary>The branch flows (MW, from-bus to to-bus) for net injections per bus (MW, generation minus load; the slack balances).</summary>
    public double[] Flows(IReadOnlyDictionary<int, double> injectionMw)
    {
        ArgumentNullException.ThrowIfNull(injectionMw);
        var flows = new double[Grid.Branches.Count];
        foreach (var (bus, p) in injectionMw)
            for (var l = 0; l < flows.Length; l++) flows[l] += _factors[l, _busIndex[bus]] * p;
        return flows;
    }

    // Gauss-Jordan with partial pivoting: the reduced matrices here are at most a few dozen rows.
    private static double[,] Invert(double[,] a, string name)
    {
        var n = a.GetLength(0);
        var m = (double[,])a.Clone();
        var inv = new double[n, n];
        for (var i = 0; i < n; i++) inv[i, i] = 1;
        for (var c = 0; c < n; c++)
        {
            var p = c;
            for (var r = c + 1; r < n; r++) if (Math.Abs(m[r, c]) > Math.Abs(m[p, c])) p = r;
            if (Math.Abs(m[p, c]) < 1e-12) throw new ArgumentException($"{name} is not connected: its susceptance matrix is singular.");
            for (var k = 0; k < n; k++)
            {
                (m[c, k], m[p, k]) = (m[p, k], m[c, k]);
                (inv[c, k], inv[p, k]) = (inv[p, k], inv[c, k]);
            }
            var d = m[c, c];
            for (var k = 0; k < n; k++) { m[c, k] /= d; inv[c, k] /= d; }
            for (var r = 0; r < n; r++)
            {
                if (r == c || m[r, c] == 0) continue;
                var f = m[r, c];
                for (var k = 0; k < n; k++) { m[r, k] -= f * m[c, k]; inv[r, k] -= f * inv[c, k]; }
            }
        }
        return inv;
    }
}
