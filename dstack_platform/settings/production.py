"""Production: PostgreSQL, an S3-compatible store and Redis, all required.

No secret, database or storage setting has a default here: a missing or
malformed one stops the process at start-up with a message naming it.
"""

from django.core.exceptions import ImproperlyConfigured

from dstack_platform import config
from dstack_platform.settings.base import *  # noqa: F403
from dstack_platform.settings.base import (
    COLLECTED_STATIC_ROOT,
    COLLECTED_STATIC_STORAGES,
    JOB_API_URL,
)

# Links, emails and CSRF checks carry this address; the local default
# (http://127.0.0.1:8080) would be wrong on any server reachable by others.
PUBLIC_URL = config.public_url(None, required=True)

SECRET_KEY = config.secret_key(required=True)
DATABASES = {"default": config.database(required=True)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured(
        "DSTACK_DATABASE_URL must point to PostgreSQL in production"
    )
STORAGE = config.storage(required=True)
REDIS_URL = config.redis_url(required=True)

CELERY_BROKER_URL = REDIS_URL
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# The public host and the host of the job API address (the in-cluster
# Service that job runs push through) are always allowed; health checks and
# scrapes answer any host (apps/core/probes.py).
ALLOWED_HOSTS = config.names("DSTACK_ALLOWED_HOSTS") or ["*"]
if "*" not in ALLOWED_HOSTS:
    for _url in (PUBLIC_URL, JOB_API_URL):
        if _url and config.host_of(_url) not in ALLOWED_HOSTS:
            ALLOWED_HOSTS.append(config.host_of(_url))
CSRF_TRUSTED_ORIGINS = [PUBLIC_URL]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
_https = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
# Read even for an http address, so that a typo fails at start-up.
SECURE_SSL_REDIRECT = config.boolean("DSTACK_SSL_REDIRECT", True) and _https
# Probes and scrapers reach the pods over plain HTTP, inside the cluster, and
# so do job runs pushing through the Service. The redirect is for browsers:
# an API client has sent its token before a redirect could protect it, and
# a 301 drops the body of a POST.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$", r"^metrics$", r"^api(/|$)"]
# HSTS is sent only by a server whose public URL is https. It covers the
# public host and the hosts below it (not its parent domain), which a server
# of its own host may safely promise.
SECURE_HSTS_SECONDS = (
    config.integer("DSTACK_HSTS_SECONDS", 31536000, minimum=0) if _https else 0
)
SECURE_HSTS_INCLUDE_SUBDOMAINS = config.boolean("DSTACK_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = config.boolean("DSTACK_HSTS_PRELOAD", False)
SECURE_CONTENT_TYPE_NOSNIFF = True
if not SECURE_HSTS_PRELOAD:
    # Preloading means submitting the domain to the browsers' built-in list,
    # which hosts on a private network cannot do; DSTACK_HSTS_PRELOAD opts in.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# Static files come from `collectstatic`, which the image runs at build time.
STATIC_ROOT = COLLECTED_STATIC_ROOT
STORAGES = COLLECTED_STATIC_STORAGES
WHITENOISE_USE_FINDERS = False

# A server reachable from a network creates password accounts only through
# invitations unless its operator opens sign-up with DSTACK_SIGNUP=open.
DSTACK_SIGNUP = config.signup_mode("invite")

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = config.text("DSTACK_SMTP_HOST", "localhost")
EMAIL_PORT = config.integer("DSTACK_SMTP_PORT", 25, minimum=1)
EMAIL_HOST_USER = config.text("DSTACK_SMTP_USER", "")
EMAIL_HOST_PASSWORD = config.text("DSTACK_SMTP_PASSWORD", "")
EMAIL_USE_TLS = config.boolean("DSTACK_SMTP_TLS", False)
DEFAULT_FROM_EMAIL = config.text("DSTACK_EMAIL_FROM", "dstack@localhost")
