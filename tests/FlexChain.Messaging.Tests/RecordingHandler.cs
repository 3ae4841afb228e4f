using System.Net;

namespace FlexChain.Messaging.Tests;

/// <summary>An in-process HTTP handler that records requests and answers with a canned response (no network).</summary>
internal sealed class RecordingHandler(HttpStatusCode status = HttpStatusCode.Created) : HttpMessageHandler
{
    public List<HttpRequestMessage> Requests { get; } = [];

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Add(request);
        return Task.FromResult(new HttpResponseMessage(status));
    }
}
