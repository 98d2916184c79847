#!/usr/bin/env python3
"""The daemon's HTTP server under a flood of dashboard/API requests: what it sheds, whether health
checks stay fast and truthful, and whether memory comes back down afterwards.

    cargo build --release
    python3 scripts/bench_flood.py [--bin target/release/coinpulse] [--clients 300] [--seconds 30]

Imports the replay tweets and hourly prices (../shared/data/replay/) into a private PostgreSQL
cluster in a temporary directory, starts `coinpulse run` with no source enabled, then runs
`--clients` threads, each on its own keep-alive connection, requesting the API's heaviest paths
(spikes over 120 days, a 90-day hourly series, the top list, the dashboard page) as fast as they are
answered for `--seconds`. Meanwhile a separate connection asks `/healthz` and `/readyz` twice a
second. Reported: requests answered per status (200, 503 shed, errors), health latency p50/max and
every `/readyz` answer that was not 200, and the daemon's resident memory (from /proc) before, at
its peak and 5/15/30 s after the flood.
"""
import argparse
import http.client
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from bench_api import import_replay, replay_config, runner, start_daemon  # noqa: E402
from bench_api import stop as stop_all  # noqa: E402

PATHS = [
    "/api/v1/report/spikes?since=2020-11-01&until=2021-02-28",
    "/api/v1/series?asset=BTC&since=2020-11-30&until=2021-02-28&bucket=1h",
    "/api/v1/report/top?since=2021-01-29&until=2021-02-28",
    "/",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/coinpulse"))
    ap.add_argument("--clients", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    work, config, port = replay_config("coinpulse-flood-")
    run = runner(args.bin, config)
    daemon = None
    try:
        # Without ANALYZE, as measured so far: the statistics of a daemon that has just imported.
        import_replay(run, analyze=False)
        daemon = start_daemon(args.bin, config, work, port)
        # Warm: each path once, so the baseline is a daemon that has answered everything.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for path in PATHS:
            c.request("GET", path)
            c.getresponse().read()
        time.sleep(2)
        before = rss_mb(daemon.pid)

        stop = time.monotonic() + args.seconds
        statuses: Counter = Counter()
        lock = threading.Lock()

        def client(i: int) -> None:
            conn = None
            n = i
            while time.monotonic() < stop:
                path = PATHS[n % len(PATHS)]
                n += 1
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
                    r = conn.getresponse()
                    r.read()
                    key = r.status
                    if r.getheader("connection", "").lower() == "close":
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    key = type(e).__name__
                    conn = None
                with lock:
                    statuses[key] += 1

        health = {"healthz": [], "readyz": []}
        not_ready = []
        peak = [before]

        def watch() -> None:
            while time.monotonic() < stop:
                for name in health:
                    t = time.perf_counter()
                    try:
                        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                        c.request("GET", f"/{name}")
                        r = c.getresponse()
                        body = r.read()
                        if name == "readyz" and r.status != 200:
                            not_ready.append(f"{r.status} {body[:200]!r}")
                    except OSError as e:
                        if name == "readyz":
                            not_ready.append(type(e).__name__)
                    health[name].append((time.perf_counter() - t) * 1000)
                peak[0] = max(peak[0], rss_mb(daemon.pid))
                time.sleep(0.5)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=watch))
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - started
        after = {}
        for mark in (5, 15, 30):
            time.sleep(max(0.0, mark - (time.monotonic() - started - took)))
            after[mark] = rss_mb(daemon.pid)

        total = sum(statuses.values())
        print(f"{args.clients} clients for {args.seconds:.0f} s: {total} answers ({total / took:.0f}/s)")
        for key, n in sorted(statuses.items(), key=lambda kv: str(kv[0])):
            print(f"  {key}: {n}")
        for name, times in health.items():
            times.sort()
            print(f"/{name}: {len(times)} checks, p50 {times[len(times) // 2]:.1f} ms, max {times[-1]:.1f} ms")
        print(f"/readyz not 200: {len(not_ready)}" + (f" (e.g. {not_ready[0]})" if not_ready else ""))
        print(f"RSS MB: before {before:.1f}, peak {peak[0]:.1f}, "
              + ", ".join(f"+{k} s {v:.1f}" for k, v in after.items()))
    finally:
        stop_all(args.bin, config, daemon)


if __name__ == "__main__":
    main()
