#!/usr/bin/env bash
# The whole pipeline on a throwaway PostgreSQL: start a server in a temp
# folder, load sample data, run `pgb-dump | pgb-verify`, show the result,
# stop the server and remove everything. Nothing outside the temp folder
# and ./target is touched.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-deps.sh
cargo build --release --quiet -p pgb-dump -p pgb-verify -p pgb-ship -p pgb-check -p pgb-prune
BIN=$PWD/target/release

INITDB=$(command -v initdb || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
PGBIN=$(dirname "$(readlink -f "$INITDB")")
WORK=$(mktemp -d /tmp/pgb-demo.XXXXXX)
chmod 755 "$WORK"
as_server() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[ "$(id -u)" = 0 ] && chown postgres: "$WORK"
cleanup() {
    as_server "$PGBIN/pg_ctl" -D "$WORK/data" stop -m fast >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "starting a throwaway PostgreSQL in $WORK (Unix socket only)"
as_server "$PGBIN/initdb" -D "$WORK/data" -U postgres -A trust --no-sync -E UTF8 --no-locale >/dev/null
as_server "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/server.log" -w \
    -o "-c listen_addresses='' -k $WORK" start >/dev/null
export PGHOST=$WORK PGUSER=postgres PGPORT=5432

step "loading sample data: databases shop and inventory"
psql -X -q -d postgres -c "CREATE DATABASE shop" -c "CREATE DATABASE inventory"
psql -X -q -v ON_ERROR_STOP=1 -d shop <<'SQL'
CREATE TABLE customers (id serial PRIMARY KEY, name text, email text, profile jsonb);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers, total numeric(10,2), placed_at timestamptz);
INSERT INTO customers (name, email, profile)
  SELECT 'Customer ' || i, 'c' || i || '@example.com', jsonb_build_object('tier', i % 3, 'tags', jsonb_build_array('t' || i % 7))
  FROM generate_series(1, 20000) i;
INSERT INTO orders (customer_id, total, placed_at)
  SELECT 1 + i % 20000, (i % 997) / 10.0, '2026-01-01'::timestamptz + i * interval '1 minute'
  FROM generate_series(1, 100000) i;
CREATE VIEW big_spenders AS SELECT customer_id, sum(total) FROM orders GROUP BY 1 HAVING sum(total) > 400;
SQL
psql -X -q -v ON_ERROR_STOP=1 -d inventory -c \
  "CREATE TABLE items (sku text PRIMARY KEY, qty int); INSERT INTO items SELECT 'SKU-' || i, i % 50 FROM generate_series(1, 5000) i"

step "pgb-dump -d shop -d inventory --count-rows --dir \$WORK/backups | pgb-verify --level restore"
"$BIN/pgb-dump" -d shop -d inventory --count-rows --label demo --dir "$WORK/backups" \
    | "$BIN/pgb-verify" --level restore > "$WORK/records.jsonl"

step "the records on stdout (one JSON line per backup), summarised"
python3 - "$WORK/records.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["type"] != "backup":
        print("ERROR:", r["message"]); continue
    v = r["verify"]
    rows = ", ".join(f'{t["schema"]}.{t["name"]}={t["rows"]}' for t in r["tables"])
    print(f'{r["id"]}: {r["bytes"]} bytes ({r["raw_bytes"]} of SQL), sha256 {r["sha256"][:16]}...')
    print(f'    rows: {rows}')
    print(f'    verify: ok={v["ok"]} level={v["level"]} checks={[c["name"] for c in v["checks"]]}')
PY

step "the backup folder"
ls -l "$WORK/backups"

step "sha256sum -c works on the sidecars without pgb"
(cd "$WORK/backups" && sha256sum -c ./*.sha256)

step "pgb-ship: an off-site copy (here a second folder), checked after copying"
mkdir -p "$WORK/offsite"
"$BIN/pgb-ship" -q "$WORK/offsite" < "$WORK/records.jsonl" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r["id"], "->", r["copies"][-1]["url"])'

step "pgb-check: monitoring line for Nagios/Icinga"
"$BIN/pgb-check" --dir "$WORK/backups" --format nagios || true

step "pgb-prune --keep-last 1 --dry-run: what retention would do (nothing is deleted)"
"$BIN/pgb-prune" -q --dir "$WORK/backups" --keep-last 1 --dry-run | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r["action"], r["id"], r["reasons"])'

step "a corrupted backup is caught (one byte flipped)"
victim=$(ls "$WORK"/backups/inventory_*.sql.gz)
printf '\x00' | dd of="$victim" bs=1 seek=100 conv=notrunc status=none
if "$BIN/pgb-verify" --quiet "$victim" > /dev/null; then
    echo "corruption NOT detected" >&2; exit 1
else
    echo "pgb-verify exit code $?: $(basename "$victim") failed verification, as it should"
fi

step "done; the throwaway server and files are removed"
