#!/usr/bin/env bash
# Builds the arca container image, offline, from the Bazel outputs.
#
#   deploy/build-image.sh [--bin-dir DIR] [--tag TAG] [--version V]
#                         [--revision SHA] [--source-date-epoch N]
#                         [--source URL] [--iidfile FILE]
#
# One image holds the five service binaries and the `arca` CLI; the role is
# chosen by the command (`collector ...`, `chunker ...`, `arca backup ...`).
# Why one image and not five: the six binaries link the same ~40 shared
# libraries (gRPC, protobuf, abseil, OpenSSL, curl, ...), which are most of
# the bytes; one image stores them once, is pulled once per node, and every
# role of a deployment runs the very same build (one tag, one digest to pin,
# scan and roll back). A role's binary it does not run costs ~12 MB on disk.
#
# The image is FROM scratch and holds exactly:
#   /usr/local/bin/{arca,collector,chunker,compressor,uploader,orchestrator}
#     (debug sections stripped)
#   the shared libraries those need, found with ldd (dynamic loader included),
#     at their usr-merged paths, with /lib and /lib64 -> usr/lib, usr/lib64
#   /etc/passwd, /etc/group (see deploy/README.md for the users),
#   /etc/nsswitch.conf, /etc/ssl/certs/ca-certificates.crt (HTTPS to S3), /tmp
#
# Reproducible: every file's mode is normalized, every timestamp (files,
# image config, history) is SOURCE_DATE_EPOCH (the commit time of HEAD unless
# given), nothing else varies; the same binaries, host libraries and buildah
# give the same image digest. `buildah bud --layers=false --timestamp N`.
#
# Binaries: by default `bazel build -c opt` of the six targets (disk cache
# $ARCA_BAZEL_CACHE, default /var/cache/arca-bazel); --bin-dir DIR (or
# ARCA_BIN_DIR=DIR) takes prebuilt ones instead: DIR/arca, DIR/collector, ...
#
# Podman/buildah settings: CONTAINERS_CONF defaults to
# deploy/podman/containers.conf (runc, rlimits, file events logger); storage
# is buildah's usual one unless CONTAINERS_STORAGE_CONF says otherwise.
#
# Prints the tag, image id, manifest digest and size. Exit 0 on success, 1 on
# failure, 2 on bad usage.
set -euo pipefail

readonly kRoles=(collector chunker compressor uploader orchestrator)
readonly kBinaries=(arca "${kRoles[@]}")
readonly kNonRootUid=65532  # "arca": the CLI and the default user

usage() {
  echo "usage: deploy/build-image.sh [--bin-dir DIR] [--tag TAG] [--version V]" \
    "[--revision SHA] [--source-date-epoch N] [--source URL] [--iidfile FILE]" >&2
  [ -n "${1:-}" ] && echo "build-image: $1" >&2
  exit 2
}

die() { echo "build-image: $*" >&2; exit 1; }

deploy_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$deploy_dir")

bin_dir="${ARCA_BIN_DIR:-}"
tag="" version="" revision="" epoch="${SOURCE_DATE_EPOCH:-}" iidfile=""
source_url="${ARCA_IMAGE_SOURCE:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --bin-dir) bin_dir="${2:?}"; shift 2 ;;
    --tag) tag="${2:?}"; shift 2 ;;
    --version) version="${2:?}"; shift 2 ;;
    --revision) revision="${2:?}"; shift 2 ;;
    --source-date-epoch) epoch="${2:?}"; shift 2 ;;
    --source) source_url="${2:?}"; shift 2 ;;
    --iidfile) iidfile="${2:?}"; shift 2 ;;
    -h|--help) usage ;;
    *) usage "unknown argument '$1'" ;;
  esac
done

export CONTAINERS_CONF="${CONTAINERS_CONF:-$deploy_dir/podman/containers.conf}"
command -v buildah >/dev/null || die "buildah not found; run scripts/install-deps.sh"

# Version, revision and time from git unless given.
git_in_repo() { git -C "$repo_dir" rev-parse --git-dir >/dev/null 2>&1; }
if [ -z "$revision" ]; then
  git_in_repo || die "not a git checkout: give --revision"
  revision=$(git -C "$repo_dir" rev-parse HEAD)
fi
if [ -z "$epoch" ]; then
  git_in_repo || die "not a git checkout: give --source-date-epoch"
  epoch=$(git -C "$repo_dir" log -1 --format=%ct "$revision")
fi
[[ "$epoch" =~ ^[0-9]+$ ]] || usage "--source-date-epoch must be seconds since 1970, got '$epoch'"
if [ -z "$version" ]; then
  # No release tags yet: 0.0.0-<commit date>-<short commit> (semver-ish, sorts by time).
  version="0.0.0-$(date -u -d "@$epoch" +%Y%m%d%H%M%S)-${revision:0:12}"
  if git_in_repo && ! git -C "$repo_dir" diff --quiet HEAD -- 2>/dev/null; then
    version+="-dirty"
  fi
fi
[ "$version" != latest ] || usage "the tag 'latest' is not used; give a version"
tag="${tag:-localhost/arca:$version}"
case "$tag" in *:latest) usage "the tag 'latest' is not used: $tag" ;; esac
if [ -z "$source_url" ] && git_in_repo; then
  source_url=$(git -C "$repo_dir" config --get remote.origin.url || true)
fi
source_url="${source_url:-https://localhost/arca (no git remote; set ARCA_IMAGE_SOURCE)}"
created=$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)

cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT

