"""Load on `jobtag serve` over loopback: N keep-alive clients, 1- and 100-job requests, recording on
and off, while a background update runs and across model promotions; req/s, latency, errors.

    nice -n 10 python benchmarks/service_load.py [--clients 20] [--seconds 15] [--home DIR]

Builds a synthetic board (1,000 jobs), trains a model with default features (fewer epochs), creates
tokens, starts the server in its own process and drives it from this one (both on this machine).
Scenarios are bounded: at most 200 clients and 60 s each. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from itertools import count
from pathlib import Path

from jobtag.app import Tagger
from jobtag.config import load_settings
from jobtag.store import JobStore
from jobtag.synthetic import BoardSpec, generate_jobs, write_rows

CONFIG = """[train]
ae_epochs = 2
tagger_epochs = 6
[update]
every_n_jobs = {every}
epochs = 1
replay_jobs = 300
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(home: Path) -> dict[str, str]:
    """A trained model and tokens in `home` (reused when already there)."""
    (home / "never.toml").write_text(CONFIG.format(every=10**9))
    settings = load_settings(home / "never.toml", {"home": home}, environ={})
    with Tagger(settings) as tagger:
        if tagger.store.active_model() is None:
            board = home / "board.csv"
            write_rows(list(generate_jobs(BoardSpec(jobs=1_000, seed=3))), board)
            tagger.store.import_file(board)
            t0 = time.perf_counter()
            tagger.train(progress=False)
            print(f"trained in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        store: JobStore = tagger.store
        for t in store.list_tokens():
            store.revoke_token(t.name)
        return {s: store.create_token(f"bench-{s}", s) for s in ("write", "admin")}


class Server:
    """`jobtag serve` in a child process with config `cfg`."""

    def __init__(self, home: Path, cfg: Path) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "jobtag", "-q", "--home", str(home), "--config", str(cfg),
               "serve", "--port", str(self.port)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start: " + self.proc.stderr.read().decode()[-2000:])

    def call(self, method: str, path: str, token: str) -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        with urllib.request.urlopen(req, timeout=600) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(30)


async def client(port: int, token: str, size: int, record: bool, until: float,
                 ids: count, lat: list[float], errors: list[str]) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            n = next(ids)
            jobs = [{"title": f"Senior Python developer {n}-{k}", "job_id": f"load-{n}-{k}",
                     "description": f"<p>django rest api postgres docker team {n % 97}</p>"}
                    for k in range(size)]  # fmt: skip
            body = json.dumps({"jobs": jobs, "record": record, "top_k": 3}).encode()
            head = (f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
                    f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")  # fmt: skip
            t0 = time.perf_counter()
            writer.write(head.encode() + body)
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            payload = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                errors.append(f"{status} {payload[:200]!r}")
    finally:
        writer.close()


async def drive(port: int, token: str, clients: int, size: int, record: bool, seconds: float):
    lat: list[float] = []
    errors: list[str] = []
    ids = count(int(time.time() * 1000) % 10**9)
    t0 = time.perf_counter()
    until = t0 + seconds
    tasks = [client(port, token, size, record, until, ids, lat, errors) for _ in range(clients)]
    await asyncio.gather(*tasks)
    return lat, errors, time.perf_counter() - t0


def measure(server: Server, token: str, clients: int, size: int, record: bool, seconds: float,
            during=None) -> dict:  # fmt: skip
    """Run one scenario; `during(server)` runs in a thread meanwhile (promotions)."""
    import threading

    stop = threading.Event()
    side = threading.Thread(target=during, args=(server, stop)) if during else None
    if side:
        side.start()
    lat, errors, wall = asyncio.run(drive(server.port, token, clients, size, record, seconds))
    if side:
        stop.set()
        side.join()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    return {"req/s": len(lat) / wall, "jobs/s": len(lat) * size / wall, "p50": q[49] * 1e3,
            "p90": q[89] * 1e3, "p99": q[98] * 1e3, "errors": len(errors),
            "first_error": errors[0] if errors else ""}  # fmt: skip


def update_runs(server: Server, token: str) -> list[dict]:
    return server.call("GET", "/models", token)["history"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--home", type=Path, help="reuse a folder (default: a new temp folder)")
    ap.add_argument("--only", help="comma-separated scenario numbers to run (1-6)")
    args = ap.parse_args()
    clients, seconds = min(args.clients, 200), min(args.seconds, 60)
    home = args.home or Path(tempfile.mkdtemp(prefix="jobtag-load-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ.pop("JOBTAG_DB", None)
    tokens = prepare(home)
    w, adm = tokens["write"], tokens["admin"]
    only = {int(x) for x in args.only.split(",")} if args.only else set(range(1, 7))
    rows: list[tuple[str, int, int, dict, str]] = []

    server = Server(home, home / "never.toml")
    try:
        plain = [(1, "1 job, recorded (default)", 1, True), (2, "1 job, not recorded", 1, False),
                 (3, "100 jobs, recorded", 100, True), (4, "100 jobs, not recorded", 100, False)]  # fmt: skip
        for num, name, size, record in plain:
            if num in only:
                c = clients if size == 1 else max(1, clients // 4)
                rows.append((name, c, size, measure(server, w, c, size, record, seconds), ""))
        if 6 in only:
            with JobStore(f"sqlite:///{home / 'jobtag.db'}") as store:
                active = store.active_model()
                assert active is not None
                store.register_model(active.path, active.metrics, note="copy for the benchmark")
                versions = [m.version for m in store.list_models()][-2:]

            def promote(srv: Server, stop) -> None:  # noqa: ANN001
                k = 0
                while not stop.wait(1.0):
                    srv.call("POST", f"/models/{versions[k % 2]}/promote", adm)
                    k += 1
                promote.count = k  # type: ignore[attr-defined]

            res = measure(server, w, clients, 1, True, seconds, during=promote)
            rows.append(("1 job, recorded, promotion every 1 s", clients, 1, res,
                         f"{promote.count} promotions"))  # type: ignore[attr-defined]  # fmt: skip
    finally:
        server.stop()

    if 5 in only:
        every = 1_000
        (home / "often.toml").write_text(CONFIG.format(every=every))
        server = Server(home, home / "often.toml")
        try:
            before = len(update_runs(server, adm))
            res = measure(server, w, clients, 1, True, seconds)
            time.sleep(1)
            while server.call("GET", "/health", adm)["update_running"]:
                time.sleep(0.5)
            runs = update_runs(server, adm)[: len(update_runs(server, adm)) - before]
            failed = sum(1 for r in runs if r.get("status") != "done")
            note = f"{len(runs)} updates (every {every:,} jobs), {failed} failed"
            rows.append(("1 job, recorded, updates due", clients, 1, res, note))
        finally:
            server.stop()

    print(f"\n{clients} clients max, {seconds:.0f} s per scenario, client and server on this machine "
          f"({os.cpu_count()} CPUs), SQLite store\n")  # fmt: skip
    print(
        "| scenario | clients | jobs/req | req/s | jobs/s | p50 ms | p90 ms | p99 ms | errors | notes |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, c, size, r, note in rows:
        print(f"| {name} | {c} | {size} | {r['req/s']:.0f} | {r['jobs/s']:.0f} | {r['p50']:.0f} | "
              f"{r['p90']:.0f} | {r['p99']:.0f} | {r['errors']} | {note} |")  # fmt: skip
        if r["first_error"]:
            print(f"  first error: {r['first_error']}", file=sys.stderr)


if __name__ == "__main__":
    main()
