"""The Celery application. Tasks live in each app's tasks.py and take ids, never objects."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundwork")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="groundwork.ping")
def ping() -> str:
    """A round trip through the broker and a worker: used by /healthz and the test suite."""
    return "pong"
