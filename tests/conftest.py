"""Shared fixtures.

Tests that need PostgreSQL, Redis, a Celery worker or the browser skip when the service is
missing on a developer's machine, and FAIL under CI=true: in CI a missing service is a bug.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import override_settings

from leadcrm.celery import app as celery_app
from tests.factories import AdminFactory, ManagerFactory, RepFactory

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def require(condition: bool, what: str) -> None:
    """Skip locally, fail in CI, when a service the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} not available")


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), 1).close()
        return True
    except OSError:
        return False


def _redis_db_for_this_process(redis_url: str, first_db: int) -> str:
    """A Redis database of this test process's own: gw0 -> first_db, gw1 -> first_db + 1, ...

    Each xdist process gets its own broker database (a worker started by one process must
    never take the tasks of another, which point at another test database) and its own cache
    database (tests clear the cache, and a FLUSHDB must never drop a broker's queued tasks)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int("".join(ch for ch in worker if ch.isdigit()) or 0)
    parts = urlsplit(redis_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{first_db + number % 5}", parts.query, parts.fragment))


# Fixtures that need PostgreSQL (and Redis): their tests carry the `postgres` marker, so the
# embedded run (`make test`'s second pass, SQLite + eager Celery) deselects them by marker.
_POSTGRES_FIXTURES = {"requires_postgres", "private_redis", "celery_worker_process"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _POSTGRES_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(autouse=True, scope="session")
def _fast_tests():
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        # The embedded default's cache is files shared by the web and worker processes; the
        # tests run tasks eagerly in-process, and parallel test processes must not share a cache.
        override = override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}})
        override.enable()
        yield
        override.disable()
        return
    broker_url = _redis_db_for_this_process(redis_url, 1)
    os.environ["REDIS_URL"] = broker_url  # what celery_worker_process hands to its worker
    celery_app.conf.broker_url = broker_url
    celery_app.conf.result_backend = broker_url
    cache_settings = {**settings.CACHES["default"], "LOCATION": _redis_db_for_this_process(redis_url, 11)}
    override = override_settings(CACHES={"default": cache_settings})
    override.enable()
    yield
    override.disable()
    os.environ["REDIS_URL"] = redis_url


@pytest.fixture(autouse=True)
def _isolated_cache_and_artifacts(settings, tmp_path):
    from django.core.cache import cache

    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"
    settings.MEDIA_ROOT = tmp_path / "media"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def requires_postgres():
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")


@pytest.fixture
def rep(db):
    return RepFactory(username="rep_alice", first_name="Alice")


@pytest.fixture
def other_rep(db):
    return RepFactory(username="rep_bob", first_name="Bob")


@pytest.fixture
def manager(db):
    return ManagerFactory(username="boss")


@pytest.fixture
def admin_user(db):
    return AdminFactory(username="root")


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


@pytest.fixture
def admin_client_crm(client, admin_user):
    client.force_login(admin_user)
    return client


def _database_url_for_subprocess() -> str:
    """A DATABASE_URL that points a child process at the test database of this process."""
    db = connection.settings_dict
    user = quote(db.get("USER") or "")
    password = quote(db.get("PASSWORD") or "")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real `celery worker` process on Redis, against this test's PostgreSQL database.

    Yields a handle with .process and .restart(); the test sends tasks with .delay() and
    waits on the database for their effects.
    """
    redis_url = os.environ.get("REDIS_URL", "")
    parts = urlsplit(redis_url)
    require(bool(redis_url) and _port_open(parts.hostname or "127.0.0.1", parts.port or 6379), "Redis (REDIS_URL)")
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    handle = WorkerHandle(redis_url, _database_url_for_subprocess())
    celery_app.conf.task_always_eager = False
    # Drop anything an earlier run left on the queue so this test sees only its own tasks.
    with celery_app.connection_for_write() as conn:
        for queue in celery_app.conf.task_queues:
            conn.default_channel.queue_purge(queue.name)
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()
        celery_app.conf.task_always_eager = True


