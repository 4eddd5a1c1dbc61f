#!/usr/bin/env bash
# End-to-end deploy test on a real container runtime (issue 15):
#   1. builds the image localhost/arca:0.1.0 (the tag the manifests name, so
#      no image field is rewritten) with deploy/build-image.sh from the
#      Bazel-built binaries;
#   2. renders the single-node overlay (dev + the repository on a PVC) with
#      `kubectl kustomize`;
#   3. converts it for podman 4.3 `kube play` (kube_to_podman.py), with
#      certificates from tests/distributed/make_certs.sh and a random token in
#      place of the Secrets an operator creates;
#   4. creates its own --internal podman network, plays the PVCs, inits the
#      repository on the named volume as the init Job would, plays one pod per
#      workload with the aliases of the Services that select it, and waits
#      until the orchestrator reports every phase reachable (its gRPC health
#      checks of the other pods, seen in arca_orchestrator_phase_replicas_reachable)
#      and answers `arca jobs` over mutual TLS;
#   5. runs the backup-nightly CronJob's command (its args from the rendered
#      manifest) in a client pod on the network, lists snapshots, restores
#      through the collector into its restore hostPath, compares the tree
#      (contents, modes, owners, mtimes, links) with the source, verifies the
#      repository, and scrapes the orchestrator's and the uploader's /metrics;
#   6. removes everything (pods, containers, volumes, network, the image, its
#      private store) on exit and prints its wall time.
# Skips (exit 0, prints SKIPPED) when podman, buildah, runc or kubectl is
# missing, or /usr/bin/python3 has no yaml module.
#
# Isolation: a private container store (vfs under /tmp), podman tmpdir and
# network configuration directory; the network is --internal (no route off
# the host), only the Service names are looked up, and the only traffic is between the pods, the
# CLI container and the host's side of that bridge (the /metrics scrape).
# Nothing is pulled: the image is built FROM scratch here.
set -euo pipefail
# netavark runs iptables from /usr/sbin, which Bazel's strict action
# environment leaves off PATH.
export PATH="$PATH:/usr/sbin:/sbin"

for tool in buildah podman runc kubectl; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool not installed (scripts/install-deps.sh installs podman buildah runc kubectl)"
    exit 0
  fi
done
if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  echo "SKIPPED: /usr/bin/python3 has no yaml module (Debian python3-yaml)"
  exit 0
fi

