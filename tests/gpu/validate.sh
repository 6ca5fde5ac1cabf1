#!/usr/bin/env bash
# Compares `exo-gpu status --json --backend nvml` with nvidia-smi on a machine with an NVIDIA GPU.
#
#   tests/gpu/validate.sh [EXO_GPU]
#
# EXO_GPU is a published exo-gpu (Native AOT, linux-x64): the GPU machine has no .NET, so build it elsewhere with
#   dotnet publish src/Exo.Gpu.Clustering.Cli -c Release -r linux-x64 -p:PublishAot=true -o out/aot
# and carry the folder. Without EXO_GPU the script publishes it itself into a temporary folder (needs the .NET SDK).
#
# Needs bash, awk (POSIX: mawk or gawk), sed and coreutils; no python, no jq. The JSON is read line by line, as
# exo-gpu writes it (indented, one property per line).
#
# Checks, per device, matched by UUID (exo-gpu lists by NVML index, nvidia-smi by its own order):
#   uuid, name          equal
#   memory.total        equal in MiB (exo-gpu bytes / 2^20 against nvidia-smi's MiB, within 1 MiB for rounding)
#   memory.used         within TOL_MEM_MIB MiB (default 256): both read NVML's v2 memory info, but at different moments
#   utilization.gpu     within TOL_UTIL points (default 15): a percentage over a 1/6 s to 1 s window that moves
#   temperature.gpu     within TOL_TEMP degrees C (default 3)
#   power.draw          within max(TOL_POWER_W W, TOL_POWER_PCT % of nvidia-smi's) (defaults 25 W, 15 %)
# and the same number of devices. A value nvidia-smi shows as [N/A] must be null in exo-gpu's JSON, and the other way
# round. Exit code 0 only if every check passes; 1 if one fails; 2 if a tool is missing or fails.
#
# Environment: NVIDIA_SMI (default nvidia-smi), TOL_MEM_MIB, TOL_UTIL, TOL_TEMP, TOL_POWER_W, TOL_POWER_PCT.
# exo-gpu runs with CUDA_VISIBLE_DEVICES unset, because nvidia-smi ignores it and the two must list the same devices.
set -uo pipefail

NVIDIA_SMI=${NVIDIA_SMI:-nvidia-smi}
TOL_MEM_MIB=${TOL_MEM_MIB:-256}
TOL_UTIL=${TOL_UTIL:-15}
TOL_TEMP=${TOL_TEMP:-3}
TOL_POWER_W=${TOL_POWER_W:-25}
TOL_POWER_PCT=${TOL_POWER_PCT:-15}

die() { echo "validate.sh: $*" >&2; exit 2; }

exo=${1:-}
if [ -z "$exo" ]; then
  command -v dotnet >/dev/null || die "no exo-gpu given and no dotnet to publish one"
  root=$(cd "$(dirname "$0")/../.." && pwd)
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  echo "publishing exo-gpu (Native AOT, linux-x64) into $out"
  dotnet publish "$root/src/Exo.Gpu.Clustering.Cli" -c Release -r linux-x64 -p:PublishAot=true -o "$out" >"$out/publish.log" 2>&1 \
    || { cat "$out/publish.log" >&2; die "publish failed"; }
  exo="$out/exo-gpu"
fi
[ -x "$exo" ] || die "$exo is not an executable"
command -v "$NVIDIA_SMI" >/dev/null || die "$NVIDIA_SMI not found"

query=uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw
json=$(env -u CUDA_VISIBLE_DEVICES "$exo" status --json --backend nvml) || die "exo-gpu status --json --backend nvml failed (exit $?)"
smi=$("$NVIDIA_SMI" --query-gpu=$query --format=csv,noheader,nounits) || die "$NVIDIA_SMI failed (exit $?)"

echo "== exo-gpu status --json --backend nvml"
echo "$json"
echo "== $NVIDIA_SMI --query-gpu=$query --format=csv,noheader,nounits"
echo "$smi"
echo "== comparison (tolerances: memory.used ${TOL_MEM_MIB} MiB, utilization ${TOL_UTIL} points, temperature ${TOL_TEMP} C, power max(${TOL_POWER_W} W, ${TOL_POWER_PCT} %))"

