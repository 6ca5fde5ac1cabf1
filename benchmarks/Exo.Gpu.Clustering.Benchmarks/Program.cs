using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Exo.Gpu.Clustering.Benchmarks.SimulateShim).Assembly).Run(args);
