#!/usr/bin/env bash
# Load test of lucet-serve on loopback; writes benchmarks/loadtest.md.
#
#   apt-get install -y wrk        # once
#   lucet-serve/loadtest.sh       # about 10 minutes
#
# Settings (environment): DURATION (seconds per run, 10), CONNS (wrk
# connections for good traffic, 16), RUNS (repetitions of each run, 3; the
# median by good throughput is reported), PORT (18080), OUT
# (benchmarks/loadtest.md), WAIT_QUIET (seconds to wait for other processes
# to stop using the CPU, 300), MAX_FOREIGN (a run during which other
# processes used more than this percentage of the machine is repeated, 5),
# OLD_BIN (a lucet-serve built at an older commit, for the CPU-per-request
# comparison; default /work/wt-old/target/release/lucet-serve, skipped if
# absent), OLD_COMMIT (its commit, for the report; ae13fb1), MIXES (the
# hostile mixes to run, "loop oob stack grow sleep flood"), PARTS (what to
# run: "cpu mixes sleepers", all by default; the clean run always runs).
#
# Everything runs on this machine's two cores, server and load generators
# sharing them (no pinning), except the pinned rows of the CPU comparison.
#
# 1. Clean: wrk on /hello.
# 2. Server CPU per /hello request, this commit against OLD_BIN, alternating
#    in one run, shared and pinned (server on CPU 0, wrk on CPU 1).
# 3. Hostile mixes: good traffic is wrk on /hello (CONNS connections,
#    closed loop, so its throughput and latency are the good requests'
#    own); hostile traffic comes from examples/loadgen.rs at a fixed rate,
#    one ninth of the clean throughput (so 10% of requests if good
#    throughput held; more if it fell), from other loopback addresses:
#      loop   an infinite loop (default limits: 1 s deadline, 100 ms CPU)
#      oob    an out-of-bounds store
#      stack  unbounded recursion (stack overflow)
#      grow   malloc-and-touch 1 MiB blocks up to 64 MiB at a 64 MiB heap
#             limit (the last malloc fails; abort traps)
#      sleep  sleep 6 s under a 10 s deadline (at most 1,024 at once)
#      flood  no requests: idle connections at 10x the connection cap
#             (10,240 against max_connections = 1,024), reopened as the
#             server closes them, at the same rate
# 4. 1,000 guests asleep: /hello while loadgen keeps 1,000 /sleep?ms=6000
#    requests in the server; server memory with them asleep.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
RUNS=${RUNS:-3}
PORT=${PORT:-18080}
OUT=${OUT:-benchmarks/loadtest.md}
WAIT_QUIET=${WAIT_QUIET:-300}
MAX_FOREIGN=${MAX_FOREIGN:-5}
OLD_BIN=${OLD_BIN:-/work/wt-old/target/release/lucet-serve}
OLD_COMMIT=${OLD_COMMIT:-ae13fb1}
MIXES=${MIXES:-loop oob stack grow sleep flood}
PARTS=${PARTS:-cpu mixes sleepers}
CAP=1024          # max_connections in the flood run
SLEEPERS=1000

