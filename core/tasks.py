"""What Celery tasks share: retries that back off by a factor of four, declared on the task.

Celery's own ``retry_backoff`` doubles the wait; an outage of a provider or the database is better
waited out with fewer, longer steps. A task declares ``base=BackoffTask``, its ``max_retries`` and its
first wait (``retry_backoff_seconds``) on the decorator, and retries with ``raise self.retry(exc=...)``
(or ``autoretry_for``): attempt n+2 waits ``retry_backoff_seconds * 4 ** n``, so 10 s, 40 s, 160 s, 640 s.
"""

from __future__ import annotations

from typing import Any

from celery import Task


class BackoffTask(Task):
    retry_backoff_seconds = 10

    def retry_delay(self, retries: int) -> int:
        """Seconds before the attempt after ``retries`` retries."""
        return int(self.retry_backoff_seconds * 4**retries)

    def retry(self, *args: Any, countdown: float | None = None, **kwargs: Any) -> Any:
        if countdown is None and kwargs.get("eta") is None:
            countdown = self.retry_delay(self.request.retries)
        return super().retry(*args, countdown=countdown, **kwargs)
