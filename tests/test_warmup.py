"""The web master's warm-up (gunicorn.conf.py when_ready): what the forked workers inherit."""

import runpy
from pathlib import Path

from django.conf import settings
from django.template import engines
from django.urls import get_resolver

from leadcrm.warmup import web_process_warm

ROOT = Path(settings.BASE_DIR)


def _cached_template_names() -> set[str]:
    loader = engines["django"].engine.template_loaders[0]  # the cached loader (DEBUG off and on)
    return set(loader.get_template_cache)


def test_the_warm_up_compiles_every_project_template_and_fills_the_url_resolver():
    templates = ROOT / "templates"
    names = {p.relative_to(templates).as_posix() for p in templates.rglob("*.html")}
    engines["django"].engine.template_loaders[0].reset()

    assert web_process_warm() == len(names)

    assert names <= _cached_template_names()
    assert get_resolver()._populated


def test_the_gunicorn_master_warms_the_app_before_freezing_it_for_its_workers(monkeypatch):
    calls = []
    monkeypatch.setattr("leadcrm.warmup.web_process_warm", lambda: calls.append("warm"))
    monkeypatch.setattr("leadcrm.gc_tuning.long_lived_freeze", lambda: calls.append("freeze"))
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    config["when_ready"](server=None)

    assert config["preload_app"] is True
    assert calls == ["warm", "freeze"]
