namespace FlexChain.Domain;

/// <summary>
/// Where a station sits when a request is posted above the transformers (a TSO's balancing request on an HV/MV
/// substation): its MV/LV transformer (with <see cref="GridNode.AncestorIds"/>) and the current prequalification
/// requirements of that transformer's DSO (null when it has none).
/// </summary>
public sealed record StationSite(GridNode Transformer, PrequalificationRequirements? Requirements)
{
    /// <summary>
    /// Why <paramref name="station"/> may not be offered or awarded on a request posted on <paramref name="node"/> at
    /// <paramref name="at"/>, or null when it may. On an MV/LV transformer: <see cref="Eligibility.Problem"/> against the
    /// request DSO's <paramref name="requirements"/>. On a node above: the station must sit below that node (rule
    /// <c>node</c>) and be eligible with its own transformer's DSO, as for that DSO's own requests.
    /// </summary>
    /// <param name="sites">By station id; required for a request above the transformers (a station without one is not below the node).</param>
    public static QualificationReason? Problem(
        ChargingStation station, GridNode node, PrequalificationRequirements? requirements, IReadOnlyDictionary<string, StationSite>? sites, DateTimeOffset at)
    {
        if (node.Kind == GridNodeKind.MvLvTransformer) return Eligibility.Problem(station, node, requirements, at);
        if (sites?.GetValueOrDefault(station.Id) is not { } site || site.Transformer.Id != station.TransformerId || !site.Transformer.AncestorIds.Contains(node.Id))
            return new("node", $"Station {station.Id} is not in the grid below the request's node {node.Id}.");
        return Eligibility.Problem(station, site.Transformer, site.Requirements, at);
    }
}