start=$(date +%s)
step() { echo "[$(( $(date +%s) - start )) s] $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

roles=(collector chunker compressor uploader orchestrator)
phases=(collector chunker compressor uploader)
tag=localhost/arca:0.1.0
work=$(mktemp -d /tmp/arca-podman-e2e.XXXXXX)
id=$(basename "$work" | tr -dc 'a-zA-Z0-9' | tail -c 6)
net="arca-e2e-$id"
# Our own containers.conf: the shipped one plus a private network
# configuration directory (no file under /etc/containers is read or written).
export CONTAINERS_CONF="$work/containers.conf"
cp deploy/podman/containers.conf "$CONTAINERS_CONF"
printf '\n[network]\nnetwork_config_dir = "%s"\n' "$work/networks" >>"$CONTAINERS_CONF"
mkdir "$work/networks"
export CONTAINERS_STORAGE_CONF="$work/storage.conf"
cat >"$CONTAINERS_STORAGE_CONF" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/store"
runroot = "$work/run"
EOF
pod() { podman --tmpdir "$work/podman-tmp" "$@"; }

cleanup() {
  local rc=$?
  set +e
  if [ "$rc" -ne 0 ] && [ -f "$work/out/plays.tsv" ]; then
    for r in "${roles[@]}"; do
      echo "--- logs of $r (last 15 lines)" >&2
      pod logs "$r-pod-0-$r" 2>&1 | tail -15 >&2
    done
  fi
  pod pod rm -a -f -t 0 >/dev/null 2>&1
  pod rm -a -f -t 0 >/dev/null 2>&1
  pod volume rm -a -f >/dev/null 2>&1
  pod network rm -f "$net" >/dev/null 2>&1
  pod rmi -a -f >/dev/null 2>&1
  rm -rf "$work" || echo "warning: could not remove $work" >&2
  echo "podman e2e wall time: $(( $(date +%s) - start )) s"
  exit "$rc"
}
trap cleanup EXIT

# 1. The image, from the runfiles' binaries.
mkdir "$work/bin"
ln -s "$PWD/tools/arca/arca" "$work/bin/arca"
for r in "${roles[@]}"; do ln -s "$PWD/services/$r/$r" "$work/bin/$r"; done
deploy/build-image.sh --bin-dir "$work/bin" --tag "$tag" --version 0.1.0 \
  --source-date-epoch 1700000000 --revision 0123456789abcdef0123456789abcdef01234567 --source https://localhost/arca >/dev/null ||
  fail "deploy/build-image.sh failed"
step "image $tag built"

# 2. and 3. Render and convert. The fixture tree stands for the node's
#    /var/lib/kubelet/pods, the restore directory for /var/lib/arca/restore.
src="$work/node/pods"
restore="$work/node/restore"
mkdir -p "$src" "$restore" "$work/certs" "$work/out"
# kustomize resolves symlinks and refuses files outside a kustomization's
# root: render a plain copy, not Bazel's symlinked runfiles (validate.sh too).
mkdir "$work/k8s"
cp -rL deploy/k8s/base deploy/k8s/overlays "$work/k8s/"
kubectl kustomize "$work/k8s/overlays/single-node" >"$work/rendered.yaml" 2>"$work/kustomize.err" ||
  fail "kubectl kustomize: $(cat "$work/kustomize.err")"
sh tests/distributed/make_certs.sh "$work/certs" arca arca.svc >/dev/null
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
/usr/bin/python3 deploy/k8s/e2e/kube_to_podman.py "$work/rendered.yaml" \
  --certs "$work/certs" --token "$work/token" \
  --host-path "host-volumes=$src" --host-path "restore=$restore" \
  --out "$work/out" 2>"$work/convert.log" || fail "converter: $(cat "$work/convert.log")"
for r in "${roles[@]}"; do
  grep -q "^pod-$r.yaml	" "$work/out/plays.tsv" || fail "no pod for $r in $(cat "$work/out/plays.tsv")"
done
step "rendered and converted: $(wc -l <"$work/out/plays.tsv") workloads"

# The fixture: two "pod volumes" with nested directories, modes, owners,
# an empty file, a name with spaces, a symlink, a hard link and 4 MiB of
# random data (several chunks).
v1="$src/1111-aaaa/volumes/kubernetes.io~empty-dir/data"
v2="$src/2222-bbbb/volumes/kubernetes.io~csi/pvc-42/mount"
mkdir -p "$v1/sub/deeper" "$v2/db"
echo "hello from a pod" >"$v1/hello.txt"
: >"$v1/empty"
printf 'spaces\n' >"$v1/sub/a name with spaces.txt"
head -c 4194304 /dev/urandom >"$v2/db/data.bin"
head -c 100000 /dev/urandom >"$v1/sub/deeper/blob"
ln -s ../hello.txt "$v1/sub/link-to-hello"
ln "$v1/hello.txt" "$v1/hard-link"
chmod 0600 "$v2/db/data.bin"
chmod 0750 "$v2/db"
chown 1000:2000 "$v2/db" "$v2/db/data.bin"
chown -h 1234:1234 "$v1/sub/link-to-hello"
touch -d 2020-01-02T03:04:05 "$v1/hello.txt" "$v1/sub/deeper/blob"

# 4. The network, the volumes, the pods.
third=$(( 100 + RANDOM % 150 ))
while ip -4 route | grep -q "^10\.89\.$third\."; do third=$(( 100 + RANDOM % 150 )); done
pod network create --internal --subnet "10.89.$third.0/24" "$net" >/dev/null
# podman 4.3 has no --interface-name: name the bridge after the network (not
# podmanN, which another podman on the host may be using).
sed -i "s/\"network_interface\": \"[^\"]*\"/\"network_interface\": \"ae2e$id\"/" \
  "$work/networks/$net.json"
grep -q "\"network_interface\": \"ae2e$id\"" "$work/networks/$net.json" ||
  fail "could not name the bridge: $(cat "$work/networks/$net.json")"
pod kube play "$work/out/volumes.yaml" >/dev/null || fail "kube play of the PVCs failed"
pod volume exists repository || fail "the PVC repository did not become a volume"
# The repository is created once, as deploy/k8s/init-repository does on
# object storage (the volume is chowned to the first user that mounts it).
pod run --rm --network none --read-only --user 65532:65532 --cap-drop all \
  -v repository:/repository "$tag" arca init --repo /repository >/dev/null ||
  fail "arca init on the repository volume failed"
while IFS=$'\t' read -r file aliases; do
  pod kube play --network "$net:alias=${aliases//,/,alias=}" "$work/out/$file" \
    >"$work/play.log" 2>&1 || fail "kube play $file: $(cat "$work/play.log")"
done <"$work/out/plays.tsv"
step "pods played"

# The security context survived the conversion: users, read-only roots,
# capabilities.
for r in "${roles[@]}"; do
  c="$r-pod-0-$r"
  got=$(pod inspect -f '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.EffectiveCaps}}' "$c") ||
    fail "no container $c"
  case $r in
    collector) want="0:0 true [CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_MKNOD]" ;;
    *) want="65532:65532 true []" ;;
  esac
  [ "$got" = "$want" ] || fail "$c runs as '$got', want '$want'"
