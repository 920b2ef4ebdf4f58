import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")

app = Celery("leadcrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Installed apps' tasks modules, plus the leads app's sub-packages that keep their own tasks.
app.autodiscover_tasks()
app.autodiscover_tasks(["leads.importing", "leads.reports"])
