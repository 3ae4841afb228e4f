using FlexChain.Ethereum.Abi;

namespace FlexChain.Ethereum;

/// <summary>
/// A deployed contract reached through one <see cref="TransactionSender"/>: the building block of typed contract
/// services (wrap it and expose one method per contract function with .NET types).
/// </summary>
public sealed class EthContract
{
    private readonly TransactionSender _sender;

    /// <summary>The contract at <paramref name="address"/>, called and transacted with through <paramref name="sender"/>.</summary>
    public EthContract(EthAddress address, TransactionSender sender)
    {
        ArgumentNullException.ThrowIfNull(sender);
        Address = address;
        _sender = sender;
    }

    /// <summary>The contract address.</summary>
    public EthAddress Address { get; }

    /// <summary>Calls a view function (eth_call at the latest block) and decodes its outputs.</summary>
    /// <exception cref="ContractRevertException">The call reverts.</exception>
    /// <exception cref="FormatException">The output does not match the function's returns clause.</exception>
    public async Task<object?[]> QueryAsync(AbiFunction function, IReadOnlyList<object?> arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        var output = await _sender.CallAsync(Address, function.EncodeCall([.. arguments]), cancellationToken).ConfigureAwait(false);
        return function.DecodeOutput(output);
    }

    /// <summary>Sends a transaction calling <paramref name="function"/>; returns its hash without waiting.</summary>
    /// <exception cref="ContractRevertException">Gas estimation reverts.</exception>
    public Task<Hash32> RequestAsync(AbiFunction function, IReadOnlyList<object?> arguments, Wei value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        return _sender.SendAsync(Address, function.EncodeCall([.. arguments]), value, cancellationToken);
    }

    /// <summary>Sends a transaction calling <paramref name="function"/> and waits for its receipt with the sender's confirmations.</summary>
    /// <exception cref="ContractRevertException">Estimation reverts or the mined transaction reverted.</exception>
    /// <exception cref="TimeoutException">No receipt before the sender's deadline.</exception>
    public Task<TransactionReceipt> RequestAndWaitForReceiptAsync(
        AbiFunction function, IReadOnlyList<object?> arguments, Wei value, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(function);
        return _sender.SendAndWaitForReceiptAsync(Address, function.EncodeCall([.. arguments]), value, cancellationToken);
    }

    /// <summary>The decoded values of every <paramref name="event"/> this contract emitted in <paramref name="receipt"/>, in log order.</summary>
    /// <exception cref="FormatException">A log with the event's topic does not decode as the event.</exception>
    public IReadOnlyList<object?[]> DecodeEvents(AbiEvent @event, TransactionReceipt receipt)
    {
        ArgumentNullException.ThrowIfNull(@event);
        ArgumentNullException.ThrowIfNull(receipt);
        return receipt.Logs
            .Where(l => l.Address == Address && l.Topics.Count > 0 && l.Topics[0] == @event.Topic)
            .Select(@event.DecodeLog)
            .ToArray();
    }
}
