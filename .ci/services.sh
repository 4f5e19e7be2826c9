#!/usr/bin/env bash
# Services the tests need: PostgreSQL's binaries (the tests start their own throwaway server with
# initdb + pg_ctl on a loopback port, so nothing is started here) and Ray/optuna extras in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
