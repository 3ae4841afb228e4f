using FlexChain.Domain;
using Google.OrTools.LinearSolver;

namespace FlexChain.Grid;

/// <summary>
/// The common market (DOMAIN.md section 7): one order book for the TSO's need and every grid limit, one clearing. An
/// LP (OR-Tools' GLOP): per station, reduction r and increase u (MW, within its capacities, r/R + u/U &lt;= 1 so the two
/// never add up to more than the station has) and the part t of its offer in the TSO's direction that goes to the TSO;
/// sum of t = the TSO's need; every limit of <see cref="LinearGrid"/> holds for the sum of all activations; minimise
/// the pay-as-bid cost. The rest of a station's activation goes to the operator it is connected to (the grid's
/// buyer). The LP may split one station between the two buyers, which FlexChain's booking rule (one award per station
/// and window) forbids: it is the lower bound ALEXANDER's common market also is, and the sequential schemes are
/// measured against it. The LP works in double (prices converted once); awards are rounded to the watt-hour and
/// costed in decimal.
/// </summary>
public static class CommonMarket
{
    /// <summary>Clears <paramref name="study"/> in one LP.</summary>
    /// <exception cref="InvalidOperationException">The limits cannot be met with the offers at hand (the LP is infeasible).</exception>
    public static IReadOnlyList<Activation> Solve(StudyCase study)
    {
        ArgumentNullException.ThrowIfNull(study);
        var grid = study.Grid;
        var hours = study.Window.Duration.TotalHours;
        var d = study.Need.Direction;
        using var solver = Solver.CreateSolver("GLOP") ?? throw new InvalidOperationException("OR-Tools has no GLOP solver.");
        var limits = grid.Limits.Select((l, i) => solver.MakeConstraint(l.Lower - l.Base, l.Upper - l.Base, $"limit{i}")).ToArray();
        var need = solver.MakeConstraint(study.Megawatts(study.Need.Energy), study.Megawatts(study.Need.Energy), "tso-need");
        var objective = solver.Objective();
        var vars = new List<(FlexResource R, Variable Reduce, Variable Increase, Variable Tso)>();
        foreach (var r in study.Resources)
        {
            double down = (double)r.Reducible.Value / 1000, up = (double)r.Increasible.Value / 1000;
            var reduce = solver.MakeNumVar(0, down, $"r-{r.StationId}");
            var increase = solver.MakeNumVar(0, up, $"u-{r.StationId}");
            var tso = solver.MakeNumVar(0, double.PositiveInfinity, $"t-{r.StationId}");
            var own = solver.MakeConstraint(double.NegativeInfinity, 0, $"own-{r.StationId}"); // t <= the activation in the TSO's direction
            own.SetCoefficient(tso, 1);
            own.SetCoefficient(d == Direction.ReduceConsumption ? reduce : increase, -1);
            need.SetCoefficient(tso, 1);
            if (down > 0 && up > 0)
            {
                var one = solver.MakeConstraint(double.NegativeInfinity, 1, $"one-{r.StationId}");
                one.SetCoefficient(reduce, 1 / down);
                one.SetCoefficient(increase, 1 / up);
            }
            var s = grid.Sensitivity(r.Location);
            for (var i = 0; i < s.Count; i++)
            {
                if (s[i] == 0) continue;
                limits[i].SetCoefficient(increase, s[i]);
                limits[i].SetCoefficient(reduce, -s[i]);
            }
            // EUR per MW over the window: EUR/kWh x 1000 kWh/MWh x hours.
            objective.SetCoefficient(reduce, (double)r.ReducePrice.Value * 1000 * hours);
            objective.SetCoefficient(increase, (double)r.IncreasePrice.Value * 1000 * hours);
            vars.Add((r, reduce, increase, tso));
        }
        objective.SetMinimization();
        var status = solver.Solve();
        if (status != Solver.ResultStatus.OPTIMAL)
            throw new InvalidOperationException($"The common market has no solution ({status}): the offers cannot meet the need within the grid limits.");

        var tsoId = grid.Hierarchy.Tso.Id;
        var bought = new List<Activation>();
        foreach (var (r, reduce, increase, tso) in vars)
            foreach (var (dir, v) in new[] { (Direction.ReduceConsumption, reduce), (Direction.IncreaseConsumption, increase) })
            {
                var total = study.Energy(v.SolutionValue());
                if (total.Value <= 0) continue;
                var toTso = dir == d ? KilowattHours.Min(total, study.Energy(tso.SolutionValue())) : KilowattHours.Zero;
                if (toTso.Value > 0) bought.Add(new Activation(r, dir, tsoId, toTso, r.Price(dir)));
                if (total > toTso) bought.Add(new Activation(r, dir, r.Location.OperatorId, total - toTso, r.Price(dir)));
            }
        return bought;
    }
}
