#!/usr/bin/env bash
# Builds the arca image with deploy/build-image.sh from the Bazel-built
# binaries (runfiles) and checks it with podman:
#   - built twice (the first image removed in between), the image id and the
#     manifest digest are identical: the build is reproducible;
#   - the OCI labels and the default user;
#   - /etc/passwd and /etc/group name every role's user, and podman resolves
#     each name;
#   - the ldd-collected libraries are complete: every binary starts (`arca
#     help`, each service's usage with exit 2), each service serves on
#     loopback and exits 0 on SIGTERM, and the CLI inits, backs up (/etc of
#     the image) and verifies a repository on a volume.
# Skips (exit 0, prints SKIPPED) when buildah, podman or runc is missing.
#
# Everything runs in a private container store (vfs, under /tmp) with its own
# podman tmpdir: no other image is seen or touched; --network none: nothing
# leaves the container's own loopback. Every container, image and file it
# creates is removed on exit.
set -euo pipefail

for tool in buildah podman runc; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool not installed (scripts/install-deps.sh installs podman buildah runc)"
    exit 0
  fi
done

start=$(date +%s)
roles=(collector chunker compressor uploader orchestrator)
work=$(mktemp -d /tmp/arca-image-test.XXXXXX)
export CONTAINERS_CONF="$PWD/deploy/podman/containers.conf"
export CONTAINERS_STORAGE_CONF="$work/storage.conf"
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/store"
runroot = "$work/run"
EOF
pod() { podman --tmpdir "$work/podman-tmp" "$@"; }

tag=localhost/arca-image-test:1
containers=()
cleanup() {
  local rc=$?
  for c in "${containers[@]}"; do pod rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  pod rmi -f "$tag" >/dev/null 2>&1 || true
  rm -rf "$work" || echo "warning: could not remove $work" >&2
  exit "$rc"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Binaries from the runfiles, under the names build-image.sh expects.
mkdir "$work/bin"
ln -s "$PWD/tools/arca/arca" "$work/bin/arca"
for r in "${roles[@]}"; do ln -s "$PWD/services/$r/$r" "$work/bin/$r"; done

# 1. Reproducible: two builds, the first removed before the second.
epoch=1700000000
revision=0123456789abcdef0123456789abcdef01234567
build() {
  deploy/build-image.sh --bin-dir "$work/bin" --tag "$tag" --version test \
    --revision "$revision" --source-date-epoch "$epoch" --source https://localhost/arca
}
t0=$(date +%s)
out1=$(build) || fail "first build failed"
echo "$out1"
echo "build time: $(( $(date +%s) - t0 )) s"
id1=$(pod image inspect --format '{{.Id}}' "$tag")
digest1=$(pod image inspect --format '{{.Digest}}' "$tag")
pod rmi -f "$tag" >/dev/null
build >/dev/null || fail "second build failed"
id2=$(pod image inspect --format '{{.Id}}' "$tag")
digest2=$(pod image inspect --format '{{.Digest}}' "$tag")
echo "build 1: id $id1 digest $digest1"
echo "build 2: id $id2 digest $digest2"
[ "$id1" = "$id2" ] || fail "image ids differ between two builds of the same inputs"
[ "$digest1" = "$digest2" ] || fail "manifest digests differ between two builds of the same inputs"
[ -n "$digest1" ] || fail "no manifest digest"

# 2. Labels and the default user.
label() { pod image inspect --format "{{index .Labels \"org.opencontainers.image.$1\"}}" "$tag"; }
[ "$(label version)" = test ] || fail "label version is '$(label version)'"
[ "$(label revision)" = "$revision" ] || fail "label revision is '$(label revision)'"
[ "$(label source)" = https://localhost/arca ] || fail "label source is '$(label source)'"
[ "$(label created)" = 2023-11-14T22:13:20Z ] || fail "label created is '$(label created)'"
user=$(pod image inspect --format '{{.User}}' "$tag")
[ "$user" = 65532:65532 ] || fail "default user is '$user', want 65532:65532"
created=$(pod image inspect --format '{{.Created.Unix}}' "$tag")
[ "$created" = "$epoch" ] || fail "image created $created, want $epoch"

# Every entry of the one layer: owned by 0:0, dated SOURCE_DATE_EPOCH.
pod save --format oci-dir -o "$work/oci" "$tag" >/dev/null 2>&1 || fail "podman save failed"
layer=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]+"/index.json"))["manifests"][0]["digest"]; \
l=json.load(open(sys.argv[1]+"/blobs/sha256/"+m.split(":")[1]))["layers"]; print(len(l), l[0]["digest"].split(":")[1])' "$work/oci")
[ "${layer%% *}" = 1 ] || fail "want one layer, got ${layer%% *}"
TZ=UTC tar --numeric-owner --full-time -tvzf "$work/oci/blobs/sha256/${layer#* }" >"$work/layer.txt" 2>/dev/null ||
  TZ=UTC tar --numeric-owner --full-time -tvf "$work/oci/blobs/sha256/${layer#* }" >"$work/layer.txt"
