"""50 concurrent reps working the queue against gunicorn on 127.0.0.1, for 60 s.

    .venv/bin/python bench/load_bench.py [--users 50] [--duration 60] [--database-url ...]

Starts gunicorn itself (production-like settings: DEBUG off, collected static files, the
bench database), logs every simulated rep in through the real login form (session cookies,
CSRF), then for --duration seconds each rep loops: open the queue (sometimes filtered), now
and then follow "More leads" (htmx), open one of the leads, and sometimes log a call on it
(POST with the CSRF token). Between clicks a rep thinks for --think seconds (uniform), as a
person does; the load is closed-loop and bounded by --users, --duration and a per-request
timeout. Only 127.0.0.1 is ever contacted. Targets: p95 <= 200 ms, zero errors.

There are 20 rep accounts in the bench data: each logs in once, and the 50 simulated reps share
those sessions (2-3 per account), as browser tabs of one logged-in rep do.
"""

import argparse
import http.client
import json
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode

from common import (
    BENCH_PASSWORD,
    OUT_DIR,
    ROOT,
    bench_env,
    database_url,
    format_summary,
    machine_print,
    manage,
    rss_mb,
    static_collect,
    summary,
    verdict,
)

HOST = "127.0.0.1"
REP_ACCOUNTS = 20  # rep01..rep20 from bench/make_data.py
TARGET_P95_MS = 200.0
LEAD_RE = re.compile(r'data-lead="(\d+)"')
CURSOR_RE = re.compile(r"cursor=([os]\.-?\d+\.\d+)")
CSRF_INPUT_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Session:
    """One browser: a keep-alive connection to 127.0.0.1 and a cookie jar."""

    def __init__(self, port: int, timeout: float):
        self.port = port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = f"http://{HOST}:{self.port}{path}"
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                content = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # gunicorn closed an idle keep-alive connection: reconnect once, as a browser does.
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        return response.status, response.headers, content.decode("utf-8", "replace")

    def close(self):
        if self.conn is not None:
            self.conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def gunicorn_start(url: str, port: int, workers: int, threads: int) -> subprocess.Popen:
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "leadcrm.wsgi:application",
        "--bind", f"{HOST}:{port}",
        "--workers", str(workers),
        "--threads", str(threads),
        "--worker-class", "gthread",
        "--keep-alive", "30",
        "--timeout", "60",
        "--log-level", "warning",
    ]  # fmt: skip
    env = bench_env(url)
    # Production hands rescoring to the worker: enqueue (in-process memory broker, no worker) rather
    # than run the task inside the request as the no-services default does. The rescore itself is
    # measured by the scoring benchmark.
    env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/login/")
            if conn.getresponse().status == 200:
                conn.close()
                return process
        except OSError:
            time.sleep(0.3)
    gunicorn_stop(process)
    raise RuntimeError("gunicorn did not answer within 60 s")


