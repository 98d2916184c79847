#!/usr/bin/env python3
"""API latency and dashboard first render over the full replay import.

    cargo build --release
    python3 scripts/bench_api.py [--bin target/release/coinpulse] [--runs 20] [--no-dashboard] [--keep]
                                 [--no-analyze]

Imports the 98,967 replay tweets (2020-11 … 2021-02, from ../shared/data/replay/) and the hourly
Binance prices into a private PostgreSQL cluster in a temporary directory, runs `ANALYZE` (with
`psql`) as autovacuum would shortly after, unless `--no-analyze`, starts `coinpulse run`
with no source enabled and the server on a free loopback port, and times each API path `--runs`
times from this process (one keep-alive connection, sequential requests): every report kind, the
asset list and a 90-day hourly series. Then loads the dashboard in headless Chromium five times
(`scripts/bench_dashboard.mjs`) for the first-render time and the bytes transferred
(`--no-dashboard` skips that).

`--keep` leaves the imported cluster and the daemon running and prints how to reach them (its
config, `psql` on its socket, how to stop it), so a query can be profiled with `EXPLAIN ANALYZE`
or the daemon with `perf` over the same data.
"""
import argparse
import glob
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("COINPULSE_SHARED_DIR") or ROOT.parent / "shared")
TWEETS = SHARED / "data/replay/tweets_cryptop12_2020-11-01_2021-02-28.csv"
PRICES = SHARED / "data/replay/prices_hourly_binance_usdt.csv"

PATHS = [
    ("report top 30d", "/api/v1/report/top?since=2021-01-29&until=2021-02-28"),
    ("report asset BTC 30d", "/api/v1/report/asset?asset=BTC&since=2021-01-29&until=2021-02-28"),
    ("report spikes 120d", "/api/v1/report/spikes?since=2020-11-01&until=2021-02-28"),
    ("report sentiment 30d", "/api/v1/report/sentiment?since=2021-01-29&until=2021-02-28"),
    ("report leadlag BTC 120d", "/api/v1/report/leadlag?asset=BTC&since=2020-11-01&until=2021-02-28"),
    ("assets (24 h numbers)", "/api/v1/assets?until=2021-02-28"),
    ("series BTC 90d hourly", "/api/v1/series?asset=BTC&since=2020-11-30&until=2021-02-28&bucket=1h"),
    ("series BTC 24h 5m", "/api/v1/series?asset=BTC&since=2021-02-27&until=2021-02-28"),
    ("alerts", "/api/v1/alerts"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def replay_config(prefix: str) -> tuple[Path, Path, int]:
    """A temporary directory with a config for a private cluster in it, the server on a free
    loopback port and no source enabled: (directory, config file, port)."""
    for f in (TWEETS, PRICES):
        if not f.exists():
            sys.exit(f"{f} is missing (set COINPULSE_SHARED_DIR)")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    port = free_port()
    config = work / "config.toml"
    config.write_text(f"""[database]
data_dir = "{work}/pg"
[http]
listen = "127.0.0.1:{port}"
[charts]
out_dir = "{work}/charts"
assets = []
""")
    return work, config, port


def runner(binary: str, config: Path):
    """Runs `coinpulse --config CONFIG ARGS...`, failing on a non-zero exit."""
    return lambda *a: subprocess.run([binary, "--config", str(config), *a], check=True,
                                     capture_output=True, text=True)


def import_replay(run, analyze: bool) -> None:
    """Imports the replay tweets and hourly prices; with `analyze`, then runs ANALYZE, as
    autovacuum does within a minute or two of a bulk load, so the planner's statistics describe
    the imported data as they do for a daemon that has been running a while."""
    run("import", str(TWEETS), "--format", "cryptop12")
    run("import", str(PRICES), "--format", "prices-csv")
    if analyze:
        psql = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
        if psql is None:
            sys.exit("psql is missing (it runs ANALYZE after the import; --no-analyze skips that)")
        subprocess.run([psql, run("db", "url").stdout.strip(), "-qc", "ANALYZE"], check=True)


def start_daemon(binary: str, config: Path, work: Path, port: int) -> subprocess.Popen:
    """`coinpulse run`, logging to WORK/daemon.log, once `/healthz` answers."""
    daemon = subprocess.Popen([binary, "--config", str(config), "run"],
                              stdout=open(work / "daemon.log", "w"), stderr=subprocess.STDOUT)
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    return daemon


def stop(binary: str, config: Path, daemon) -> None:
    """Stops the daemon, if it runs, and the private cluster."""
    if daemon and daemon.poll() is None:
        daemon.terminate()
        daemon.wait(timeout=30)
    subprocess.run([binary, "--config", str(config), "db", "stop"], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/coinpulse"))
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-dashboard", action="store_true", help="skip the headless-Chromium timing")
    ap.add_argument("--no-analyze", action="store_true",
                    help="time the requests on the planner statistics of before the import")
    ap.add_argument("--keep", action="store_true",
                    help="leave the cluster and the daemon running afterwards, for profiling")
    args = ap.parse_args()
    work, config, port = replay_config("coinpulse-api-")
    run = runner(args.bin, config)
    daemon = None
    kept = False
    try:
        t = time.time()
        import_replay(run, analyze=not args.no_analyze)
        print(f"imported in {time.time() - t:.1f} s")
        daemon = start_daemon(args.bin, config, work, port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        print(f"{'path':26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'bytes':>8}")
        for name, path in PATHS:
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                conn.request("GET", path)
                r = conn.getresponse()
                body = r.read()
                times.append((time.perf_counter() - t) * 1000)
                if r.status != 200:
                    sys.exit(f"{path}: HTTP {r.status}: {body[:300]!r}")
            times.sort()
            p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
            print(f"{name:26} {times[len(times) // 2]:8.1f} {p95:8.1f} {times[-1]:8.1f} {len(body):8}")
        if not args.no_dashboard:
            subprocess.run(["node", "--experimental-websocket", str(ROOT / "scripts/bench_dashboard.mjs"),
                            f"http://127.0.0.1:{port}/#asset=bitcoin&range=90d", "5"], check=True)
        if args.keep:
            url = run("db", "url").stdout.strip()
            print(f"""kept: daemon pid {daemon.pid} on http://127.0.0.1:{port}, config {config}
  psql '{url}'
  stop: kill {daemon.pid}; {args.bin} --config {config} db stop; rm -r {work}""")
            kept = True
    finally:
        if not kept:
            stop(args.bin, config, daemon)


if __name__ == "__main__":
    main()
