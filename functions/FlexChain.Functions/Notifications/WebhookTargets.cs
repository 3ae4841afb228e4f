using System.Net;
using System.Net.Sockets;

namespace FlexChain.Functions.Notifications;

/// <summary>
/// Where webhooks may be delivered: only to public unicast addresses. The check runs when the connection is made, on
/// the addresses the host name resolves to then (<see cref="ConnectCallback"/> is the handler's connect callback), so a
/// name that resolves to an internal address, or is re-pointed there after registration, is never connected to.
/// </summary>
public static class WebhookTargets
{
    /// <summary>Refused ranges: loopback, private, link-local, CGNAT, benchmark, documentation, multicast, NAT64, unspecified, reserved; IPv4-mapped forms alike.</summary>
    private static readonly (IPAddress Network, int Prefix)[] Refused =
    [
        (IPAddress.Parse("0.0.0.0"), 8), (IPAddress.Parse("10.0.0.0"), 8), (IPAddress.Parse("100.64.0.0"), 10), (IPAddress.Parse("127.0.0.0"), 8),
        (IPAddress.Parse("169.254.0.0"), 16), (IPAddress.Parse("172.16.0.0"), 12), (IPAddress.Parse("192.0.0.0"), 24), (IPAddress.Parse("192.0.2.0"), 24), (IPAddress.Parse("192.168.0.0"), 16),
        (IPAddress.Parse("198.51.100.0"), 24), (IPAddress.Parse("203.0.113.0"), 24),
        (IPAddress.Parse("198.18.0.0"), 15), (IPAddress.Parse("224.0.0.0"), 4), (IPAddress.Parse("240.0.0.0"), 4),
        (IPAddress.Parse("::"), 128), (IPAddress.Parse("::1"), 128), (IPAddress.Parse("64:ff9b::"), 96), (IPAddress.Parse("64:ff9b:1::"), 48),
        (IPAddress.Parse("fc00::"), 7), (IPAddress.Parse("fe80::"), 10), (IPAddress.Parse("ff00::"), 8),
    ];

    /// <summary>Whether a webhook may connect to <paramref name="address"/> (false for every refused range).</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return !Refused.Any(r => r.Network.AddressFamily == address.AddressFamily && InRange(address, r.Network, r.Prefix));
    }

    private static bool InRange(IPAddress address, IPAddress network, int prefix)
    {
        var (a, n) = (address.GetAddressBytes(), network.GetAddressBytes());
        for (var bit = 0; bit < prefix; bit++)
            if ((a[bit / 8] & (0x80 >> (bit % 8))) != (n[bit / 8] & (0x80 >> (bit % 8)))) return false;
        return true;
    }

    /// <summary>
    /// The connect callback of the webhook handler: resolves the name itself and connects only to an allowed address
    /// (any when <paramref name="allowPrivate"/>, a development and test setting).
    /// </summary>
    /// <exception cref="WebhookTargetRefusedException">Every address the name resolves to is refused.</exception>
    public static Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>> ConnectCallback(bool allowPrivate) => async (context, cancellationToken) =>
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = addresses.Where(a => allowPrivate || IsPublic(a)).ToList();
        if (allowed.Count == 0) throw new WebhookTargetRefusedException(host);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed.ToArray(), context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    };
}

/// <summary>A webhook's host resolved only to addresses deliveries may not reach.</summary>
public sealed class WebhookTargetRefusedException(string host) : Exception($"{host} resolves only to non-public addresses");
