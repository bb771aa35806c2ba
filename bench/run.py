#!/usr/bin/env python3
"""Benchmark: etl_ext against a plain-SQL baseline on the same data, in the
shapes users send (see docs/benchmark.md):

  first   per size, the first import into an empty install: a fresh database
          with the extension, the baseline's functions, shops and mappings
          and the import's raw lines, nothing analyzed, nothing run before.
  steady  per size, an import after a warm-up import of the same size.
  small   100-line imports back to back for a fixed time, one session, each
          written, completed and run in one transaction, on an empty install.
  worker  N loader sessions submit 100-line imports for a fixed time; the
          background worker (shared_preload_libraries) runs them; then the
          backlog drains. The baseline's figure: one session running the same
          imports synchronously on the same history.

For first and steady it clones one template per size twice, runs the three
stages with the extension in one clone and with the baseline in the other,
checks that both leave the same result tables, and reports per stage: wall
time, rows/s, SQL statements, statements per batch, and the backend's peak
RSS. For small it checks the result tables too (after bringing both sides to
the same imports). Writes results.{csv,json}, stage_times.svg and
small_imports.svg to --out (default /tmp/etl_ext_bench_results/<time>; the
figures the docs quote are in bench/results/: pass --out bench/results to
replace them), and prints each target of issue 8 with met / not met.
Expects a running server (scripts/bench.sh starts one) of the PostgreSQL
whose pg_config is --pg-config.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STAGES = ["orders", "customers", "leads"]
SHAPES = ["first", "steady", "small", "worker"]
# Statements each baseline function runs (count of SQL statements in bench/baseline.sql).
BASELINE_STATEMENTS = {"orders": 12, "customers": 7, "leads": 12}
# The server's programs (pg_ctl): set in main() from --pg-config --bindir.
PGBIN = None
# Where a run writes unless given --out: outside the tree, one directory per run.
DEFAULT_OUT_PARENT = "/tmp/etl_ext_bench_results"
# The extension's default zone for order times without an offset; the
# baseline is told the same (etl.source_timezone is not set in the benchmark).
SOURCE_TZ = "Asia/Shanghai"

try:
    import psycopg
except ImportError:  # only the small and worker shapes need it
    psycopg = None


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def psql(port, db, *args, stdin=None):
    cmd = ["psql", "-h", "/tmp", "-p", str(port), "-U", "postgres", "-X", "-qAt",
           "-v", "ON_ERROR_STOP=1", "-d", db, *args]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"psql failed ({' '.join(args)[:200]}):\n{done.stderr}")
    return done.stdout.strip()


def connect(port, db):
    """A persistent session (psycopg 3), autocommit: transactions are explicit."""
    return psycopg.connect(host="/tmp", port=port, user="postgres", dbname=db, autocommit=True)


def drop_db(port, db):
    psql(port, "postgres", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def create_db(port, db, template=None, file_copy=False):
    drop_db(port, db)
    if template:
        # FILE_COPY (for the big history): a checkpoint and a file copy instead
        # of the template's pages through shared_buffers and the WAL.
        strategy = " STRATEGY FILE_COPY" if file_copy else ""
        psql(port, "postgres", "-c", f"CREATE DATABASE {db} TEMPLATE {template}{strategy}")
    else:
        psql(port, "postgres", "-c", f"CREATE DATABASE {db}")


def install(port, db, part, rows, seed):
    """A fresh install: the extension, the baseline's functions, and generate.sql's `part`."""
    psql(port, db, "-c", "CREATE EXTENSION etl_ext")
    psql(port, db, "-f", os.path.join(HERE, "baseline.sql"))
    psql(port, db, "-v", f"rows={rows}", "-v", f"seed={seed}", "-v", f"part={part}",
         "-f", os.path.join(HERE, "generate.sql"))


def run_ext_stage(port, db, stage, import_id, timeout_s=None):
    """One stage through the extension, in its own transaction (untimed); stops if it failed.

    With `timeout_s`, a stage still running then is cancelled: returns False."""
    args = ["-c", f"SET statement_timeout = '{int(timeout_s)}s'"] if timeout_s else []
    cmd = ["psql", "-h", "/tmp", "-p", str(port), "-U", "postgres", "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-d", db,
           *args, "-c", f"SELECT status || ' ' || coalesce(details ->> 'error', '') FROM etl_{stage}('{import_id}')"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        if timeout_s and "statement timeout" in done.stderr:
            return False
        sys.exit(f"{db}: the extension's {stage} stage failed:\n{done.stderr}")
    out = done.stdout.strip()
    if out.split(" ", 1)[0] == "failed":
        err = psql(port, db, "-c", f"SELECT error FROM etl.runs WHERE import_id = '{import_id}' AND stage = '{stage}' "
                               "ORDER BY run_id DESC LIMIT 1")
        sys.exit(f"{db}: the extension's {stage} stage failed: {err}")
    return True


def proc_status_kb(field):
    return f"(regexp_match(pg_read_file('/proc/self/status'), '{field}:\\s+(\\d+)'))[1]::bigint"


def check_library():
    """Stops if etl_ext.so is no longer the build scripts/bench.sh installed."""
    want = os.environ.get("ETL_EXT_SO_MD5")
    if not want:
        return
    libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    have = subprocess.run(["md5sum", os.path.join(libdir, "etl_ext.so")], capture_output=True, text=True).stdout.split()[0]
    if have != want:
        sys.exit("etl_ext.so was replaced during the benchmark (another build was installed); "
                 "the figures would mix builds: run scripts/bench.sh again")


# ---------------------------------------------------------------- first, steady

def build_first_template(port, rows, seed):
    """A fresh install that just received its first import: no warm-up, no VACUUM, no ANALYZE."""
    db = f"bench_tpl_first_{rows}"
    create_db(port, db)
    install(port, db, "first", rows, seed)
    first = psql(port, db, "-c", "SELECT import_id FROM etl.imports WHERE source = 'bench warm-up'")
    return db, first


def build_steady_template(port, rows, seed, timeout_s=None):
    """The steady shape's template; also says who ran the warm-up import ('extension' or 'baseline')."""
    db = f"bench_tpl_steady_{rows}"
    create_db(port, db)
    install(port, db, "all", rows, seed)
    warm = psql(port, db, "-c", "SELECT import_id FROM etl.imports WHERE source = 'bench warm-up'")
    timed = psql(port, db, "-c", "SELECT import_id FROM etl.imports WHERE source = 'bench timed'")
    # One transaction per stage, as the worker runs them (and as the timed run
    # does): at 1M lines etl_run_all(), all three in one transaction, did not
    # finish its leads stage in 6 minutes (see docs/performance.md).
    warmed_by = "extension"
    for stage in STAGES:
        if not run_ext_stage(port, db, stage, warm, timeout_s):
            # The extension's own first import did not finish in time: the
            # warm-up is run by the baseline instead (the same result tables,
            # as every compared run shows), and the report says so.
            log(f"steady {rows:,}: the extension's warm-up {stage} stage was cancelled after {timeout_s:.0f} s; "
                "the baseline runs the warm-up import instead")
            psql(port, db, "-c", "DELETE FROM etl.orders", "-c", "DELETE FROM etl.customers",
                 "-c", "DELETE FROM etl.business_leads", "-c", "DELETE FROM etl.rejects", "-c", "DELETE FROM etl.runs",
                 "-c", "DELETE FROM etl.pending_customer_refresh", "-c", "DELETE FROM etl.pending_lead_refresh")
            psql(port, db, "-c", f"SELECT baseline.run_orders('{warm}', '{SOURCE_TZ}')")
            psql(port, db, "-c", f"SELECT baseline.run_customers('{warm}')")
            psql(port, db, "-c", f"SELECT baseline.run_leads('{warm}')")
            warmed_by = "baseline"
            break
    psql(port, db, "-c", "DELETE FROM etl.jobs", "-c", "DELETE FROM etl.events", "-c", "VACUUM ANALYZE")
    return db, timed, warmed_by


# The extension runs its stages with JIT off (services/stage_settings.rs):
# the baseline's sessions get the same, as an expert running these
# statements all day would set it.
BASELINE_SESSION_SQL = "SET jit = off;"

