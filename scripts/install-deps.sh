#!/usr/bin/env bash
# Installs every Debian 12 package arca needs to build, test and benchmark.
# Idempotent: packages already installed are left alone; safe to run repeatedly.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ pkg-config
  protobuf-compiler libprotobuf-dev libprotoc-dev
  libgrpc++-dev protobuf-compiler-grpc libgrpc-dev
  libabsl-dev libzstd-dev liblzma-dev libssl-dev
  libacl1-dev libattr1-dev
  libfuse3-dev
  prometheus-cpp-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # tests
  acl attr prometheus python3 procps
  # tests: arca mount (fusermount3)
  fuse3
  # tests/python: the outside Python client (stubs from protoc + grpc_python_plugin)
  python3-grpcio python3-protobuf
  # tests: S3 backend (a throw-away Ceph RADOS Gateway, libs/testing/rgw_server.h)
  ceph-mon ceph-osd radosgw ceph-common python3-boto3 s3cmd curl
  libcurl4-openssl-dev libexpat1-dev
  # tests: containers (issue 15): deploy/build-image.sh, //deploy:image_test,
  # //deploy/k8s:podman_e2e_test (its network: netavark, aardvark-dns; the converter: yaml)
  podman buildah runc netavark aardvark-dns python3-yaml
  # benchmarks (peers)
  zstd xz-utils restic borgbackup time
)

# deploy/k8s validation needs kubectl (with kustomize) and Node.js with npm.
# Debian's kubernetes-client (kubectl 1.20), nodejs (18) and npm only when no
# kubectl / node / npm is on the PATH: a machine that has newer ones from
# other packages (kubectl 1.32, Node 20 with its own npm) keeps them, since
# Debian's would conflict with those packages' files.
command -v kubectl >/dev/null 2>&1 || PACKAGES+=(kubernetes-client)
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
