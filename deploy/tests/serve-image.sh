#!/usr/bin/env bash
# End to end: the lucet-serve OCI image, built by
# deploy/image/build-serve-image.sh, imported into a private containerd
# (containerd-env.sh) and run under runc as a kubelet would run it:
#   - `ctr image import` takes the tarball;
#   - `ctr run --net-host --read-only` starts it as the Deployment in
#     deploy/kubernetes/lucet-serve.yaml does: the image's entrypoint and
#     config (listening on 0.0.0.0:8080; another port on loopback if 8080
#     is taken) with the Deployment's args, no /tmp and a read-only root;
#   - it answers /readyz, /healthz, its signed precompiled /hello route and
#     /metrics on loopback, as uid 65532;
#   - SIGTERM (`ctr task kill`) drains (/readyz 503, /hello still served)
#     for the Deployment's --drain-delay, then stops cleanly: exit status 0.
# Needs root (says so and skips otherwise); installs containerd and runc
# with apt if missing; cleans up everything, whatever happens.
#
# SERVE_IMAGE_PROFILE=release builds the image from release binaries
# (default: debug, which `cargo test` has built already).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=containerd-env.sh
source "$here/containerd-env.sh"

containerd_env_require_root || exit 0
containerd_env_install
containerd_env_start

fail() {
    echo "serve-image: FAILED: $*" >&2
    if [[ -n ${log:-} && -f $log ]]; then
        echo "--- the container's output:" >&2
        tail -n 30 "$log" >&2
    fi
    exit 1
}

out=$(mktemp -d /var/tmp/serve-image.XXXXXX)
containerd_env_defer "rm -rf '$out'"
log=$out/container.log
image=docker.io/library/lucet-serve:e2e
id=lucet-serve-e2e

# The image, from freshly built binaries.
profile=${SERVE_IMAGE_PROFILE:-debug}
build=(cargo build --quiet -p lucet-serve -p lucetc --bin lucet-serve --bin lucetc-wasi)
[[ $profile == release ]] && build+=(--release)
(cd "$repo" && "${build[@]}")
"$repo/deploy/image/build-serve-image.sh" --name "$image" \
    --serve "${CARGO_TARGET_DIR:-$repo/target}/$profile/lucet-serve" \
    --lucetc "${CARGO_TARGET_DIR:-$repo/target}/$profile/lucetc-wasi" "$out/image" >"$out/build.log" ||
    fail "building the image: $(cat "$out/build.log")"

ctr_ image import "$out/image/lucet-serve.oci.tar" >/dev/null
ctr_ image ls -q | grep -qx "$image" || fail "the import made no image $image"

