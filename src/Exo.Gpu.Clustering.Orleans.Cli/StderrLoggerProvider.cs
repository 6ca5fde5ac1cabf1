using Microsoft.Extensions.Logging;

namespace Exo.Gpu.Clustering.Orleans.Cli;

/// <summary>Writes warnings and worse, one line each, to a text writer (stderr): <c>warn: category: message</c>.</summary>
internal sealed class StderrLoggerProvider(TextWriter writer) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Logger(writer, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(TextWriter writer, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var level = logLevel switch { LogLevel.Warning => "warn", LogLevel.Error => "fail", _ => "crit" };
            lock (writer)
            {
                writer.WriteLine($"{level}: {category}: {formatter(state, exception)}");
                writer.Flush();
            }
        }
    }
}
