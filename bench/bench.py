#!/usr/bin/env python3
"""pgb benchmark: pgb's tools against the plain tools, side by side.

Starts a throwaway PostgreSQL cluster, builds a deterministic synthetic
database (customers with jsonb profiles, orders with random-looking text,
events with jsonb payloads, secondary indexes; about 1 GB on disk and
800 MB of plain SQL at --scale 1), then runs each command of a group in
turn, round after round, so that machine noise hits all of them alike.
Reports the median wall time, CPU time (user+system of the command and its
children), output size and peak RSS of each command, and ratios against the
limit (pg_dump > /dev/null) and against the runbook recipes, as a table on
stdout and as JSON.

    python3 bench/bench.py --scale 1 --rounds 3 --json bench/results.json

Only the Python standard library is used. The pgb binaries are taken from
target/release (build them first: make bench does).
"""

import argparse
import datetime
import json
import os
import platform
import pwd
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")


def server_bin():
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(os.path.realpath(initdb))
    versions = sorted(
        (d for d in os.listdir("/usr/lib/postgresql") if os.path.exists(f"/usr/lib/postgresql/{d}/bin/initdb")),
        key=lambda v: int(v) if v.isdigit() else 0,
    ) if os.path.isdir("/usr/lib/postgresql") else []
    if not versions:
        sys.exit("PostgreSQL server programs not found: apt-get install postgresql")
    return f"/usr/lib/postgresql/{versions[-1]}/bin"


class Cluster:
    """A throwaway server on a Unix socket in a temp folder."""

    def __init__(self, work):
        self.bin = server_bin()
        self.dir = os.path.join(work, "pg")
        os.makedirs(self.dir)
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(work, pw.pw_uid, pw.pw_gid)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.server(["initdb", "-D", f"{self.dir}/data", "-U", "postgres", "-A", "trust",
                     "--no-sync", "-E", "UTF8", "--no-locale"])
        self.server(["pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/log", "-w", "-o",
                     f"-c listen_addresses='' -k {self.dir} -c fsync=off -c synchronous_commit=off "
                     f"-c full_page_writes=off -c max_wal_size=4GB -c maintenance_work_mem=256MB", "start"])
        self.env = dict(os.environ, PGHOST=self.dir, PGPORT="5432", PGUSER="postgres")

    def server(self, argv):
        argv = [os.path.join(self.bin, argv[0])] + argv[1:]
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

    def psql(self, db, sql):
        out = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-c", sql],
                             env=self.env, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"psql failed: {out.stderr}")
        return out.stdout.strip()

    def stop(self):
        self.server(["pg_ctl", "-D", f"{self.dir}/data", "stop", "-m", "fast"])


def build_database(cluster, db, scale):
    """Deterministic synthetic data (setseed), not very compressible."""
    customers, orders, events = int(300_000 * scale), int(2_000_000 * scale), int(1_000_000 * scale)
    cluster.psql("postgres", f"CREATE DATABASE {db}")
    cluster.psql(db, "SELECT setseed(0.42)")
    cluster.psql(db, f"""
        CREATE TABLE customers (id bigint PRIMARY KEY, email text, name text, profile jsonb, created_at timestamptz);
        INSERT INTO customers SELECT i, 'user' || i || '@example.com', md5(i::text),
          jsonb_build_object('tier', i % 5, 'score', (i * 7919) % 10007, 'tags',
            jsonb_build_array(md5((i * 3)::text), md5((i * 5)::text)), 'bio', md5((i * 11)::text) || md5((i * 13)::text)),
          '2024-01-01'::timestamptz + i * interval '17 seconds'
        FROM generate_series(1::bigint, {customers}) i;
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric(12,2), reference text,
          note text, placed_at timestamptz);
        INSERT INTO orders SELECT i, 1 + (i * 31) % {customers}, ((i * 7919) % 100000) / 100.0,
          upper(substr(md5(i::text), 1, 16)), md5((i * 17)::text) || md5((i * 19)::text),
          '2024-01-01'::timestamptz + i * interval '3 seconds'
        FROM generate_series(1::bigint, {orders}) i;
        CREATE INDEX orders_customer ON orders (customer_id);
        CREATE INDEX orders_placed ON orders (placed_at);
        CREATE TABLE events (id bigint PRIMARY KEY, kind text, payload jsonb, at timestamptz);
        INSERT INTO events SELECT i, (ARRAY['view','click','buy','refund'])[1 + i % 4],
          jsonb_build_object('session', md5((i * 23)::text), 'path', '/p/' || (i % 997),
            'agent', md5((i * 29)::text) || md5((i * 37)::text), 'n', i % 13),
          '2024-01-01'::timestamptz + i * interval '1 second'
        FROM generate_series(1::bigint, {events}) i;
        CREATE INDEX events_kind_at ON events (kind, at);""")
    cluster.psql(db, "VACUUM ANALYZE")
    return int(cluster.psql(db, f"SELECT pg_database_size('{db}')"))


