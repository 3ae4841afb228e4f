using System.Net;
using System.Text;
using System.Text.Json;
using Azure;
using Azure.Core.Pipeline;

namespace FlexChain.Storage.Tests;

public sealed class ConnectionStringTests
{
    [Fact]
    public void Parse_AzuriteStyle_UsesTableEndpointAndKey()
    {
        var parsed = TableConnectionString.Parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;");

        Assert.Equal(new Uri("http://127.0.0.1:10002/devstoreaccount1"), parsed.TableEndpoint);
        Assert.Equal("devstoreaccount1", parsed.AccountName);
        Assert.Equal("a2V5", parsed.AccountKey);
    }

    [Fact]
    public void Parse_UseDevelopmentStorage_UsesWellKnownAccountOnPort10002()
    {
        var parsed = TableConnectionString.Parse("UseDevelopmentStorage=true");

        Assert.Equal(new Uri("http://127.0.0.1:10002/devstoreaccount1"), parsed.TableEndpoint);
        Assert.Equal(TableConnectionString.DevelopmentAccountName, parsed.AccountName);
    }

    [Fact]
    public void Parse_CloudAccount_BuildsEndpointFromSuffix() =>
        Assert.Equal(
            new Uri("https://acct.table.core.windows.net"),
            TableConnectionString.Parse("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5==;EndpointSuffix=core.windows.net").TableEndpoint);

    [Theory]
    [InlineData("AccountName=acct")]
    [InlineData("AccountKey=a2V5")]
    [InlineData("BlobEndpoint=http://x;SharedAccessSignature=sv=1")]
    [InlineData("garbage")]
    public void Parse_Incomplete_ThrowsFormatException(string connectionString) =>
        Assert.Throws<FormatException>(() => TableConnectionString.Parse(connectionString));
}

public sealed class TableEntityTests
{
    [Fact]
    public void Serialize_EveryType_WritesEdmAnnotations()
    {
        var entity = new TableEntity("p", "r")
        {
            ["L"] = 9007199254740993L,
            ["D"] = 1.0,
            ["W"] = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)).AddTicks(1),
            ["G"] = Guid.Parse("2f1d6b1e-1c43-4a5e-9e3a-6a2b9d4c1f00"),
            ["B"] = new byte[] { 1, 2, 3 },
            ["I"] = 7,
            ["S"] = "x",
            ["N"] = null,
        };

        using var doc = JsonDocument.Parse(TableEntityJson.Serialize(entity));
        var root = doc.RootElement;

        Assert.Equal("9007199254740993", root.GetProperty("L").GetString());
        Assert.Equal("Edm.Int64", root.GetProperty("L@odata.type").GetString());
        Assert.Equal("Edm.Double", root.GetProperty("D@odata.type").GetString());
        Assert.Equal("2024-05-06T05:08:09.0000001Z", root.GetProperty("W").GetString());
        Assert.Equal("Edm.DateTime", root.GetProperty("W@odata.type").GetString());
        Assert.Equal("2f1d6b1e-1c43-4a5e-9e3a-6a2b9d4c1f00", root.GetProperty("G").GetString());
        Assert.Equal("Edm.Guid", root.GetProperty("G@odata.type").GetString());
        Assert.Equal("AQID", root.GetProperty("B").GetString());
        Assert.Equal("Edm.Binary", root.GetProperty("B@odata.type").GetString());
        Assert.Equal(7, root.GetProperty("I").GetInt32());
        Assert.False(root.TryGetProperty("I@odata.type", out _));
        Assert.False(root.TryGetProperty("N", out _));
    }

    [Fact]
    public void Indexer_Decimal_ThrowsBecauseTablesHaveNoDecimal() =>
        Assert.Throws<ArgumentException>(() => new TableEntity("p", "r") { ["Price"] = 1.5m });

    [Fact]
    public void Indexer_UnspecifiedDateTime_Throws() =>
        Assert.Throws<ArgumentException>(() => new TableEntity("p", "r") { ["When"] = new DateTime(2024, 1, 1) });

    [Theory]
    [InlineData("PartitionKey")]
    [InlineData("RowKey")]
    [InlineData("Timestamp")]
    [InlineData("odata.etag")]
    public void Indexer_ReservedName_Throws(string name) =>
        Assert.Throws<ArgumentException>(() => new TableEntity("p", "r") { [name] = "x" });

    [Fact]
    public void GetInt32_LongOutOfRange_ThrowsOverflow() =>
        Assert.Throws<OverflowException>(() => new TableEntity("p", "r") { ["X"] = long.MaxValue }.GetInt32("X"));

    [Fact]
    public void GetString_WrongType_ThrowsInvalidOperation() =>
        Assert.Throws<InvalidOperationException>(() => new TableEntity("p", "r") { ["X"] = 1 }.GetString("X"));

    [Fact]
    public void GetGuid_Missing_ReturnsNull() => Assert.Null(new TableEntity("p", "r").GetGuid("X"));

    [Fact]
    public void GetDateTimeOffset_UtcDateTimeSet_ReturnsUtcOffset()
    {
        var entity = new TableEntity("p", "r") { ["W"] = new DateTime(2024, 1, 1, 12, 0, 0, DateTimeKind.Utc) };
        Assert.Equal(new DateTimeOffset(2024, 1, 1, 12, 0, 0, TimeSpan.Zero), entity.GetDateTimeOffset("W"));
    }
}

