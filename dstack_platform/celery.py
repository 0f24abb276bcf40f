"""The Celery application shared by the worker, beat and the embedded server."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dstack_platform.settings.local")

app = Celery("dstack_platform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