def run_measured(command, env, cwd):
    """Runs a shell command; returns wall seconds, CPU seconds, peak RSS KiB."""
    rss_file = os.path.join(cwd, ".rss")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file, "bash", "-o", "pipefail", "-c", command],
                          env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed ({proc.returncode}): {command}\n{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    with open(rss_file) as f:
        rss = int(f.read().strip().splitlines()[-1])
    return wall, cpu, rss


def bench_group(name, commands, rounds, env, work, prepare=None, output=None):
    """commands: list of (label, shell command). Alternates them each round."""
    results = {label: {"wall": [], "cpu": [], "rss": [], "bytes": None} for label, _ in commands}
    for r in range(rounds):
        for label, command in commands:
            if prepare:
                prepare(label)
            wall, cpu, rss = run_measured(command, env, work)
            res = results[label]
            res["wall"].append(wall)
            res["cpu"].append(cpu)
            res["rss"].append(rss)
            if output:
                res["bytes"] = output(label)
            print(f"  [{name} round {r + 1}/{rounds}] {label}: {wall:.2f}s", file=sys.stderr)
    summary = {}
    for label, res in results.items():
        summary[label] = {
            "wall_median_s": statistics.median(res["wall"]),
            "cpu_median_s": statistics.median(res["cpu"]),
            "peak_rss_kib": max(res["rss"]),
            "output_bytes": res["bytes"],
            "walls_s": res["wall"],
        }
    return summary


def newest(pattern_dir, suffix):
    files = [os.path.join(pattern_dir, f) for f in os.listdir(pattern_dir) if f.endswith(suffix)]
    return max(files, key=os.path.getmtime) if files else None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 is about 1 GB on disk (default 1.0)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per group (default 3)")
    parser.add_argument("--json", default=os.path.join(ROOT, "bench", "results.json"), help="where to write JSON")
    parser.add_argument("--skip-restore", action="store_true", help="only dump and verify")
    args = parser.parse_args()
    if args.scale <= 0 or args.rounds < 1:
        sys.exit("--scale must be > 0 and --rounds >= 1")
    for tool in ["pgb-dump", "pgb-verify", "pgb-restore"]:
        if not os.access(os.path.join(BIN, tool), os.X_OK):
            sys.exit(f"{BIN}/{tool} missing: run cargo build --release (make bench does)")
    if not os.path.exists("/usr/bin/time"):
        sys.exit("GNU time is needed for peak RSS: apt-get install time")

    work = tempfile.mkdtemp(prefix="pgb-bench-")
    os.chmod(work, 0o755)
    cluster = Cluster(work)
    env = dict(cluster.env, PATH=f"{BIN}:{os.environ['PATH']}")
    out_dir = os.path.join(work, "out")
    os.makedirs(out_dir)
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "scale": args.scale, "rounds": args.rounds, "groups": {},
    }
    try:
        print(f"building the synthetic database at scale {args.scale}...", file=sys.stderr)
        t = time.perf_counter()
        size = build_database(cluster, "bench", args.scale)
        report["database_bytes"] = size
        print(f"  {size / 2**20:.0f} MiB on disk in {time.perf_counter() - t:.0f}s", file=sys.stderr)

        def clean(_label):
            for f in os.listdir(out_dir):
                p = os.path.join(out_dir, f)
                if os.path.isdir(p):
                    shutil.rmtree(p)
                else:
                    os.remove(p)

        def size_of(label):
            total = 0
            for root, _, files in os.walk(out_dir):
                for f in files:
                    if not f.endswith((".json", ".sha256", ".pgb-lock")):
                        total += os.path.getsize(os.path.join(root, f))
            return total if label != "pg_dump > /dev/null" else None

        dump_commands = [
            ("pg_dump > /dev/null", "pg_dump -d bench > /dev/null"),
            ("pg_dump | gzip", "pg_dump -d bench | gzip > out/f.sql.gz"),
            ("pg_dump -Fc", "pg_dump -Fc -d bench > out/f.dump"),
            ("pgb-dump", "pgb-dump -q -d bench --dir out/pgb > /dev/null"),
            ("pgb-dump --compress zstd", "pgb-dump -q -d bench --compress zstd --dir out/pgb > /dev/null"),
            ("pgb-dump --format custom", "pgb-dump -q -d bench --format custom --dir out/pgb > /dev/null"),
        ]
        report["groups"]["dump"] = bench_group("dump", dump_commands, args.rounds, env, work, clean, size_of)

        # Inputs for verification and restore: one pgb backup of each format.
        clean(None)
        subprocess.run("pgb-dump -q -d bench --dir out/v > /dev/null && "
                       "pgb-dump -q -d bench --format custom --dir out/v > /dev/null",
                       shell=True, check=True, env=env, cwd=work)
        gz = newest(os.path.join(out_dir, "v"), ".sql.gz")
        dump = newest(os.path.join(out_dir, "v"), ".dump")
        gz_dir, gz_name = os.path.dirname(gz), os.path.basename(gz)
        verify_commands = [
            ("gzip -t && sha256sum -c", f"cd {shlex.quote(gz_dir)} && gzip -t {gz_name} && sha256sum -c --quiet {gz_name}.sha256"),
            ("pgb-verify", f"pgb-verify -q --no-record {shlex.quote(gz)} > /dev/null"),
        ]
        report["groups"]["verify"] = bench_group("verify", verify_commands, args.rounds, env, work)

        if not args.skip_restore:
            def drop_targets(_label):
                for db in ["r_plain", "r_pgb", "r_custom", "r_pgb_custom"]:
                    cluster.psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
                    cluster.psql("postgres", f"DROP DATABASE IF EXISTS {db}__pgb_old_x")
            restore_commands = [
                ("gunzip -c | psql", f"createdb r_plain && gunzip -c {shlex.quote(gz)} | psql -X -q -v ON_ERROR_STOP=1 -d r_plain > /dev/null"),
                ("pgb-restore", f"pgb-restore -q {shlex.quote(gz)} --to r_pgb > /dev/null"),
                ("pg_restore (sequential)", f"createdb r_custom && pg_restore -d r_custom {shlex.quote(dump)}"),
                ("pgb-restore custom --jobs 2", f"pgb-restore -q {shlex.quote(dump)} --to r_pgb_custom --jobs 2 > /dev/null"),
            ]
            report["groups"]["restore"] = bench_group("restore", restore_commands, args.rounds, env, work, drop_targets)
            drop_targets(None)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)

    print_table(report)
    with open(args.json, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nJSON written to {args.json}", file=sys.stderr)


def ratio(a, b):
    return a / b if b else float("nan")


def print_table(report):
    print(f"\npgb benchmark {report['date']}, {report['machine']['cpus']} CPUs, {report['machine']['memory_gib']} GiB, "
          f"scale {report['scale']} ({report.get('database_bytes', 0) / 2**20:.0f} MiB database), "
          f"{report['rounds']} rounds, medians\n")
    refs = {"dump": ("pg_dump > /dev/null", "pg_dump | gzip"), "verify": (None, "gzip -t && sha256sum -c"),
            "restore": (None, "gunzip -c | psql")}
    print(f"| {'command':<30} | {'wall s':>7} | {'cpu s':>7} | {'output MiB':>10} | {'peak RSS MiB':>12} | {'x limit':>7} | {'x recipe':>8} |")
    print(f"|{'-' * 32}|{'-' * 9}|{'-' * 9}|{'-' * 12}|{'-' * 14}|{'-' * 9}|{'-' * 10}|")
    for group, rows in report["groups"].items():
        limit, recipe = refs[group]
        for label, r in rows.items():
            rec = recipe
            if group == "restore" and ("custom" in label or label.startswith("pg_restore")):
                rec = "pg_restore (sequential)"
            if group == "dump" and ("custom" in label or "-Fc" in label):
                rec = "pg_dump -Fc"
            x_limit = ratio(r["wall_median_s"], rows[limit]["wall_median_s"]) if limit else None
            x_recipe = ratio(r["wall_median_s"], rows[rec]["wall_median_s"]) if rec in rows and label != limit else None
            out = f"{r['output_bytes'] / 2**20:.1f}" if r["output_bytes"] else "-"
            print(f"| {label:<30} | {r['wall_median_s']:>7.2f} | {r['cpu_median_s']:>7.2f} | {out:>10} | "
                  f"{r['peak_rss_kib'] / 1024:>12.1f} | {(f'{x_limit:.2f}' if x_limit else '-'):>7} | "
                  f"{(f'{x_recipe:.2f}' if x_recipe else '-'):>8} |")


if __name__ == "__main__":
    main()