done

ip_of() { pod inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" "$1-pod-0-$1"; }
scrape() {  # role port: the host's side of the bridge to the pod's IP
  /usr/bin/python3 -c 'import sys, urllib.request
print(urllib.request.urlopen("http://%s:%s/metrics" % (sys.argv[1], sys.argv[2]), timeout=5).read().decode())' \
    "$(ip_of "$1")" "$2"
}

tls="$work/client-tls"
mkdir "$tls"
cp "$work/certs/client.pem" "$tls/tls.crt"
cp "$work/certs/client.key" "$tls/tls.key"
cp "$work/certs/ca.pem" "$tls/ca.crt"
chmod 0755 "$tls"
chmod 0644 "$tls"/*  # read by uid 65532 in the CLI container; removed on exit
# The CronJob's container: its image, command and args as rendered; the
# client Secret mounted where it expects it; its securityContext.
read -r -a cron_cmd < <(/usr/bin/python3 -c 'import json, sys
j = json.load(open(sys.argv[1])); print(" ".join(j["command"] + j["args"]))' \
  "$work/out/cronjob-backup-nightly.json")
[ "${cron_cmd[0]}" = /usr/local/bin/arca ] || fail "backup CronJob runs ${cron_cmd[0]}"
api=()
for a in "${cron_cmd[@]:1}"; do
  case $a in --orchestrator=* | --tls-*) api+=("$a") ;; esac
done
[ "${#api[@]}" = 4 ] || fail "backup CronJob API flags: ${api[*]}"
# The CLI containers join one client pod created once: aardvark-dns 1.4
# closes and reopens its sockets on every SIGHUP, which netavark sends for
# each container joining or leaving the network, and a service's lookup
# caught in that window timed out (containers/aardvark-dns#389, fixed in
# later releases): a backup failed with "DNS resolution failed for
# chunker.arca.svc: Timeout while contacting DNS servers" in 1 of 3 runs.
pod pod create --name arca-client --network "$net" >/dev/null
pod pod start arca-client >/dev/null
cli() {
  pod run --rm --pod arca-client --read-only --user 65532:65532 --cap-drop all \
    --security-opt no-new-privileges -v "$tls:/etc/arca/tls:ro" "$tag" "$@"
}

# Ready: every phase reachable from the orchestrator (its own gRPC health
# checks of the other pods, through the Service names) and the job API
# answering the CLI over mutual TLS.
ready=""
for _ in $(seq 60); do
  if metrics=$(scrape orchestrator 9470 2>/dev/null); then
    n=0
    for p in "${phases[@]}"; do
      grep -Eq "^arca_orchestrator_phase_replicas_reachable\{phase=\"$p\"\} [1-9]" <<<"$metrics" &&
        n=$(( n + 1 ))
    done
    if [ "$n" = "${#phases[@]}" ] && cli arca "${api[@]}" jobs >/dev/null 2>&1; then
      ready=yes
      break
    fi
  fi
  sleep 1
done
[ -n "$ready" ] || fail "orchestrator not ready: $(grep phase_replicas_reachable <<<"${metrics:-}")"
step "ready: every phase reachable, job API answering"

# 5. Backup (the CronJob's command), snapshots, restore, compare, verify.
cli "${cron_cmd[@]}" >"$work/backup.out" 2>&1 || fail "backup: $(cat "$work/backup.out")"
snapshot=$(grep -E '^cluster_host_volumes/' "$work/backup.out" | head -1)
[ -n "$snapshot" ] || fail "backup printed no snapshot id: $(cat "$work/backup.out")"
step "backup $snapshot: $(tail -1 "$work/backup.out")"
cli arca "${api[@]}" snapshots >"$work/snapshots.out" 2>&1 || fail "snapshots: $(cat "$work/snapshots.out")"
grep -q "^$snapshot .*schedule=nightly" "$work/snapshots.out" ||
  fail "snapshot $snapshot with label schedule=nightly not listed: $(cat "$work/snapshots.out")"
cli arca "${api[@]}" restore "$snapshot" /restore/e2e --collector=collector.arca.svc:7403 \
  >"$work/restore.out" 2>&1 || fail "restore: $(cat "$work/restore.out")"
step "restored: $(tail -1 "$work/restore.out")"
diff -r --no-dereference "$src" "$restore/e2e" >&2 || fail "restored tree differs from the source"
/usr/bin/python3 - "$src" "$restore/e2e" <<'EOF' || fail "restored metadata differs from the source"
import os, sys
def tree(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            link = os.readlink(p) if os.path.islink(p) else None
            mtime = None if os.path.isdir(p) and not os.path.islink(p) else st.st_mtime_ns
            out[os.path.relpath(p, root)] = (oct(st.st_mode), st.st_uid, st.st_gid, mtime, link,
                                             st.st_nlink if os.path.isfile(p) else None)
    return out
a, b = tree(sys.argv[1]), tree(sys.argv[2])
bad = [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
for k, x, y in bad[:10]:
    print(f"{k}: source {x}, restored {y}", file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
cli arca "${api[@]}" verify >"$work/verify.out" 2>&1 || fail "verify: $(cat "$work/verify.out")"
grep -q 'no problems' "$work/verify.out" || fail "verify: $(cat "$work/verify.out")"
step "compared and verified: $(tail -1 "$work/verify.out")"

# Metrics: the orchestrator counted the three jobs, the uploader stored chunks.
metrics=$(scrape orchestrator 9470) || fail "no metrics from the orchestrator"
for t in backup restore verify; do
  grep -Eq "^arca_jobs_total\{result=\"success\",type=\"$t\"\} 1$" <<<"$metrics" ||
    fail "orchestrator metrics: no successful $t job: $(grep '^arca_jobs_total.*success' <<<"$metrics")"
done
umetrics=$(scrape uploader 9474) || fail "no metrics from the uploader"
grep -q '^arca_' <<<"$umetrics" || fail "uploader metrics have no arca_ series"
step "metrics scraped: orchestrator arca_jobs_total, uploader $(grep -c '^arca_' <<<"$umetrics") arca_ series"

echo "PASS"
