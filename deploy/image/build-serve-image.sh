#!/usr/bin/env bash
# Build an OCI image of lucet-serve and its routes, with no Docker: this
# script lays out the image itself (OCI image layout 1.0: oci-layout,
# index.json, blobs/sha256/ holding the manifest, the config and one
# gzip'd tar layer) and packs the layout into a tarball that
# `ctr image import` and `skopeo copy oci-archive:FILE ...` accept.
#
# The image needs nothing from outside itself at run time:
#   /usr/local/bin/lucet-serve          the server
#   /lib/..., /lib64/ld-linux-*.so.*    the libraries `ldd` lists, and the loader
#   /etc/lucet-serve/config.toml        deploy/image/config.toml (listen on
#                                       0.0.0.0:8080, trusted_keys: every module
#                                       must verify) and the routes
#   /etc/lucet-serve/routes/NAME.so     each route precompiled by lucetc-wasi
#   /etc/lucet-serve/routes/NAME.so.minisig   and signed (lucetc-wasi --sign)
#   /etc/lucet-serve/keys/lucet.pub     the public key they verify with
# No /tmp and no C compiler: precompiled routes need neither, and the
# server writes nothing. It runs as uid/gid 65532 (no /etc/passwd needed).
#
# Usage: deploy/image/build-serve-image.sh [options] OUT_DIR
#   --route PATH=MODULE  a route (repeatable): a .wasm/.wat is compiled with
#                        lucetc-wasi and signed; a .so is copied with its
#                        .minisig. Default: /hello=lucet-serve/handlers/wasm/hello.wasm
#   --key SECRET_KEY     minisign secret key to sign with (its public key is
#                        SECRET_KEY with the extension .pub, or --public-key);
#                        encrypted keys read LUCETC_KEY_PASSWORD. Default: a
#                        new unencrypted key pair in OUT_DIR/keys/ (the secret
#                        key stays there, out of the image)
#   --public-key PATH    the public key for --key
#   --name REF           image name (default docker.io/library/lucet-serve:dev)
#   --serve BIN          lucet-serve binary (default: target/release/lucet-serve,
#                        built with cargo)
#   --lucetc BIN         lucetc-wasi binary (default: target/release/lucetc-wasi,
#                        built with cargo)
#
# Writes OUT_DIR/oci/ (the layout), OUT_DIR/lucet-serve.oci.tar (the same,
# as one tarball) and prints the image name and manifest digest.
# SOURCE_DATE_EPOCH, if set, fixes every timestamp (else: the last commit's).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

usage() {
    sed -n '/^# Usage:/,/^# SOURCE_DATE_EPOCH/p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}
die() {
    echo "build-serve-image: error: $*" >&2
    exit 1
}

# The user the server runs as (no /etc/passwd: numeric).
user=65532:65532

routes=()
key=
public_key=
name=docker.io/library/lucet-serve:dev
serve=
lucetc=
out=
while (($#)); do
    case $1 in
    --route) routes+=("${2:?--route needs PATH=MODULE}"); shift 2 ;;
    --key) key=${2:?--key needs a path}; shift 2 ;;
    --public-key) public_key=${2:?--public-key needs a path}; shift 2 ;;
    --name) name=${2:?--name needs a reference}; shift 2 ;;
    --serve) serve=${2:?--serve needs a path}; shift 2 ;;
    --lucetc) lucetc=${2:?--lucetc needs a path}; shift 2 ;;
    -h | --help) usage ;;
    -*) die "unknown option $1 (--help lists them)" ;;
    *)
        [[ -z $out ]] || die "one OUT_DIR only (got $out and $1)"
        out=$1
        shift
        ;;
    esac
