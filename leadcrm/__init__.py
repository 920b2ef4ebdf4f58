"""The project's plumbing: one env-driven settings module (read through leadcrm/env.py), URLs,
the Celery app, task dispatch that survives a broker outage, the API's errors and pagination,
and the resilient cache. The lowest layer: it imports neither leads nor scoring (the root URL
conf, which mounts every app's URLs, is the one exception).
"""

from .celery import app as celery_app

__all__ = ("celery_app",)
