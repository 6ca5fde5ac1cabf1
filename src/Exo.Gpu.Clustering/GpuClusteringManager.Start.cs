using System.Globalization;
using Exo.Gpu.Clustering.Backends;
using Exo.Gpu.Clustering.Backends.Nvml;
using Exo.Gpu.Clustering.Devices;
using Exo.Gpu.Clustering.Scheduling;
using Exo.Gpu.Clustering.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Exo.Gpu.Clustering;

public sealed partial class GpuClusteringManager
{
    /// <summary>
    /// Creates and starts a cluster on the system clock, without logging, over the backend made from
    /// <see cref="GpuClusteringOptions.BackendChoice"/>. See <see cref="StartAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>.
    /// </summary>
    /// <param name="options">The settings; defaults (automatic backend) when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running manager.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    /// <exception cref="GpuClusterStartException">A step failed (<see cref="GpuClusterStartException.Step"/>), as for <see cref="StartAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
#pragma warning disable RS0026 // The token is optional on both overloads; they differ by the required services, so no call is ambiguous.
    public static Task<GpuClusteringManager> StartAsync(GpuClusteringOptions? options = null, CancellationToken cancellationToken = default) =>
        StartAsync(options, null, cancellationToken);

    /// <summary>
    /// Creates and starts a cluster: makes or takes the backends, discovers devices and takes a first reading of each,
    /// then starts the telemetry collector, the selector, the poller and rediscovery. If any step fails, everything
    /// started so far is stopped and disposed (the given backends too) before the exception is thrown.
    /// </summary>
    /// <param name="options">The settings; defaults (automatic backend) when <see langword="null"/>.</param>
    /// <param name="services">The clock, logger factory, meter factory and backends; defaults when <see langword="null"/>. Taken over: the manager owns <see cref="GpuClusteringServices.Backends"/>, even when the options are invalid.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running manager.</returns>
    /// <exception cref="ArgumentException">The options or the services are invalid; the message lists every problem.</exception>
    /// <exception cref="GpuClusterStartException">A step failed (<see cref="GpuClusterStartException.Step"/>): the backend could not be made, discovery failed, did not finish within <see cref="GpuClusteringOptions.DiscoveryTimeout"/> (inner <see cref="TimeoutException"/>) or found no usable device, or a device's first reading failed under <see cref="GpuClusteringOptions.StrictStart"/>. The clean-up before it is thrown takes at most <see cref="GpuClusteringOptions.StopTimeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    public static async Task<GpuClusteringManager> StartAsync(GpuClusteringOptions? options, GpuClusteringServices? services, CancellationToken cancellationToken = default)
#pragma warning restore RS0026
    {
        GpuClusteringManager manager;
        try
        {
            manager = new GpuClusteringManager(options, services);
        }
        catch (ArgumentException)
        {
            // The short path takes the backends over whatever happens, as it always has.
            await DisposeGivenAsync(options, services, NullLogger.Instance).ConfigureAwait(false);
            throw;
        }

        await manager.StartAsync(cancellationToken).ConfigureAwait(false);
        return manager;
    }

    /// <summary>
    /// Starts the manager: makes or takes the backends, discovers devices and takes a first reading of each, then
    /// starts the telemetry collector, the selector, the poller and rediscovery. If any step fails, everything started
    /// so far is stopped and disposed (the given backends too), the manager is stopped, and the exception is thrown.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start (shutdown cancels it too).</param>
    /// <returns>A task that completes when the manager runs. Calling again returns the first call's task.</returns>
    /// <exception cref="GpuClusterStartException">A step failed (<see cref="GpuClusterStartException.Step"/>): the backend could not be made, discovery failed, did not finish within <see cref="GpuClusteringOptions.DiscoveryTimeout"/> (inner <see cref="TimeoutException"/>) or found no usable device, or a device's first reading failed under <see cref="GpuClusteringOptions.StrictStart"/>. The clean-up before it is thrown takes at most <see cref="GpuClusteringOptions.StopTimeout"/>.</exception>
    /// <exception cref="OperationCanceledException">The token fired, or shutdown began during the start.</exception>
    /// <exception cref="ObjectDisposedException">Shutdown began before the start.</exception>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource started;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_state == Closing, this);
            if (_start is not null)
            {
                return _start;
            }

