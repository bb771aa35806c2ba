#!/usr/bin/env python3
"""Benchmark: etl_ext against a plain-SQL baseline on the same data.

For each import size: builds a template database (extension, baseline
functions, generated data, warm-up import run), clones it twice, runs the
three stages with the extension in one clone and with the baseline in the
other, checks that both leave the same result tables, and prints per stage:
wall time, rows/s, SQL statements, statements per batch, and the backend's
peak RSS. Writes bench/results/results.{csv,json} and stage_times.svg.
Expects a running server (scripts/bench.sh starts one).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
STAGES = ["orders", "customers", "leads"]
# Statements each baseline function runs (count of SQL statements in bench/baseline.sql).
BASELINE_STATEMENTS = {"orders": 12, "customers": 7, "leads": 9}


def psql(port, db, *args, stdin=None):
    cmd = ["psql", "-h", "/tmp", "-p", str(port), "-U", "postgres", "-X", "-qAt",
           "-v", "ON_ERROR_STOP=1", "-d", db, *args]
    done = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"psql failed ({' '.join(args)[:200]}):\n{done.stderr}")
    return done.stdout.strip()


def build_template(port, rows, seed):
    db = f"bench_tpl_{rows}"
    psql(port, "postgres", "-c", f"DROP DATABASE IF EXISTS {db}")
    psql(port, "postgres", "-c", f"CREATE DATABASE {db}")
    psql(port, db, "-c", "CREATE EXTENSION etl_ext")
    psql(port, db, "-f", os.path.join(HERE, "baseline.sql"))
    psql(port, db, "-v", f"rows={rows}", "-v", f"seed={seed}", "-f", os.path.join(HERE, "generate.sql"))
    warm = psql(port, db, "-c", "SELECT import_id FROM etl.imports WHERE source = 'bench warm-up'")
    timed = psql(port, db, "-c", "SELECT import_id FROM etl.imports WHERE source = 'bench timed'")
    # One transaction per stage, as the worker runs them (and as the timed run
    # does): at 1M lines etl_run_all(), all three in one transaction, did not
    # finish its leads stage in 6 minutes (see docs/performance.md).
    for stage in STAGES:
        psql(port, db, "-c", f"SELECT count(*) FROM etl_{stage}('{warm}')")
    psql(port, db, "-c", "DELETE FROM etl.jobs", "-c", "DELETE FROM etl.events", "-c", "VACUUM ANALYZE")
    return db, timed


STAGE_SQL = {
    "ext": {s: f"SELECT json_agg(x)::text AS r FROM etl_{s}(:'id') x" for s in STAGES},
    "base": {
        "orders": "SELECT baseline.run_orders(:'id', coalesce(current_setting('etl.source_timezone', true), 'Asia/Shanghai'))::text AS r",
        "customers": "SELECT baseline.run_customers(:'id')::text AS r",
        "leads": "SELECT baseline.run_leads(:'id')::text AS r",
    },
}


def run_side(port, db, side, import_id, batch_size):
    """Runs the three stages in one session; returns a dict per stage."""
    script = [f"SET etl.batch_size = {batch_size};"]
    for stage in STAGES:
        script += [
            "COPY (SELECT 5) TO '/proc/self/clear_refs';",
            "SELECT extract(epoch FROM clock_timestamp()) AS t0 \\gset",
            f"{STAGE_SQL[side][stage]} \\gset",
            "SELECT json_build_object("
            f"'stage', '{stage}', 'seconds', extract(epoch FROM clock_timestamp()) - :t0, "
            "'result', :'r', "
            "'peak_rss_kb', (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s+(\\d+)'))[1]::bigint, "
            # VmHWM counts the shared_buffers pages the backend touched; RssShmem tells them apart.
            "'shmem_kb', (regexp_match(pg_read_file('/proc/self/status'), 'RssShmem:\\s+(\\d+)'))[1]::bigint);",
        ]
    out = psql(port, db, "-v", f"id={import_id}", stdin="\n".join(script) + "\n")
    results = {}
    for line in out.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            results[r["stage"]] = r
    return results


def fingerprint(port, db):
    """One md5 (and row count) per result table, by natural keys: see bench/compare.sql."""
    return psql(port, db, "-f", os.path.join(HERE, "compare.sql"))


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


def measure(port, rows, seed, batch_size):
    check_library()
    tpl, import_id = build_template(port, rows, seed)
    out = {}
    for side in ("ext", "base"):
        db = f"bench_{side}_{rows}"
        psql(port, "postgres", "-c", f"DROP DATABASE IF EXISTS {db}")
        psql(port, "postgres", "-c", f"CREATE DATABASE {db} TEMPLATE {tpl}")
        out[side] = run_side(port, db, side, import_id, batch_size)
        out[side]["fingerprint"] = fingerprint(port, db)
    out["match"] = out["ext"]["fingerprint"] == out["base"]["fingerprint"]
    if not out["match"]:
        print(f"extension: {out['ext']['fingerprint']}\nbaseline:  {out['base']['fingerprint']}")
        sys.exit(f"{rows:,} lines: the extension and the baseline gave different result tables "
                 f"(databases bench_ext_{rows} and bench_base_{rows} kept for inspection)")
    rows_out = []
    for stage in STAGES:
        e, b = out["ext"][stage], out["base"][stage]
        report = json.loads(e["result"])[0]
        details = report["details"]
        rows_in = rows if stage == "orders" else report["rows_in"]
        rows_out.append({
            "rows": rows,
            "stage": stage,
            "ext_seconds": round(e["seconds"], 3),
            "base_seconds": round(b["seconds"], 3),
            "ratio": round(e["seconds"] / b["seconds"], 2) if b["seconds"] > 0 else None,
            "ext_rows_per_s": round(rows / e["seconds"]) if e["seconds"] > 0 else None,
            "base_rows_per_s": round(rows / b["seconds"]) if b["seconds"] > 0 else None,
            "stage_rows_in": rows_in,
            "ext_statements": details["queries"],
            "ext_batches": details["batches"],
            "ext_statements_per_batch": round(details["queries"] / max(details["batches"], 1), 1),
            "base_statements": BASELINE_STATEMENTS[stage],
            "ext_peak_rss_mib": round(e["peak_rss_kb"] / 1024, 1),
            "base_peak_rss_mib": round(b["peak_rss_kb"] / 1024, 1),
            # Peak RSS minus the shared buffers mapped at the end: the backend's private peak (approximately).
            "ext_private_peak_mib": round((e["peak_rss_kb"] - e.get("shmem_kb", 0)) / 1024, 1),
            "base_private_peak_mib": round((b["peak_rss_kb"] - b.get("shmem_kb", 0)) / 1024, 1),
            "ext_phase_ms": details.get("phase_ms", {}),
        })
    total_e = sum(r["ext_seconds"] for r in rows_out)
    total_b = sum(r["base_seconds"] for r in rows_out)
    rows_out.append({"rows": rows, "stage": "total", "ext_seconds": round(total_e, 3),
                     "base_seconds": round(total_b, 3), "ratio": round(total_e / total_b, 2),
                     "ext_rows_per_s": round(rows / total_e), "base_rows_per_s": round(rows / total_b),
                     "ext_peak_rss_mib": max(r["ext_peak_rss_mib"] for r in rows_out),
                     "base_peak_rss_mib": max(r["base_peak_rss_mib"] for r in rows_out),
                     "ext_private_peak_mib": max(r["ext_private_peak_mib"] for r in rows_out),
                     "base_private_peak_mib": max(r["base_private_peak_mib"] for r in rows_out)})
    check_library()
    for side in ("ext", "base"):
        psql(port, "postgres", "-c", f"DROP DATABASE IF EXISTS bench_{side}_{rows}")
    psql(port, "postgres", "-c", f"DROP DATABASE IF EXISTS {tpl}")
    return rows_out, out["match"]


def print_table(rows, results, match):
    print(f"\n== {rows:,} raw lines   (results {'MATCH' if match else 'DIFFER'} between extension and baseline)")
    head = f"{'stage':<10}{'ext s':>9}{'base s':>9}{'ratio':>7}{'ext rows/s':>12}{'base rows/s':>12}" \
           f"{'stmts':>7}{'/batch':>8}{'base stmts':>11}{'ext RSS MiB':>12}{'base RSS MiB':>13}{'ext priv':>10}{'base priv':>10}"
    print(head)
    for r in results:
        print(f"{r['stage']:<10}{r['ext_seconds']:>9.2f}{r['base_seconds']:>9.2f}{r['ratio']:>7.2f}"
              f"{r['ext_rows_per_s']:>12,}{r['base_rows_per_s']:>12,}"
              f"{str(r.get('ext_statements', '')):>7}{str(r.get('ext_statements_per_batch', '')):>8}"
              f"{str(r.get('base_statements', '')):>11}{r['ext_peak_rss_mib']:>12}{r['base_peak_rss_mib']:>13}"
              f"{r['ext_private_peak_mib']:>10}{r['base_private_peak_mib']:>10}")
    for r in results:
        if r.get("ext_phase_ms"):
            print(f"   {r['stage']} phases (ms): {json.dumps(r['ext_phase_ms'])}")


def svg(all_results, path):
    """Grouped bars: seconds per stage per size, extension next to baseline."""
    sizes = sorted({r["rows"] for r in all_results})
    colors = {"orders": "#4e79a7", "customers": "#f28e2b", "leads": "#59a14f"}
    width, height, left, bottom, top = 760, 420, 70, 60, 40
    plot_h = height - bottom - top
    peak = max(max(r["ext_seconds"], r["base_seconds"]) for r in all_results if r["stage"] == "total") or 1
    group_w = (width - left - 20) / len(sizes)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="15">etl_ext vs plain SQL: seconds per stage (stacked) by import size</text>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>']
    for i in range(5):
        v = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<text x="{left - 6}" y="{y + 4}" text-anchor="end">{v:.1f}s</text>')
        parts.append(f'<line x1="{left}" y1="{y}" x2="{width - 10}" y2="{y}" stroke="#ddd"/>')
    for gi, size in enumerate(sizes):
        for si, side in enumerate(("ext", "base")):
            x = left + gi * group_w + 20 + si * (group_w / 2 - 10)
            y = top + plot_h
            for stage in STAGES:
                r = next(r for r in all_results if r["rows"] == size and r["stage"] == stage)
                h = plot_h * r[f"{side}_seconds"] / peak
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{group_w / 2 - 25:.1f}" height="{h:.1f}" '
                             f'fill="{colors[stage]}" opacity="{1 if side == "ext" else 0.55}"/>')
            parts.append(f'<text x="{x + (group_w / 2 - 25) / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                         f'{"etl_ext" if side == "ext" else "SQL"}</text>')
        parts.append(f'<text x="{left + gi * group_w + group_w / 2:.1f}" y="{top + plot_h + 32}" text-anchor="middle" '
                     f'font-weight="bold">{size:,} lines</text>')
    for i, stage in enumerate(STAGES):
        parts.append(f'<rect x="{left + 10 + i * 110}" y="{height - 16}" width="12" height="12" fill="{colors[stage]}"/>')
        parts.append(f'<text x="{left + 26 + i * 110}" y="{height - 6}">{stage}</text>')
    parts.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=55460)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--seed", default="0.42")
    ap.add_argument("--batch-size", type=int, default=50000, help="etl.batch_size (the extension's default)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    all_results, all_match = [], True
    for rows in [int(s) for s in args.sizes.split(",")]:
        results, match = measure(args.port, rows, args.seed, args.batch_size)
        print_table(rows, results, match)
        all_results += results
        all_match &= match
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(all_results, f, indent=1)
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        keys = [k for k in all_results[0].keys() if k != "ext_phase_ms"]
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(all_results)
    svg(all_results, os.path.join(args.out, "stage_times.svg"))
    by = {(r["rows"], r["stage"]): r for r in all_results}
    sizes = sorted({r["rows"] for r in all_results})
    if len(sizes) >= 2:
        a, b = sizes[-2], sizes[-1]
        print(f"\nscaling: {b:,} lines took {by[(b, 'total')]['ext_seconds'] / by[(a, 'total')]['ext_seconds']:.1f}x "
              f"the time of {a:,} (size ratio {b / a:.0f}x); peak RSS {by[(sizes[0], 'total')]['ext_peak_rss_mib']} -> "
              f"{by[(b, 'total')]['ext_peak_rss_mib']} MiB")
    print(f"results written to {args.out}/results.csv, results.json, stage_times.svg")
    if not all_match:
        sys.exit("the extension and the baseline gave different result tables")


if __name__ == "__main__":
    main()
