"""The Celery application. Tasks live in each app's (or feature package's) tasks.py and take ids."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundwork")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Feature packages inside an app keep their tasks beside them (task names stay "<app>.<task>").
app.autodiscover_tasks(["bots.regression"])


@app.task(name="groundwork.ping")
def ping() -> str:
    """A round trip through the broker and a worker: used by /healthz and the test suite."""
    return "pong"