command -v wrk >/dev/null || { echo "loadtest: needs wrk (apt-get install -y wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "loadtest: needs curl" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 12000 ] || { echo "loadtest: needs 12,000 descriptors (ulimit -n)" >&2; exit 1; }

echo "building lucet-serve and loadgen (release)..." >&2
cargo build --release -q -p lucet-serve --bin lucet-serve --example loadgen
BIN=$ROOT/target/release/lucet-serve
LOADGEN=$ROOT/target/release/examples/loadgen
[ -x "$OLD_BIN" ] || OLD_BIN=

TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

H=$ROOT/lucet-serve/handlers/wasm
# Every setting not written here is lucet-serve's default (workers: one per
# core; deadline 1 s; CPU time 100 ms; heap 64 MiB; slow lane for 10 s).
write_config() { # MAX_CONNECTIONS
cat > "$TMP/serve.toml" <<EOF
listen = "127.0.0.1:$PORT"
max_connections = $1

[[route]]
path = "/hello"
module = "$H/hello.wasm"

[[route]]
path = "/loop"
module = "$H/loop.wasm"

[[route]]
path = "/oob"
module = "$H/oob.wasm"

[[route]]
path = "/stack"
module = "$H/stack_overflow.wasm"

[[route]]
path = "/grow"
module = "$H/grow.wasm"
heap = "64MiB"

[[route]]
path = "/sleep"
module = "$H/sleep.wasm"
deadline = "10s"
max_concurrency = 1024
EOF
}

# The configuration an older server understands too.
cat > "$TMP/hello.toml" <<EOF
listen = "127.0.0.1:$PORT"
[defaults]
deadline = "1s"

[[route]]
path = "/hello"
module = "$H/hello.wasm"
EOF

# Percent of CPU time not idle over one second (whole machine).
busy_percent() {
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    local total=0 idle=$(( (b[4] + b[5]) - (a[4] + a[5]) ))
    for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

wait_quiet() {
    local waited=0 busy
    while :; do
        busy=$(busy_percent)
        if [ "$busy" -le 10 ] || [ "$waited" -ge "$WAIT_QUIET" ]; then break; fi
        echo "loadtest: machine ${busy}% busy with other work, waiting..." >&2
        sleep 9; waited=$((waited + 10))
    done
    echo "$busy"
}

start_server() { # CONFIG BINARY [PREFIX...]
    local config=$1 bin=$2; shift 2
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then
        echo "loadtest: something already listens on port $PORT" >&2; exit 1
    fi
    RUST_LOG=warn "$@" "$bin" --config "$config" 2> "$TMP/server.log" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$PORT/hello" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "loadtest: the server did not start:" >&2; cat "$TMP/server.log" >&2; exit 1
}

stop_server() {
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

metrics() { curl -sf "http://127.0.0.1:$PORT/metrics"; }

# Sum of samples of lucet_serve_requests_total matching a route and a
# status regex, from a metrics dump.
count() { # FILE ROUTE STATUS_REGEX
    awk -v r="route=\"$2\"" -v s="$3" '
        /^lucet_serve_requests_total\{/ {
            if (index($0, r) && match($0, /status="[0-9]+"/)) {
                st = substr($0, RSTART + 8, 3); if (st ~ "^(" s ")$") n += $NF
            }
        }
        END { print n + 0 }' "$1"
}

# A sample's value (exactly as rendered), 0 if absent.
sample() { # FILE SAMPLE
    awk -v s="$2" 'index($0, s " ") == 1 { v = $NF } END { print v + 0 }' "$1"
}

# wrk latency ("526.00us", "1.05ms", "2.00s") in ms.
to_ms() {
    awk '{ v = $1; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v)
           if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
           printf "%.2f", v }' <<< "$1"
}

# CPU ticks (user + system) of a process, all threads.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# CPU ticks of the whole machine: busy (user + nice + system) and total.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
HZ=$(getconf CLK_TCK)
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# Hostile traffic for a mix, in the background for DURATION + 1 s; its
# CPU time (user + system seconds) goes to $TMP/hostile.time.
HOSTILE_RATE=0
start_hostile() { # MIX
    local mix=$1 cmd
    case $mix in
        clean) : > "$TMP/hostile.out"; echo "0 0" > "$TMP/hostile.time"; return ;;
        loop) cmd=(rate "127.0.0.1:$PORT" 127.0.0.2 /loop "$HOSTILE_RATE" "$((DURATION + 1))" 200) ;;
        oob) cmd=(rate "127.0.0.1:$PORT" 127.0.0.2 /oob "$HOSTILE_RATE" "$((DURATION + 1))" 200) ;;
        stack) cmd=(rate "127.0.0.1:$PORT" 127.0.0.2 /stack "$HOSTILE_RATE" "$((DURATION + 1))" 200) ;;
        grow) cmd=(rate "127.0.0.1:$PORT" 127.0.0.2 "/grow?mib=64" "$HOSTILE_RATE" "$((DURATION + 1))" 200) ;;
        sleep) cmd=(rate "127.0.0.1:$PORT" 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6
                    "/sleep?ms=6000" "$HOSTILE_RATE" "$((DURATION + 1))" 1200) ;;
        flood) cmd=(flood "127.0.0.1:$PORT" 127.0.0.9 $((10 * CAP)) "$HOSTILE_RATE" "$((DURATION + 1))") ;;
    esac
    ( TIMEFORMAT='%U %S'; { time "$LOADGEN" "${cmd[@]}" > "$TMP/hostile.out"; } 2> "$TMP/hostile.time" ) &
    HOSTILE_PID=$!
}

