#!/usr/bin/env bash
# Run Vault, the reference application, on http://127.0.0.1:$PORT/ (default 8000).
# SQLite under examples/vault/instance unless DATABASE_URL is set (PostgreSQL); with
# REDIS_URL too, the rate limits count in Redis and gunicorn runs 2 workers.
# Production profile, except that plain HTTP is allowed: this is loopback, without TLS.
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

workers=1
if [ -n "${REDIS_URL:-}" ]; then
    # Counters every worker shares: in memory, each worker would count on its own.
    export VAULT_BASTION_RATELIMIT_STORAGE_URL="$REDIS_URL"
    if [ -n "${DATABASE_URL:-}" ]; then
        workers=2
    fi
fi

echo
echo "Vault is running at http://127.0.0.1:$PORT/"
echo
exec "$BIN/gunicorn" --bind "127.0.0.1:$PORT" --workers "$workers" --access-logfile - \
    "vault:create_app()"
