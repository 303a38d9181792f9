#!/usr/bin/env bash
# Run Vault, the reference application, on http://127.0.0.1:$PORT/ (default 8000).
# SQLite under examples/vault/instance unless DATABASE_URL is set (PostgreSQL); with
# REDIS_URL too, the rate limits count in Redis and gunicorn runs 2 workers.
# Production profile, except that plain HTTP is allowed: this is loopback, without TLS.
# Attachments are scanned by a clamd of its own when ClamAV is installed (warning if not).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$PWD/.venv/bin
PORT=${PORT:-8000}

# Vault's instance folder (secret key, key ring key, SQLite database); Flask puts it next
# to the package. In production set VAULT_BASTION_CRYPTO_KEYS (newest first, comma-separated).
mkdir -p examples/vault/instance
chmod 700 examples/vault/instance

export VAULT_BASTION_HTTPS_REDIRECT=false
# Answer only to the loopback names (Flask's TRUSTED_HOSTS; values are JSON).
export VAULT_TRUSTED_HOSTS='["127.0.0.1", "localhost"]'
"$BIN/flask" --app vault init-db
# The first administrator: its one-time password is printed once, on the first run.
"$BIN/flask" --app vault create-admin

# Attachments are scanned by ClamAV: a clamd of the demo's own (socket and log under
# instance/clamd), on the system's signature database when freshclam has filled it.
CLAMD=/usr/sbin/clamd
if [ -x "$CLAMD" ]; then
    clamdir=$PWD/examples/vault/instance/clamd
    mkdir -p "$clamdir/tmp" "$clamdir/db"
    database=/var/lib/clamav
    if ! ls "$database"/*.cvd "$database"/*.cld >/dev/null 2>&1; then
        database=$clamdir/db
        # The EICAR test string only: enough to see a refusal, not a malware scanner.
        eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
        hex=$(printf '%s' "$eicar" | od -An -tx1 | tr -d ' \n')
        printf 'Demo.EICAR:0:*:%s\n' "$hex" > "$database/demo.ndb"
        echo "WARNING: ClamAV has no signature database in /var/lib/clamav (run freshclam):" >&2
        echo "WARNING: attachments are checked for the EICAR test file only." >&2
    fi
    printf '%s\n' "Foreground yes" "LocalSocket $clamdir/clamd.sock" \
        "DatabaseDirectory $database" "TemporaryDirectory $clamdir/tmp" \
        "LogFile $clamdir/clamd.log" "StreamMaxLength 64M" > "$clamdir/clamd.conf"
    rm -f "$clamdir/clamd.sock"
    "$CLAMD" --config-file "$clamdir/clamd.conf" >/dev/null 2>&1 &
    clamd_pid=$!
    trap 'kill "$clamd_pid" 2>/dev/null || true' EXIT
    # clamd loads its database before it listens: up to a minute with the full one.
    for _ in $(seq 1 600); do
        [ -S "$clamdir/clamd.sock" ] && break
        if ! kill -0 "$clamd_pid" 2>/dev/null; then
            echo "clamd did not start: see $clamdir/clamd.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    export VAULT_BASTION_UPLOADS_CLAMD_URL="unix://$clamdir/clamd.sock"
    echo "Attachments are scanned by clamd at $VAULT_BASTION_UPLOADS_CLAMD_URL"
else
    echo "WARNING: ClamAV (clamd) is not installed: attachments are NOT scanned for malware." >&2
    echo "WARNING: install Debian's clamav-daemon (sudo apt-get install clamav-daemon)." >&2
fi

workers=1
if [ -n "${REDIS_URL:-}" ]; then
    # Counters every worker shares: in memory, each worker would count on its own.
    export VAULT_BASTION_RATELIMIT_STORAGE_URL="$REDIS_URL"
    # Bans too: a ban reaches every worker at its next request (in the database, within
    # BASTION_IPFILTER_REFRESH seconds).
    export VAULT_BASTION_IPFILTER_BANS_URL="$REDIS_URL"
    if [ -n "${DATABASE_URL:-}" ]; then
        workers=2
    fi
fi

echo
echo "Vault is running at http://127.0.0.1:$PORT/"
echo
"$BIN/gunicorn" --bind "127.0.0.1:$PORT" --workers "$workers" --access-logfile - \
    "vault:create_app()"
