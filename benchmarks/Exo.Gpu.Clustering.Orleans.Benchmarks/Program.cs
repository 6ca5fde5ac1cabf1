using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Exo.Gpu.Clustering.Orleans.Benchmarks.ClusterLeaseBenchmarks).Assembly).Run(args);