class WorkerHandle:
    command: tuple[str, ...] = (
        "worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
    )  # fmt: skip
    # Seconds a process may take to start (the machine is shared: start-up under load is slow).
    start_timeout = 60

    def __init__(self, redis_url: str, database_url: str):
        self.env = {
            **os.environ,
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "DB_CONN_MAX_AGE": "0",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "DJANGO_SETTINGS_MODULE": "leadcrm.settings",
        }
        # The worker shares this test process's cache (locks, debounce keys), wherever it points.
        cache_location = str(settings.CACHES["default"].get("LOCATION", ""))
        if cache_location.startswith(("redis://", "rediss://", "unix://")):
            self.env["REDIS_CACHE_URL"] = cache_location
        self.process: subprocess.Popen | None = None
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"celery-worker-{os.getpid()}.log"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "leadcrm", *self.command],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"celery {self.command[0]} exited early; see {self.log_path}")
            if self.ready():
                return
        pytest.fail(f"celery {self.command[0]} did not start within {self.start_timeout} s; see {self.log_path}")

    def ready(self) -> bool:
        return bool(celery_app.control.ping(timeout=0.5))

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.stop()
        self.start()


class BeatHandle(WorkerHandle):
    """`celery beat` (LockedScheduler) on the same broker, cache and database as a WorkerHandle."""

    command = ("beat", "--loglevel=INFO")

    def __init__(self, redis_url: str, database_url: str, schedule_dir: Path):
        super().__init__(redis_url, database_url)
        self.env["LEADCRM_VAR_DIR"] = str(schedule_dir)
        self.log_path = ARTIFACTS / f"celery-beat-{os.getpid()}.log"

    def ready(self) -> bool:
        time.sleep(0.2)
        return "beat lock acquired" in self.log_text()


def celery_point_at(broker_url: str, backend_url: str | None, transport_options: dict | None = None) -> None:
    """Re-point this process's Celery app (and drop its pooled connections to the old broker)."""
    from kombu import pools

    celery_app.conf.broker_url = broker_url
    celery_app.conf.result_backend = backend_url
    if transport_options is not None:
        celery_app.conf.broker_transport_options = transport_options
    # Close the pooled connections and empty kombu's pool registries, so the next use builds new
    # pools for the new URL (a closed pool left in the registry would be handed out again).
    pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._local.__dict__.pop("backend", None)


def wait_for(predicate, *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    chromium = shutil.which("chromium")
    require(chromium is not None, "Debian's chromium")
    # Playwright's sync API runs an event loop in this thread; the ORM must still be usable.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    pg.set_default_timeout(15000)
    yield pg
    context.close()


def browser_login(page, username: str, password: str = "pw") -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


PHONE = {"width": 390, "height": 844}


def sideways_overflow(page) -> int:
    """How many pixels the page is wider than the screen (0 or less: it does not scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def axe_serious_problems(page) -> list:
    """axe-core's serious and critical violations on the page: (rule, impact, first nodes)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"][:3]])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def axe_violations(page, *, allowed: dict[str, str] | None = None) -> list:
    """Every axe-core violation on the page, of any impact (rule, impact, first nodes), except the
    rules in `allowed` (rule id -> why it is allowed there)."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"][:3]])
        for v in results.response["violations"]
        if v["id"] not in (allowed or {})
    ]


# Headings that skip a level on the way down (h1 -> h3): what axe's "heading-order" reports, with the texts.
HEADING_JUMPS = """() => {
  const out = [];
  let last = 0;
  for (const h of document.querySelectorAll("h1, h2, h3, h4, h5, h6")) {
    if (h.closest("[hidden]")) continue;
    const level = Number(h.tagName[1]);
    if (level > last + 1) out.push(`h${last} -> h${level} ${h.textContent.trim().slice(0, 40)}`);
    last = level;
  }
  return out;
}"""


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
