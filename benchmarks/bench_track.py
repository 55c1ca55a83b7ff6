"""Tracked-click redirects per second and their p99 latency: a load generator on loopback against a real
`epistola serve` process (uvicorn), over a SQLite database of 50,000 sent messages with one tracked link
each; every request follows a random one of them.

Reproduce: make bench B=track   (or: python benchmarks/bench_track.py [seconds] [connections])

The load generator is wrk when it is installed (Debian: apt install wrk), otherwise a Python asyncio one
(slower: it needs more of the CPU the server also needs). Either way it runs on the same machine as the
server and takes CPU from it: the figures are what the server manages while sharing the machine, not
what it would manage alone. The per-IP rate limit is switched off for the run (every request comes from
127.0.0.1); clicks are written in batches every 100 ms, as by default; the server runs two worker
processes (EPISTOLA_API_WORKERS=2, one per core; override it in the environment). After the run the server is
stopped cleanly and the recorded clicks are counted against the redirects answered.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import WORK, figure
from sqlalchemy import func, insert, select

from epistola.app import create_app
from epistola.config import load_settings
from epistola.feedback import tracking
from epistola.store.schema import (
    campaign_steps,
    campaigns,
    customers,
    messages,
    segments,
    template_versions,
    templates,
    tracking_events,
)

SECONDS = int(sys.argv[1]) if len(sys.argv) > 1 else 10
CONNECTIONS = int(sys.argv[2]) if len(sys.argv) > 2 else 16
MESSAGES = 50_000
WORKERS = os.environ.get("EPISTOLA_API_WORKERS", "2")  # one API process per core, as in production
DB = WORK / "track.db"
TOKENS = WORK / "track.tokens"
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"


def build_database() -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{DB}{suffix}").unlink(missing_ok=True)
    app = create_app(load_settings(database_url=f"sqlite:///{DB}", output_dir=WORK / "out"))
    app.migrate()
    sent = datetime.now(UTC) - timedelta(days=1)  # long past the scanner window: clicks count as people's
    with app.engine.begin() as conn:
        seg = conn.execute(insert(segments).values(name="all", definition={}, created_at=sent, updated_at=sent))
        tpl = conn.execute(insert(templates).values(name="t", created_at=sent)).inserted_primary_key[0]
        ver = conn.execute(
            insert(template_versions).values(
                template_id=tpl, version=1, status="approved", subject="s", body="b", created_at=sent
            )
        ).inserted_primary_key[0]
        camp = conn.execute(
            insert(campaigns).values(
                name="bench", status="running", segment_id=seg.inserted_primary_key[0], created_at=sent
            )
        ).inserted_primary_key[0]
        step = conn.execute(
            insert(campaign_steps).values(campaign_id=camp, position=1, channel="email", template_version_id=ver)
        ).inserted_primary_key[0]
        people = conn.execute(
            insert(customers).returning(customers.c.id, sort_by_parameter_order=True),
            [{"created_at": sent, "updated_at": sent, "attributes": {}} for _ in range(MESSAGES)],
        ).scalars()
        conn.execute(
            insert(messages),
            [
                {"step_id": step, "customer_id": c, "channel": "email", "state": "sent", "recipient": f"c{c}@x.test",
                 "next_attempt_at": sent, "created_at": sent, "updated_at": sent, "sent_at": sent}
                for c in people
            ],
        )  # fmt: skip
        ids = conn.execute(select(messages.c.id)).scalars().all()
        minted = tracking.mint_for_messages(conn, {m: [f"https://shop.example/offer?m={m}"] for m in ids}, sent)
    TOKENS.write_text("\n".join(t for links in minted.values() for t in links.values()) + "\n")
    app.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EPISTOLA_DATABASE_URL": f"sqlite:///{DB}",
        "EPISTOLA_API_PORT": str(port),
        "EPISTOLA_LOG_LEVEL": "WARNING",
        "EPISTOLA_PUBLIC_RATE_PER_S": "0",
        "EPISTOLA_API_WORKERS": WORKERS,
        "EPISTOLA_OUTPUT_DIR": str(WORK / "out"),
    }
    server = subprocess.Popen([sys.executable, "-m", "epistola", "serve"], env=env, cwd=WORK)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(20).startswith(b"HTTP/1.1 200"):
                    return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("epistola serve did not start")


WRK_SCRIPT = """
local tokens = {}
init = function(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  math.randomseed(os.time() + os.clock() * 1000000)
end
request = function()
  return wrk.format("GET", "/t/c/" .. tokens[math.random(#tokens)], {["User-Agent"] = "%s"})
end
"""


def run_wrk(port: int, seconds: int) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, requests, non-3xx) from wrk."""
    script = WORK / "track.lua"
    script.write_text(WRK_SCRIPT % UA)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}", "--", str(TOKENS)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    print(out, flush=True)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]

    def percentile(p: str) -> float:
        value, unit = re.search(rf"{p}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, percentile("50"), percentile("99"), total, int(bad[1]) if bad else 0


async def _python_load(port: int, seconds: int, tokens: list[str]) -> tuple[list[float], int]:
    latencies: list[float] = []
    bad = 0
    stop = time.perf_counter() + seconds

    async def one_connection(n: int) -> None:
        nonlocal bad
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = n
        while time.perf_counter() < stop:
            token = tokens[(i * 7919) % len(tokens)]
            i += CONNECTIONS
            start = time.perf_counter()
            writer.write(f"GET /t/c/{token} HTTP/1.1\r\nHost: x\r\nUser-Agent: {UA}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", head, re.I)
            if length and int(length[1]):
                await reader.readexactly(int(length[1]))
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 302"):
                bad += 1
        writer.close()

    await asyncio.gather(*(one_connection(n) for n in range(CONNECTIONS)))
    return latencies, bad


def run_python(port: int, seconds: int) -> tuple[float, float, float, int, int]:
    tokens = TOKENS.read_text().split()
    latencies, bad = asyncio.run(_python_load(port, seconds, tokens))
    latencies.sort()
    p50, p99 = (latencies[int(len(latencies) * q)] * 1000 for q in (0.5, 0.99))
    return len(latencies) / seconds, p50, p99, len(latencies), bad


def recorded_clicks() -> int:
    app = create_app(load_settings(database_url=f"sqlite:///{DB}"))
    with app.engine.connect() as conn:
        count = int(conn.execute(select(func.count()).select_from(tracking_events)).scalar_one())
    app.close()
    return count


def main() -> None:
    WORK.mkdir(exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    build_database()
    print(f"{MESSAGES:,} messages with tracked links in {time.perf_counter() - started:.1f} s", flush=True)
    port = free_port()
    server = start_server(port)
    generator = "wrk" if shutil.which("wrk") else "python"
    try:
        load = run_wrk if generator == "wrk" else run_python
        load(port, 2)  # warm-up: imports, caches, the first connections
        before = recorded_clicks_after_flush()
        rps, p50, p99, total, bad = load(port, SECONDS)
    finally:
        server.send_signal(signal.SIGTERM)  # a clean stop writes the clicks still buffered
        server.wait(timeout=60)
    recorded = recorded_clicks() - before
    print(
        f"server: epistola serve, {WORKERS} worker process(es); load generator: {generator}, {CONNECTIONS} connections"
    )
    print(f"{SECONDS} s measured; load average before {load_before}, after {os.getloadavg()}")
    print(f"{total:,} redirects answered ({bad} not 302), {recorded:,} clicks recorded")
    figure("track_redirects_per_s", rps, "redirects/s")
    figure("track_p50_ms", p50, "ms")
    figure("track_p99_ms", p99, "ms")
    figure("track_clicks_recorded_ratio", recorded / max(total, 1), "ratio")
    figure("track_load_average_1m", os.getloadavg()[0], f"on-{os.cpu_count()}-cores")


def recorded_clicks_after_flush() -> int:
    time.sleep(0.5)  # the warm-up's clicks reach the table within one flush interval
    return recorded_clicks()


if __name__ == "__main__":
    main()
