namespace Exo.Gpu.Clustering.Cli;

/// <summary>A bad command line: exit code 2, the message on stderr names the argument.</summary>
internal sealed class CliUsageException : Exception
{
    public CliUsageException(string argument, string message)
        : base($"{argument}: {message}")
    {
        Argument = argument;
    }

    public CliUsageException()
    {
    }

    public CliUsageException(string message)
        : base(message)
    {
    }

    public CliUsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public string? Argument { get; }
}

/// <summary>No usable device or backend: exit code 3.</summary>
internal sealed class CliNoDeviceException : Exception
{
    public CliNoDeviceException()
    {
    }

    public CliNoDeviceException(string message)
        : base(message)
    {
    }

    public CliNoDeviceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
