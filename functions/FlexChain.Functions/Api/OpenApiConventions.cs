using FlexChain.Functions.Auth;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace FlexChain.Functions.Api;

/// <summary>
/// Completes the OpenAPI document: the API key security scheme (required everywhere except registration and health),
/// the <c>Idempotency-Key</c> header on creating POSTs, the RFC 7807 problem responses every operation can give, and
/// a description of every field (<see cref="FieldDescriptions"/>) stating each quantity's number format (<see cref="Wire"/>).
/// </summary>
public static class OpenApiConventions
{
    private const string Problem = "Problem";

    public static void Configure(OpenApiOptions options)
    {
        options.AddSchemaTransformer((schema, context, _) =>
        {
            if (context.JsonPropertyInfo is { } p && FieldDescriptions.For(p.DeclaringType.Name, p.Name) is { } description)
                schema.Description = description;
            return Task.CompletedTask;
        });
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "FlexChain market API";
            document.Info.Description = "A local flexibility market: DSOs buy flexibility from charge point operators. " +
                "Authenticate with the X-Api-Key header (issued once at registration). Errors are RFC 7807 problems with `field` and `rule`. " +
                "Lists take `limit` (1-200) and an opaque `cursor` and return `{ items, nextCursor }`.";
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[ApiKeys.Scheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey, In = ParameterLocation.Header, Name = ApiKeys.Header,
                Description = "fck_{participantId}_{secret}, issued once at registration.",
            };
            document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
            // A property whose type is a component schema is a reference (or, when nullable, a oneOf of null and the
            // reference) that the schema transformer did not reach: its own description goes on it here.
            foreach (var (name, component) in document.Components.Schemas)
                foreach (var (property, schema) in component.Properties ?? new Dictionary<string, IOpenApiSchema>())
                {
                    if (FieldDescriptions.For(name, property) is not { } description) continue;
                    if (schema is OpenApiSchemaReference reference) reference.Description = description;
                    else if (schema is OpenApiSchema { Description: null } inline) inline.Description = description;
                }
            document.Components.Schemas[Problem] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "RFC 7807 problem details; `field` names the input at fault and `rule` the rule it broke.",
                Properties = new Dictionary<string, IOpenApiSchema>
                {
                    ["type"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A URI reference identifying the problem type." },
                    ["title"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "A short summary of the problem type." },
                    ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer, Description = "The HTTP status code." },
                    ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "What went wrong, naming the rule and, for a deadline, its time." },
                    ["field"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The input at fault." },
                    ["rule"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "The rule it broke, machine-readable (e.g. gate-closed)." },
                    ["errors"] = new OpenApiSchema { Type = JsonSchemaType.Object, Description = "Validation messages by field (400 only)." },
                },
            };
            return Task.CompletedTask;
        });
        options.AddOperationTransformer((operation, context, _) =>
        {
            var metadata = context.Description.ActionDescriptor.EndpointMetadata;
            var anonymous = metadata.OfType<Microsoft.AspNetCore.Authorization.IAllowAnonymous>().Any()
                            || !metadata.OfType<Microsoft.AspNetCore.Authorization.IAuthorizeData>().Any();
            if (!anonymous)
                operation.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeys.Scheme, context.Document)] = [] }];
            var method = context.Description.HttpMethod;
            if (IsCreating(context))
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = IdempotencyFilter<object>.Header, In = ParameterLocation.Header, Required = false,
                    Description = "Makes a retry safe: the same key and body return the first answer; the same key with another body is 422. A key is remembered until the end of the UTC day after its first use (24 to 48 hours).",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String, MaxLength = 255 },
                });
            }
            var versioned = context.Description.ActionDescriptor.EndpointMetadata.OfType<VersionedMarker>().Any();
            var guarded = versioned && method is "PUT" or "DELETE";   // If-Match applies to changes
            if (versioned && operation.Responses?.TryGetValue("200", out var ok) == true && ok is OpenApiResponse okResponse)
            {
                okResponse.Headers ??= new Dictionary<string, IOpenApiHeader>();
                okResponse.Headers["ETag"] = new OpenApiHeader
                {
                    Description = "The version returned, as a strong entity tag (\"3\"); send it back in If-Match to change only this version.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                };
            }
            if (guarded)
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = "If-Match", In = ParameterLocation.Header, Required = false,
                    Description = "Applies the change only to the version you read: the ETag of a GET (such as \"3\"), or *. Another version is refused with 412.",
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
            }
            operation.Responses ??= new OpenApiResponses();
            var codes = new List<string> { "400" };
            if (guarded) codes.Add("412");
            if (!anonymous) codes.AddRange(["401", "403"]);
            if (context.Description.RelativePath?.Contains('{') == true) codes.Add("404");
            if (method is "POST" or "PUT") codes.AddRange(["409", "413", "415", "422"]);
            if (method is "DELETE") codes.AddRange(["409"]);
            codes.Add("429"); // every route is under the rate limits (Hosting/Limits.cs)
            foreach (var code in codes)
                operation.Responses.TryAdd(code, new OpenApiResponse
                {
                    Description = Problems.TitleFor(int.Parse(code, System.Globalization.CultureInfo.InvariantCulture)),
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/problem+json"] = new() { Schema = new OpenApiSchemaReference(Problem, context.Document) },
                    },
                    Headers = code == "429"
                        ? new Dictionary<string, IOpenApiHeader>
                        {
                            ["Retry-After"] = new OpenApiHeader
                            {
                                Description = "Seconds to wait before sending again.",
                                Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
                            },
                        }
                        : null,
                });
            return Task.CompletedTask;
        });
    }

    /// <summary>Whether the operation is a creating POST that accepts an Idempotency-Key (marked by <see cref="IdempotentMarker"/>).</summary>
    private static bool IsCreating(OpenApiOperationTransformerContext context) =>
        context.Description.ActionDescriptor.EndpointMetadata.OfType<IdempotentMarker>().Any();
}

/// <summary>Endpoint metadata: this POST accepts an <c>Idempotency-Key</c> header.</summary>
public sealed class IdempotentMarker;