STAGE_SQL = {
    "ext": {s: f"SELECT json_agg(x)::text AS r FROM etl_{s}(:'id') x" for s in STAGES},
    "base": {
        "orders": f"SELECT baseline.run_orders(:'id', coalesce(current_setting('etl.source_timezone', true), '{SOURCE_TZ}'))::text AS r",
        "customers": "SELECT baseline.run_customers(:'id')::text AS r",
        "leads": "SELECT baseline.run_leads(:'id')::text AS r",
    },
}


def run_side(port, db, side, import_id, batch_size, timeout_s=None):
    """Runs the three stages in one session, one transaction each; returns a dict per stage.

    A stage still running after `timeout_s` is cancelled (statement_timeout):
    it is reported with `timed_out` and the timeout as its seconds (a lower
    bound), and the stages after it with `not_run`."""
    script = [f"SET etl.batch_size = {batch_size};"]
    if side == "base":
        script.append(BASELINE_SESSION_SQL)
    if timeout_s:
        script.append(f"SET statement_timeout = '{int(timeout_s)}s';")
    for stage in STAGES:
        script += [
            "COPY (SELECT 5) TO '/proc/self/clear_refs';",
            "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset",
            f"{STAGE_SQL[side][stage]} \\gset",
            "SELECT json_build_object("
            f"'stage', '{stage}', 'seconds', extract(epoch FROM clock_timestamp()) - :t0, "
            "'result', :'r', "
            f"'peak_rss_kb', {proc_status_kb('VmHWM')}, "
            # VmHWM counts the shared_buffers pages the backend touched; RssShmem tells them apart.
            f"'shmem_kb', {proc_status_kb('RssShmem')});",
        ]
    cmd = ["psql", "-h", "/tmp", "-p", str(port), "-U", "postgres", "-X", "-qAt", "-v", "ON_ERROR_STOP=1",
           "-d", db, "-v", f"id={import_id}"]
    done = subprocess.run(cmd, input="\n".join(script) + "\n", capture_output=True, text=True)
    results = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["stage"]] = r
    if done.returncode != 0:
        if "statement timeout" not in done.stderr:
            sys.exit(f"{db}: psql failed:\n{done.stderr}")
        missing = [st for st in STAGES if st not in results]
        log(f"{db}: the {missing[0]} stage was cancelled after {timeout_s:.0f} s (--stage-timeout)")
        results[missing[0]] = {"stage": missing[0], "seconds": float(timeout_s), "timed_out": True}
        for st in missing[1:]:
            results[st] = {"stage": st, "seconds": None, "not_run": True}
    return results


def fingerprint(port, db):
    """One md5 (and row count) per result table, by natural keys: the project's
    one result fingerprint, tests/result_fingerprint.sql."""
    return psql(port, db, "-f", os.path.join(HERE, "..", "tests", "result_fingerprint.sql"))


def server_wal(port, db):
    """The WAL position (bytes) and the count of checkpoints begun so far."""
    lsn, checkpoints = psql(port, db, "-F", " ", "-c",
                            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint, "
                            "checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter").split()
    return {"lsn": int(lsn), "checkpoints": int(checkpoints)}


def run_once(port, shape, rows, tpl, import_id, batch_size, sides, timeout_s=None):
    """Both sides, in the order `sides`, each on a fresh clone of `tpl`; per side the stages' results."""
    out = {}
    for side in sides:
        db = f"bench_{shape}_{side}_{rows}"
        create_db(port, db, tpl)
        # Every run starts right after a checkpoint: otherwise the WAL of what
        # ran before (the template, the clone, the other side) decides whether
        # a checkpoint, and the full-page images after it, fall into this run
        # or the next. A run whose own WAL reaches the trigger still pays it.
        psql(port, db, "-c", "CHECKPOINT")
        before = server_wal(port, db)
        out[side] = run_side(port, db, side, import_id, batch_size, timeout_s)
        after = server_wal(port, db)
        out[side]["wal"] = {"mib": round((after["lsn"] - before["lsn"]) / 1048576, 1),
                            "checkpoints": after["checkpoints"] - before["checkpoints"]}
        if side == "ext":
            for stage in STAGES:
                if "result" not in out[side][stage]:
                    continue
                report = json.loads(out[side][stage]["result"])[0]
                if report["status"] == "failed":
                    err = psql(port, db, "-c", f"SELECT error FROM etl.runs WHERE stage = '{stage}' "
                                           "ORDER BY run_id DESC LIMIT 1")
                    sys.exit(f"{shape}, {rows:,} lines: the extension's {stage} stage failed: {err}")
        out[side]["fingerprint"] = fingerprint(port, db)
    complete = all("result" in out[side][st] for side in ("ext", "base") for st in STAGES)
    # A side cancelled by --stage-timeout is not compared (None: not compared).
    match = out["ext"]["fingerprint"] == out["base"]["fingerprint"] if complete else None
    if match is False:
        print(f"extension: {out['ext']['fingerprint']}\nbaseline:  {out['base']['fingerprint']}")
        sys.exit(f"{shape}, {rows:,} lines: the extension and the baseline gave different result tables "
                 f"(databases bench_{shape}_ext_{rows} and bench_{shape}_base_{rows} kept for inspection)")
    out["match"] = match
    return out


def run_rounds(port, shape, plan, batch_size, timeout_s=None, repeat=1):
    """Both sides of every size in `plan` ((rows, template, import) each), `repeat` rounds; the runs by size.

    This machine moves a stage's time by a third between identical runs (a
    shared VM's disk and CPU, drifting over minutes): each round runs every
    size once, smallest first, so that the sizes compared by a ratio (1M
    against 100k) are measured side by side in time, not minutes apart; and
    the sides alternate which goes first from one round to the next."""
    runs = {rows: [] for rows, _, _ in plan}
    for k in range(repeat):
        sides = ("ext", "base") if k % 2 == 0 else ("base", "ext")
        for rows, tpl, import_id in plan:
            if runs[rows] and runs[rows][-1]["match"] is None:
                continue  # a stage hit --stage-timeout (nothing to compare): its lower bound is reported once
            if repeat > 1:
                log(f"{shape}: {rows:,} lines, round {k + 1} of {repeat}")
            runs[rows].append(run_once(port, shape, rows, tpl, import_id, batch_size, sides, timeout_s))
    return runs


