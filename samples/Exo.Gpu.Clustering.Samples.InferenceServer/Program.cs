using Exo.Gpu.Clustering.Samples.InferenceServer;

// An inference server on one host's GPUs (a simulated cluster of 8 H100s unless appsettings.json says otherwise):
// POST /infer?gib=N&ms=D takes a lease of N GiB with a deadline, "runs" for D ms, releases; GET /gpus, /healthz, /metrics.
await using var app = InferenceServerApp.Create(args);
await app.RunAsync();