            started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _start = started.Task;
            _state = Starting;
        }

        _ = RunStartAsync(started, cancellationToken);
        return started.Task;
    }

    /// <summary>
    /// Discovers every device and reads each once, then stops, on the system clock and without logging. See
    /// <see cref="ReadOnceAsync(GpuClusteringOptions?, GpuClusteringServices?, CancellationToken)"/>.
    /// </summary>
    /// <param name="options">The backend and telemetry settings; defaults (automatic backend) when <see langword="null"/>.</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    /// <returns>Every device discovered, each with its reading (or why it has none), in discovery order; no device when discovery found none.</returns>
    /// <exception cref="ArgumentException">The options are invalid; the message lists every problem.</exception>
    /// <exception cref="GpuClusterStartException">The backend could not be made, or discovery failed or did not finish within <see cref="GpuClusteringOptions.DiscoveryTimeout"/> (<see cref="GpuClusterStartException.Step"/>).</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
#pragma warning disable RS0026 // The token is optional on both overloads; they differ by the required services, so no call is ambiguous.
    public static Task<GpuClusterSnapshot> ReadOnceAsync(GpuClusteringOptions? options = null, CancellationToken cancellationToken = default) =>
        ReadOnceAsync(options, null, cancellationToken);

    /// <summary>
    /// Discovers every device and reads each once, then stops: the library's answer to one <c>nvidia-smi</c> call.
    /// Health is judged with the telemetry rules (temperature, power, ECC, hardware slowdown) as a running cluster
    /// judges its first reading; nothing keeps running afterwards.
    /// </summary>
    /// <param name="options">The backend and telemetry settings; defaults (automatic backend) when <see langword="null"/>.
    /// The poller, rediscovery and selector settings are not used.</param>
    /// <param name="services">The clock, logger factory, meter factory and backends; defaults when <see langword="null"/>.
    /// Its backends are taken over and disposed before this returns.</param>
    /// <param name="cancellationToken">Cancels the reading.</param>
    /// <returns>Every device discovered, each with its reading (or why it has none), in discovery order; no device when discovery found none.</returns>
    /// <exception cref="ArgumentException">The options or the services are invalid; the message lists every problem.</exception>
    /// <exception cref="GpuClusterStartException">The backend could not be made, or discovery failed or did not finish within <see cref="GpuClusteringOptions.DiscoveryTimeout"/> (<see cref="GpuClusterStartException.Step"/>).</exception>
    /// <exception cref="OperationCanceledException">The token fired.</exception>
    public static async Task<GpuClusterSnapshot> ReadOnceAsync(GpuClusteringOptions? options, GpuClusteringServices? services, CancellationToken cancellationToken = default)
