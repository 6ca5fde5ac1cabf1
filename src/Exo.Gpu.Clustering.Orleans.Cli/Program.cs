using Exo.Gpu.Clustering.Orleans.Cli;

using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};
return await ClusterCliApp.RunAsync(args, Console.Out, Console.Error, stop.Token);