# One run: good traffic from wrk, hostile traffic per MIX. Prints "rps p50
# p99 good_failed server_cpu_us foreign_pct hostile_summary".
one_run() { # MIX [WRK_PREFIX]
    local mix=$1 prefix=${2:-}
    metrics > "$TMP/m0" 2>/dev/null || : > "$TMP/m0"
    local s0 s1 m0 m1
    s0=$(proc_ticks "$SERVER_PID"); m0=($(machine_ticks))
    start_hostile "$mix"
    sleep 0.5
    TIMEFORMAT='%U %S'
    { time $prefix wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency \
        "http://127.0.0.1:$PORT/hello" > "$TMP/wrk.out" ; } 2> "$TMP/wrk.time"
    [ "$mix" = clean ] || wait "$HOSTILE_PID" 2>/dev/null || true
    s1=$(proc_ticks "$SERVER_PID"); m1=($(machine_ticks))
    metrics > "$TMP/m1" 2>/dev/null || : > "$TMP/m1"
    local others foreign
    others=$(cat "$TMP/wrk.time" "$TMP/hostile.time" | awk -v hz="$HZ" '{ t += ($1 + $2) * hz } END { printf "%.0f", t }')
    foreign=$(awk -v b=$(( m1[0] - m0[0] )) -v t=$(( m1[1] - m0[1] )) -v s=$(( s1 - s0 )) -v w="$others" \
        'BEGIN { f = 100 * (b - s - w) / t; printf "%.0f", f < 0 ? 0 : f }')
    local rps p50 p99 all failed us
    rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$TMP/wrk.out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$TMP/wrk.out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$TMP/wrk.out")")
    all=$(awk '/requests in/ { print $1 }' "$TMP/wrk.out")
    # Good requests failed: non-2xx answers and socket errors seen by wrk.
    failed=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$TMP/wrk.out")
    # Server CPU per good request (the hostile requests' cost included).
    us=$(awk -v t=$(( s1 - s0 )) -v hz="$HZ" -v n="$all" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
    local hostile=-
    case $mix in
        clean) ;;
        flood) hostile=$(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
                 END { printf "attempts %d, held at most %d", v["attempts"], v["max_open"] }' "$TMP/hostile.out")
               hostile="$hostile; server closed $(( $(sample "$TMP/m1" 'lucet_serve_connections_closed_total{reason="per_client"}') - $(sample "$TMP/m0" 'lucet_serve_connections_closed_total{reason="per_client"}') )) per_client, $(( $(sample "$TMP/m1" 'lucet_serve_connections_closed_total{reason="header_timeout"}') - $(sample "$TMP/m0" 'lucet_serve_connections_closed_total{reason="header_timeout"}') )) header_timeout" ;;
        *) local route=/$mix
           hostile="sent $(awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "sent") print kv[2] } }' "$TMP/hostile.out")"
           for st in 200 500 503 504; do
               local n=$(( $(count "$TMP/m1" "$route" "$st") - $(count "$TMP/m0" "$route" "$st") ))
               [ "$n" -gt 0 ] && hostile="$hostile, $st: $n"
           done ;;
    esac
    echo "$rps $p50 $p99 $failed $us $foreign $hostile"
}

# The run with the median good throughput of RUNS runs. A run during which
# other processes used more than MAX_FOREIGN% of the machine is repeated
# (at most 3 extra times per run).
median_run() { # MIX [WRK_PREFIX]
    local i tries line
    : > "$TMP/runs"
    for i in $(seq 1 "$RUNS"); do
        tries=0
        while :; do
            line=$(one_run "$@")
            echo "  $line" >&2
            if [ "$(awk '{ print $6 }' <<< "$line")" -le "$MAX_FOREIGN" ] || [ $tries -ge 3 ]; then break; fi
            echo "  (other processes were busy: repeating)" >&2
            tries=$((tries + 1)); sleep 5
        done
        echo "$line" >> "$TMP/runs"
        # Let sleeping guests of the last run end before the next.
        [ "$1" = sleep ] && sleep 6
    done
    sort -n -k1 "$TMP/runs" | awk -v m=$(( (RUNS + 1) / 2 )) 'NR == m'
}

