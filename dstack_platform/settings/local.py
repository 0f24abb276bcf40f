"""The embedded default: one process, and nothing to set up.

Whatever of the database, storage and Redis is not configured falls back to
files under `DSTACK_DATA_DIR`, an in-process broker and channel layer.
"""

from dstack_platform import config
from dstack_platform.settings.base import *  # noqa: F403
from dstack_platform.settings.base import DATA_DIR

SECRET_KEY = config.secret_key(required=False, fallback_file=DATA_DIR / "secret_key")
DATABASES = {
    "default": config.database(required=False, sqlite_path=DATA_DIR / "db.sqlite3")
}
STORAGE = config.storage(required=False, default_root=DATA_DIR / "blobs")
REDIS_URL = config.redis_url(required=False)

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
else:
    # kombu keeps memory:// queues per process: the embedded worker of
    # `manage.py serve` shares them with the web server, nothing else can.
    # The host part only keeps kombu from warning that none was given.
    CELERY_BROKER_URL = "memory://localhost/"
    # kombu's in-memory queue is polled, once a second by default; a run
    # started with "run now" would wait that long for the worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"polling_interval": 0.05}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
