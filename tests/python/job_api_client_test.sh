#!/usr/bin/env bash
# Runs job_api_client_test.py with Debian's Python (/usr/bin/python3 has the
# python3-grpcio and python3-protobuf modules; a `python3` earlier on PATH
# may not). The binaries and protos come through the runfiles.
set -euo pipefail
py=/usr/bin/python3
if [ ! -x "$py" ]; then
  echo "FAIL: $py not found; run scripts/install-deps.sh" >&2
  exit 1
fi
exec "$py" -B tests/python/job_api_client_test.py
