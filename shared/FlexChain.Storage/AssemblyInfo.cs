using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("FlexChain.Storage.Tests")]
