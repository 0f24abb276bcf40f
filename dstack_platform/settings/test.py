"""Tests: the real PostgreSQL, Redis and S3 server that `scripts/test` starts.

Without `DSTACK_DATABASE_URL` the suite falls back to SQLite and local files,
which is fast for a quick look but is not what CI runs.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

from dstack_platform import config
from dstack_platform.settings.base import *  # noqa: F403

_scratch = Path(tempfile.mkdtemp(prefix="dstack-test-"))
atexit.register(shutil.rmtree, _scratch, ignore_errors=True)

SECRET_KEY = "test-secret-key-that-is-long-enough-for-the-check"
DATABASES = {
    "default": config.database(required=False, sqlite_path=_scratch / "db.sqlite3")
}
STORAGE = config.storage(required=False, default_root=_scratch / "blobs")
REDIS_URL = config.redis_url(required=False)

CELERY_BROKER_URL = "memory://"
# Tasks run in the test's own thread, after the transaction commits, so a test
# sees their effects without a worker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
JOB_WORK_DIR = str(_scratch / "jobs")
JOB_HEARTBEAT_SECONDS = 1
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# allauth counts requests per address in the process-wide cache, so each test
# would inherit the counts of the tests before it. A test of a limit turns
# them back on with the `settings` fixture.
ACCOUNT_RATE_LIMITS = False
DEVICE_LOGIN_RATE = None