# One GET on a fresh connection; sets status and body.
status='' body=''
http_get() {
    local response
    status='' body=''
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
    response=$(timeout 10 cat <&3) || true
    exec 3<&-
    status=$(head -n1 <<<"$response" | awk '{ print $2 }')
    body=${response#*$'\r\n\r\n'}
}
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The command line a kubelet gives it: the image's entrypoint (ctr run
# replaces the whole of it when given arguments) and the Deployment's args.
blob() { cat "$out/image/oci/blobs/sha256/${1#sha256:}"; }
manifest=$(blob "$(grep -o '"digest":"sha256:[0-9a-f]*"' "$out/image/oci/index.json" | cut -d'"' -f4)")
config=$(blob "$(grep -o '"config":{[^}]*}' <<<"$manifest" | grep -o 'sha256:[0-9a-f]*')")
entrypoint=$(grep -o '"Entrypoint":\[[^]]*\]' <<<"$config" | sed 's/.*\[//; s/\]//; s/"//g; s/,/ /g')
args=$(sed -n 's/^ *args: *\[\(.*\)\] *$/\1/p' "$repo/deploy/kubernetes/lucet-serve.yaml" | sed 's/"//g; s/,/ /g' | tr -s ' ')
[[ -n $entrypoint && -n $args ]] || fail "no entrypoint ($entrypoint) or Deployment args ($args)"
read -ra command <<<"$entrypoint $args"
drain=$(sed -n 's/.*--drain-delay \([0-9]*\)s.*/\1/p' <<<"$args")
[[ $drain =~ ^[0-9]+$ ]] || fail "no --drain-delay Ns in the Deployment's args: $args"
if port_free 8080; then
    port=8080 # the image's own config
else
    port=$((20000 + RANDOM % 20000))
    port_free "$port" || fail "ports 8080 and $port are both taken"
    echo "serve-image: 8080 is taken here: listening on 127.0.0.1:$port instead"
    command+=(--listen "127.0.0.1:$port")
fi
echo "serve-image: ctr run --net-host --read-only $image ${command[*]}"
run=(ctr --address "$CONTAINERD_ENV_SOCKET" --namespace "$CONTAINERD_ENV_NAMESPACE"
    run --rm --net-host --read-only "$image" "$id" "${command[@]}")
start=$(date +%s%N)
"${run[@]}" >"$log" 2>&1 &
ctr_pid=$!
containerd_env_defer "kill $ctr_pid"

for ((i = 0; i < 400; i++)); do
    if http_get /readyz 2>/dev/null && [[ $status == 200 ]]; then
        break
    fi
    kill -0 "$ctr_pid" 2>/dev/null || fail "the container exited before it was ready"
    sleep 0.05
done
[[ $status == 200 ]] || fail "not ready within 20 s"
ready_ms=$((($(date +%s%N) - start) / 1000000))
echo "serve-image: ready ${ready_ms} ms after ctr run"

http_get /hello
[[ $status == 200 && $body == "Hello, world!"* ]] || fail "/hello: $status $body"
http_get /healthz
[[ $status == 200 && $body == ok* ]] || fail "/healthz: $status $body"
http_get /readyz
[[ $status == 200 && $body == ready* ]] || fail "/readyz: $status $body"
http_get /metrics
grep -q '^lucet_serve_requests_total{route="/hello",status="200"} 1$' <<<"$body" ||
    fail "/metrics does not count the /hello request"
echo "serve-image: /hello, /healthz, /readyz and /metrics answer on 127.0.0.1:$port"

# The process, as the kernel sees it: the image's user, no /tmp.
pid=$(ctr_ task ls | awk -v id="$id" '$1 == id { print $2 }')
[[ $pid =~ ^[0-9]+$ ]] || fail "no task pid for $id"
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
[[ $uid == 65532 ]] || fail "runs as uid $uid, not 65532"
[[ ! -e /proc/$pid/root/tmp ]] || fail "the container has a /tmp"
grep -q 'route ready.*route=/hello' "$log" || fail "no 'route ready' line for /hello"
echo "serve-image: runs as uid 65532 with a read-only root and no /tmp"

start=$(date +%s%N)
ctr_ task kill -s SIGTERM "$id"
for ((i = 0; i < 100; i++)); do
    http_get /readyz 2>/dev/null || fail "refused connections at once after SIGTERM (no drain)"
    [[ $status == 503 ]] && break
    sleep 0.02
done
[[ $status == 503 && $body == draining* ]] || fail "/readyz after SIGTERM: $status $body"
http_get /hello
[[ $status == 200 ]] || fail "/hello while draining: $status"
echo "serve-image: SIGTERM: draining: /readyz 503, /hello 200"
for ((i = 0; i < 20 * (drain + 10); i++)); do
    kill -0 "$ctr_pid" 2>/dev/null || break
    sleep 0.05
done
kill -0 "$ctr_pid" 2>/dev/null && fail "still running $((drain + 10)) s after SIGTERM"
code=0
wait "$ctr_pid" || code=$?
stop_ms=$((($(date +%s%N) - start) / 1000000))
[[ $code == 0 ]] || fail "exit status $code after SIGTERM"
((stop_ms >= drain * 1000)) || fail "stopped after $stop_ms ms, before the ${drain} s drain"
if ! grep -q 'SIGTERM' "$log" || ! grep -q 'stopped' "$log"; then
    fail "no SIGTERM ... stopped in the log"
fi
echo "serve-image: SIGTERM: exit status 0 after ${stop_ms} ms"
echo "serve-image: 1 passed, 0 failed"
