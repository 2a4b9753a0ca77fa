#!/usr/bin/env bash
# End to end: lucet's containerd shim (containerd-shim-lucet-v1, runtime
# io.containerd.lucet.v1) in a private containerd (containerd-env.sh),
# driven with `ctr run --runtime io.containerd.lucet.v1` as a kubelet
# drives it through CRI:
#   - a C program's .wasm prints its arguments, an environment variable and
#     a file from its image, and exits with the code it chose;
#   - a trapping guest exits non-zero with one line on stderr, at once;
#   - `ctr task kill` (SIGTERM) stops a guest in an infinite loop within
#     a second;
#   - annotations bound a guest (lucet.dev/deadline,
#     lucet.dev/instruction-budget), and a bad one is refused at start;
#   - later runs of an image do not compile again (its cache entry is
#     untouched), and the start times are measured;
#   - a guest runs as uid 1000 under the default seccomp profile, and a
#     cache directory others could write is not used (the guest is
#     compiled in memory instead);
#   - a .so signed by a trusted key runs; a tampered one, one signed by
#     another key and an unsigned one are refused;
#   - runc starts a native (static) hello in the same containerd, timed
#     for comparison.
# The images are built here, offline: OCI archives with one plain tar
# layer (containerd 1.6 cannot unpack wasm layers), config
# `architecture: wasm, os: wasip1` as runwasi's demo image has, imported
# with `ctr image import`. The .wasm fixtures are committed
# (shim-fixtures/, rebuilt by its build.sh).
#
# Needs root: containerd, runc and mounts do (it says so and skips
# otherwise). Installs with apt what is missing: containerd and runc, the
# shim's build dependencies (protobuf-compiler, pkg-config,
# libseccomp-dev), gcc and libc6-dev for the native hello. Builds the shim
# and lucetc-wasi with cargo: release, for start times worth comparing
# (SHIM_PROFILE=debug reuses what `cargo test --workspace` built). Cleans
# up everything, whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fixtures=$here/shim-fixtures
# shellcheck source=containerd-env.sh
source "$here/containerd-env.sh"