# 1. Binaries.
if [ -z "$bin_dir" ]; then
  cache="${ARCA_BAZEL_CACHE:-/var/cache/arca-bazel}"
  targets=(//tools/arca)
  for r in "${kRoles[@]}"; do targets+=("//services/$r"); done
  (cd "$repo_dir" && bazel build -c opt --disk_cache="$cache" "${targets[@]}") >&2
  bin_dir=$(mktemp -d)
  cleanup+=("$bin_dir")
  ln -s "$repo_dir/bazel-bin/tools/arca/arca" "$bin_dir/arca"
  for r in "${kRoles[@]}"; do ln -s "$repo_dir/bazel-bin/services/$r/$r" "$bin_dir/$r"; done
fi
for b in "${kBinaries[@]}"; do
  [ -x "$bin_dir/$b" ] || die "$bin_dir/$b: missing or not executable"
done

# 2. The root file system, staged in a temporary build context.
ctx=$(mktemp -d)
cleanup+=("$ctx")
root="$ctx/rootfs"
mkdir -p "$root/usr/local/bin" "$root/usr/lib" "$root/usr/lib64" "$root/etc/ssl/certs" "$root/tmp"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"

# Debug sections stripped (-g1 line tables: 69 MB of the 83 MB); the symbol
# table stays for stack traces, and the Bazel outputs of the same revision
# keep the debug info (same build id) for offline symbolization.
command -v strip >/dev/null || die "strip not found (binutils)"
for b in "${kBinaries[@]}"; do
  strip --strip-debug -o "$root/usr/local/bin/$b" "$bin_dir/$b"
done

# Every library ldd resolves (transitively) for any binary, copied with its
# contents to the real (usr-merged) directory under the name ldd gave (the
# soname the loader looks for). No /etc/ld.so.cache: the loader's built-in
# multiarch directories find them.
libs=$(
  for b in "${kBinaries[@]}"; do
    out=$(ldd "$bin_dir/$b") || die "ldd $bin_dir/$b failed"
    if grep -q "not found" <<<"$out"; then
      die "$b: unresolved libraries: $(grep "not found" <<<"$out" | tr -s ' \t' ' ')"
    fi
    # "libx.so.1 => /path/libx.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out"
  done | LC_ALL=C sort -u
)
[ -n "$libs" ] || die "ldd found no libraries; are the binaries dynamically linked?"
while IFS= read -r lib; do
  dest="$(realpath "$(dirname "$lib")")/$(basename "$lib")"
  mkdir -p "$root$(dirname "$dest")"
  cp -L "$lib" "$root$dest"
done <<<"$libs"

cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" ||
  die "/etc/ssl/certs/ca-certificates.crt missing; install ca-certificates"

# Users: the collector runs as root (it reads every tenant's files and
# restores their owners); every other role has its own non-root user so that
# a compromised service cannot read another's files; "arca" (65532) is the
# CLI's and the image's default. The manifests choose (runAsUser); the image
# only names them. nobody/nogroup for tools that expect them.
cat >"$root/etc/passwd" <<EOF
root:x:0:0:root (arca collector):/root:/sbin/nologin
arca:x:${kNonRootUid}:${kNonRootUid}:arca CLI:/nonexistent:/sbin/nologin
arca-chunker:x:65541:65541:arca chunker:/nonexistent:/sbin/nologin
arca-compressor:x:65542:65542:arca compressor:/nonexistent:/sbin/nologin
arca-uploader:x:65543:65543:arca uploader:/nonexistent:/sbin/nologin
arca-orchestrator:x:65544:65544:arca orchestrator:/nonexistent:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
cat >"$root/etc/group" <<EOF
root:x:0:
arca:x:${kNonRootUid}:arca-chunker,arca-compressor,arca-uploader,arca-orchestrator
arca-chunker:x:65541:
arca-compressor:x:65542:
arca-uploader:x:65543:
arca-orchestrator:x:65544:
nogroup:x:65534:
EOF
cat >"$root/etc/nsswitch.conf" <<'EOF'
# glibc 2.36 has "files" and "dns" built in: no libnss_*.so needed.
passwd: files
group: files
shadow: files
hosts: files dns
networks: files
protocols: files
services: files
EOF

# Normalize: directories 0755 (/tmp 1777), executables and the loader 0755,
# everything else 0644; one timestamp for every entry, links included.
find "$root" -type d -exec chmod 0755 {} +
chmod 1777 "$root/tmp"
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root"/usr/local/bin/* "$root"/usr/lib64/ld-linux-*.so.*
find "$root" -exec touch -h -d "@$epoch" {} +

cat >"$ctx/Containerfile" <<EOF
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin
USER ${kNonRootUid}:${kNonRootUid}
CMD ["arca", "help"]
EOF

# 3. The image: one layer, fixed timestamps, OCI labels.
start=$(date +%s)
iid_tmp="$ctx/iid"
buildah bud --quiet --layers=false --timestamp "$epoch" --format oci \
  --iidfile "$iid_tmp" --tag "$tag" \
  --label "org.opencontainers.image.title=arca" \
  --label "org.opencontainers.image.description=arca backup: CLI and the collector, chunker, compressor, uploader, orchestrator services; the command picks the role" \
  --label "org.opencontainers.image.version=$version" \
  --label "org.opencontainers.image.revision=$revision" \
  --label "org.opencontainers.image.source=$source_url" \
  --label "org.opencontainers.image.created=$created" \
  --file "$ctx/Containerfile" "$ctx" >/dev/null
iid=$(cat "$iid_tmp")
[ -z "$iidfile" ] || cp "$iid_tmp" "$iidfile"
digest=$(buildah inspect --type image --format '{{.FromImageDigest}}' "$iid")
size=$(du -sb "$root" | cut -f1)
echo "tag:    $tag"
echo "id:     $iid"
echo "digest: $digest"
echo "size:   $((size / 1024 / 1024)) MiB uncompressed ($(echo "$libs" | wc -l) libraries)"
echo "built in $(( $(date +%s) - start )) s (image assembly only)"