def report_pair(port, shape, rows, tpl, runs, keep_ext=False):
    """The rows of the report for one size from its runs; drops the size's databases (keeps the extension's
    clone when asked). Each side's stage is reported by its median run (the run itself: its phases and
    memory), with every run's seconds beside."""
    match = None if any(o["match"] is None for o in runs) else all(o["match"] for o in runs)
    out = {"ext": {}, "base": {}}
    seconds_runs = {}
    for side in ("ext", "base"):
        for stage in STAGES:
            results = [o[side][stage] for o in runs]
            timed = [r for r in results if r.get("seconds") is not None]
            seconds_runs[side, stage] = [round(r["seconds"], 3) for r in timed]
            # The lower median: an actual run (its phases and memory go with it).
            out[side][stage] = (sorted(timed, key=lambda r: r["seconds"])[(len(timed) - 1) // 2]
                                if len(timed) == len(results) and timed else results[0])

    def mib(r, key):
        return round(r[key] / 1024, 1) if key in r else None

    def private(r):
        return round((r["peak_rss_kb"] - r.get("shmem_kb", 0)) / 1024, 1) if "peak_rss_kb" in r else None

    def rate(sec):
        return round(rows / sec) if sec else None

    rows_out = []
    for stage in STAGES:
        e, b = out["ext"][stage], out["base"][stage]
        report = json.loads(e["result"])[0] if "result" in e else {}
        details = report.get("details", {})
        rows_in = rows if stage == "orders" else report.get("rows_in")
        es, bs = e["seconds"], b["seconds"]
        rows_out.append({
            "shape": shape,
            "rows": rows,
            "stage": stage,
            "ext_seconds": round(es, 3) if es is not None else None,
            "base_seconds": round(bs, 3) if bs is not None else None,
            "ratio": round(es / bs, 2) if es is not None and bs else None,
            "ext_rows_per_s": rate(es),
            "base_rows_per_s": rate(bs),
            "stage_rows_in": rows_in,
            "ext_statements": details.get("queries"),
            "ext_batches": details.get("batches"),
            "ext_statements_per_batch": round(details["queries"] / max(details.get("batches", 0), 1), 1)
            if "queries" in details else None,
            "base_statements": BASELINE_STATEMENTS[stage],
            "ext_peak_rss_mib": mib(e, "peak_rss_kb"),
            "base_peak_rss_mib": mib(b, "peak_rss_kb"),
            # Peak RSS minus the shared buffers mapped at the end: the backend's private peak (approximately).
            "ext_private_peak_mib": private(e),
            "base_private_peak_mib": private(b),
            # A stage cancelled by --stage-timeout: its seconds are a lower bound.
            "ext_timed_out": bool(e.get("timed_out") or e.get("not_run")),
            "base_timed_out": bool(b.get("timed_out") or b.get("not_run")),
            "match": match,
            "ext_phase_ms": details.get("phase_ms", {}),
            "runs": len(runs),
            "ext_seconds_runs": seconds_runs["ext", stage],
            "base_seconds_runs": seconds_runs["base", stage],
        })

    def total(key):
        vals = [r[key] for r in rows_out if r[key] is not None]
        return round(sum(vals), 3) if vals else None

    def peak(key):
        vals = [r[key] for r in rows_out if r[key] is not None]
        return max(vals) if vals else None

    def run_totals(side):
        # Each run's own total (the total row's seconds is the sum of the stages' medians).
        return [round(sum(o[side][st]["seconds"] for st in STAGES), 3) for o in runs
                if all(o[side][st].get("seconds") is not None for st in STAGES)]

    total_e, total_b = total("ext_seconds"), total("base_seconds")
    rows_out.append({"shape": shape, "rows": rows, "stage": "total", "ext_seconds": total_e,
                     "base_seconds": total_b, "ratio": round(total_e / total_b, 2) if total_e and total_b else None,
                     "ext_rows_per_s": rate(total_e), "base_rows_per_s": rate(total_b),
                     "ext_peak_rss_mib": peak("ext_peak_rss_mib"), "base_peak_rss_mib": peak("base_peak_rss_mib"),
                     "ext_private_peak_mib": peak("ext_private_peak_mib"),
                     "base_private_peak_mib": peak("base_private_peak_mib"),
                     "ext_timed_out": any(r["ext_timed_out"] for r in rows_out),
                     "base_timed_out": any(r["base_timed_out"] for r in rows_out),
                     "match": match, "runs": len(runs),
                     "ext_seconds_runs": run_totals("ext"), "base_seconds_runs": run_totals("base"),
                     # Per run: the WAL it wrote and the checkpoints that began while it ran.
                     "ext_wal_mib_runs": [o["ext"]["wal"]["mib"] for o in runs],
                     "base_wal_mib_runs": [o["base"]["wal"]["mib"] for o in runs],
                     "ext_checkpoints_runs": [o["ext"]["wal"]["checkpoints"] for o in runs],
                     "base_checkpoints_runs": [o["base"]["wal"]["checkpoints"] for o in runs]})
    drop_db(port, f"bench_{shape}_base_{rows}")
    if not keep_ext:
        drop_db(port, f"bench_{shape}_ext_{rows}")
    drop_db(port, tpl)
    return rows_out


def measure_first(port, sizes, seed, batch_size, timeout_s=None, repeat=1):
    """The first shape at every size; the report's rows by size."""
    check_library()
    plan = [(rows, *build_first_template(port, rows, seed)) for rows in sizes]
    runs = run_rounds(port, "first", plan, batch_size, timeout_s, repeat)
    check_library()
    return {rows: report_pair(port, "first", rows, tpl, runs[rows]) for rows, tpl, _ in plan}


def measure_steady(port, sizes, seed, batch_size, keep_rows, timeout_s=None, repeat=1):
    """The steady shape at every size (the extension's database of `keep_rows` lines kept); rows by size."""
    check_library()
    plan, warmed_by = [], {}
    for rows in sizes:
        tpl, import_id, warmed_by[rows] = build_steady_template(port, rows, seed, timeout_s)
        plan.append((rows, tpl, import_id))
    runs = run_rounds(port, "steady", plan, batch_size, timeout_s, repeat)
    out = {rows: report_pair(port, "steady", rows, tpl, runs[rows], rows == keep_rows) for rows, tpl, _ in plan}
    for rows, r in out.items():
        for row in r:
            row["warm_up_by"] = warmed_by[rows]
    check_library()
    return out


TITLES = {"first": "first import into an empty install", "steady": "steady state (after a warm-up import of the same size)"}


def fmt_s(r, side, width=9, digits=2):
    """Seconds, '>' before a lower bound (a stage cancelled by --stage-timeout), '-' when not run."""
    v = r.get(f"{side}_seconds")
    if v is None:
        return f"{'-':>{width}}"
    return f"{('>' if r.get(f'{side}_timed_out') else '') + f'{v:.{digits}f}':>{width}}"


def fmt(v, width, spec=""):
    return f"{'-' if v is None else format(v, spec):>{width}}"


def print_table(shape, rows, results):
    match = results[-1].get("match")
    state = {True: "MATCH", False: "DIFFER", None: "NOT COMPARED: a side was cancelled"}[match]
    print(f"\n== {shape}: {TITLES[shape]}, {rows:,} raw lines   (results {state} between extension and baseline)")
    if results[-1].get("warm_up_by") == "baseline":
        print("   the warm-up import was run by the baseline: the extension's did not finish within --stage-timeout")
    head = f"{'stage':<10}{'ext s':>9}{'base s':>9}{'ratio':>8}{'ext rows/s':>12}{'base rows/s':>12}" \
           f"{'stmts':>7}{'/batch':>8}{'base stmts':>11}{'ext RSS MiB':>12}{'base RSS MiB':>13}{'ext priv':>10}{'base priv':>10}"
    print(head)
    for r in results:
        ratio = fmt(r["ratio"], 8, ".2f")
        if r.get("ext_timed_out") and r["ratio"] is not None:
            ratio = f"{'>' + format(r['ratio'], '.2f'):>8}"
        print(f"{r['stage']:<10}{fmt_s(r, 'ext')}{fmt_s(r, 'base')}{ratio}"
              f"{fmt(r['ext_rows_per_s'], 12, ',')}{fmt(r['base_rows_per_s'], 12, ',')}"
              f"{fmt(r.get('ext_statements'), 7)}{fmt(r.get('ext_statements_per_batch'), 8)}"
              f"{fmt(r.get('base_statements'), 11)}{fmt(r['ext_peak_rss_mib'], 12)}{fmt(r['base_peak_rss_mib'], 13)}"
              f"{fmt(r['ext_private_peak_mib'], 10)}{fmt(r['base_private_peak_mib'], 10)}")
    for r in results:
        if r.get("ext_phase_ms"):
            print(f"   {r['stage']} phases (ms): {json.dumps(r['ext_phase_ms'])}", flush=True)
    if results[-1].get("runs", 1) > 1:
        print(f"   seconds are each side's median of {results[-1]['runs']} runs; every run:")
        for r in results:
            print(f"   {r['stage']:<10} ext {r['ext_seconds_runs']}  base {r['base_seconds_runs']}", flush=True)
    t = results[-1]
    if "ext_wal_mib_runs" in t:
        print(f"   WAL written per run (MiB): ext {t['ext_wal_mib_runs']}  base {t['base_wal_mib_runs']}; "
              f"checkpoints begun during it: ext {t['ext_checkpoints_runs']}  base {t['base_checkpoints_runs']}",
              flush=True)


# ---------------------------------------------------------------- small imports

def set_autovacuum(port, on):
    if on:
        psql(port, "postgres", "-c", "ALTER SYSTEM SET autovacuum = on")
    else:
        psql(port, "postgres", "-c", "ALTER SYSTEM RESET autovacuum")
    psql(port, "postgres", "-c", "SELECT pg_reload_conf()")


def prepare_small_db(port, db, side, seed, template=None):
    """An empty install (or a clone of `template`) ready for bench.write_import."""
    if template:
        create_db(port, db, template, file_copy=True)
    else:
        create_db(port, db)
        install(port, db, "setup", 0, seed)
    psql(port, db, "-f", os.path.join(HERE, "small.sql"))
    if side == "base":
        # A plain-SQL install has no extension trigger: completing an import
        # must not publish an event and queue a job for the baseline.
        psql(port, db, "-c", "ALTER TABLE etl.imports DISABLE TRIGGER import_completed")


class Importer:
    """One session that writes, completes and runs imports, one transaction each."""

    def __init__(self, port, db, side, lines, offset, history_rows):
        self.conn = connect(port, db)
        if side == "base":
            self.conn.execute(BASELINE_SESSION_SQL)
        self.side, self.lines, self.offset, self.history_rows = side, lines, offset, history_rows
        self.failed = 0

    def write(self, k):
        """Writes and completes import k (the loader's part); returns its id."""
        cur = self.conn.execute("SELECT bench.write_import(%s, %s, %s, %s)",
                                (k, self.lines, self.offset, self.history_rows))
        import_id = cur.fetchone()[0]
        self.conn.execute("UPDATE etl.imports SET status = 'completed', completed_at = now() WHERE import_id = %s",
                          (import_id,))
        return import_id

    def one(self, k):
        with self.conn.transaction():
            import_id = self.write(k)
            if self.side == "ext":
                statuses = self.conn.execute("SELECT stage, status FROM etl_run_all(%s)", (import_id,)).fetchall()
                if len(statuses) != 3 or any(s not in ("success", "partial_success") for _, s in statuses):
                    self.failed += 1
                    if self.failed == 1:
                        err = self.conn.execute("SELECT stage || ': ' || coalesce(error, '?') FROM etl.runs "
                                                "WHERE import_id = %s AND status = 'failed'", (import_id,)).fetchone()
                        log(f"ext: import {k} failed ({statuses}): {err[0] if err else '?'}")
            else:
                self.conn.execute("SELECT baseline.run_orders(%s, %s)", (import_id, SOURCE_TZ))
                self.conn.execute("SELECT baseline.run_customers(%s)", (import_id,))
                self.conn.execute("SELECT baseline.run_leads(%s)", (import_id,))

    def run(self, k_first, seconds=None, count=None):
        """Imports k_first, k_first + 1, ... for `seconds` or `count` imports; [(start offset s, ms)]."""
        lat = []
        start = time.monotonic()
        k = k_first
        while True:
            t0 = time.monotonic()
            if (seconds is not None and t0 - start >= seconds) or (count is not None and len(lat) >= count):
                break
            try:
                self.one(k)
            except psycopg.Error as e:
                sys.exit(f"{self.side}: import {k} failed: {e}")
            lat.append((t0 - start, (time.monotonic() - t0) * 1000))
            k += 1
        return lat

    def peak_private_mib(self):
        hwm, shmem = self.conn.execute(f"SELECT {proc_status_kb('VmHWM')}, {proc_status_kb('RssShmem')}").fetchone()
        return round(hwm / 1024, 1), round((hwm - shmem) / 1024, 1)

    def close(self):
        self.conn.close()


def latency_summary(lat, seconds):
    """Imports, imports/s, mean ms in each third of the run (by start time), p95, 5-s bins."""
    n = len(lat)
    thirds = [[], [], []]
    for t, ms in lat:
        thirds[min(2, int(t / (seconds / 3)))].append(ms)
    mean = lambda xs: round(sum(xs) / len(xs), 1) if xs else None
    ms_sorted = sorted(ms for _, ms in lat)
    bins = {}
    for t, ms in lat:
        bins.setdefault(int(t // 5), []).append(ms)
    return {
        "imports": n,
        "imports_per_s": round(n / seconds, 2),
        "ms_mean": mean([ms for _, ms in lat]),
        "ms_third1": mean(thirds[0]), "ms_third2": mean(thirds[1]), "ms_third3": mean(thirds[2]),
        "ms_p95": round(ms_sorted[int(0.95 * (n - 1))], 1) if n else None,
        "timeline": [[b * 5 + 2.5, mean(v)] for b, v in sorted(bins.items())],
    }


def small_pair(port, args, tag, seconds, offset=0, history_rows=0, template=None, sides=("ext", "base")):
    """Synchronous small imports for `seconds` on each side; returns {side: summary} and the databases."""
    out, dbs = {}, {}
    for i, side in enumerate(sides):
        db = f"bench_{tag}_{side}"
        prepare_small_db(port, db, side, args.seed, template)
        log(f"{tag}: {side}: {args.small_lines}-line imports for {seconds:.0f} s")
        imp = Importer(port, db, side, args.small_lines, offset, history_rows)
        lat = imp.run(1, seconds=seconds)
        s = latency_summary(lat, seconds)
        s["peak_rss_mib"], s["private_peak_mib"] = imp.peak_private_mib()
        s["failed_imports"] = imp.failed
        imp.close()
        s["orders_end"] = int(psql(port, db, "-c", "SELECT count(*) FROM etl.orders"))
        out[side], dbs[side] = s, db
        log(f"{tag}: {side}: {s['imports']} imports, {s['imports_per_s']}/s, ms per import by third "
            f"{s['ms_third1']} / {s['ms_third2']} / {s['ms_third3']}, {s['orders_end']:,} orders at the end")
        if i + 1 < len(sides):
            # So that autovacuum has nothing left to do here while the other side runs.
            psql(port, db, "-c", "VACUUM ANALYZE")
    return out, dbs


def small_identity(port, args, out, dbs):
    """Brings both sides to the same imports, then compares their result tables.

    The side that ran fewer imports goes on with the missing ones (untimed), or,
    when that would take longer, the faster side replays the slower side's
    imports in a fresh database: whichever is cheaper."""
    ne, nb = out["ext"]["imports"], out["base"]["imports"]
    if ne == nb:
        how, a, b = "same count", dbs["ext"], dbs["base"]
    else:
        slow, fast = ("ext", "base") if ne < nb else ("base", "ext")
        n_slow, n_fast = out[slow]["imports"], out[fast]["imports"]
        catch_up = (n_fast - n_slow) * (out[slow]["ms_third3"] or 0) / 1000
        replay = n_slow * (out[fast]["ms_mean"] or 0) / 1000
        if catch_up <= replay:
            how = f"{slow} caught up from {n_slow} to {n_fast} imports"
            log(f"small: identity check: {how} (about {catch_up:.0f} s)")
            imp = Importer(port, dbs[slow], slow, args.small_lines, 0, 0)
            imp.run(n_slow + 1, count=n_fast - n_slow)
            imp.close()
            a, b = dbs["ext"], dbs["base"]
        else:
            how = f"{fast} replayed the first {n_slow} imports in a fresh database"
            log(f"small: identity check: {how} (about {replay:.0f} s)")
            db = f"bench_small_{fast}_replay"
            prepare_small_db(port, db, fast, args.seed)
            imp = Importer(port, db, fast, args.small_lines, 0, 0)
            imp.run(1, count=n_slow)
            imp.close()
            dbs[f"{fast}_replay"] = db
            a, b = (db, dbs["base"]) if fast == "ext" else (dbs["ext"], db)
    fe, fb = fingerprint(port, a), fingerprint(port, b)
    if fe != fb:
        print(f"extension: {fe}\nbaseline:  {fb}")
    return fe == fb, how


def measure_small(port, args):
    check_library()
    if args.small_autovacuum:
        set_autovacuum(port, True)
    out, dbs = small_pair(port, args, "small", args.small_seconds)
    if args.small_autovacuum:
        set_autovacuum(port, False)
    match, how = small_identity(port, args, out, dbs)
    check_library()
    if not match:
        sys.exit(f"small imports: the extension and the baseline gave different result tables "
                 f"(databases {', '.join(dbs.values())} kept for inspection)")
    for db in dbs.values():
        drop_db(port, db)
    e, b = out["ext"], out["base"]
    row = {"shape": "small", "rows": args.small_lines, "stage": "imports", "seconds": args.small_seconds,
           "ratio": round(e["ms_mean"] / b["ms_mean"], 2) if e["ms_mean"] and b["ms_mean"] else None,
           "match": match, "identity_check": how, "autovacuum": args.small_autovacuum}
    for side, s in (("ext", e), ("base", b)):
        for key, value in s.items():
            row[f"{side}_{key}"] = value
    return [row]


def print_small(row):
    print(f"\n== small: {row['rows']}-line imports, one session, {row['seconds']:.0f} s each side, "
          f"on an empty install (autovacuum {'on' if row['autovacuum'] else 'off'})   "
          f"(results {'MATCH' if row['match'] else 'DIFFER'}: {row['identity_check']})")
    print(f"{'side':<10}{'imports':>9}{'/s':>8}{'ms mean':>9}{'1st 3rd':>9}{'2nd 3rd':>9}{'last 3rd':>9}"
          f"{'last/1st':>9}{'p95 ms':>8}{'orders':>10}{'failed':>8}{'RSS MiB':>9}{'priv':>7}")
    for side, name in (("ext", "etl_ext"), ("base", "plain SQL")):
        g = lambda k: row.get(f"{side}_{k}")
        growth = g("ms_third3") / g("ms_third1") if g("ms_third1") and g("ms_third3") else float("nan")
        print(f"{name:<10}{g('imports'):>9,}{g('imports_per_s'):>8.1f}{g('ms_mean'):>9.1f}{g('ms_third1'):>9.1f}"
              f"{g('ms_third2'):>9.1f}{g('ms_third3'):>9.1f}{growth:>9.2f}{g('ms_p95'):>8.1f}{g('orders_end'):>10,}"
              f"{g('failed_imports'):>8}{g('peak_rss_mib'):>9}{g('private_peak_mib'):>7}", flush=True)


# ---------------------------------------------------------------- worker

def pg_ctl(cluster_dir, action):
    cmd = ["sudo", "-u", "postgres", f"{PGBIN}/pg_ctl", "-D", os.path.join(cluster_dir, "data"),
           "-l", os.path.join(cluster_dir, "server.log"), "-w", "-m", "fast", action]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"pg_ctl {action} failed:\n{done.stdout}\n{done.stderr}")


def restart_with_worker(port, cluster_dir, database):
    """Restarts the benchmark's cluster with the extension preloaded and its worker on `database`."""
    conf = os.path.join(cluster_dir, "data", "postgresql.conf")
    with open(conf, "a") as f:
        f.write("\n# bench/run.py, shape worker\n"
                "shared_preload_libraries = 'etl_ext'\n"
                f"etl.database = '{database}'\n"
                "autovacuum = on\n")
    pg_ctl(cluster_dir, "restart")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n = psql(port, "postgres", "-c", "SELECT count(*) FROM pg_stat_activity "
                 f"WHERE backend_type = 'etl_ext worker' AND datname = '{database}'")
        if n == "1":
            return
        time.sleep(0.5)
    sys.exit(f"the etl_ext worker did not start on {database} within 60 s (see {cluster_dir}/server.log)")


def build_history(port, args, steady_ext_db):
    """The worker's database before the loaders start, and its order-number offset and rows."""
    hist = args.worker_history
    db = "bench_worker_history"
    if hist == "steady" and steady_ext_db:
        rows = int(steady_ext_db.rsplit("_", 1)[1])
        drop_db(port, db)
        psql(port, "postgres", "-c", f"ALTER DATABASE {steady_ext_db} RENAME TO {db}")
        offset, history_rows, what = 2 * rows, rows, f"the steady shape's {rows:,}-line database (two imports)"
    elif hist in ("steady", "none", "0"):
        create_db(port, db)
        install(port, db, "setup", 0, args.seed)
        offset, history_rows, what = 0, 0, "an empty install"
    else:
        rows = int(hist)
        log(f"worker: building a history of {rows:,} lines through the extension")
        create_db(port, db)
        install(port, db, "first", rows, args.seed)
        first = psql(port, db, "-c", "SELECT import_id FROM etl.imports WHERE source = 'bench warm-up'")
        for stage in STAGES:
            run_ext_stage(port, db, stage, first)
        offset, history_rows, what = rows, rows, f"one import of {rows:,} lines"
    psql(port, db, "-f", os.path.join(HERE, "small.sql"))
    # A database that has run for a while: analyzed, its queue done.
    psql(port, db, "-c", "DELETE FROM etl.jobs", "-c", "VACUUM ANALYZE")
    orders = int(psql(port, db, "-c", "SELECT count(*) FROM etl.orders"))
    return db, offset, history_rows, what, orders


def measure_worker(port, args, steady_ext_db, small_row):
    if not args.cluster_dir:
        print("\nworker shape skipped: it restarts the cluster with shared_preload_libraries and needs "
              "--cluster-dir (scripts/bench.sh passes it)")
        return []
    check_library()
    hist_db, offset, history_rows, what, history_orders = build_history(port, args, steady_ext_db)
    log(f"worker: history: {what}, {history_orders:,} orders")

    # The baseline's figure: one session running the same imports synchronously on the same history.
    if history_orders == 0 and small_row:
        base = {"imports_per_s": small_row["base_imports_per_s"], "ms_mean": small_row["base_ms_mean"],
                "seconds": small_row["seconds"], "source": "the small shape's baseline run"}
    else:
        set_autovacuum(port, True)
        out, dbs = small_pair(port, args, "worker_sync", args.worker_baseline_seconds, offset, history_rows,
                              template=hist_db, sides=("base",))
        set_autovacuum(port, False)
        drop_db(port, dbs["base"])
        base = {"imports_per_s": out["base"]["imports_per_s"], "ms_mean": out["base"]["ms_mean"],
                "seconds": args.worker_baseline_seconds,
                "source": f"one session, synchronous, {args.worker_baseline_seconds:.0f} s on the same history"}

    db = "bench_worker"
    drop_db(port, db)
    psql(port, "postgres", "-c", f"ALTER DATABASE {hist_db} RENAME TO {db}")
    check_library()
    log("worker: restarting the cluster with shared_preload_libraries = 'etl_ext', etl.database = 'bench_worker'")
    restart_with_worker(port, args.cluster_dir, db)

    counter = {"next": 1, "submitted": 0, "errors": []}
    lock = threading.Lock()
    stop_at = time.monotonic() + args.worker_load_seconds

    def loader():
        try:
            imp = Importer(port, db, "ext", args.small_lines, offset, history_rows)
            while time.monotonic() < stop_at:
                with lock:
                    k = counter["next"]
                    counter["next"] += 1
                with imp.conn.transaction():
                    imp.write(k)
                with lock:
                    counter["submitted"] += 1
            imp.close()
        except Exception as e:  # reported, and the shape fails
            with lock:
                counter["errors"].append(repr(e))

    mon = connect(port, db)

    def progress():
        """(imports whose three stages are done, stage runs done / 3, jobs waiting or running, dead jobs).

        The worker takes due jobs oldest first and an import's next stage is
        queued when its stage ends, so under a backlog it runs the orders
        stages of many imports before their customers and leads stages: work
        is counted in stage runs (three per import), not in finished imports."""
        full, jobs_done, pending, dead = mon.execute(
            "SELECT count(*) FILTER (WHERE stage = 'leads' AND state = 'done'),"
            "       count(*) FILTER (WHERE state = 'done'),"
            "       count(*) FILTER (WHERE state IN ('queued', 'failed', 'running')),"
            "       count(*) FILTER (WHERE state = 'dead') FROM etl.jobs").fetchone()
        return full, jobs_done / 3, pending, dead

    log(f"worker: {args.worker_loaders} loaders submit {args.small_lines}-line imports for {args.worker_load_seconds:.0f} s")
    start = time.monotonic()
    threads = [threading.Thread(target=loader) for _ in range(args.worker_loaders)]
    for t in threads:
        t.start()
    # [seconds, submitted, imports fully done, stage runs done / 3]
    timeline = [[0.0, 0, 0, 0.0]]
    while any(t.is_alive() for t in threads):
        time.sleep(min(5.0, max(0.2, stop_at - time.monotonic())))
        full, work, pending, dead = progress()
        timeline.append([round(time.monotonic() - start, 1), counter["submitted"], full, round(work, 1)])
    for t in threads:
        t.join()
    if counter["errors"]:
        sys.exit(f"worker: a loader failed: {counter['errors'][0]}")
    load_end = time.monotonic()
    load_s = load_end - start
    submitted = counter["submitted"]
    full_at_load_end, work_at_load_end, pending, dead = progress()
    log(f"worker: {submitted:,} imports submitted ({submitted / load_s:.0f}/s), {full_at_load_end:,} done "
        f"({work_at_load_end:,.0f} imports' worth of stage runs); draining (at most {args.worker_drain_seconds:.0f} s)")
    while pending > 0 and time.monotonic() - load_end < args.worker_drain_seconds:
        time.sleep(2)
        full, work, pending, dead = progress()
        now = time.monotonic()
        if now - start - timeline[-1][0] >= 5 or pending == 0:
            timeline.append([round(now - start, 1), submitted, full, round(work, 1)])
    drain_end = time.monotonic()
    full, work, pending, dead = progress()
    if timeline[-1][2] != full:
        timeline.append([round(drain_end - start, 1), submitted, full, round(work, 1)])
    orders_end = int(mon.execute("SELECT count(*) FROM etl.orders").fetchone()[0])
    mon.close()
    check_library()
    drain_s = drain_end - load_end
    backlog = submitted - work_at_load_end
    left = submitted - work
    # The worker's rate: over the drain, when there was a backlog to drain;
    # when it kept up with the loaders, what it did over the whole run (then
    # the loaders, not the worker, set the figure: a lower bound).
    kept_up = backlog < 100
    if kept_up:
        rate = work / (drain_end - start)
    else:
        rate = (work - work_at_load_end) / drain_s if drain_s > 0 else None
    row = {"shape": "worker", "rows": args.small_lines, "stage": "imports",
           "loaders": args.worker_loaders, "load_seconds": round(load_s, 1),
           "history": what, "history_orders": history_orders, "orders_end": orders_end,
           "ext_submitted": submitted, "ext_submitted_per_s": round(submitted / load_s, 1),
           "ext_done_during_load": full_at_load_end, "ext_work_during_load": round(work_at_load_end, 1),
           "ext_work_per_s_during_load": round(work_at_load_end / load_s, 1),
           "ext_backlog_at_load_end": round(backlog, 1), "ext_drain_seconds": round(drain_s, 1),
           "ext_drained": round(work - work_at_load_end, 1),
           "ext_drain_imports_per_s": round(rate, 1) if rate else None,
           "ext_done_end": full, "ext_drained_all": pending == 0, "ext_left": round(left, 1), "ext_kept_up": kept_up,
           "ext_projected_drain_seconds": round(backlog / rate, 0) if rate else None,
           "ext_dead_jobs": dead,
           "ext_imports_per_s": round(rate, 1) if rate else None,
           "base_imports_per_s": base["imports_per_s"], "base_ms_mean": base["ms_mean"],
           "base_source": base["source"],
           "ratio": round(base["imports_per_s"] / rate, 2) if rate else None,
           "ext_timeline": timeline}
    return [row]


def print_worker(row):
    print(f"\n== worker: {row['loaders']} loaders submitting {row['rows']}-line imports for "
          f"{row['load_seconds']:.0f} s, then the backlog drains; history: {row['history']} "
          f"({row['history_orders']:,} orders)")
    print(f"   submitted {row['ext_submitted']:,} imports ({row['ext_submitted_per_s']}/s); while loading the worker "
          f"finished {row['ext_done_during_load']:,} and did {row['ext_work_during_load']:,.0f} imports' worth of "
          f"stage runs ({row['ext_work_per_s_during_load']}/s); backlog {row['ext_backlog_at_load_end']:,.0f} imports")
    state = "drained" if row["ext_drained_all"] else f"NOT drained ({row['ext_left']:,.0f} imports' worth left)"
    proj = "" if row["ext_drained_all"] or not row["ext_projected_drain_seconds"] else \
        f"; the whole backlog would take about {row['ext_projected_drain_seconds']:,.0f} s"
    if row["ext_kept_up"]:
        print(f"   the worker kept up with the loaders: {row['ext_drain_imports_per_s']} imports/s over the whole run "
              f"(a lower bound, set by the loaders); {state}; dead jobs {row['ext_dead_jobs']}; "
              f"{row['orders_end']:,} orders at the end")
    else:
        print(f"   drain: {row['ext_drained']:,.0f} imports' worth of stage runs in {row['ext_drain_seconds']} s = "
              f"{row['ext_drain_imports_per_s']} imports/s, {state}{proj}; {row['ext_done_end']:,} imports finished; "
              f"dead jobs {row['ext_dead_jobs']}; {row['orders_end']:,} orders at the end")
    print(f"   baseline: {row['base_imports_per_s']} imports/s ({row['base_source']})", flush=True)


# ---------------------------------------------------------------- targets

def targets(results, sizes):
    """Each target of issue 8 with its figure and whether it is met (None: not measured)."""
    by = {(r["shape"], r["rows"], r["stage"]): r for r in results}
    out = []

    def add(name, figure, met, why=None):
        out.append((name, figure, met, why))

    def ratio_target(r, limit):
        """(figure, met) of a row's ratio against `limit`; a cancelled stage's ratio is a lower bound."""
        if not r or r["ratio"] is None:
            return ("not measured" + (" (cancelled by --stage-timeout)" if r else "")), None
        lower = r.get("ext_timed_out")
        fig = f"{'>' if lower else ''}{r['ratio']:.2f}x ({'>' if lower else ''}{r['ext_seconds']:.1f} s vs " \
              f"{r['base_seconds']:.1f} s)"
        if lower:
            fig += ", cancelled by --stage-timeout"
        return fig, (False if lower and r["ratio"] > limit else (None if lower else r["ratio"] <= limit))

    for n in (100000, 1000000):
        add(f"first import, {n:,} lines: total <= 1.0x the baseline", *ratio_target(by.get(("first", n, "total")), 1.0))
    add("steady state, 1M lines: total <= 0.8x the baseline", *ratio_target(by.get(("steady", 1000000, "total")), 0.8))
    st = [by.get(("steady", 1000000, s)) for s in STAGES]
    if all(st):
        figs = [ratio_target(r, 1.0) for r in st]
        mets = [m for _, m in figs]
        add("steady state, 1M lines: every stage <= 1.0x the baseline",
            ", ".join(f"{s} {f.split(' (')[0]}" for s, (f, _) in zip(STAGES, figs)),
            False if False in mets else (None if None in mets else True))
    else:
        add("steady state, 1M lines: every stage <= 1.0x the baseline", "not measured", None)
    sm = next((r for r in results if r["shape"] == "small"), None)
    add("small imports: at least as many imports as the baseline",
        f"{sm['ext_imports']:,} vs {sm['base_imports']:,}" if sm else "not measured",
        sm["ext_imports"] >= sm["base_imports"] if sm else None)
    if sm and sm["ext_ms_third1"] and sm["ext_ms_third3"]:
        g = sm["ext_ms_third3"] / sm["ext_ms_third1"]
        add("small imports: last third's latency <= 1.2x the first third's",
            f"{g:.2f}x ({sm['ext_ms_third1']} -> {sm['ext_ms_third3']} ms; baseline "
            f"{sm['base_ms_third1']} -> {sm['base_ms_third3']} ms)", g <= 1.2)
    else:
        add("small imports: last third's latency <= 1.2x the first third's", "not measured", None)
    wk = next((r for r in results if r["shape"] == "worker"), None)
    if wk and wk["ext_drain_imports_per_s"] is not None:
        hist_ok = wk["history_orders"] >= 2000000
        met = wk["ext_drain_imports_per_s"] >= wk["base_imports_per_s"]
        add("worker, 8 loaders: backlog drains >= the baseline's single session (2M orders of history)",
            f"{wk['ext_drain_imports_per_s']} vs {wk['base_imports_per_s']} imports/s"
            f"{' (worker kept up: lower bound)' if wk['ext_kept_up'] else ''}, {wk['loaders']} loaders, "
            f"{wk['history_orders']:,} orders of history{'' if hist_ok else ' (not 2M)'}",
            None if wk["ext_kept_up"] and not met else met)
    else:
        add("worker, 8 loaders: backlog drains >= the baseline's single session (2M orders of history)",
            "not measured", None)
    def by_round(a, b, side):
        # The sizes run side by side in each round (run_rounds): one ratio per round.
        pairs = zip(a.get(f"{side}_seconds_runs") or [], b.get(f"{side}_seconds_runs") or [])
        return "/".join(f"{big / small:.1f}" for small, big in pairs if small)

    for shape in ("steady", "first"):
        name = f"{shape}: 1M lines <= 10.5x the time of 100k"
        a, b = by.get((shape, 100000, "total")), by.get((shape, 1000000, "total"))
        if not (a and b and not a.get("ext_timed_out") and not b.get("ext_timed_out")):
            add(name, "not measured (a stage was cancelled)" if a and b else "not measured", None)
            continue
        ext, base = b["ext_seconds"] / a["ext_seconds"], b["base_seconds"] / a["base_seconds"]
        rounds = f"; by round {by_round(a, b, 'ext')} against {by_round(a, b, 'base')}" if a.get("runs", 1) > 1 else ""
        # What a miss means depends on the baseline's ratio in the same rounds.
        why = (f"the plain-SQL baseline's own ratio in the same rounds is {base:.1f}x: what grows faster "
               "than the lines is common to both (whole-import hash joins and sorts outgrowing the CPU "
               "caches and work_mem, the machine's drift), plus the sort by shop a 1M import pays and a "
               "100k import skips; docs/performance.md, \"Reading the 1M/100k ratio\""
               if ext <= base + 0.5 else
               f"grows faster than the baseline's ({base:.1f}x): look for the phase that does in the "
               "tables above (ms at 1M against ten times those at 100k)")
        add(name, f"{ext:.1f}x (baseline {base:.1f}x{rounds})", ext <= 10.5, why)
    for shape in ("steady", "first"):
        lo = [by.get((shape, 10000, s)) for s in STAGES]
        for big in [n for n in (1000000, 5000000) if n in sizes]:
            hi = [by.get((shape, big, s)) for s in STAGES]
            if all(lo) and all(hi) and all(r["ext_private_peak_mib"] is not None for r in lo + hi):
                growth = [h["ext_private_peak_mib"] - l["ext_private_peak_mib"] for l, h in zip(lo, hi)]
                add(f"{shape}: backend private memory at {big // 1000000}M <= 300 MiB above 10k, per stage",
                    ", ".join(f"{s} +{g:.0f}" for s, g in zip(STAGES, growth)) + " MiB",
                    max(growth) <= 300)
            else:
                add(f"{shape}: backend private memory at {big // 1000000}M <= 300 MiB above 10k, per stage",
                    "not measured", None)
    if 5000000 not in sizes:
        add("a 5M-line import finishes within the memory bound", "not measured (--sizes without 5000000)", None)
    matched = [r.get("match") for r in results if r.get("match") is not None]
    skipped = sum(1 for r in results if "match" in r and r["match"] is None)
    add("results identical to the baseline everywhere",
        (f"{sum(1 for m in matched if m)} of {len(matched)} compared rows match" if matched else "not compared")
        + (f"; {skipped} rows not compared (a side cancelled)" if skipped else ""),
        all(matched) if matched else None)
    return out


def print_targets(rows):
    print("\n== issue 8's targets")
    w = max(len(n) for n, _, _, _ in rows)
    for name, figure, met, why in rows:
        mark = "met" if met else ("NOT MET" if met is False else "-")
        print(f"{name:<{w}}  {mark:<8}{figure}")
        if met is False and why:
            print(f"{'':<{w}}  {'why:':<8}{why}")


# ---------------------------------------------------------------- pictures

def svg_stages(results, path):
    """Grouped bars: seconds per stage (stacked) per shape and size, extension next to baseline."""
    groups = [(shape, n) for shape in ("first", "steady")
              for n in sorted({r["rows"] for r in results if r["shape"] == shape})]
    if not groups:
        return
    colors = {"orders": "#4e79a7", "customers": "#f28e2b", "leads": "#59a14f"}
    width, height, left, bottom, top = max(760, 110 * len(groups) + 90), 440, 70, 80, 40
    plot_h = height - bottom - top
    peak = max(max(r["ext_seconds"] or 0, r["base_seconds"] or 0) for r in results
               if r["stage"] == "total" and r["shape"] in ("first", "steady")) or 1
    group_w = (width - left - 20) / len(groups)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">etl_ext vs plain SQL: seconds per stage '
             f'(stacked), first import into an empty install and steady state</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>']
    for i in range(5):
        v = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{v:.{2 if peak < 2 else 1}f}s</text>')
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#ddd"/>')
    bar_w = max(8, group_w / 2 - 20)
    for gi, (shape, size) in enumerate(groups):
        for si, side in enumerate(("ext", "base")):
            x = left + gi * group_w + 10 + si * (bar_w + 6)
            y = top + plot_h
            for stage in STAGES:
                r = next(r for r in results if r["shape"] == shape and r["rows"] == size and r["stage"] == stage)
                h = plot_h * (r[f"{side}_seconds"] or 0) / peak
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                             f'fill="{colors[stage]}" opacity="{1 if side == "ext" else 0.55}"/>')
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" font-size="10">'
                         f'{"ext" if side == "ext" else "SQL"}</text>')
            total = next(r for r in results if r["shape"] == shape and r["rows"] == size and r["stage"] == "total")
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="9">'
                         f'{">" if total.get(f"{side}_timed_out") else ""}{total[f"{side}_seconds"] or 0:.1f}</text>')
        cx = left + gi * group_w + 10 + bar_w + 3
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 30}" text-anchor="middle" font-weight="bold">'
                     f'{size:,}</text>')
        parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 44}" text-anchor="middle">{shape}</text>')
    for i, stage in enumerate(STAGES):
        parts.append(f'<rect x="{left + 10 + i * 110}" y="{height - 16}" width="12" height="12" fill="{colors[stage]}"/>')
        parts.append(f'<text x="{left + 26 + i * 110}" y="{height - 6}">{stage}</text>')
    parts.append(f'<text x="{left + 360}" y="{height - 6}">solid: etl_ext, light: plain SQL</text>')
    parts.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def svg_small(results, path):
    """Left: ms per import over the run (5-s means), both sides. Right: the worker's imports over time."""
    sm = next((r for r in results if r["shape"] == "small"), None)
    wk = next((r for r in results if r["shape"] == "worker"), None)
    if not sm and not wk:
        return
    width, height, pw, ph, top = 900 if sm and wk else 480, 380, 360, 260, 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">']

    def panel(x0, title, xlabel, ylabel, series, xmax, ymax):
        parts.append(f'<text x="{x0 + pw / 2}" y="{top - 20}" text-anchor="middle" font-size="14">{title}</text>')
        parts.append(f'<line x1="{x0}" y1="{top + ph}" x2="{x0 + pw}" y2="{top + ph}" stroke="black"/>')
        parts.append(f'<line x1="{x0}" y1="{top}" x2="{x0}" y2="{top + ph}" stroke="black"/>')
        for i in range(5):
            y = top + ph - ph * i / 4
            parts.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + pw}" y2="{y}" stroke="#ddd"/>')
            parts.append(f'<text x="{x0 - 5}" y="{y + 4}" text-anchor="end">{ymax * i / 4:,.0f}</text>')
            parts.append(f'<text x="{x0 + pw * i / 4}" y="{top + ph + 16}" text-anchor="middle">{xmax * i / 4:.0f}</text>')
        parts.append(f'<text x="{x0 + pw / 2}" y="{top + ph + 34}" text-anchor="middle">{xlabel}</text>')
        parts.append(f'<text x="{x0 - 45}" y="{top + ph / 2}" text-anchor="middle" '
                     f'transform="rotate(-90 {x0 - 45} {top + ph / 2})">{ylabel}</text>')
        for i, (name, color, dash, pts) in enumerate(series):
            style = ' stroke-dasharray="6 4"' if dash else ""
            if pts:
                d = " ".join(f"{x0 + pw * min(x, xmax) / xmax:.1f},{top + ph - ph * min(y, ymax) / ymax:.1f}"
                             for x, y in pts if y is not None)
                parts.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"{style}/>')
            parts.append(f'<line x1="{x0 + 10}" y1="{top + 12 + i * 16}" x2="{x0 + 30}" y2="{top + 12 + i * 16}" '
                         f'stroke="{color}" stroke-width="2"{style}/>')
            parts.append(f'<text x="{x0 + 36}" y="{top + 16 + i * 16}">{name}</text>')

    if sm:
        series = [("etl_ext", "#4e79a7", False, sm["ext_timeline"]), ("plain SQL", "#e15759", False, sm["base_timeline"])]
        ymax = max([y for _, _, _, pts in series for _, y in pts if y] or [1]) * 1.1
        panel(80, f"{sm['rows']}-line imports, one session: ms per import", "seconds into the run",
              "ms per import (5-s mean)", series, sm["seconds"], ymax)
    if wk:
        tl = wk["ext_timeline"]
        xmax = max([row[0] for row in tl] or [1])
        base = [(0, 0), (xmax, wk["base_imports_per_s"] * xmax)]
        series = [("submitted by the loaders", "#bab0ac", False, [(r[0], r[1]) for r in tl]),
                  ("worker: stage runs / 3", "#4e79a7", False, [(r[0], r[3]) for r in tl]),
                  ("worker: imports finished", "#76b7b2", False, [(r[0], r[2]) for r in tl]),
                  ("baseline, one session", "#e15759", True, base)]
        ymax = max([y for _, _, _, pts in series for _, y in pts] or [1]) * 1.05
        panel(520 if sm else 80, f"worker, {wk['loaders']} loaders: imports over time", "seconds", "imports", series, xmax, ymax)
    parts.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=55460)
    ap.add_argument("--shapes", default="first,steady,small,worker", help="any of first,steady,small,worker")
    ap.add_argument("--sizes", default="10000,100000,1000000", help="lines per import, for first and steady")
    ap.add_argument("--first-sizes", default=None, help="sizes for the first shape only (default: --sizes)")
    ap.add_argument("--seed", default="0.42")
    ap.add_argument("--stage-timeout", type=float, default=None,
                    help="first and steady: cancel a stage still running after this many seconds and report "
                         "the timeout as a lower bound (no identity check for that size)")
    ap.add_argument("--repeat", type=int, default=1,
                    help="first and steady: run both sides this many times per size (alternating which goes "
                         "first) and report each stage's median run, with every run's seconds")
    ap.add_argument("--batch-size", type=int, default=50000, help="etl.batch_size (the extension's default)")
    ap.add_argument("--small-seconds", type=float, default=90)
    ap.add_argument("--small-lines", type=int, default=100)
    ap.add_argument("--small-autovacuum", default="on", choices=["on", "off"],
                    help="autovacuum during the small and worker shapes (a server running all day has it)")
    ap.add_argument("--worker-loaders", type=int, default=8)
    ap.add_argument("--worker-load-seconds", type=float, default=60)
    ap.add_argument("--worker-drain-seconds", type=float, default=300,
                    help="stop waiting for the backlog after this long (the rate is measured anyway)")
    ap.add_argument("--worker-history", default="steady",
                    help="steady: the steady shape's largest extension database; none: an empty install; "
                         "N: a first import of N lines run through the extension")
    ap.add_argument("--history-orders", dest="worker_history", help="same as --worker-history N")
    ap.add_argument("--worker-baseline-seconds", type=float, default=30,
                    help="the baseline's synchronous run on the worker's history")
    ap.add_argument("--cluster-dir", default=None, help="data directory parent of the cluster (worker shape)")
    ap.add_argument("--pg-config", default="pg_config",
                    help="pg_config of the PostgreSQL major the server runs (scripts/bench.sh passes "
                         "pg_config_for $PG); its --bindir has pg_ctl")
    ap.add_argument("--out", default=None,
                    help=f"directory for the results (default {DEFAULT_OUT_PARENT}/<time>; "
                         "--out bench/results replaces the figures the docs quote)")
    args = ap.parse_args()
    global PGBIN
    done = subprocess.run([args.pg_config, "--bindir"], capture_output=True, text=True)
    if done.returncode != 0 or not done.stdout.strip():
        sys.exit(f"{args.pg_config} --bindir failed:\n{done.stderr}")
    PGBIN = done.stdout.strip()
    if args.out is None:
        args.out = os.path.join(DEFAULT_OUT_PARENT, time.strftime("%Y%m%d-%H%M%S"))
    args.small_autovacuum = args.small_autovacuum == "on"
    shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        sys.exit(f"unknown shape(s) {unknown}: choose from {SHAPES}")
    if psycopg is None and ({"small", "worker"} & set(shapes)):
        sys.exit("the small and worker shapes need psycopg 3: python3 -m pip install 'psycopg[binary]'")
    sizes = [int(s) for s in args.sizes.split(",")]
    first_sizes = [int(s) for s in args.first_sizes.split(",")] if args.first_sizes else sizes
    os.makedirs(args.out, exist_ok=True)
    results = []
    started = time.monotonic()

    if "first" in shapes:
        log(f"first: {', '.join(f'{n:,}' for n in first_sizes)} lines, {args.repeat} round(s)")
        by_size = measure_first(args.port, first_sizes, args.seed, args.batch_size, args.stage_timeout, args.repeat)
        for rows, r in by_size.items():
            print_table("first", rows, r)
            results += r
    steady_ext_db = None
    if "steady" in shapes:
        log(f"steady: {', '.join(f'{n:,}' for n in sizes)} lines, {args.repeat} round(s)")
        keep_rows = max(sizes) if "worker" in shapes and args.worker_history == "steady" else None
        by_size = measure_steady(args.port, sizes, args.seed, args.batch_size, keep_rows, args.stage_timeout,
                                 args.repeat)
        for rows, r in by_size.items():
            if rows == keep_rows and r[-1]["ext_timed_out"]:
                log(f"the steady {rows:,}-line extension database is incomplete (a stage was cancelled): "
                    "the worker shape starts on an empty install")
                drop_db(args.port, f"bench_steady_ext_{rows}")
            elif rows == keep_rows:
                steady_ext_db = f"bench_steady_ext_{rows}"
                # Kept for the worker shape: what autovacuum would do to it, now
                # (untimed), not while the small shape runs.
                psql(args.port, steady_ext_db, "-c", "DELETE FROM etl.jobs", "-c", "VACUUM ANALYZE")
            print_table("steady", rows, r)
            results += r
    small_row = None
    if "small" in shapes:
        r = measure_small(args.port, args)
        small_row = r[0]
        print_small(small_row)
        results += r
    if "worker" in shapes:  # last: it restarts the cluster with the extension preloaded
        r = measure_worker(args.port, args, steady_ext_db, small_row)
        if r:
            print_worker(r[0])
        results += r

    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    keys = []
    for r in results:
        keys += [k for k, v in r.items() if k not in keys and not isinstance(v, (dict, list))]
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    svg_stages(results, os.path.join(args.out, "stage_times.svg"))
    svg_small(results, os.path.join(args.out, "small_imports.svg"))

    # The summary: every shape side by side, then the targets.
    print("\n== summary (seconds, extension / baseline, ratio)")
    for shape in ("first", "steady"):
        for rows in sorted({r["rows"] for r in results if r["shape"] == shape}):
            cells = []
            for stage in STAGES + ["total"]:
                r = next(x for x in results if x["shape"] == shape and x["rows"] == rows and x["stage"] == stage)
                lower = ">" if r.get("ext_timed_out") else ""
                ratio = f"{lower}{r['ratio']:.2f}x" if r["ratio"] is not None else "-"
                cells.append(f"{stage} {fmt_s(r, 'ext', 0)} / {fmt_s(r, 'base', 0)} ({ratio})")
            print(f"{shape:<7}{rows:>10,}  " + "  ".join(cells))
    if small_row:
        s = small_row
        print(f"small   {s['rows']:>6}-line imports, {s['seconds']:.0f} s: etl_ext {s['ext_imports']:,} imports "
              f"({s['ext_imports_per_s']}/s; ms by third {s['ext_ms_third1']} / {s['ext_ms_third2']} / {s['ext_ms_third3']}), "
              f"plain SQL {s['base_imports']:,} ({s['base_imports_per_s']}/s; {s['base_ms_third1']} / "
              f"{s['base_ms_third2']} / {s['base_ms_third3']})")
    wk = next((r for r in results if r["shape"] == "worker"), None)
    if wk:
        left = "all drained" if wk["ext_drained_all"] else f"{wk['ext_left']:,.0f} imports' worth left"
        print(f"worker  {wk['loaders']} loaders x {wk['load_seconds']:.0f} s: {wk['ext_submitted']:,} submitted, "
              f"worker {wk['ext_drain_imports_per_s']} imports/s"
              f"{' (kept up: lower bound)' if wk['ext_kept_up'] else ''} ({left} after "
              f"{wk['ext_drain_seconds']} s of drain); baseline {wk['base_imports_per_s']} imports/s")
    print_targets(targets(results, sizes))
    print(f"\nresults written to {args.out}/results.csv, results.json, stage_times.svg, small_imports.svg "
          f"({(time.monotonic() - started) / 60:.1f} min)")
    if any(r.get("match") is False for r in results):
        sys.exit("the extension and the baseline gave different result tables")


if __name__ == "__main__":
    main()