grep -q ' usr/local/bin/arca$' "$work/layer.txt" || fail "no usr/local/bin/arca in the layer"
bad=$(awk '$2 != "0/0" || $4" "$5 != "2023-11-14 22:13:20" { print; if (++n == 3) exit }' "$work/layer.txt")
[ -z "$bad" ] || fail "layer entries not 0/0 at SOURCE_DATE_EPOCH: $bad"
rm -rf "$work/oci"

run() { pod run --rm --network none "$@"; }

# 3. Users: the files, and podman resolving each name in the image.
c=arca-image-test-files
containers+=("$c")
pod create --name "$c" "$tag" >/dev/null
pod cp "$c:/etc/passwd" "$work/passwd"
pod cp "$c:/etc/group" "$work/group"
pod rm "$c" >/dev/null
grep -qx 'root:x:0:0:.*' "$work/passwd" || fail "no root in /etc/passwd"
grep -q '^arca:x:65532:65532:' "$work/passwd" || fail "no arca (65532) in /etc/passwd"
grep -q '^arca:x:65532:' "$work/group" || fail "no arca (65532) in /etc/group"
for u in arca arca-chunker arca-compressor arca-uploader arca-orchestrator; do
  grep -q "^$u:x:" "$work/passwd" || fail "no user $u in /etc/passwd"
  grep -q "^$u:x:" "$work/group" || fail "no group $u in /etc/group"
  run --user "$u" "$tag" arca help >/dev/null || fail "podman run --user $u failed"
done

# 4. Every binary starts: the libraries ldd collected are complete.
help=$(run "$tag") || fail "default command (arca help) failed"
grep -q '^usage: arca' <<<"$help" || fail "arca help printed no usage: $help"
for r in "${roles[@]}"; do
  set +e
  usage=$(run "$tag" "$r" --help 2>&1)
  rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "$r --help: exit $rc, want 2 (usage): $usage"
  grep -q "^usage: $r " <<<"$usage" || fail "$r --help printed no usage: $usage"
done

# 5. The CLI on a volume, as the arca user; then each service serving on the
#    container's loopback, each as its role's user, stopped with SIGTERM.
mkdir "$work/repo"
chown 65532:65532 "$work/repo"
run -v "$work/repo:/repo" "$tag" arca init --repo /repo >/dev/null || fail "arca init failed"
run -v "$work/repo:/repo" "$tag" arca backup /etc --repo /repo >/dev/null || fail "arca backup failed"
run -v "$work/repo:/repo" "$tag" arca verify --repo /repo >/dev/null || fail "arca verify failed"
chmod -R a+rwX "$work/repo"  # the uploader runs as arca-uploader

declare -A args=(
  [collector]="--source-root /etc"
  [chunker]=""
  [compressor]=""
  [uploader]="--repo /repo"
  [orchestrator]="--uploader=127.0.0.1:7001"
)
declare -A users=(
  [collector]=0:0 [chunker]=arca-chunker [compressor]=arca-compressor
  [uploader]=arca-uploader [orchestrator]=arca-orchestrator
)
for r in "${roles[@]}"; do
  c="arca-image-test-$r"
  containers+=("$c")
  # shellcheck disable=SC2086  # args are words
  pod run -d --name "$c" --network none --user "${users[$r]}" -v "$work/repo:/repo" \
    "$tag" "$r" --listen=127.0.0.1:7000 --insecure ${args[$r]} >/dev/null
done
for r in "${roles[@]}"; do
  c="arca-image-test-$r"
  # Logs captured first: `pod logs | grep -q` fails under pipefail (SIGPIPE).
  for _ in $(seq 50); do
    logs=$(pod logs "$c" 2>&1)
    grep -q "serving on 127.0.0.1:7000" <<<"$logs" && break
    [ "$(pod inspect -f '{{.State.Running}}' "$c")" = true ] || break
    sleep 0.2
  done
  logs=$(pod logs "$c" 2>&1)
  grep -q "serving on 127.0.0.1:7000" <<<"$logs" || fail "$r did not start serving: $(tail -5 <<<"$logs")"
done
for r in "${roles[@]}"; do pod stop -t 20 "arca-image-test-$r" >/dev/null; done
for r in "${roles[@]}"; do
  rc=$(pod inspect -f '{{.State.ExitCode}}' "arca-image-test-$r")
  [ "$rc" -eq 0 ] || fail "$r exited $rc after SIGTERM, want 0: $(pod logs "arca-image-test-$r" 2>&1 | tail -5)"
done

echo "image: $(pod image inspect --format '{{.Size}}' "$tag") bytes; test wall time $(( $(date +%s) - start )) s"
echo "PASS"
