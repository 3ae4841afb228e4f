using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("FlexChain.Messaging.Tests")]
