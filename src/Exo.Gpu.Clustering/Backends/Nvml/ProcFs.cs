using System.Globalization;

namespace Exo.Gpu.Clustering.Backends.Nvml;

/// <summary>
/// Names and users of processes from <c>/proc</c> (Linux), as gpustat and nvitop show them: the name from
/// <c>/proc/&lt;pid&gt;/comm</c>, the user from the real uid of <c>/proc/&lt;pid&gt;/status</c> looked up in
/// <c>/etc/passwd</c> (the uid itself when it has no entry). Anything unreadable (the process ended, another PID
/// namespace, no <c>/proc</c>) is <see langword="null"/>; nothing here throws for the host's files.
/// </summary>
internal sealed class ProcFs
{
    private readonly string _proc;
    private readonly string _passwd;
    private Dictionary<string, string>? _users;

    /// <summary>Reads <paramref name="proc"/> and <paramref name="passwd"/> (tests point them at a folder of their own).</summary>
    public ProcFs(string proc = "/proc", string passwd = "/etc/passwd")
    {
        _proc = proc;
        _passwd = passwd;
    }

    /// <summary>The process name, or <see langword="null"/>.</summary>
    public string? Name(int pid)
    {
        var comm = Read(Path.Combine(_proc, pid.ToString(CultureInfo.InvariantCulture), "comm"));
        var name = comm?.TrimEnd('\n', '\r');
        return string.IsNullOrEmpty(name) ? null : name;
    }

    /// <summary>The user name of the process's real uid (the uid when unnamed), or <see langword="null"/>.</summary>
    public string? User(int pid)
    {
        var status = Read(Path.Combine(_proc, pid.ToString(CultureInfo.InvariantCulture), "status"));
        if (status is null)
        {
            return null;
        }

        foreach (var line in status.Split('\n'))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                var fields = line[4..].Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length == 0)
                {
                    return null;
                }

                _users ??= ReadUsers();
                return _users.TryGetValue(fields[0], out var name) ? name : fields[0];
            }
        }

        return null;
    }

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private Dictionary<string, string> ReadUsers()
    {
        var users = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in (Read(_passwd) ?? string.Empty).Split('\n'))
        {
            // name:password:uid:gid:gecos:home:shell
            var fields = line.Split(':');
            if (fields.Length > 2 && fields[0].Length > 0)
            {
                users.TryAdd(fields[2], fields[0]);
            }
        }

        return users;
    }
}
