"""Prometheus metrics at /metrics, for an allow-listed address or a bearer token.

Request metrics come from django-prometheus (per process; with PROMETHEUS_MULTIPROC_DIR set,
gunicorn's workers are summed). Task metrics are counted by the worker processes into the shared
cache (`counter_add`, `task_observe`) and read at scrape time, so the web process exposes the work
of every worker on every host. Apps add gauges read at scrape time with `collector_register`
(scoring adds model age and scoring speed); queue depth is read from the broker.
"""

import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse
from kombu.exceptions import ChannelError
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

log = logging.getLogger(__name__)

TASK_DURATION_BUCKETS = (1.0, 5.0, 30.0, 120.0, 600.0, 1800.0, 3600.0)
_COUNTER_KEY = "leadcrm:metrics:counter:{}"
_KNOWN_KEY = "leadcrm:metrics:known"
_collectors: list[Callable[[], Iterable[Metric]]] = []


# --- recording (worker processes) ---------------------------------------------------------


def counter_add(name: str, amount: float = 1) -> None:
    """Add to a counter shared by every process (the cache); never raises."""
    if amount <= 0:
        return
    key = _COUNTER_KEY.format(name)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key, round(amount * 1000))  # thousandths: durations are fractional
        known = cache.get(_KNOWN_KEY) or []
        if name not in known:
            cache.set(_KNOWN_KEY, sorted({*known, name}), timeout=None)
    except Exception:
        log.debug("metrics: could not count %s", name, exc_info=True)


def counter_value(name: str) -> float:
    return (cache.get(_COUNTER_KEY.format(name)) or 0) / 1000


def task_observe(*, task: str, state: str, seconds: float) -> None:
    """Count one finished task (state: succeeded / failed / retried) and its duration."""
    counter_add(f"task_total|{task}|{state}")
    counter_add(f"task_seconds_sum|{task}", max(seconds, 0.0005))
    counter_add(f"task_seconds_count|{task}")
    for bound in TASK_DURATION_BUCKETS:
        if seconds <= bound:
            counter_add(f"task_seconds_bucket|{task}|{bound}")


# --- reading (scrape time) ----------------------------------------------------------------


def collector_register(collect: Callable[[], Iterable[Metric]]) -> None:
    """Add a function yielding metric families, called on every scrape (once per function)."""
    if collect not in _collectors:
        _collectors.append(collect)


def _task_metrics() -> Iterable[Metric]:
    known = cache.get(_KNOWN_KEY) or []
    values = cache.get_many([_COUNTER_KEY.format(name) for name in known])
    counts = {name: values.get(_COUNTER_KEY.format(name), 0) / 1000 for name in known}
    total = CounterMetricFamily("leadcrm_tasks", "Celery tasks finished, by task and state", labels=["task", "state"])
    seconds = HistogramMetricFamily("leadcrm_task_duration_seconds", "Celery task run time", labels=["task"])
    other = []
    tasks = set()
    for name, value in counts.items():
        kind, _, rest = name.partition("|")
        if kind == "task_total":
            task, _, state = rest.rpartition("|")
            total.add_metric([task, state], value)
        elif kind == "task_seconds_count":
            tasks.add(rest)
        elif "|" not in name:
            other.append((name, value))
    for task in sorted(tasks):
        buckets = [(str(b), counts.get(f"task_seconds_bucket|{task}|{b}", 0)) for b in TASK_DURATION_BUCKETS]
        count = counts.get(f"task_seconds_count|{task}", 0)
        buckets.append(("+Inf", count))
        seconds.add_metric([task], buckets, counts.get(f"task_seconds_sum|{task}", 0))
    yield total
    yield seconds
    for name, value in sorted(other):
        yield CounterMetricFamily(f"leadcrm_{name}", f"LeadCRM counter {name}", value=value)


def _queue_metrics() -> Iterable[Metric]:
    from leadcrm.celery import app

    depth = GaugeMetricFamily("leadcrm_queue_depth", "Messages waiting in a Celery queue", labels=["queue"])
    up = 1
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=1)
            channel = conn.default_channel
            for queue in app.conf.task_queues:
                try:
                    waiting = channel.queue_declare(queue=queue.name, passive=True).message_count
                except ChannelError:  # not declared yet (no worker has consumed it, nothing sent): empty
                    waiting = 0
                depth.add_metric([queue.name], waiting)
    except Exception:
        log.warning("metrics: the broker did not answer", exc_info=True)
        up = 0
    yield depth
    yield GaugeMetricFamily("leadcrm_broker_up", "1 when the broker answered this scrape", value=up)


class _LeadcrmCollector:
    def collect(self) -> Iterable[Metric]:
        for collect in (_task_metrics, _queue_metrics, *_collectors):
            try:
                yield from collect()
            except Exception:  # one failing source must not blank the whole scrape
                log.warning("metrics: %s failed", getattr(collect, "__name__", collect), exc_info=True)


_collector = _LeadcrmCollector()


def _registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return registry


def metrics_render() -> bytes:
    registry = CollectorRegistry()
    registry.register(_collector)
    return generate_latest(_registry()) + generate_latest(registry)


# --- the view -----------------------------------------------------------------------------


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_IPS)


def _token_ok(request) -> bool:
    token = settings.METRICS_TOKEN
    supplied = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


def metrics_view(request):
    """Prometheus text format; 403 unless the caller's address is allow-listed or it sends the token."""
    if not (_token_ok(request) or _address_allowed(request.META.get("REMOTE_ADDR", ""))):
        return HttpResponse("Forbidden: /metrics needs an allow-listed address or the token.\n", status=403,
                            content_type="text/plain")  # fmt: skip
    return HttpResponse(metrics_render(), content_type=CONTENT_TYPE_LATEST)