# exo-gpu's JSON as "uuid<TAB>name<TAB>totalBytes<TAB>usedBytes<TAB>util<TAB>temp<TAB>power" lines ("null" kept).
exo_rows=$(printf '%s\n' "$json" | awk '
  function value(line,   v) {
    v = line
    sub(/^[^:]*:[ \t]*/, "", v)
    sub(/,[ \t]*$/, "", v)
    if (v ~ /^".*"$/) {
      v = substr(v, 2, length(v) - 2)
      while (match(v, /\\u00[0-7][0-9A-Fa-f]/)) {
        code = substr(v, RSTART + 4, 2)
        v = substr(v, 1, RSTART - 1) sprintf("%c", hex(code)) substr(v, RSTART + RLENGTH)
      }
      gsub(/\\"/, "\"", v)
      gsub(/\\\\/, "\\", v)
    }
    return v
  }
  function hex(h,   i, n, c) {
    n = 0
    for (i = 1; i <= length(h); i++) { c = index("0123456789abcdef", tolower(substr(h, i, 1))) - 1; n = n * 16 + c }
    return n
  }
  /"uuid":/               { uuid = value($0) }
  /"name":/               { name = value($0) }
  /"memoryTotalBytes":/   { total = value($0) }
  /"memoryUsedBytes":/    { used = value($0) }
  /"utilizationPercent":/ { util = value($0) }
  /"temperatureC":/       { temp = value($0) }
  /"powerW":/             { power = value($0) }
  /"health":/             { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", uuid, name, total, used, util, temp, power }
')

printf '%s\n' "$smi" | EXO_ROWS="$exo_rows" awk -F', *' -v tmem="$TOL_MEM_MIB" -v tutil="$TOL_UTIL" -v ttemp="$TOL_TEMP" \
    -v tpw="$TOL_POWER_W" -v tpp="$TOL_POWER_PCT" '
  function abs(x) { return x < 0 ? -x : x }
  function na(v) { return v == "" || v ~ /N\/A|Not Supported|null/ }
  function trim(v) { sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); return v }
  function report(uuid, field, mine, theirs, ok, note) {
    printf "%-44s %-16s exo-gpu=%-24s nvidia-smi=%-24s %s%s\n", uuid, field, mine, theirs, ok ? "ok" : "MISMATCH", note == "" ? "" : " (" note ")"
    if (!ok) failures++
  }
  # A live value: equal when both are unavailable, a mismatch when only one is, else within the tolerance.
  function live(uuid, field, mine, theirs, tolerance,   ok) {
    if (na(mine) && na(theirs)) { report(uuid, field, "null", theirs, 1, "both unavailable"); return }
    if (na(mine) || na(theirs)) { report(uuid, field, mine, theirs, 0, "available on one side only"); return }
    ok = abs(mine - theirs) <= tolerance
    report(uuid, field, mine, theirs, ok, sprintf("|diff| %.1f, tolerance %.1f", abs(mine - theirs), tolerance))
  }
  BEGIN {
    n = split(ENVIRON["EXO_ROWS"], lines, "\n")
    for (i = 1; i <= n; i++) {
      if (lines[i] == "") continue
      split(lines[i], f, "\t")
      exo_name[f[1]] = f[2]; exo_total[f[1]] = f[3]; exo_used[f[1]] = f[4]
      exo_util[f[1]] = f[5]; exo_temp[f[1]] = f[6]; exo_power[f[1]] = f[7]
      exo_count++
    }
  }
  NF == 0 { next }
  {
    smi_count++
    uuid = trim($1); name = trim($2); total = trim($3); used = trim($4); util = trim($5); temp = trim($6); power = trim($7)
    if (!(uuid in exo_name)) { report(uuid, "uuid", "(absent)", uuid, 0, "exo-gpu does not list this device"); next }
    seen[uuid] = 1
    report(uuid, "uuid", uuid, uuid, 1, "")
    report(uuid, "name", exo_name[uuid], name, exo_name[uuid] == name, "")
    if (na(exo_total[uuid]) || na(total)) report(uuid, "memory.total", exo_total[uuid], total, 0, "unavailable")
    else {
      mib = exo_total[uuid] / 1048576
      report(uuid, "memory.total", sprintf("%.1f MiB", mib), total " MiB", abs(mib - total) < 1, "")
    }
    live(uuid, "memory.used", na(exo_used[uuid]) ? exo_used[uuid] : sprintf("%.1f", exo_used[uuid] / 1048576), used, tmem)
    live(uuid, "utilization.gpu", exo_util[uuid], util, tutil)
    live(uuid, "temperature.gpu", exo_temp[uuid], temp, ttemp)
    ptol = tpw
    if (!na(power) && power * tpp / 100 > ptol) ptol = power * tpp / 100
    live(uuid, "power.draw", exo_power[uuid], power, ptol)
  }
  END {
    for (u in exo_name) if (!(u in seen)) report(u, "uuid", u, "(absent)", 0, "nvidia-smi does not list this device")
    if (exo_count != smi_count) { printf "device count: exo-gpu %d, nvidia-smi %d: MISMATCH\n", exo_count, smi_count; failures++ }
    if (smi_count == 0) { print "no device to compare: MISMATCH"; failures++ }
    if (failures > 0) { printf "FAIL: %d check(s) failed\n", failures; exit 1 }
    printf "PASS: %d device(s), every check within tolerance\n", smi_count
  }
'