done
[[ -n $out ]] || usage
((${#routes[@]})) || routes=("/hello=$repo/lucet-serve/handlers/wasm/hello.wasm")
for tool in tar gzip sha256sum ldd od stat; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

# The binaries: built (in release) unless given.
if [[ -z $serve || -z $lucetc ]]; then
    (cd "$repo" && cargo build --release --quiet -p lucet-serve -p lucetc \
        --bin lucet-serve --bin lucetc-wasi)
    : "${serve:=${CARGO_TARGET_DIR:-$repo/target}/release/lucet-serve}"
    : "${lucetc:=${CARGO_TARGET_DIR:-$repo/target}/release/lucetc-wasi}"
fi
[[ -x $serve ]] || die "$serve is not an executable"
[[ -x $lucetc ]] || die "$lucetc is not an executable"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
etc=$root/etc/lucet-serve
mkdir -p "$root/usr/local/bin" "$etc/routes" "$etc/keys"

# The signing key.
if [[ -z $key ]]; then
    key=$out/keys/lucet.key
    public_key=$out/keys/lucet.pub
    if [[ ! -f $key ]]; then
        mkdir -p "$out/keys"
        "$lucetc" --keygen "$key" --public-key "$public_key" --unencrypted-key >/dev/null
    fi
fi
: "${public_key:=${key%.*}.pub}"
[[ -f $key ]] || die "no secret key at $key"
[[ -f $public_key ]] || die "no public key at $public_key (give --public-key)"
cp "$public_key" "$etc/keys/lucet.pub"

# The routes: compiled and signed, or copied with their signatures.
config=$etc/config.toml
cp "$here/config.toml" "$config"
port=$(sed -n 's/^listen *= *"[^"]*:\([0-9]*\)".*/\1/p' "$config")
[[ $port =~ ^[0-9]+$ ]] || die "no listen port in $here/config.toml"
declare -A seen=()
for r in "${routes[@]}"; do
    path=${r%%=*}
    module=${r#*=}
    [[ $r == *=* && $path == /* && -n $module ]] || die "--route $r: expected /PATH=MODULE"
    [[ -f $module ]] || die "--route $r: no file $module"
    base=$(basename "$module")
    stem=${base%.*}
    [[ -z ${seen[$stem]:-} ]] || die "two routes' modules are named $stem"
    seen[$stem]=1
    so=$etc/routes/$stem.so
    case $module in
    *.wasm | *.wat)
        "$lucetc" "$module" -o "$so" --sign "$key" </dev/null ||
            die "compiling $module"
        ;;
    *.so)
        [[ -f $module.minisig ]] || die "$module has no signature $module.minisig"
        cp "$module" "$so"
        cp "$module.minisig" "$so.minisig"
        ;;
    *) die "--route $r: a module is a .wasm, .wat or .so" ;;
    esac
    printf '\n[[route]]\npath = "%s"\nmodule = "routes/%s.so"\n' "$path" "$stem" >>"$config"
done

# The server and everything the dynamic loader will look for.
cp "$serve" "$root/usr/local/bin/lucet-serve"
copy_libs() {
    # `ldd` prints "name => /path (addr)" for libraries and "/path (addr)"
    # for the loader; the vDSO has no file.
    local lib
    while read -r lib; do
        [[ -e $root$lib ]] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done < <(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}
copy_libs "$serve"
for so in "$etc"/routes/*.so; do
    # Modules are loaded from memory; any libraries they name must be here.
    if ldd "$so" 2>/dev/null | grep -q '=>'; then
        copy_libs "$so"
    fi
done
loader=$(ldd "$serve" | awk '$1 ~ /^\// { print $1 }')
[[ -n $loader && -f $root$loader ]] || die "ldd listed no dynamic loader for $serve"

# Modes that do not depend on the umask; no setuid anything.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/local/bin/lucet-serve"
find "$root/lib" "$root/lib64" "$root/usr/lib" -type f -name '*.so*' -exec chmod 0755 {} + 2>/dev/null || true

# The architecture, from the binary's ELF header (e_machine), in the
# GOARCH spelling OCI uses.
machine=$(od -An -tu2 -j18 -N2 "$serve" | tr -d ' ')
case $machine in
62) arch=amd64 ;;
183) arch=arm64 ;;
243) arch=riscv64 ;;
*) die "unknown ELF machine $machine in $serve" ;;
esac

epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

# The layer: a reproducible tar (sorted, fixed owner and times), gzip'd.
layer_tar=$work/layer.tar
(cd "$root" && tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -cf "$layer_tar" -- *)
diff_id=sha256:$(sha256sum "$layer_tar" | cut -d' ' -f1)
gzip -n -c "$layer_tar" >"$work/layer.tar.gz"

oci=$out/oci
rm -rf "$oci"
mkdir -p "$oci/blobs/sha256"
# Store a file as a blob; sets blob_digest and blob_size.
blob() {
    blob_digest=sha256:$(sha256sum "$1" | cut -d' ' -f1)
    blob_size=$(stat -c %s "$1")
    cp "$1" "$oci/blobs/sha256/${blob_digest#sha256:}"
}
blob "$work/layer.tar.gz"
layer_digest=$blob_digest layer_size=$blob_size

# JSON by hand: every string written here is ours (paths, names, digests);
# json_str escapes what could still need it.
json_str() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
version=$("$serve" --version | awk '{ print $2 }')
cat >"$work/config.json" <<EOF
{"architecture":"$arch","os":"linux","created":"$created","config":{"User":"$user","ExposedPorts":{"$port/tcp":{}},"Env":["PATH=/usr/local/bin"],"Entrypoint":["/usr/local/bin/lucet-serve","--config","/etc/lucet-serve/config.toml"],"WorkingDir":"/","StopSignal":"SIGTERM","Labels":{"org.opencontainers.image.title":"lucet-serve","org.opencontainers.image.version":$(json_str "$version"),"org.opencontainers.image.revision":$(json_str "$revision")}},"rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created":"$created","created_by":"deploy/image/build-serve-image.sh"}]}
EOF
blob "$work/config.json"
config_digest=$blob_digest config_size=$blob_size

cat >"$work/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"$config_digest","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"$layer_digest","size":$layer_size}],"annotations":{"org.opencontainers.image.created":"$created"}}
EOF
blob "$work/manifest.json"
manifest_digest=$blob_digest manifest_size=$blob_size

# The tag goes in org.opencontainers.image.ref.name; containerd's importer
# takes the full name from io.containerd.image.name.
tag=${name##*:}
[[ $name == *:* && $tag != */* ]] || tag=latest
cat >"$oci/index.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"$manifest_digest","size":$manifest_size,"platform":{"architecture":"$arch","os":"linux"},"annotations":{"io.containerd.image.name":$(json_str "$name"),"org.opencontainers.image.ref.name":$(json_str "$tag")}}]}
EOF
printf '{"imageLayoutVersion":"1.0.0"}\n' >"$oci/oci-layout"

tarball=$out/lucet-serve.oci.tar
(cd "$oci" && tar --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    -cf "$tarball" oci-layout index.json blobs)

echo "image:    $name ($arch/linux)"
echo "manifest: $manifest_digest"
echo "layout:   $oci"
echo "tarball:  $tarball ($(du -h "$tarball" | cut -f1))"
echo "import:   ctr image import $tarball"