containerd_env_require_root || exit 0
containerd_env_install
# The shim's build dependencies, and gcc with a static libc for the
# native hello; installed when missing.
missing=()
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v pkg-config >/dev/null || missing+=(pkg-config)
dpkg -s libseccomp-dev >/dev/null 2>&1 || missing+=(libseccomp-dev)
command -v cc >/dev/null || missing+=(gcc)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
if ((${#missing[@]})); then
    containerd_env_log "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

profile=${SHIM_PROFILE:-release}
build=(cargo build --quiet -p containerd-shim-lucet -p lucetc
    --bin containerd-shim-lucet-v1 --bin lucetc-wasi)
[[ $profile == release ]] && build+=(--release)
(cd "$repo" && "${build[@]}")
lucetc=${CARGO_TARGET_DIR:-$repo/target}/$profile/lucetc-wasi

work=$(mktemp -d /var/tmp/shim-e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT
# containerd finds the shim for io.containerd.lucet.v1 as
# containerd-shim-lucet-v1 on its PATH, and passes the shim its
# environment: a copy of the binary (a build during the test cannot change
# it) and the shim's configuration.
mkdir -p "$work/bin" "$work/keys" "$work/images"
cp "${CARGO_TARGET_DIR:-$repo/target}/$profile/containerd-shim-lucet-v1" "$work/bin/"
export PATH="$work/bin:$PATH"
export CONTAINERD_SHIM_LUCET_CONFIG=$work/shim.toml
cat >"$CONTAINERD_SHIM_LUCET_CONFIG" <<EOF
state_dir = "$work/state"
trusted_keys = ["$work/keys/trusted.pub"]
EOF
cache=$work/state/cache

containerd_env_start
# The runtimes keep their containers' state outside containerd's own
# directories, per namespace: runwasi (youki) in /run/containerd/lucet/NS,
# runc in /run/containerd/runc/NS. Removed once containerd has deleted
# the tasks, with the parents if nothing else uses them.
cleanup() {
    local status=$? d
    containerd_env_stop
    rm -rf "$work"
    for d in lucet runc; do
        rm -rf "/run/containerd/$d/$CONTAINERD_ENV_NAMESPACE"
        rmdir "/run/containerd/$d" 2>/dev/null || true
    done
    rmdir /run/containerd/fifo /run/containerd/s /run/containerd 2>/dev/null || true
    return "$status"
}
trap cleanup EXIT

passed=0
fail() {
    echo "shim: FAILED: $*" >&2
    if [[ -n ${id:-} && -f $work/$id.err ]]; then
        echo "--- stdout of $id:" >&2
        tail -n 20 "$work/$id.out" >&2
        echo "--- stderr of $id:" >&2
        tail -n 20 "$work/$id.err" >&2
    fi
    echo "--- containerd's log:" >&2
    tail -n 30 "$CONTAINERD_ENV_LOG" >&2
    echo "shim: $passed passed, 1 failed"
    exit 1
}
ok() {
    passed=$((passed + 1))
    echo "shim: ok: $*"
}
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}
median() {
    printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# make_image NAME ARCH OS ROOTFS ENTRYPOINT [USER]: an OCI archive
# $work/images/NAME.tar of the directory ROOTFS as one uncompressed tar
# layer, image name docker.io/library/NAME:e2e, entrypoint ENTRYPOINT,
# imported.
make_image() {
    local name=$1 arch=$2 os=$3 root=$4 entrypoint=$5 user=${6:-}
    local oci=$work/images/$name
    mkdir -p "$oci/blobs/sha256"
    (cd "$root" && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        -cf "$oci/layer.tar" .)
    blob() {
        blob_digest=$(sha256sum "$1" | cut -d' ' -f1)
        blob_size=$(stat -c %s "$1")
        mv "$1" "$oci/blobs/sha256/$blob_digest"
    }
    blob "$oci/layer.tar"
    local layer=$blob_digest layer_size=$blob_size
    printf '%s' "{\"architecture\":\"$arch\",\"os\":\"$os\",\"config\":{\"User\":\"$user\",\"Entrypoint\":[\"$entrypoint\"],\"Env\":[\"PATH=/\"],\"WorkingDir\":\"/\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:$layer\"]}}" >"$oci/config.json"
    blob "$oci/config.json"
    local config=$blob_digest config_size=$blob_size
    printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$config\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:$layer\",\"size\":$layer_size}]}" >"$oci/manifest.json"
    blob "$oci/manifest.json"
    printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$blob_digest\",\"size\":$blob_size,\"platform\":{\"architecture\":\"$arch\",\"os\":\"$os\"},\"annotations\":{\"io.containerd.image.name\":\"docker.io/library/$name:e2e\",\"org.opencontainers.image.ref.name\":\"e2e\"}}]}" >"$oci/index.json"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
    (cd "$oci" && tar -cf "$work/images/$name.tar" oci-layout index.json blobs)
    ctr_ image import --all-platforms "$work/images/$name.tar" >/dev/null
    local images
    images=$(ctr_ image ls -q)
    grep -qx "docker.io/library/$name:e2e" <<<"$images" || fail "importing $name made no image"
}

# crun ID [ctr run options] IMAGE [ARGS...]: `ctr run --rm` as container
# ID, its stdout and stderr in $work/ID.out and .err; sets code (the exit
# status) and ms (the wall time of the whole run, create to delete).
crun() {
    id=$1
    shift
    local start
    start=$(now_ms)
    code=0
    timeout 60 ctr --address "$CONTAINERD_ENV_SOCKET" --namespace "$CONTAINERD_ENV_NAMESPACE" \
        run --rm "$@" >"$work/$id.out" 2>"$work/$id.err" || code=$?
    ms=$(($(now_ms) - start))
    [[ $code != 124 ]] || fail "$id: still running after 60 s"
}
lucet=(--runtime io.containerd.lucet.v1 --platform wasip1/wasm)

# ---- the images ----
mkdir -p "$work/root-wasm/data"
cp "$fixtures"/{probe,trap,loop,hello}.wasm "$work/root-wasm/"
echo "hello from the image" >"$work/root-wasm/data/message.txt"
chmod -R a+rX,go-w "$work/root-wasm"
make_image lucet-wasm wasm wasip1 "$work/root-wasm" /hello.wasm
wasm_image=docker.io/library/lucet-wasm:e2e
make_image lucet-wasm-user wasm wasip1 "$work/root-wasm" /probe.wasm 1000:1000

"$lucetc" --keygen "$work/keys/trusted.key" --public-key "$work/keys/trusted.pub" \
    --unencrypted-key >/dev/null
"$lucetc" --keygen "$work/keys/other.key" --public-key "$work/keys/other.pub" \
    --unencrypted-key >/dev/null
mkdir -p "$work/root-so-good" "$work/root-so-bad"
"$lucetc" "$fixtures/hello.wasm" -o "$work/root-so-good/hello.so" --sign "$work/keys/trusted.key"
# Tampered after signing: one byte of the code hash.
cp "$work/root-so-good/hello.so" "$work/root-so-good/hello.so.minisig" "$work/root-so-bad/"
size=$(stat -c %s "$work/root-so-bad/hello.so")
printf '\x5a' | dd of="$work/root-so-bad/hello.so" bs=1 seek=$((size / 2)) conv=notrunc status=none
cmp -s "$work/root-so-good/hello.so" "$work/root-so-bad/hello.so" && fail "tampering changed nothing"
"$lucetc" "$fixtures/hello.wasm" -o "$work/root-so-bad/other.so" --sign "$work/keys/other.key"
"$lucetc" "$fixtures/hello.wasm" -o "$work/root-so-bad/unsigned.so"
# Not executable, or runwasi would run them as native programs.
find "$work/root-so-good" "$work/root-so-bad" -type f -exec chmod 0644 {} +
make_image lucet-so-good wasm wasip1 "$work/root-so-good" /hello.so
make_image lucet-so-bad wasm wasip1 "$work/root-so-bad" /hello.so

mkdir -p "$work/root-native"
cc -static -O2 -o "$work/root-native/hello" "$fixtures/hello.c"
make_image native-hello amd64 linux "$work/root-native" /hello
echo "shim: images built and imported"

# ---- a C program: arguments, environment, a file, its exit code ----
crun probe "${lucet[@]}" --env GREETING=bonjour "$wasm_image" probe /probe.wasm 42 "two words"
[[ $code == 42 ]] || fail "probe: exit status $code, not 42"
for want in "arg 0: /probe.wasm" "arg 1: 42" "arg 2: two words" "GREETING=bonjour" \
    "file: hello from the image"; do
    grep -qxF "$want" "$work/probe.out" || fail "probe: no line '$want' on stdout"
done
ok "a C program prints its args, GREETING and /data/message.txt, and exits 42"

# ---- a trap ----
crun trap "${lucet[@]}" "$wasm_image" trap /trap.wasm
[[ $code != 0 ]] || fail "trap: exit status 0"
grep -qx "about to trap" "$work/trap.out" || fail "trap: no output before the trap"
[[ $(wc -l <"$work/trap.err") == 1 ]] || fail "trap: stderr is not one line"
grep -q '^lucet: /trap.wasm: trap: ' "$work/trap.err" || fail "trap: stderr: $(cat "$work/trap.err")"
ok "a trapping guest exits $code after $ms ms: $(cat "$work/trap.err")"

# ---- ctr task kill stops an infinite loop ----
id=loop
: >"$work/loop.out"
ctr_ run --rm "${lucet[@]}" "$wasm_image" loop /loop.wasm >"$work/loop.out" 2>"$work/loop.err" &
loop_pid=$!
for ((i = 0; i < 400; i++)); do
    grep -q looping "$work/loop.out" && break
    kill -0 "$loop_pid" 2>/dev/null || fail "loop: exited before looping"
    sleep 0.05
done
grep -q looping "$work/loop.out" || fail "loop: not looping after 20 s"
sleep 0.2
start=$(now_ms)
ctr_ task kill loop
for ((i = 0; i < 1000; i++)); do
    kill -0 "$loop_pid" 2>/dev/null || break
    sleep 0.01
done
kill -0 "$loop_pid" 2>/dev/null && fail "loop: still running 10 s after ctr task kill"
kill_ms=$(($(now_ms) - start))
code=0
wait "$loop_pid" || code=$?
[[ $code == 143 ]] || fail "loop: exit status $code after SIGTERM, not 143"
grep -qx 'lucet: /loop.wasm: stopped by SIGTERM' "$work/loop.err" || fail "loop: stderr"
((kill_ms < 1000)) || fail "loop: ctr task kill took $kill_ms ms to stop it"
ok "ctr task kill (SIGTERM) stops a looping guest: ctr run returns $kill_ms ms later, status 143"

# ---- limits from annotations ----
crun deadline "${lucet[@]}" --annotation lucet.dev/deadline=300ms "$wasm_image" deadline /loop.wasm
[[ $code == 1 ]] || fail "deadline: exit status $code, not 1"
grep -qF 'stopped: deadline of 300ms exceeded (lucet.dev/deadline)' "$work/deadline.err" ||
    fail "deadline: stderr"
ok "lucet.dev/deadline=300ms stops the loop: status 1 after $ms ms"

crun budget "${lucet[@]}" --annotation lucet.dev/instruction-budget=20000000 "$wasm_image" budget /loop.wasm
[[ $code == 1 ]] || fail "budget: exit status $code, not 1"
grep -qF 'instruction budget of 20000000 exhausted' "$work/budget.err" || fail "budget: stderr"
ok "lucet.dev/instruction-budget stops the loop (compiled with counting): status 1"

crun badlimit "${lucet[@]}" --annotation lucet.dev/deadline=soon "$wasm_image" badlimit /hello.wasm
[[ $code != 0 ]] || fail "badlimit: exit status 0"
grep -qF 'annotation lucet.dev/deadline: bad duration "soon"' "$work/badlimit.err" ||
    fail "badlimit: the error does not name the annotation"
ok "a bad annotation is refused at start: $(grep -o 'annotation lucet.dev/deadline: [^:]*' "$work/badlimit.err" | head -n1)"

# ---- the cache: the second run does not compile ----
entries() {
    find "$cache" -maxdepth 1 -name '*.so' -printf '%f %i %T@\n' | sort
}
before=$(entries)
crun hello1 "${lucet[@]}" "$wasm_image" hello1
first_ms=$ms
[[ $code == 0 ]] || fail "hello1: exit status $code"
grep -qx "Hello from a container" "$work/hello1.out" || fail "hello1: output"
after_first=$(entries)
new=$(comm -13 <(echo "$before") <(echo "$after_first"))
[[ $(grep -c . <<<"$new") == 1 ]] || fail "the first run made $(grep -c . <<<"$new") cache entries, not 1"
# The median of three cached runs.
cached=()
for n in 2 3 4; do
    crun "hello$n" "${lucet[@]}" "$wasm_image" "hello$n"
    cached+=("$ms")
    [[ $code == 0 ]] || fail "hello$n: exit status $code"
    grep -qx "Hello from a container" "$work/hello$n.out" || fail "hello$n: output"
    [[ $(entries) == "$after_first" ]] || fail "run $n of the image changed the cache"
done
cached_ms=$(median "${cached[@]}")
compiled_in() {
    grep -o "$1: compiled in [0-9.]* ms" "$CONTAINERD_ENV_LOG" | tail -n1 | awk '{ print $4 }'
}
compile_ms=$(compiled_in /hello.wasm)
probe_compile_ms=$(compiled_in /probe.wasm)
if grep -q 'hello.wasm: compiled module found in the cache' "$CONTAINERD_ENV_LOG"; then
    log_note=" (the shim logged the cache hit)"
else
    log_note=
fi
ok "later runs of the image do not compile: cache entry ${new%% *} untouched$log_note"

# ---- a guest running as another user than root ----
# As a pod with runAsUser: 1000 and the default seccomp profile.
crun nonroot "${lucet[@]}" --seccomp --env GREETING=salut \
    docker.io/library/lucet-wasm-user:e2e nonroot /probe.wasm 5
[[ $code == 5 ]] || fail "nonroot: exit status $code, not 5"
grep -qxF "GREETING=salut" "$work/nonroot.out" || fail "nonroot: no GREETING"
grep -qxF "file: hello from the image" "$work/nonroot.out" || fail "nonroot: no file"
ok "a guest as uid 1000 under the default seccomp profile runs: status 5"

# ---- a cache the shim does not trust is not used ----
# Another state directory, whose cache anyone could write: the shim
# compiles in memory, for this run only, and writes nothing there. (Each
# ctr run starts a shim, which reads the configuration anew.)
mkdir -p "$work/open-state/cache"
chmod 0777 "$work/open-state/cache"
cp "$CONTAINERD_SHIM_LUCET_CONFIG" "$work/shim.toml.orig"
sed -i "s|^state_dir = .*|state_dir = \"$work/open-state\"|" "$CONTAINERD_SHIM_LUCET_CONFIG"
crun opencache "${lucet[@]}" "$wasm_image" opencache /probe.wasm 6
cp "$work/shim.toml.orig" "$CONTAINERD_SHIM_LUCET_CONFIG"
[[ $code == 6 ]] || fail "opencache: exit status $code, not 6"
[[ -z $(ls -A "$work/open-state/cache") ]] || fail "opencache: wrote to a world-writable cache"
grep -q 'probe.wasm: compiling without the cache (cache directory .*others could write to it' \
    "$CONTAINERD_ENV_LOG" || fail "opencache: no 'compiling without the cache' in the shim's log"
ok "a world-writable cache is not used: the guest is compiled in memory and runs"

# ---- signed shared objects ----
count=$(entries | wc -l)
crun sogood "${lucet[@]}" docker.io/library/lucet-so-good:e2e sogood
[[ $code == 0 ]] || fail "sogood: exit status $code"
grep -qx "Hello from a container" "$work/sogood.out" || fail "sogood: output"
[[ $(entries | wc -l) == "$count" ]] || fail "sogood: the .so was compiled"
ok "a .so signed by a trusted key runs"
for so in hello other unsigned; do
    crun "so$so" "${lucet[@]}" docker.io/library/lucet-so-bad:e2e "so$so" "/$so.so"
    [[ $code == 126 ]] || fail "so$so: exit status $code, not 126"
    [[ ! -s $work/so$so.out ]] || fail "so$so: the guest ran"
    grep -q "^lucet: /$so.so: .*signature" "$work/so$so.err" || fail "so$so: stderr"
    echo "shim:     /$so.so: $(cat "$work/so$so.err")"
done
ok "tampered, untrusted-key and unsigned .so entrypoints are refused (status 126)"

# ---- runc, for comparison ----
# A first run to warm runc up, then the median of three.
native=()
for n in 1 2 3 4; do
    crun "native$n" docker.io/library/native-hello:e2e "native$n"
    [[ $code == 0 ]] || fail "native$n: exit status $code"
    grep -qx "Hello from a container" "$work/native$n.out" || fail "native$n: output"
    ((n == 1)) || native+=("$ms")
done
native_ms=$(median "${native[@]}")
ok "runc runs the native hello"

echo "shim: start times of a hello (ctr run --rm: create, start, exit, delete; $profile build):"
echo "shim:   lucet, first run (compiles):  $first_ms ms (compiling hello.wasm, 5 KB: ${compile_ms:-?} ms)"
echo "shim:   lucet, cached (median of 3):  $cached_ms ms"
echo "shim:   runc, native static (median): $native_ms ms"
echo "shim:   (compiling probe.wasm, 36 KB: ${probe_compile_ms:-?} ms)"
echo "shim: $passed passed, 0 failed"
