using Exo.Gpu.Clustering.Cli;

using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};

return await CliApp.RunAsync(args, CliContext.FromConsole(), cts.Token).ConfigureAwait(false);
