#!/usr/bin/env python3
"""Jetstream throughput and freshness: the real daemon against a loopback Jetstream-format server.

    cargo build --release
    python3 scripts/bench_jetstream.py [--rate 0] [--seconds 60] [--relevant 0.1] [--bin target/release/coinpulse]

The server (plain asyncio, no third-party package) speaks Jetstream's `/subscribe` WebSocket: one
JSON text frame per post creation, written by this script (no third-party text), a `--relevant`
share of them naming an asset (`$BTC`), the rest about nothing the tagger knows. With `--rate 0` it
writes as fast as the daemon reads (the socket's backpressure paces it); with `--rate N` it sends N
events a second. It honours `cursor=` on reconnect, as Jetstream does.

The daemon runs `coinpulse run` with only `[sources.jetstream]` enabled, a private PostgreSQL cluster
in a temporary directory and the default writer settings (`pipeline.flush_interval` 1 s,
`batch_size` 1000). Each post's `createdAt` is the moment the server wrote it, so
`collected_at - created_at` in the database is the time from sending to the commit's transaction
start. Reported: events/s the daemon sustained, the relevant posts sent against those stored (lost /
extra), p50/p99/max of send→commit, and the daemon's peak resident memory.
"""
import argparse
import asyncio
import base64
import bisect
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frame(payload: bytes, opcode: int = 0x1) -> bytes:
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
    return head + payload


class Replay:
    """Generates the stream; remembers every event's time_us and which ids were relevant."""

    def __init__(self, rate, relevant, seconds):
        self.rate = rate
        self.every = max(1, round(1 / relevant)) if relevant > 0 else 0
        self.seconds = seconds
        self.times = []
        self.relevant_ids = set()
        self.sent = 0
        self.started = None
        self.finished = None
        self.connections = []

    def event(self, seq):
        now = datetime.now(timezone.utc)
        t = max(int(now.timestamp() * 1e6), self.times[-1] + 1 if self.times else 0)
        if seq == len(self.times):
            self.times.append(t)
        else:
            t = self.times[seq]
        hot = self.every and seq % self.every == 0
        text = f"$BTC looks strong today, entry {seq}" if hot else f"took the long way home tonight, walk {seq}"
        rkey = f"bench{seq:09d}"
        did = f"did:plc:bench{seq % 997:04d}"
        if hot:
            self.relevant_ids.add(f"at://{did}/app.bsky.feed.post/{rkey}")
        return json.dumps({
            "did": did, "time_us": t, "kind": "commit",
            "commit": {"rev": "r", "operation": "create", "collection": "app.bsky.feed.post", "rkey": rkey,
                       "record": {"$type": "app.bsky.feed.post", "createdAt": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
                                  "langs": ["en"], "text": text},
                       "cid": "bafy"}}, separators=(",", ":")).encode()

    async def handle(self, reader, writer):
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = await reader.read(4096)
            if not chunk:
                return
            request += chunk
        lines = request.decode().split("\r\n")
        path = lines[0].split(" ")[1]
        self.connections.append(path)
        key = next(l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept}\r\n\r\n").encode())
        asyncio.ensure_future(self.discard(reader))
        seq = 0
        for kv in path.split("?", 1)[-1].split("&"):
            if kv.startswith("cursor="):
                seq = bisect.bisect_left(self.times, int(kv[7:]))
        if self.started is None:
            self.started = time.monotonic()
        try:
            while time.monotonic() - self.started < self.seconds:
                if self.rate:
                    due = self.started + self.sent / self.rate
                    if due > time.monotonic():
                        await asyncio.sleep(due - time.monotonic())
                for _ in range(50):
                    writer.write(frame(self.event(seq)))
                    seq += 1
                    self.sent = max(self.sent, seq)
                await writer.drain()
            self.finished = time.monotonic()
            await asyncio.sleep(3600)
        except (ConnectionError, asyncio.CancelledError):
            pass

    async def discard(self, reader):
        while await reader.read(65536):
            pass


def serve(replay, port_box):
    async def main():
        server = await asyncio.start_server(replay.handle, "127.0.0.1", 0)
        port_box.append(server.sockets[0].getsockname()[1])
        await server.serve_forever()
    asyncio.run(main())


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "target/release/coinpulse"))
    ap.add_argument("--rate", type=float, default=0, help="events/s; 0 = as fast as the daemon reads")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--relevant", type=float, default=0.1)
    args = ap.parse_args()

    replay = Replay(args.rate, args.relevant, args.seconds)
    port = []
    threading.Thread(target=serve, args=(replay, port), daemon=True).start()
    while not port:
        time.sleep(0.05)
    work = Path(tempfile.mkdtemp(prefix="coinpulse-jetstream-"))
    config = work / "config.toml"
    config.write_text(f"""[database]
data_dir = "{work}/pg"
[http]
listen = "127.0.0.1:0"
[charts]
out_dir = "{work}/charts"
assets = []
[sources]
retry_base_delay = "100ms"
retry_max_delay = "2s"
[sources.jetstream]
enabled = true
url = ["ws://127.0.0.1:{port[0]}/subscribe"]
""")
    log = open(work / "daemon.log", "w")
    daemon = subprocess.Popen([args.bin, "--config", str(config), "run"], stdout=log, stderr=subprocess.STDOUT)
    peak = 0
    try:
        while replay.finished is None and daemon.poll() is None:
            peak = max(peak, rss_kb(daemon.pid))
            time.sleep(0.5)
        # Let the queue drain and the last batch commit.
        for _ in range(20):
            peak = max(peak, rss_kb(daemon.pid))
            time.sleep(0.5)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        url = subprocess.run([args.bin, "--config", str(config), "db", "url"], capture_output=True, text=True, check=True).stdout.strip()
        psql = lambda q: subprocess.run(["psql", url, "-At", "-c", q], capture_output=True, text=True, check=True).stdout
        stored = set(psql("SELECT external_id FROM posts WHERE platform = 'bluesky'").split())
        lat = psql("SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM collected_at - created_at)),"
                   " max(extract(epoch FROM collected_at - created_at)) FROM posts WHERE platform = 'bluesky'").strip()
    finally:
        if daemon.poll() is None:
            daemon.kill()
        subprocess.run([args.bin, "--config", str(config), "db", "stop"], capture_output=True)
    elapsed = replay.finished - replay.started
    print(f"events sent: {replay.sent:,} in {elapsed:.1f} s = {replay.sent / elapsed:,.0f} events/s"
          f" ({'unpaced' if not args.rate else f'paced at {args.rate:,.0f}/s'}); connections: {len(replay.connections)}")
    print(f"relevant posts sent: {len(replay.relevant_ids):,}; stored: {len(stored):,};"
          f" lost: {len(replay.relevant_ids - stored):,}; extra: {len(stored - replay.relevant_ids):,}")
    print(f"send -> commit p50, p99 / max (s): {lat}")
    print(f"daemon peak RSS: {peak / 1024:.1f} MB; work dir {work}")


if __name__ == "__main__":
    sys.exit(main())
