"""What every web process would otherwise do on its first requests, done once in gunicorn's master
before it forks (gunicorn.conf.py, `preload_app`): the forked workers inherit it.

Django imports the URLconf, and with it every view module, on the first request it resolves, and
the cached template loader compiles a template the first time it renders it. Measured on the 1M
bench data (BENCHMARKS.md, "Stop 26"): a fresh process's first queue page took 750 ms, then 20 ms;
with 50 reps arriving at once after a restart, three workers paying that at the same moment made
the first pages wait about a second."""

from pathlib import Path

from django.conf import settings
from django.template.loader import get_template
from django.urls import get_resolver
from django.utils import translation


def web_process_warm() -> int:
    """Import every view, compile every project template, load the translations; the number of
    templates compiled."""
    get_resolver().reverse_dict  # noqa: B018 (imports the URLconf's views and fills the resolver)
    compiled = 0
    for directory in settings.TEMPLATES[0]["DIRS"]:
        root = Path(directory)
        for path in sorted(root.rglob("*.html")):
            get_template(path.relative_to(root).as_posix())
            compiled += 1
    for code, _ in settings.LANGUAGES:
        with translation.override(code):
            translation.gettext("Leads")
    return compiled
