namespace FlexChain.Grid;

/// <summary>
/// The linearised DistFlow model of a radial (distribution) feeder (Baran and Wu, 1989, without the loss terms): the
/// active and reactive flow into a bus is the sum of the loads below it, and the squared voltage drops along each
/// branch by 2 (r P + x Q), all in p.u. on the case's MVA base. The root is the case's slack bus at 1 p.u.
/// </summary>
public sealed class LinDistFlow
{
    private readonly Dictionary<int, int> _busIndex;
    private readonly int[] _parentBranch; // bus index -> the branch feeding it, -1 at the root
    private readonly int[] _childBus;     // branch -> its downstream bus index
    private readonly int[] _order;        // bus indices, root first, every parent before its children

    /// <summary>Orients <paramref name="grid"/>'s branches away from its slack bus.</summary>
    /// <exception cref="ArgumentException">The grid has no slack bus, a loop, or a bus the root does not reach.</exception>
    public LinDistFlow(MatpowerCase grid)
    {
        ArgumentNullException.ThrowIfNull(grid);
        Grid = grid;
        var n = grid.Buses.Count;
        _busIndex = grid.Buses.Select((b, i) => (b.Id, i)).ToDictionary(p => p.Id, p => p.i);
        if (grid.Branches.Count != n - 1) throw new ArgumentException($"{grid.Name} is not radial: {n} buses, {grid.Branches.Count} branches.", nameof(grid));
        var root = grid.Buses.FindIndex(b => b.IsSlack);
        if (root < 0) throw new ArgumentException($"{grid.Name} has no slack bus.", nameof(grid));
        Root = grid.Buses[root].Id;

        var adjacent = new List<(int Branch, int Bus)>[n];
        for (var i = 0; i < n; i++) adjacent[i] = [];
        for (var l = 0; l < grid.Branches.Count; l++)
        {
            int f = _busIndex[grid.Branches[l].From], t = _busIndex[grid.Branches[l].To];
            adjacent[f].Add((l, t));
            adjacent[t].Add((l, f));
        }
        _parentBranch = Enumerable.Repeat(-2, n).ToArray();
        _childBus = new int[grid.Branches.Count];
        _parentBranch[root] = -1;
        var order = new List<int> { root };
        for (var k = 0; k < order.Count; k++)
            foreach (var (l, next) in adjacent[order[k]])
            {
                if (_parentBranch[next] != -2) continue;
                _parentBranch[next] = l;
                _childBus[l] = next;
                order.Add(next);
            }
        if (order.Count != n) throw new ArgumentException($"{grid.Name}: {n - order.Count} buses are not reached from the root.", nameof(grid));
        _order = [.. order];
    }

    /// <summary>The feeder.</summary>
    public MatpowerCase Grid { get; }

    /// <summary>The root (slack) bus id: where the feeder hangs under the grid above.</summary>
    public int Root { get; }

    /// <summary>The bus ids of the path from the root down to <paramref name="busId"/>, root first.</summary>
    public IReadOnlyList<int> PathTo(int busId)
    {
        var path = new List<int>();
        for (var i = _busIndex[busId]; i >= 0; i = Parent(i)) path.Add(Grid.Buses[i].Id);
        path.Reverse();
        return path;
    }

    /// <summary>The branch (index into the case's branches) that feeds <paramref name="busId"/>, or -1 at the root.</summary>
    public int FeedingBranch(int busId) => _parentBranch[_busIndex[busId]];

    /// <summary>Whether <paramref name="busId"/> is <paramref name="ancestorId"/> or below it.</summary>
    public bool IsBelow(int busId, int ancestorId)
    {
        var a = _busIndex[ancestorId];
        for (var i = _busIndex[busId]; i >= 0; i = Parent(i))
            if (i == a) return true;
        return false;
    }

    /// <summary>The bus ids ordered deepest first (every child before its parent).</summary>
    public IEnumerable<int> BottomUp() => Enumerable.Reverse(_order).Select(i => Grid.Buses[i].Id);

    /// <summary>Solves the feeder for loads per bus (MW, MVAr; consumption positive).</summary>
    /// <returns>Per branch the active flow (MW, downstream positive), and per bus the squared voltage (p.u.^2).</returns>
    public (double[] FlowMw, double[] VoltageSquared) Solve(IReadOnlyList<double> loadMw, IReadOnlyList<double> loadMvar)
    {
        ArgumentNullException.ThrowIfNull(loadMw);
        ArgumentNullException.ThrowIfNull(loadMvar);
        int n = Grid.Buses.Count;
        double[] p = new double[n], q = new double[n];
        for (var i = 0; i < n; i++) { p[i] = loadMw[i]; q[i] = loadMvar[i]; }
        // Children before parents: each bus adds what it and its subtree draw to its parent.
        for (var k = n - 1; k > 0; k--)
        {
            var i = _order[k];
            var parent = Parent(i);
            p[parent] += p[i];
            q[parent] += q[i];
        }
        var flow = new double[Grid.Branches.Count];
        var v = new double[n];
        v[_order[0]] = 1;
        for (var k = 1; k < n; k++)
        {
            var i = _order[k];
            var br = Grid.Branches[_parentBranch[i]];
            flow[_parentBranch[i]] = p[i];
            v[i] = v[Parent(i)] - 2 * (br.R * p[i] + br.X * q[i]) / Grid.BaseMva;
        }
        return (flow, v);
    }

    /// <summary>
    /// How the squared voltage at <paramref name="busId"/> changes per MW more consumed at <paramref name="atBusId"/>:
    /// -2/baseMVA times the resistance of the branches the two paths from the root share.
    /// </summary>
    public double VoltageSquaredPerMw(int busId, int atBusId)
    {
        var shared = PathTo(busId).Intersect(PathTo(atBusId)).Skip(1); // the root has no feeding branch
        return -2 * shared.Sum(b => Grid.Branches[FeedingBranch(b)].R) / Grid.BaseMva;
    }

    /// <summary>The downstream bus id of branch <paramref name="branch"/>.</summary>
    public int Downstream(int branch) => Grid.Buses[_childBus[branch]].Id;

    private int Parent(int i) => _parentBranch[i] < 0 ? -1 : OtherEnd(_parentBranch[i], i);

    private int OtherEnd(int branch, int i)
    {
        var br = Grid.Branches[branch];
        var f = _busIndex[br.From];
        return f == i ? _busIndex[br.To] : f;
    }
}

internal static class ListExtensions
{
    public static int FindIndex<T>(this IReadOnlyList<T> list, Func<T, bool> match)
    {
        for (var i = 0; i < list.Count; i++) if (match(list[i])) return i;
        return -1;
    }
}
