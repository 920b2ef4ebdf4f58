"""Fault fixtures: a private Redis this test may stop and restart, and workers pointed at it."""

import shutil
import socket
import subprocess

import pytest
from django.db import connection

from leadcrm import dispatch
from leadcrm.celery import app as celery_app
from tests.conftest import ARTIFACTS, WorkerHandle, _database_url_for_subprocess, celery_point_at, require, wait_for


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A `redis-server` of this test's own (no persistence), on a free port."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"redis-{port}.log"

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(self.answers, timeout=10, interval=0.05, what=f"redis-server on port {self.port}")

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


@pytest.fixture
def private_redis(transactional_db, settings):
    """A private Redis that the app's cache and Celery broker use for this test; the test may
    .stop() and .start() it (same port). Restores the cache and Celery afterwards."""
    require(shutil.which("redis-server") is not None, "redis-server (Debian's redis-server)")
    require(connection.vendor == "postgresql", "PostgreSQL (DATABASE_URL)")
    server = RedisServer(_free_port())
    old = (celery_app.conf.broker_url, celery_app.conf.result_backend, celery_app.conf.task_always_eager)
    try:
        server.start()
        settings.CACHES = {"default": {"BACKEND": "leadcrm.cache.ResilientRedisCache", "LOCATION": server.url}}
        celery_point_at(server.url, server.url)
        celery_app.conf.task_always_eager = False
        dispatch.broker_mark_up()
        yield server
    finally:
        server.stop()
        celery_point_at(old[0], old[1])
        celery_app.conf.task_always_eager = old[2]
        dispatch.broker_mark_up()


@pytest.fixture
def private_worker(private_redis, tmp_path):
    """A real worker (not started yet: call .start()) on the private Redis and this test's
    database, sharing the test's media and model directories."""
    handle = WorkerHandle(private_redis.url, _database_url_for_subprocess())
    handle.env.update({"LEADCRM_VAR_DIR": str(tmp_path), "IMPORT_STALE_SECONDS": "1"})
    try:
        yield handle
    finally:
        handle.stop()
