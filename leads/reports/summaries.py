"""Report summaries: the heavy aggregates behind each report, cached and refreshed in the
background so a page renders in milliseconds at a million leads.

A report computed now reads the rollup tables of the leads (leads.reports.rollup_reads: a new
filter at 1M leads in well under a second, where scanning the leads took 0.5-2 s), and the open
leads' forecast from its cached groups (channels.open_leads_forecast_cached). A report a
manager opens does not need to-the-second numbers, so every report reads its aggregates
through summary_for(): from the cache when fresh (REPORT_CACHE_SECONDS), else computed and
cached. The Celery beat task reports.refresh_summaries (every REPORT_REFRESH_SECONDS) computes
the unfiltered reports ahead of time, so the default pages never wait; filtered pages compute
on first view and are then cached too. Every page shows when its numbers were computed and
offers "recompute now". The model pages' summaries (scoring/quality.py) go through summary_for
too; their own beat task, scoring.refresh_monitoring, keeps them warm.
"""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from leads.reports import channels, rollup_reads, selectors
from leads.reports.selectors import ReportFilters


@dataclass
class Summary:
    value: Any
    computed_at: datetime


def _key(report: str, filters: ReportFilters | None, extra: str) -> str:
    digest = hashlib.sha256(f"{filters!r}|{extra}".encode()).hexdigest()[:20]
    return f"reports:summary:v1:{report}:{digest}"


def summary_for(
    report: str, filters: ReportFilters | None, compute: Callable[[], Any], *, refresh: bool = False, extra: str = ""
) -> Summary:
    """The cached aggregates of `report` for `filters`, computed when missing or refresh=True
    (cached for REPORT_CACHE_SECONDS; `extra` tells apart summaries of the same report)."""
    key = _key(report, filters, extra)
    if not refresh and settings.REPORT_CACHE_SECONDS:
        cached = cache.get(key)
        if cached is not None:
            return cached
    summary = Summary(compute(), timezone.now())
    if settings.REPORT_CACHE_SECONDS:
        cache.set(key, summary, settings.REPORT_CACHE_SECONDS)
    return summary


def dashboard_summary(*, refresh: bool = False) -> Summary:
    def compute() -> dict:
        forecast = channels.open_leads_forecast_cached(with_revenue=False)  # the overview shows conversions
        return {**rollup_reads.dashboard_numbers(), "forecast": channels.forecast_row("All open leads", forecast.total)}

    return summary_for("dashboard", None, compute, refresh=refresh)


def channels_summary(filters: channels.ChannelFilters, *, refresh: bool = False) -> Summary:
    def compute() -> dict:
        return {
            "report": rollup_reads.channels_report(filters),
            "forecast": channels.open_leads_forecast_cached(source=filters.source),
            "check": channels.forecast_check(),
        }

    return summary_for("channels", None, compute, refresh=refresh, extra=repr(filters))


def conversion_summary(filters: ReportFilters, *, refresh: bool = False) -> Summary:
    return summary_for(
        "conversion",
        filters,
        lambda: {
            "cube": rollup_reads.conversion_cube(filters),
            "cohorts": rollup_reads.conversion_cohorts(filters),
            "lost_reasons": rollup_reads.lost_by_reason(filters),
        },
        refresh=refresh,
    )


def funnel_summary(filters: ReportFilters, *, refresh: bool = False) -> Summary:
    return summary_for("funnel", filters, lambda: rollup_reads.funnel(filters), refresh=refresh)


def reps_summary(filters: ReportFilters, *, refresh: bool = False) -> Summary:
    def compute() -> dict:
        now = timezone.now()
        return {
            "discipline": rollup_reads.rep_discipline(filters, now=now),
            "breaches": selectors.sla_breaches(filters, now=now),
            "sla_hours": selectors.sla_hours(),
        }

    return summary_for("reps", filters, compute, refresh=refresh)


def reports_refresh() -> dict[str, float]:
    """Recompute the unfiltered summary of every report. Returns the milliseconds each took.
    Safe to run twice: it only overwrites cache entries. (The model pages' summaries have their
    own task: scoring.refresh_monitoring.)"""
    everything = ReportFilters()
    jobs: list[tuple[str, Callable[[], Any]]] = [
        # The open leads' forecast groups first: the dashboard and the channels report read them.
        ("dashboard", lambda: (channels.forecast_groups_refresh(), dashboard_summary(refresh=True))),
        ("conversion", lambda: conversion_summary(everything, refresh=True)),
        ("funnel", lambda: funnel_summary(everything, refresh=True)),
        ("reps", lambda: reps_summary(everything, refresh=True)),
        ("channels", lambda: channels_summary(channels.default_filters(), refresh=True)),
    ]
    return jobs_timed(jobs)


def jobs_timed(jobs: list[tuple[str, Callable[[], Any]]]) -> dict[str, float]:
    """Run each (name, job) in turn; the milliseconds each took, by name."""
    timings: dict[str, float] = {}
    for name, job in jobs:
        start = time.perf_counter()
        job()
        timings[name] = round((time.perf_counter() - start) * 1000, 1)
    return timings
