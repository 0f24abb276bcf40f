"""Build steps of the container image, such as `collectstatic`: no secrets.

The image is built without access to any database, store or secret, and
must not contain one. These settings configure only what `collectstatic`
reads; anything that needs a database or storage fails here.
"""

import secrets

from dstack_platform.settings.base import *  # noqa: F403
from dstack_platform.settings.base import (
    COLLECTED_STATIC_ROOT,
    COLLECTED_STATIC_STORAGES,
)

# Thrown away with the build process: nothing signed during a build lives on.
SECRET_KEY = secrets.token_urlsafe(50)
DATABASES: dict[str, dict[str, str]] = {}
STORAGE = None
CELERY_BROKER_URL = "memory://localhost/"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

STATIC_ROOT = COLLECTED_STATIC_ROOT
STORAGES = COLLECTED_STATIC_STORAGES
WHITENOISE_USE_FINDERS = False
