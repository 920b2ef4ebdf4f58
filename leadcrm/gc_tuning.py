"""The garbage collector settings of a web worker (gunicorn.conf.py), in one place so that the
benchmarks which time the app in-process (bench/queue_bench.py) run it as it is served.

A queue page allocates tens of thousands of short-lived objects; with the default thresholds a
full collection then walks every long-lived object now and then (3-7 ms per page measured, tens
of ms for a full one). So the app's start-up objects are frozen out of the collector once, and a
worker collects its youngest generation less often."""

import gc

from leadcrm.env import env_int


def long_lived_freeze() -> None:
    """Everything built so far lives as long as the process: collect once, then leave it out of
    every later collection (in gunicorn's master, so forked workers also share those pages)."""
    gc.collect()
    gc.freeze()


def worker_thresholds_set() -> None:
    """A web worker's collection thresholds (GC_GEN0_THRESHOLD for the youngest generation)."""
    gc.set_threshold(env_int("GC_GEN0_THRESHOLD", 50_000, minimum=700), 20, 100)
