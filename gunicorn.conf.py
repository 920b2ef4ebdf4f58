"""gunicorn for LeadCRM's web processes (Procfile `web:`); sizes come from the environment.

WEB_CONCURRENCY processes (default 2 x cores + 1) of WEB_THREADS threads each (default 1: sync
workers). The app is loaded once in the master and its objects frozen out of the garbage
collector (gc.freeze), so the forked workers share those pages and never rescan them; each worker
then collects less often (GC_GEN0_THRESHOLD). BENCHMARKS.md measured the GC at 3-7 ms of a queue page.
Before that the master imports every view and compiles every template (leadcrm.warmup), which each
worker's first pages paid for otherwise.
"""

import multiprocessing
import os

from leadcrm.env import env_int, env_str
from leadcrm.gc_tuning import long_lived_freeze, worker_thresholds_set

bind = [f"{env_str('HOST', '127.0.0.1')}:{env_int('PORT', 8000, minimum=1)}"]
workers = env_int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1, minimum=1)
threads = env_int("WEB_THREADS", 1, minimum=1)
worker_class = "gthread" if threads > 1 else "sync"
timeout = env_int("WEB_TIMEOUT", 120, minimum=1)
graceful_timeout = 30
keepalive = 5
# Recycle a worker now and then so a slow leak can never grow without bound.
max_requests = env_int("WEB_MAX_REQUESTS", 5000, minimum=0)
max_requests_jitter = max_requests // 10
preload_app = True
# Behind the load balancer / TLS terminator: trust its X-Forwarded-* (FORWARDED_ALLOW_IPS).
forwarded_allow_ips = env_str("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"


def when_ready(server):
    if preload_app:  # the app is loaded here, so the forked workers inherit what this builds
        from leadcrm.warmup import web_process_warm

        web_process_warm()
    # Everything the app imported and built at start-up is long-lived: move it out of the collector.
    long_lived_freeze()


def post_fork(server, worker):
    worker_thresholds_set()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


# The access log names the request id (X-Request-ID, as LeadCRM's logs do).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'
if env_str("LOG_FORMAT", "text") == "json":
    # gunicorn's own lines (start-up, workers, the access log) as JSON objects too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "leadcrm.logs.ContextFilter"}},
        "formatters": {"json": {"()": "leadcrm.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"]}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        },
    }
