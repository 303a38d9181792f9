#!/usr/bin/env bash
# Run lint, formatting, types and the whole test suite inside .venv.
# Points DATABASE_URL / REDIS_URL at the local servers when they answer and nothing is set.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

answers() {  # host port -> exit 0 when something listens there
    "$BIN/python" - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

if [ -z "${DATABASE_URL:-}" ] && answers 127.0.0.1 5432; then
    export DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
fi
if [ -z "${REDIS_URL:-}" ] && answers 127.0.0.1 6379; then
    export REDIS_URL="redis://127.0.0.1:6379/0"
fi
echo "DATABASE_URL=${DATABASE_URL:-<unset>} REDIS_URL=${REDIS_URL:-<unset>}"

# tests/e2e drive Debian's Chromium through Playwright; Playwright's own browser download
# is never used. Without the browser those tests skip (fail under BASTION_REQUIRE_SERVICES=1).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "Installing Debian's chromium for the browser tests"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q chromium
    else
        echo "/usr/bin/chromium is missing: the browser tests will skip. Install it with" >&2
        echo "  sudo apt-get update && sudo apt-get install -y chromium" >&2
    fi
fi

# tests/test_uploads_hostile.py and Vault's attachment tests scan with a private clamd
# (tests/clamav.py) on a signature database the tests write: EICAR and a signature of our
# own. Debian's clamav-daemon provides clamd; its services are kept from starting while it
# installs (policy-rc.d), so neither the system daemon nor freshclam runs and no
# signature is ever downloaded. Without clamd those tests skip (fail under
# BASTION_REQUIRE_SERVICES=1).
if [ ! -x /usr/sbin/clamd ]; then
    if [ "$(id -u)" -eq 0 ]; then
        echo "Installing Debian's clamav-daemon for the upload scanning tests"
        export DEBIAN_FRONTEND=noninteractive
        own_policy=
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            own_policy=1
        fi
        status=0
        apt-get update -q && apt-get install -y -q --no-install-recommends clamav-daemon ||
            status=$?
        if [ -n "$own_policy" ]; then
            rm -f /usr/sbin/policy-rc.d
        fi
        [ "$status" -eq 0 ] || exit "$status"
    else
        echo "/usr/sbin/clamd is missing: the upload scanning tests will skip. Install it with" >&2
        echo "  sudo apt-get update && sudo apt-get install -y clamav-daemon" >&2
    fi
fi

"$BIN/ruff" check .
"$BIN/ruff" format --check .
"$BIN/mypy"
"$BIN/python" -m pytest "$@"
