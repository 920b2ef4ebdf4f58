"""What every web process would otherwise do on its first requests, done once in gunicorn's master
before it forks (gunicorn.conf.py, `preload_app`): the forked workers inherit it.

Django imports the URLconf, and with it every view module, on the first request it resolves, and
the cached template loader compiles a template the first time it renders it. Measured on the 1M
bench data (BENCHMARKS.md, "Stop 26"): in one process, the first queue page took 409-420 ms
without this and 187-193 ms with it; later pages about 20 ms."""

from pathlib import Path

from django.conf import settings
from django.template.loader import get_template
from django.urls import get_resolver
from django.utils import translation


def web_process_warm() -> int:
    """Import every view, compile every project template, load the translation catalog of the one
    language the app serves (no LocaleMiddleware: every request runs in LANGUAGE_CODE; Django's
    default LANGUAGES lists 99, whose catalogs took 262 ms and 20 MB a process for nothing); the
    number of templates compiled."""
    get_resolver().reverse_dict  # noqa: B018 (imports the URLconf's views and fills the resolver)
    compiled = 0
    for directory in settings.TEMPLATES[0]["DIRS"]:
        root = Path(directory)
        for path in sorted(root.rglob("*.html")):
            get_template(path.relative_to(root).as_posix())
            compiled += 1
    with translation.override(settings.LANGUAGE_CODE):
        translation.gettext("Leads")
    return compiled