public sealed class TableFilterTests
{
    [Fact]
    public void Quote_SingleQuote_IsDoubled() => Assert.Equal("'O''Brien'' or ''1''=''1'", TableFilter.Quote("O'Brien' or '1'='1"));

    [Fact]
    public void Create_TypedHoles_FormatsODataLiterals()
    {
        var id = Guid.Parse("2f1d6b1e-1c43-4a5e-9e3a-6a2b9d4c1f00");
        var filter = TableFilter.Create(
            $"PartitionKey eq {"a'b"} and N gt {5L} and I lt {3} and D ge {2.0} and F eq {true} and G eq {id} and W lt {new DateTimeOffset(2024, 1, 1, 1, 0, 0, TimeSpan.FromHours(1))} and B eq {new byte[] { 0xab, 1 }}");

        Assert.Equal(
            "PartitionKey eq 'a''b' and N gt 5L and I lt 3 and D ge 2.0 and F eq true and G eq guid'2f1d6b1e-1c43-4a5e-9e3a-6a2b9d4c1f00' and W lt datetime'2024-01-01T00:00:00.0000000Z' and B eq X'ab01'",
            filter);
    }

    [Fact]
    public void Create_DecimalHole_Throws() => Assert.Throws<ArgumentException>(() => TableFilter.Create($"X eq {1.5m}"));
}

public sealed class ContinuationAndBatchParsingTests
{
    [Theory]
    [InlineData("1!8!cGFydA--", "1!8!cm93")]
    [InlineData("1!8!cGFydA--", null)]
    public void ContinuationToken_Encoded_RoundTrips(string pk, string? rk)
    {
        var token = TableClient.EncodeContinuation(pk, rk);
        Assert.NotNull(token);
        Assert.Equal((pk, rk), TableClient.DecodeContinuation(token));
    }

    [Fact]
    public void ContinuationToken_NoHeaders_IsNull() => Assert.Null(TableClient.EncodeContinuation(null, null));

    [Fact]
    public void DecodeContinuation_Garbage_ThrowsArgumentException() =>
        Assert.Throws<ArgumentException>(() => TableClient.DecodeContinuation("%%%not-a-token"));

    [Fact]
    public void IndexFromMessage_ServicePrefix_ReadsIndex()
    {
        Assert.Equal(3, TableTransactionReader.IndexFromMessage("3:The specified entity already exists.\nRequestId:x", 10));
        Assert.Null(TableTransactionReader.IndexFromMessage("The batch request body is malformed.", 10));
        Assert.Null(TableTransactionReader.IndexFromMessage("99:out of range", 10));
    }

    [Fact]
    public void Parse_MultipartAnswer_ReadsEachSubResponse()
    {
        var body = string.Join("\r\n",
            "--batchresponse_1",
            "Content-Type: multipart/mixed; boundary=changesetresponse_1",
            "",
            "--changesetresponse_1",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            "HTTP/1.1 204 No Content",
            "ETag: W/\"datetime'2024'\"",
            "",
            "",
            "--changesetresponse_1",
            "Content-Type: application/http",
            "Content-Transfer-Encoding: binary",
            "",
            "HTTP/1.1 201 Created",
            "Content-Type: application/json",
            "",
            "{\"a\":1}",
            "--changesetresponse_1--",
            "--batchresponse_1--");

        var parts = TableTransactionReader.Parse(body);

        Assert.Equal([204, 201], parts.Select(p => p.Status));
        Assert.Equal("W/\"datetime'2024'\"", parts[0].Headers["ETag"]);
        Assert.Equal("{\"a\":1}", parts[1].Body);
    }
}