def gunicorn_stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # the master stops its workers gracefully
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def gunicorn_rss_mb(process: subprocess.Popen) -> float:
    """RSS of the gunicorn master and its workers."""
    children = subprocess.run(
        ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return rss_mb(process.pid) + sum(rss_mb(int(pid)) for pid in children)


def login(session: Session, username: str) -> None:
    status, _, body = session.request("GET", "/login/")
    token = CSRF_INPUT_RE.search(body)
    if status != 200 or not token:
        raise RuntimeError(f"login page answered {status}")
    status, headers, _ = session.request(
        "POST",
        "/login/",
        {"username": username, "password": BENCH_PASSWORD, "csrfmiddlewaretoken": token.group(1)},
    )
    if status != 302 or "login" in (headers.get("Location") or ""):
        raise RuntimeError(f"login as {username} failed with HTTP {status}")


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.samples: list[tuple[str, float]] = []
        self.slowest: list[tuple[float, str]] = []
        self.errors: list[str] = []

    def add(self, kind: str, ms: float, path: str = ""):
        with self.lock:
            self.samples.append((kind, ms))
            self.slowest = sorted([*self.slowest, (ms, path)], reverse=True)[:10]

    def error(self, message: str):
        with self.lock:
            self.errors.append(message)


def rep_loop(session: Session, rng: random.Random, stop_at: float, think: tuple[float, float], results: Results):
    sources = ("Google", "Direct Traffic", "Olark Chat", "Reference")

    def click(kind: str, method: str, path: str, body=None, headers=None, expect=(200,)):
        if time.monotonic() >= stop_at:
            return None
        start = time.perf_counter()
        try:
            status, _, content = session.request(method, path, body, headers)
        except Exception as exc:  # timeouts, resets: every failure counts
            results.error(f"{method} {path}: {type(exc).__name__}: {exc}")
            return None
        results.add(kind, (time.perf_counter() - start) * 1000, f"{method} {path}")
        if status not in expect:
            results.error(f"{method} {path}: HTTP {status}")
            return None
        time.sleep(rng.uniform(*think))
        return content

    while time.monotonic() < stop_at:
        params = {}
        r = rng.random()
        if r < 0.15:
            params["tier"] = "hot"
        elif r < 0.25:
            params["due"] = rng.choice(("today", "overdue"))
        elif r < 0.3:
            params["source"] = rng.choice(sources)
        page = click("queue", "GET", "/" + (f"?{urlencode(params)}" if params else ""))
        if page is None:
            continue
        if rng.random() < 0.3 and (cursor := CURSOR_RE.search(page)):
            more = click(
                "queue more (htmx)", "GET", "/?" + urlencode({**params, "cursor": cursor.group(1)}),
                headers={"HX-Request": "true"},
            )  # fmt: skip
            page = more if more and LEAD_RE.search(more) else page
        lead_ids = LEAD_RE.findall(page)
        if not lead_ids:
            continue
        lead_id = rng.choice(lead_ids)
        detail = click("lead detail", "GET", f"/leads/{lead_id}/")
        if detail is None or rng.random() >= 0.25 or 'id="activity-form"' not in detail:
            continue
        token = CSRF_INPUT_RE.search(detail)
        click(
            "log activity (POST)", "POST", f"/leads/{lead_id}/activities/",
            {"kind": "call", "outcome": "connected", "notes": "Load test call.", "occurred_at": "",
             "csrfmiddlewaretoken": token.group(1) if token else ""},
            expect=(302,),
        )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument(
        "--think", default="1,5", help="think time between clicks, min,max seconds (locust's between(1, 5))"
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=10.0, help="per-request timeout, seconds")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    if not 1 <= args.users <= 200 or not 1 <= args.duration <= 600:
        parser.error("--users must be 1-200 and --duration 1-600 s (this is a bounded load generator)")
    think = tuple(float(x) for x in args.think.split(","))
    url = database_url(args.database_url)
    machine = machine_print(url)
    manage(url, "migrate", "--noinput")
    import os

    os.environ.update(bench_env(url))
    static_collect(url)

    port = free_port()
    print(f"gunicorn: {args.workers} workers x {args.threads} threads (gthread) on {HOST}:{port}")
    process = gunicorn_start(url, port, args.workers, args.threads)
    sessions: list[Session] = []
    try:
        # Log in (not measured: PBKDF2 is slow on purpose), a few at a time.
        login_started = time.perf_counter()
        sessions = [Session(port, args.timeout) for _ in range(args.users)]
        login_errors: list[str] = []

        accounts = min(REP_ACCOUNTS, args.users)

        def login_one(i: int):
            try:
                login(sessions[i], f"rep{i + 1:02d}")
            except Exception as exc:
                login_errors.append(f"rep{i + 1:02d}: {exc}")

        for lo in range(0, accounts, 4):
            batch = [threading.Thread(target=login_one, args=(i,)) for i in range(lo, min(lo + 4, accounts))]
            for t in batch:
                t.start()
            for t in batch:
                t.join()
        for i in range(accounts, args.users):  # another tab of an account already logged in
            sessions[i].cookies = dict(sessions[i % accounts].cookies)
        print(f"{accounts} accounts logged in ({args.users} sessions) in {time.perf_counter() - login_started:.1f} s")
        if login_errors:
            print("login errors:", login_errors[:5], file=sys.stderr)
            return 1

        results = Results()
        rss_peak = 0.0
        stop_at = time.monotonic() + args.duration
        threads = []
        for i, session in enumerate(sessions):
            rng = random.Random(args.seed * 1000 + i)
            t = threading.Thread(target=rep_loop, args=(session, rng, stop_at, think, results), daemon=True)
            threads.append(t)
            t.start()
            time.sleep(min(0.05, think[1] / args.users))  # ramp up over about one think time
        while any(t.is_alive() for t in threads):
            rss_peak = max(rss_peak, gunicorn_rss_mb(process))
            time.sleep(1)
            if time.monotonic() > stop_at + args.timeout + 5:
                break
        elapsed = args.duration
    finally:
        for session in sessions:
            session.close()
        gunicorn_stop(process)

    times = [ms for _, ms in results.samples]
    print()
    print(format_summary("all requests", times))
    for kind in ("queue", "queue more (htmx)", "lead detail", "log activity (POST)"):
        print(format_summary(f"  {kind}", [ms for k, ms in results.samples if k == kind]))
    print(f"throughput: {len(times) / elapsed:.1f} requests/s over {elapsed:.0f} s; errors: {len(results.errors)}")
    print("slowest requests:")
    for ms, path in results.slowest:
        print(f"  {ms:.0f} ms {path}")
    for message in results.errors[:10]:
        print(f"  error: {message}")
    print(f"gunicorn peak RSS (master + workers): {rss_peak:.0f} MB")
    p95 = summary(times)["p95"] if times else float("inf")
    print(f"load p95: {p95:.1f} ms, {verdict(p95, TARGET_P95_MS)}; errors: {len(results.errors)} (target 0)")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": machine,
        "summary": summary(times),
        "by_kind": {
            kind: summary([ms for k, ms in results.samples if k == kind]) for kind in {k for k, _ in results.samples}
        },
        "errors": len(results.errors),
        "throughput_rps": len(times) / elapsed,
        "gunicorn_peak_rss_mb": rss_peak,
        "args": vars(args),
    }
    (OUT_DIR / "load_bench.json").write_text(json.dumps(result, indent=2, default=str))
    return 0 if p95 <= TARGET_P95_MS and not results.errors else 1


if __name__ == "__main__":
    sys.exit(main())
