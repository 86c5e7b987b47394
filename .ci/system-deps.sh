#!/usr/bin/env bash
# Make sure the system parts the tests use for real are present: headless Chromium (report tests)
# and the local PostgreSQL server (registry tests). Idempotent; quiet when everything is there.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }

if ! command -v chromium >/dev/null 2>&1; then
  echo "system-deps: installing chromium + chromium-driver (Debian packages)"
  as_root apt-get update -qq || true
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
    || echo "system-deps: could not install chromium; browser tests will skip with a reason"
fi

if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "system-deps: starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start \
    || echo "system-deps: could not start PostgreSQL; PostgreSQL tests will skip with a reason"
fi