#pragma warning restore RS0026
    {
        options ??= new GpuClusteringOptions();
        services ??= new GpuClusteringServices();
        try
        {
            ThrowIfInvalid(options, services);
        }
        catch (ArgumentException)
        {
            await DisposeGivenAsync(options, services, NullLogger.Instance).ConfigureAwait(false);
            throw;
        }

        services = services.Freeze();
        var time = services.TimeProvider;
        var logger = (ILogger?)services.LoggerFactory?.CreateLogger<GpuClusteringManager>() ?? NullLogger.Instance;
        var cleanup = NewCleanup(services.Backends);
        var step = GpuClusterStartStep.Backend;
        try
        {
            var (backend, fallback) = await MakeBackendAsync(options, services, logger, cleanup, cancellationToken).ConfigureAwait(false);
            step = GpuClusterStartStep.Discovery;
            var readings = await DiscoverAndReadAsync(backend, options, time, cancellationToken).ConfigureAwait(false);
            if (readings.Count == 0)
            {
                var none = new ClusterTelemetry(0, 0, 0, 0, 0, null, null, null, time.GetUtcNow());
                return new GpuClusterSnapshot(backend.Kind, fallback, [], [], none);
            }

            step = GpuClusterStartStep.Telemetry;
            var collector = new TelemetryCollector(readings.Select(r => r.Device), options.Telemetry, time, services.LoggerFactory, services.MeterFactory);
            cleanup.Push(collector.DisposeAsync);
            RecordFirstReadings(collector, readings);
            return new GpuClusterSnapshot(
                backend.Kind,
                fallback,
                collector.GetStatuses(),
                [.. readings.Select(r => r.Probe.Failure)],
                collector.GetClusterTelemetry());
        }
        catch (Exception e) when (e is not (OperationCanceledException or GpuClusterStartException or ArgumentException))
        {
            throw new GpuClusterStartException(step, e.Message, e);
        }
        finally
        {
            await DisposeAllAsync(cleanup, logger, options.StopTimeout, time).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the start and completes <paramref name="started"/>; a failure stops the manager.</summary>
    private async Task RunStartAsync(TaskCompletionSource started, CancellationToken cancellationToken)
    {
        var cleanup = NewCleanup(_givenBackends);
        var step = GpuClusterStartStep.Backend;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        try
        {
            var token = linked.Token;
            var (backend, fallback) = await MakeBackendAsync(_options, _services, _logger, cleanup, token).ConfigureAwait(false);

            step = GpuClusterStartStep.Discovery;
            var readings = await DiscoverAndReadAsync(backend, _options, _time, token).ConfigureAwait(false);
            var admitted = Admit(readings, _options, _logger, NoDeviceReason(backend));

            step = GpuClusterStartStep.Telemetry;
            var collector = new TelemetryCollector(admitted.Select(r => r.Device), _options.Telemetry, _time, _services.LoggerFactory, _services.MeterFactory);
            cleanup.Push(collector.DisposeAsync);
            RecordFirstReadings(collector, admitted);

            step = GpuClusterStartStep.Selector;
            var selector = new DeviceSelector(collector, _options.Selector, _time, _services.LoggerFactory?.CreateLogger<DeviceSelector>());
            cleanup.Push(selector.DisposeAsync);

            step = GpuClusterStartStep.Poller;
            var poller = new TelemetryPoller(backend, collector);
            cleanup.Push(poller.DisposeAsync);
            var healthPump = PumpHealthChangesAsync(collector.SubscribeHealthChanges(4096, CancellationToken.None));

            // The pump ends when the collector completes its channel: dispose the collector first, then wait for the pump.
            cleanup.Push(async () =>
            {
                await collector.DisposeAsync().ConfigureAwait(false);
                await healthPump.ConfigureAwait(false);
            });

            // Without the poller, the devices are read on demand, but the backend's events are applied as they come.
            await poller.StartAsync(token, sampleDevices: _options.EnablePoller).ConfigureAwait(false);
            var rediscovery = _options.RediscoveryInterval is TimeSpan interval ? RediscoverPeriodicallyAsync(interval) : Task.CompletedTask;
            cleanup.Push(async () => await rediscovery.ConfigureAwait(false));
            lock (_gate)
            {
                if (_state != Starting)
                {
                    throw new OperationCanceledException("Shutdown began during the start.", _closing.Token);
                }

                _parts = new Components(backend, fallback, collector, selector, poller, healthPump, rediscovery);
                Volatile.Write(ref _state, Running);
            }

            ManagerLog.Started(_logger, admitted.Count, backend.Backends.Count);
            started.TrySetResult();
        }
        catch (Exception e)
        {
            lock (_gate)
            {
                Volatile.Write(ref _state, Closing);
            }

            await _closing.CancelAsync().ConfigureAwait(false);
            await DisposeAllAsync(cleanup, _logger, _options.StopTimeout, _time).ConfigureAwait(false);
            if (e is OperationCanceledException canceled)
            {
                started.TrySetCanceled(canceled.CancellationToken);
            }
            else
            {
                started.TrySetException(e is GpuClusterStartException or ArgumentException ? e : new GpuClusterStartException(step, e.Message, e));
            }
        }
    }

    /// <summary>The cleanup stack of a start: it begins with the given backends, which the manager owns from the start.</summary>
    private static Stack<Func<ValueTask>> NewCleanup(IEnumerable<IGpuBackend> given)
    {
        var cleanup = new Stack<Func<ValueTask>>();
        foreach (var backend in given.Where(b => b is not null).Distinct())
        {
            cleanup.Push(backend.DisposeAsync);
        }

        return cleanup;
    }

    /// <summary>Disposes the backends given in <paramref name="services"/> (a start that failed before it took them over).</summary>
    private static async ValueTask DisposeGivenAsync(GpuClusteringOptions? options, GpuClusteringServices? services, ILogger logger)
    {
        if (services?.Backends is { } backends)
        {
            // Options that failed validation may hold any stop timeout: the default bounds this clean-up then.
            var stop = options?.StopTimeout ?? GpuClusteringOptions.DefaultStopTimeout;
            var valid = stop >= TimeSpan.Zero && stop <= GpuClusteringOptions.MaxStopTimeout;
            await DisposeAllAsync(
                NewCleanup(backends),
                logger,
                valid ? stop : GpuClusteringOptions.DefaultStopTimeout,
                services.TimeProvider ?? TimeProvider.System).ConfigureAwait(false);
        }
    }

    /// <summary>The given backends, or one made from <see cref="GpuClusteringOptions.BackendChoice"/>, as one backend.</summary>
    private static async Task<(CompositeGpuBackend Backend, string? FallbackReason)> MakeBackendAsync(
        GpuClusteringOptions options, GpuClusteringServices services, ILogger logger, Stack<Func<ValueTask>> cleanup, CancellationToken cancellationToken)
    {
        var backends = services.Backends.ToList();
        string? fallback = null;
        if (backends.Count == 0)
        {
            var selection = await CreateBackendAsync(options, services, cancellationToken).ConfigureAwait(false);
            cleanup.Push(selection.Backend.DisposeAsync);
            backends.Add(selection.Backend);
            fallback = selection.FallbackReason;
            if (fallback is not null)
            {
                ManagerLog.FellBackToSimulated(logger, fallback);
            }
        }

        var composite = new CompositeGpuBackend(backends)
        {
            Strict = options.StrictStart,
            DiscoveryFailed = (b, e) => ManagerLog.BackendDiscoveryFailed(logger, b.Kind, e),
            DiscoveryTimeout = options.DiscoveryTimeout,
            Time = services.TimeProvider,
        };
        return (composite, fallback);
    }

    /// <summary>
    /// The backend <see cref="GpuClusteringOptions.BackendChoice"/> names, its NVML probe (of
    /// <see cref="GpuBackendChoice.Auto"/>) bounded by <see cref="GpuClusteringOptions.DiscoveryTimeout"/>: a probe that
    /// does not finish is abandoned (a backend it makes later is disposed).
    /// </summary>
    /// <exception cref="TimeoutException">The probe did not finish in time.</exception>
    private static async Task<GpuBackendSelection> CreateBackendAsync(GpuClusteringOptions options, GpuClusteringServices services, CancellationToken cancellationToken)
    {
        using var timer = new CancellationTokenSource(options.DiscoveryTimeout, services.TimeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        var creation = GpuBackendFactory.CreateAsync(
            options.BackendChoice, options.NvmlOptions, options.SimulatedOptions, services.TimeProvider, services.LoggerFactory, linked.Token).AsTask();
        try
        {
            return await creation.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!creation.IsCompleted || timer.IsCancellationRequested)
        {
            if (!creation.IsCompleted)
            {
                _ = creation.ContinueWith(
                    static t => t.IsCompletedSuccessfully ? t.Result.Backend.DisposeAsync().AsTask() : Task.FromResult(t.Exception),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }

            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException(string.Create(
                CultureInfo.InvariantCulture,
                $"Making the {options.BackendChoice} backend (its NVML probe) did not finish within {options.DiscoveryTimeout.TotalSeconds:0.###} s."));
        }
    }

    /// <summary>Discovers the devices and reads each once, all at once (each reading bounded by the sample timeout).</summary>
    private static async Task<IReadOnlyList<FirstReading>> DiscoverAndReadAsync(
        CompositeGpuBackend backend, GpuClusteringOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var found = await backend.DiscoverAsync(cancellationToken).ConfigureAwait(false);
        var probes = new Task<ProbeResult>[found.Count];
        for (var i = 0; i < found.Count; i++)
        {
            probes[i] = DeviceProbe.ReadAsync(backend, found[i], options.Telemetry.SampleTimeout, time, cancellationToken).AsTask();
        }

        var results = await Task.WhenAll(probes).ConfigureAwait(false);
        var readings = new FirstReading[found.Count];
        for (var i = 0; i < found.Count; i++)
        {
            if (results[i].Result == PollResult.Canceled)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }

            readings[i] = new FirstReading(found[i], results[i]);
        }

        return readings;
    }

    /// <summary>
    /// The devices that join: those read, and under <see cref="GpuClusteringOptions.KeepUnreadableDevices"/> those that
    /// were not; a device whose first reading failed fails the start under <see cref="GpuClusteringOptions.StrictStart"/>.
    /// </summary>
    private static List<FirstReading> Admit(IReadOnlyList<FirstReading> readings, GpuClusteringOptions options, ILogger logger, string? noDeviceReason)
    {
        var admitted = new List<FirstReading>(readings.Count);
        foreach (var reading in readings)
        {
            if (reading.Probe.Result != PollResult.Sampled && !Unreadable(reading, options, logger))
            {
                continue;
            }

            admitted.Add(reading);
        }

        if (admitted.Count == 0)
        {
            throw new GpuClusterStartException(
                GpuClusterStartStep.Discovery,
                readings.Count == 0
                    ? (noDeviceReason is null ? "no device was discovered" : "no device was discovered: " + noDeviceReason)
                    : $"none of the {readings.Count} devices discovered could be read",
                null);
        }

        return admitted;
    }

    /// <summary>Why the NVML backends listed no device (see <see cref="NvmlGpuBackend.NoDeviceReason"/>), or <see langword="null"/>.</summary>
    private static string? NoDeviceReason(CompositeGpuBackend backend)
    {
        var reasons = backend.Backends.OfType<NvmlGpuBackend>().Select(b => b.NoDeviceReason).OfType<string>().ToList();
        return reasons.Count == 0 ? null : string.Join("; ", reasons);
    }

    /// <summary>Whether a device whose first reading failed joins anyway; logs it when it is left out.</summary>
    /// <exception cref="GpuClusterStartException">Under <see cref="GpuClusteringOptions.StrictStart"/>.</exception>
    private static bool Unreadable(FirstReading reading, GpuClusteringOptions options, ILogger logger)
    {
        var error = reading.Probe.Error!;
        if (options.StrictStart)
        {
            throw new GpuClusterStartException(GpuClusterStartStep.Discovery, $"the first reading of device {reading.Device.Uuid} failed: {error.Message}", error);
        }

        if (options.KeepUnreadableDevices)
        {
            return true;
        }

        ManagerLog.DeviceExcluded(logger, reading.Device.Uuid, error);
        return false;
    }

    /// <summary>Records each device's first reading, or its failure (a lost device is marked lost), by slot.</summary>
    private static void RecordFirstReadings(TelemetryCollector collector, IReadOnlyList<FirstReading> readings)
    {
        for (var slot = 0; slot < readings.Count; slot++)
        {
            RecordFirst(collector, slot, readings[slot].Probe);
        }
    }

    /// <summary>Records one first reading (at start or when a device joins later).</summary>
    private static void RecordFirst(TelemetryCollector collector, int slot, in ProbeResult probe)
    {
        switch (probe.Result)
        {
            case PollResult.Sampled:
                collector.RecordAt(slot, probe.Sample);
                break;
            case PollResult.Lost:
                collector.MarkLost(slot, probe.Failure!);
                break;
            default:
                collector.RecordFailure(slot, probe.Failure!);
                break;
        }
    }

    /// <summary>
    /// Stops every component in stack order, all within one deadline of <paramref name="stopTimeout"/> on
    /// <paramref name="time"/>: a step still running at the deadline (backend code that does not return) is logged and
    /// abandoned, and the steps after it are still started (each returns at once if it is done at once).
    /// </summary>
    /// <returns>Whether every step finished (nothing was abandoned).</returns>
    private static async ValueTask<bool> DisposeAllAsync(Stack<Func<ValueTask>> cleanup, ILogger logger, TimeSpan stopTimeout, TimeProvider time)
    {
        using var deadline = new CancellationTokenSource(stopTimeout, time);
        var finished = true;
        while (cleanup.TryPop(out var dispose))
        {
            var component = dispose.Target?.GetType().Name ?? "component";
            Task? step = null;
            try
            {
                step = dispose().AsTask();
                await step.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (step is { IsCompleted: false })
            {
                finished = false;
                ManagerLog.StopAbandoned(logger, component, stopTimeout);
                _ = step.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
#pragma warning disable CA1031 // Every component is stopped; a failure is logged, not allowed to leave the rest running.
            catch (Exception e)
#pragma warning restore CA1031
            {
                ManagerLog.StopFailed(logger, component, e);
            }
        }

        return finished;
    }

    /// <summary>A discovered device and how its first reading went.</summary>
    private readonly record struct FirstReading(GpuDevice Device, ProbeResult Probe);
}
