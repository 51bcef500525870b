#!/usr/bin/env bash
# Copy a ccbridge SQLite database into PostgreSQL with `ccbridge dbmigrate`,
# then print the settings that point ccbridge at PostgreSQL.
#
#   scripts/migrate-to-postgres.sh [--sqlite PATH] [--pg-host H] [--pg-port P]
#       [--pg-db DB] [--pg-user U] [--pg-password PW] [--pg-sslmode MODE] [--dry-run]
#
# Defaults come from DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD and
# DB_SSLMODE (localhost, 5432, ccbridge, ccbridge, -, disable); the SQLite
# file defaults to .config/cc-bridge.db. The password reaches the copy
# through PGPASSWORD, never the command line. Stop ccbridge first: the copy
# reads one snapshot, and a re-run resumes an interrupted copy.
set -euo pipefail

sqlite=".config/cc-bridge.db"
host="${DB_HOST:-localhost}"
port="${DB_PORT:-5432}"
db="${DB_NAME:-ccbridge}"
user="${DB_USER:-ccbridge}"
password="${DB_PASSWORD:-}"
sslmode="${DB_SSLMODE:-disable}"
dry_run=0

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --sqlite) sqlite="$2"; shift 2 ;;
    --pg-host) host="$2"; shift 2 ;;
    --pg-port) port="$2"; shift 2 ;;
    --pg-db) db="$2"; shift 2 ;;
    --pg-user) user="$2"; shift 2 ;;
    --pg-password) password="$2"; shift 2 ;;
    --pg-sslmode) sslmode="$2"; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

if command -v ccbridge >/dev/null 2>&1; then
  ccbridge=(ccbridge)
elif [[ -x .venv/bin/ccbridge ]]; then
  ccbridge=(.venv/bin/ccbridge)
else
  ccbridge=(python3 -m ccbridge)
fi

if [[ ! -f "$sqlite" ]]; then
  echo "no SQLite database at $sqlite (use --sqlite PATH)" >&2
  exit 2
fi

# URL without the password (it travels in PGPASSWORD); user and database
# names percent-encoded.
encode() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
url="postgresql://$(encode "$user")@${host}:${port}/$(encode "$db")?sslmode=${sslmode}"

if [[ $dry_run -eq 1 ]]; then
  plan="migrate-to-postgres.sql"
  "${ccbridge[@]}" dbmigrate --from "$sqlite" -dst-type postgresql --dry-run --output "$plan"
  echo "dry run: the SQL that would be applied is in $plan (nothing was written)"
  exit 0
fi

echo "copying $sqlite -> postgresql://$user@$host:$port/$db"
PGPASSWORD="$password" "${ccbridge[@]}" dbmigrate --from "$sqlite" --to "$url"

cat <<ENV

Done. Point every ccbridge instance at PostgreSQL with:

  DATABASE_TYPE=postgresql
  DB_HOST=$host
  DB_PORT=$port
  DB_NAME=$db
  DB_USER=$user
  DB_PASSWORD=<the password>
  DB_SSLMODE=$sslmode

(or DATABASE_URL=postgresql://$user:<password>@$host:$port/$db?sslmode=$sslmode)
Keep $sqlite until the new setup has run for a while; it is left unchanged.
ENV
