using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("FlexChain.Storage.Tests")]
// FlexChain.Messaging reuses the connection-string parser and the HMAC signing helper (one parser, one signer).
[assembly: InternalsVisibleTo("FlexChain.Messaging")]
