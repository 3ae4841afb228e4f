using FlexChain.Verification.Cli;

namespace FlexChain.Verification.Tests;

public sealed class VerifyCommandTests
{
    private const string Escrow = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
    private static readonly string Award = "0x" + new string('a', 56) + "00000001";

    private static string[] Args(params string[] target) =>
        ["--rpc", "http://127.0.0.1:8545", "--escrow", Escrow, "--api", "http://127.0.0.1:7071/api", .. target];

    [Fact]
    public void Parse_Award_ReadsEveryOption()
    {
        var a = VerifyArguments.Parse(Args("--award", Award));

        Assert.Equal(new Uri("http://127.0.0.1:8545"), a.Rpc);
        Assert.Equal(Escrow, a.Escrow.ToString());
        Assert.Equal("http://127.0.0.1:7071/api/", a.Api.AbsoluteUri);
        Assert.Equal(Award, a.Award.ToString());
        Assert.Null(a.Wallet);
    }

    [Fact]
    public void Parse_WalletWithFromBlock_AcceptsEqualsForm()
    {
        var a = VerifyArguments.Parse(Args("--wallet=0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "--from-block", "17"));

        Assert.Equal(17UL, a.FromBlock);
        Assert.NotNull(a.Wallet);
    }

    [Fact]
    public void Parse_ChainId_IsOptional()
    {
        Assert.Null(VerifyArguments.Parse(Args("--award", Award)).ChainId);
        Assert.Equal(31337UL, VerifyArguments.Parse(Args("--award", Award, "--chain-id", "31337")).ChainId);
    }

    [Theory]
    [InlineData("--chain-id '-1' is malformed", new[] { "--award", "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--chain-id", "-1" })]
    [InlineData("exactly one of", new string[0])]
    [InlineData("exactly one of", new[] { "--award", "0x00", "--tx", "0x00" })]
    [InlineData("--award '0x1234' is malformed", new[] { "--award", "0x1234" })]
    [InlineData("--from-block goes with --wallet", new[] { "--tx", "0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--from-block", "1" })]
    [InlineData("unknown option --amount", new[] { "--amount", "1" })]
    [InlineData("--wallet needs a value", new[] { "--wallet" })]
    [InlineData("--rpc is given twice", new[] { "--rpc", "http://x" })]
    public void Parse_BadCommandLine_SaysWhatIsWrong(string message, string[] target) =>
        Assert.Contains(message, Assert.Throws<UsageException>(() => VerifyArguments.Parse(Args(target))).Message);

    [Fact]
    public void Parse_MissingRpc_IsRequired() =>
        Assert.Contains("--rpc is required", Assert.Throws<UsageException>(() => VerifyArguments.Parse(["--escrow", Escrow, "--api", "http://x", "--award", Award])).Message);

    [Fact]
    public async Task RunAsync_UsageError_ExitsWith2AndPrintsUsage()
    {
        var (output, error) = (new StringWriter(), new StringWriter());

        var code = await VerifyCommand.RunAsync(Args(), output, error, null, default);

        Assert.Equal(VerifyCommand.UsageError, code);
        Assert.Contains("usage: flexchain-verify", error.ToString());
        Assert.Empty(output.ToString());
    }

    [Fact]
    public async Task RunAsync_Help_ExitsWith0()
    {
        var output = new StringWriter();

        Assert.Equal(0, await VerifyCommand.RunAsync(["--help"], output, new StringWriter(), null, default));
        Assert.Contains("--wallet", output.ToString());
    }

    [Fact]
    public async Task RunAsync_NodeUnreachable_ExitsWith1()
    {
        var error = new StringWriter();
        string[] args = ["--rpc", "http://127.0.0.1:9", "--escrow", Escrow, "--api", "http://127.0.0.1:9", "--award", Award];

        Assert.Equal(VerifyCommand.NotVerified, await VerifyCommand.RunAsync(args, new StringWriter(), error, null, default));
        Assert.Contains("could not verify", error.ToString());
    }
}