declare -A R
LOAD=()
f() { awk -v i="$2" '{ print $i }' <<< "${R[$1]:-}"; }
rest() { cut -d' ' -f7- <<< "${R[$1]:-}"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f%%", 100 * a / b; else print "-" }'; }

BUSY_BEFORE=$(wait_quiet)
LOAD+=("before: $(cut -d' ' -f1-3 /proc/loadavg)")

# 1. Clean.
echo "== clean" >&2
write_config 4096
start_server "$TMP/serve.toml" "$BIN"
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/hello" > /dev/null
R[clean]=$(median_run clean)
stop_server
CLEAN_RPS=$(f clean 1)
HOSTILE_RATE=$(( CLEAN_RPS / 9 ))

# 2. Server CPU per request: old and new, alternating.
[[ " $PARTS " == *" cpu "* ]] || OLD_BIN=
if [ -n "$OLD_BIN" ]; then
    for placement in shared pinned; do
        for which in old new; do
            : > "$TMP/cpu.$which.$placement"
        done
        for i in $(seq 1 "$RUNS"); do
            for which in old new; do
                echo "== cpu $which $placement" >&2
                bin=$BIN; [ "$which" = old ] && bin=$OLD_BIN
                if [ "$placement" = pinned ]; then
                    start_server "$TMP/hello.toml" "$bin" taskset -c 0; prefix="taskset -c 1"
                else
                    start_server "$TMP/hello.toml" "$bin"; prefix=""
                fi
                wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/hello" > /dev/null
                RUNS_SAVED=$RUNS; RUNS=1
                line=$(median_run clean "$prefix")
                RUNS=$RUNS_SAVED
                echo "$line" >> "$TMP/cpu.$which.$placement"
                stop_server
            done
        done
        for which in old new; do
            # The median by CPU per request.
            R[cpu.$which.$placement]=$(sort -n -k5 "$TMP/cpu.$which.$placement" | awk -v m=$(( (RUNS + 1) / 2 )) 'NR == m')
        done
    done
fi

# 3. Hostile mixes.
[[ " $PARTS " == *" mixes "* ]] || MIXES=
for mix in $MIXES; do
    echo "== $mix (hostile at $HOSTILE_RATE/s)" >&2
    if [ "$mix" = flood ]; then write_config "$CAP"; else write_config 4096; fi
    start_server "$TMP/serve.toml" "$BIN"
    # Warm up, as a long-running server would be: the hostile route may
    # already be in the slow lane.
    DURATION_SAVED=$DURATION; DURATION=2
    one_run "$mix" > /dev/null
    DURATION=$DURATION_SAVED
    [ "$mix" = sleep ] && sleep 6
    R[$mix]=$(median_run "$mix")
    stop_server
done
LOAD+=("after the mixes: $(cut -d' ' -f1-3 /proc/loadavg)")

# 4. 1,000 guests asleep, alternating with none (placement of threads on
# the two cores changes throughput by some 20% from time to time; runs in
# turn see the same states).
RSS0=0 RSS1=0 ASLEEP=0 ASLEEP_AFTER=0
if [[ " $PARTS " == *" sleepers "* ]]; then
echo "== $SLEEPERS asleep" >&2
write_config 4096
start_server "$TMP/serve.toml" "$BIN"
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/hello" > /dev/null
: > "$TMP/awake"; : > "$TMP/asleep"
RUNS_SAVED=$RUNS; RUNS=1
for i in $(seq 1 "$RUNS_SAVED"); do
    median_run clean >> "$TMP/awake"
    [ "$i" = 1 ] && RSS0=$(rss_kb "$SERVER_PID")
    # At a little more than SLEEPERS per 6 s: the connections fill in
    # about 6 s and then each is reused as its sleeper ends, so about
    # SLEEPERS/6 sleepers end and as many begin every second, evenly (a
    # faster start would make them end and begin again in waves).
    "$LOADGEN" rate "127.0.0.1:$PORT" 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6 \
        "/sleep?ms=6000" $(( SLEEPERS * 11 / 60 )) $(( DURATION + 30 )) "$SLEEPERS" > "$TMP/sleepers.out" &
    SLEEPERS_PID=$!
    for _ in $(seq 1 150); do
        metrics > "$TMP/ms"
        [ "$(sample "$TMP/ms" 'lucet_serve_route_suspended{route="/sleep"}')" -ge $((SLEEPERS - 10)) ] && break
        sleep 0.2
    done
    if [ "$i" = 1 ]; then
        ASLEEP=$(sample "$TMP/ms" 'lucet_serve_route_suspended{route="/sleep"}')
        RSS1=$(rss_kb "$SERVER_PID")
    fi
    median_run clean >> "$TMP/asleep"
    metrics > "$TMP/ms"
    ASLEEP_AFTER=$(sample "$TMP/ms" 'lucet_serve_route_suspended{route="/sleep"}')
    # Gone clients: their sleepers are stopped at once.
    kill "$SLEEPERS_PID" 2>/dev/null || true; wait "$SLEEPERS_PID" 2>/dev/null || true
    sleep 1
done
RUNS=$RUNS_SAVED
med() { sort -n -k1 "$1" | awk -v m=$(( (RUNS + 1) / 2 )) 'NR == m'; }
R[awake]=$(med "$TMP/awake")
R[asleep]=$(med "$TMP/asleep")
stop_server
fi
PER_GUEST=$(awk -v a="$RSS0" -v b="$RSS1" -v n="$ASLEEP" 'BEGIN { x = n > 0 ? (b - a) / n : 0; printf "%.1f", x }')
BUSY_AFTER=$(busy_percent)
LOAD+=("after: $(cut -d' ' -f1-3 /proc/loadavg)")

row() { # KEY LABEL
    echo "| $2 | $(f "$1" 1) | $(ratio "$(f "$1" 1)" "$CLEAN_RPS") | $(f "$1" 2) | $(f "$1" 3) | $(f "$1" 4) | $(f "$1" 5) | $(f "$1" 6)% | $(rest "$1") |"
}

{
cat <<EOF
# lucet-serve load test

Generated by \`lucet-serve/loadtest.sh\` (do not edit by hand) on
$(date -u +%Y-%m-%d) at commit \`$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- lucet-serve || echo "+changes")\`.

Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), Linux $(uname -r).
Other processes were using ${BUSY_BEFORE}% of the CPU just before the
runs and ${BUSY_AFTER}% just after; load averages (1, 5, 15 min):
$(printf '%s; ' "${LOAD[@]}")
the machine is shared with other agents, so numbers are only comparable
when these are low. Each row is the median of $RUNS runs of ${DURATION} s;
a run during which other processes used more than ${MAX_FOREIGN}% of the
machine was repeated (up to three times; the last column says how much
they used).

Every request runs in a fresh instance. The server runs with its
defaults (two workers, one I/O thread, a route's share of workers
\`max_running\` = 1, deadline 1 s, CPU time 100 ms, slow lane for 10 s)
and logs at warn; server and load generators share both cores.
Good traffic is \`wrk -t1 -c$CONNS -d${DURATION}s --latency http://127.0.0.1:$PORT/hello\`
(closed loop: its throughput and latencies are the good requests' own).
Hostile traffic comes from \`lucet-serve/examples/loadgen.rs\`, open loop
at $HOSTILE_RATE requests/s (one ninth of the clean throughput: 10% of
all requests if good throughput held, more if it fell), from other loopback addresses, one
kind per row:

- *loop*: an infinite loop, default limits (1 s deadline, 100 ms CPU time);
- *oob*: an out-of-bounds store;
- *stack*: unbounded recursion;
- *grow*: malloc-and-touch 1 MiB blocks up to 64 MiB at a 64 MiB heap limit
  (the last malloc fails and abort() traps);
- *sleep*: \`/sleep?ms=6000\` under a 10 s deadline (the route holds at most
  1,024 at once; more get 503), from five addresses;
- *flood*: no requests: idle connections opened at $HOSTILE_RATE/s up to
  10x the connection cap (10,240 with \`max_connections = $CAP\`), reopened as
  the server closes them, from one address.

Any trap, deadline or CPU-time overrun sends its route to the slow lane
(one \`SCHED_IDLE\` thread, a queue of one, at most 5% of a core) for 10 s,
so most hostile requests get 503 at once. Each mix starts with a 2 s
warm-up.

| run | good requests/s | share of clean | good p50 ms | good p99 ms | good requests failed | server CPU µs per good request | CPU used by others | hostile requests |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
$(row clean clean)
$(for m in $MIXES; do row "$m" "$m"; done)

*Good requests failed*: non-2xx responses and socket errors seen by wrk.
*Server CPU per good request*: the server's user + system time over the
run divided by the good requests (so the hostile requests' cost is
included). *Hostile requests*: how many loadgen sent and the statuses the
server gave them (from \`/metrics\`).

## $SLEEPERS guests asleep

\`loadgen\` keeps $SLEEPERS \`/sleep?ms=6000\` requests in the server (from five
addresses, at most $SLEEPERS connections, so about $(( SLEEPERS / 6 )) sleepers end and as
many begin every second) while wrk sends /hello as above.

| run | /hello requests/s | p50 ms | p99 ms | failed | server CPU µs per request | CPU used by others |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| none asleep | $(f awake 1) | $(f awake 2) | $(f awake 3) | $(f awake 4) | $(f awake 5) | $(f awake 6)% |
| $ASLEEP asleep (at the start of the first run; $ASLEEP_AFTER at the end of the last) | $(f asleep 1) | $(f asleep 2) | $(f asleep 3) | $(f asleep 4) | $(f asleep 5) | $(f asleep 6)% |

Runs with none and with $SLEEPERS asleep alternate (the median of each is
shown); all runs, requests/s and p99 ms: none asleep
$(awk '{ printf "%s %s; ", $1, $3 }' "$TMP/awake" 2>/dev/null) asleep
$(awk '{ printf "%s %s; ", $1, $3 }' "$TMP/asleep" 2>/dev/null)
/hello p99 with them asleep: $(ratio "$(f asleep 3)" "$(f awake 3)") of the p99 without.
Server memory (VmRSS): $RSS0 KiB before, $RSS1 KiB with $ASLEEP asleep:
**$PER_GUEST KiB per sleeping guest** (its slot's touched heap and stack
pages, the WASI context, the suspended coroutine).
EOF
if [ -n "$OLD_BIN" ]; then
cat <<EOF

## Server CPU per /hello request: this commit against \`$OLD_COMMIT\`

Both servers with the same configuration (\`/hello\`, 1 s deadline, their
own defaults otherwise), run alternately in this one run, $RUNS times each;
the median by CPU per request. *Pinned*: \`taskset -c 0\` for the server,
\`taskset -c 1\` for wrk.

| placement | server | requests/s | p99 ms | server CPU µs per request | CPU used by others |
| --- | --- | ---: | ---: | ---: | ---: |
$(for p in shared pinned; do for w in old new; do
    label=$OLD_COMMIT; [ "$w" = new ] && label="this commit"
    echo "| $p | $label | $(f cpu.$w.$p 1) | $(f cpu.$w.$p 3) | $(f cpu.$w.$p 5) | $(f cpu.$w.$p 6)% |"
done; done)

Server CPU per request, this commit over \`$OLD_COMMIT\`: shared
$(ratio "$(f cpu.new.shared 5)" "$(f cpu.old.shared 5)"), pinned
$(ratio "$(f cpu.new.pinned 5)" "$(f cpu.old.pinned 5)").
EOF
fi
cat <<EOF

Targets (issue 13): clean /hello at least 25,000 requests/s with p99 at
most 2 ms; under each hostile mix good throughput at least 80% of clean,
good p99 at most 5 ms, no good request failed; with 1,000 guests asleep
/hello p99 within 20% of the p99 without.
EOF
} > "$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
