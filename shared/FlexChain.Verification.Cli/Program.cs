using FlexChain.Verification.Cli;

using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
return await VerifyCommand.RunAsync(args, Console.Out, Console.Error, null, cancel.Token);
