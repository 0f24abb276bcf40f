"""Settings shared by every runtime mode.

The mode modules (`local`, `production`, `test`) import this one and then set
what differs: the secret, the database, storage, the broker and the channel
layer. Everything is read through `dstack_platform.config`.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from dstack_platform import config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = config.data_dir()

HOST = config.text("DSTACK_HOST", "127.0.0.1")
PORT = config.integer("DSTACK_PORT", 8080, minimum=1)
PUBLIC_URL = config.public_url(f"http://{HOST}:{PORT}")

DEBUG = False
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "axes",
    "apps.core",
    "apps.users",
    "apps.artifacts",
    "apps.stacks",
    "apps.reports",
    "apps.registry",
    "apps.audit",
    "apps.jobs",
    # The ACE code editor of the job page, served from the package.
    "django_ace",
]

MIDDLEWARE = [
    # First, so that it counts every response, the other middleware's too.
    "apps.core.metrics.RequestMetricsMiddleware",
    # Next, so that every later middleware reads the client's address.
    "apps.core.forwarded.ClientAddressMiddleware",
    # Before the two that check the Host header: probes send any host.
    "apps.core.probes.ProbeHostMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.core.staticmissing.MissingStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.users.remote.ProxyUserMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Keeps the request for audit events recorded inside services.
    "apps.audit.context.AuditRequestMiddleware",
    # Turns a sign-in refused by the lockout into a 429 page; axes wants it last.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dstack_platform.urls"
ASGI_APPLICATION = "dstack_platform.asgi.application"
AUTH_USER_MODEL = "users.User"
LOGIN_URL = "/accounts/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.users.context_processors.accounts",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.js and BokehJS come from the installed Python packages, so the
    # pages never reach for a CDN and always match the client's versions.
    "apps.core.staticfinders.VendorFinder",
]
# The embedded server runs from a source checkout without collectstatic.
WHITENOISE_USE_FINDERS = True
# Production serves what `collectstatic` gathered (the image runs it at build
# time with the `build` settings): hashed names, compressed copies, and long
# cache headers from WhiteNoise.
COLLECTED_STATIC_ROOT = Path(
    config.text("DSTACK_STATIC_ROOT") or str(BASE_DIR / "staticfiles")
)
COLLECTED_STATIC_STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "apps.core.staticstorage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The push request may carry objects inline up to this many bytes; larger ones
# go through uploads. Django's own request cap sits just above it.
INLINE_LIMIT = config.integer("DSTACK_INLINE_LIMIT", 5_000_000, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INLINE_LIMIT + 1_000_000
UPLOAD_PART_SIZE = config.integer(
    "DSTACK_UPLOAD_PART_SIZE", 16 * 1024 * 1024, minimum=5 * 1024 * 1024
)
# Blobs up to this size whose sha256 is known when the push opens (model
# files) go as one part that carries the sha256, so the store checks them on
# arrival. Larger ones go in parallel parts and are read back at the commit.
# S3 parts are at most 5 GiB.
CHECKED_UPLOAD_LIMIT = config.integer(
    "DSTACK_CHECKED_UPLOAD_LIMIT", 1024**3, minimum=0, maximum=5 * 1024**3
)
SIGNED_URL_SECONDS = config.integer("DSTACK_SIGNED_URL_SECONDS", 3600, minimum=10)
# A client whose download failed its sha256 reports it, and the server
# re-reads the stored bytes. Anyone who can read the object may report it,
# so each blob is re-read at most once in this many seconds.
BLOB_RECHECK_SECONDS = config.integer("DSTACK_BLOB_RECHECK_SECONDS", 300, minimum=1)
PENDING_REVISION_HOURS = config.integer("DSTACK_PENDING_REVISION_HOURS", 24, minimum=1)
DELETE_BATCH_SIZE = 500

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.users.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apps.core.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "apps.core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # `?format=csv` converts a table download; DRF would otherwise read
    # `format` as a renderer choice and answer 404 for one it lacks.
    "URL_FORMAT_OVERRIDE": None,
    # Throttles count by REMOTE_ADDR, never by an `X-Forwarded-For` that any
    # client can set. Behind DSTACK_TRUSTED_PROXIES, ClientAddressMiddleware
    # has already put the forwarded client address in REMOTE_ADDR.
    "NUM_PROXIES": 0,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "dstack platform API",
    "DESCRIPTION": "Push plots, tables and models from Python; read them back.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api",
}

# Failed sign-ins are counted per account and, separately, per address (in
# the database, by django-axes). Either count reaching the limit locks that
# account or that address out until the cool-off has passed.
AXES_FAILURE_LIMIT = config.integer("DSTACK_SIGN_IN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=config.integer("DSTACK_SIGN_IN_LOCKOUT_MINUTES", 15, minimum=1)
)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "apps.audit.ratelimit.attempted_username"
AXES_LOCKOUT_CALLABLE = "apps.audit.ratelimit.lockout_response"
AXES_VERBOSE = False
# The audit log records sign-ins, so axes keeps only the failure counts.
AXES_DISABLE_ACCESS_LOG = True
# django-allauth would count failed sign-ins too, in the cache and with
# limits of its own; axes is the one count.
ACCOUNT_RATE_LIMITS = {"login_failed": None}

CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "expire-pending-revisions": {
        "task": "apps.stacks.tasks.expire_pending_revisions",
        "schedule": 3600.0,
    },
    "expire-pending-model-versions": {
        "task": "apps.registry.tasks.expire_pending_versions",
        "schedule": 3600.0,
    },
    "collect-orphan-blobs": {
        "task": "apps.artifacts.tasks.collect_orphan_blobs",
        "schedule": 6 * 3600.0,
    },
}

# Jobs: where runs keep their working directories and cached venvs, the
# limits of one attempt, heartbeats, and how long logs are kept.
JOB_WORK_DIR = config.text("DSTACK_JOB_WORK_DIR") or str(DATA_DIR / "jobs")
# The API address the code of a run pushes to; the public URL by default.
JOB_API_URL = config.text("DSTACK_JOB_API_URL")
JOB_OUTPUT_LIMIT = config.integer("DSTACK_JOB_OUTPUT_LIMIT", 5_000_000, minimum=1024)
JOB_MEMORY_LIMIT_MB = config.integer("DSTACK_JOB_MEMORY_LIMIT_MB", 4096, minimum=0)
JOB_DEFAULT_TIMEOUT = config.integer("DSTACK_JOB_DEFAULT_TIMEOUT", 3600, minimum=1)
JOB_HEARTBEAT_SECONDS = config.integer("DSTACK_JOB_HEARTBEAT_SECONDS", 5, minimum=1)
# A running attempt without a heartbeat for this long counts as dead.
JOB_HEARTBEAT_TIMEOUT = config.integer("DSTACK_JOB_HEARTBEAT_TIMEOUT", 60, minimum=2)
JOB_LOG_RETENTION_DAYS = config.integer("DSTACK_JOB_LOG_RETENTION_DAYS", 30, minimum=1)
# Runs are confined with Linux Landlock; where the kernel has none, they are
# refused unless this is set, and then run with the server's file access.
JOB_ALLOW_UNSANDBOXED = config.boolean("DSTACK_JOB_ALLOW_UNSANDBOXED", False)
# Webhooks to loopback, link-local and private addresses are refused unless
# this is set (a webhook must not reach into the server's own network).
JOB_WEBHOOK_ALLOW_PRIVATE = config.boolean("DSTACK_JOB_WEBHOOK_ALLOW_PRIVATE", False)
CELERY_BEAT_SCHEDULE.update(
    {
        "reap-stale-runs": {
            "task": "apps.jobs.tasks.runs_reap_stale",
            "schedule": 15.0,
        },
        "dispatch-waiting-runs": {
            "task": "apps.jobs.tasks.runs_dispatch_waiting",
            "schedule": 30.0,
        },
        "expire-run-logs": {
            "task": "apps.jobs.tasks.run_logs_expire",
            "schedule": 3600.0,
        },
    }
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "apps": {"level": config.log_level("INFO")},
        "dstack_platform": {"level": config.log_level("INFO")},
    },
}

# Accounts: django-allauth for sign-up, sign-in, email verification and
# password reset, and its OpenID Connect provider; apps/users/adapters.py
# gives each new account its personal team.
AUTHENTICATION_BACKENDS = [
    # First: it refuses a sign-in while the account or the address is locked
    # out (see AXES_* above), before any password is checked.
    "apps.audit.ratelimit.LockoutBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "django.contrib.auth.backends.ModelBackend",
    "apps.users.remote.ProxyUserBackend",
]
DSTACK_SIGNUP = config.signup_mode("open")
ACCOUNT_ADAPTER = "apps.users.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "apps.users.adapters.SocialAccountAdapter"
ACCOUNT_FORMS = {"login": "apps.users.forms.SignInForm"}
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[dstack] "
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_USERNAME_MIN_LENGTH = 2
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_REDIRECT_URL = LOGOUT_REDIRECT_URL
# The provider has checked the address already.
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
OIDC = config.oidc()
if OIDC is not None:
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "APPS": [
            {
                "provider_id": "sso",
                "name": OIDC.name,
                "client_id": OIDC.client_id,
                "secret": OIDC.client_secret,
                "settings": {"server_url": OIDC.provider_url},
            }
        ],
        "OAUTH_PKCE_ENABLED": True,
    }

# Reverse proxies in front of the server: their X-Forwarded-For names the
# client's address. A proxy that authenticates people (LDAP, SAML, Kerberos)
# names the user in DSTACK_REMOTE_USER_HEADER, honoured only from them.
DSTACK_REMOTE_USER_HEADER = config.remote_user_header()
DSTACK_TRUSTED_PROXIES = config.networks("DSTACK_TRUSTED_PROXIES")
if DSTACK_REMOTE_USER_HEADER and not DSTACK_TRUSTED_PROXIES:
    raise ImproperlyConfigured(
        "DSTACK_REMOTE_USER_HEADER is set but DSTACK_TRUSTED_PROXIES is empty: "
        "list the addresses of the proxies that may set the header"
    )

# GET /metrics: the bearer token a Prometheus scraper sends. Staff users may
# read the metrics without it; unset, nobody else may.
DSTACK_METRICS_TOKEN = config.text("DSTACK_METRICS_TOKEN")
if DSTACK_METRICS_TOKEN is not None and len(DSTACK_METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("DSTACK_METRICS_TOKEN must be at least 32 characters")

# `dstack login`: how long a device code lives and how often the CLI may poll.
DEVICE_CODE_SECONDS = 600
DEVICE_POLL_SECONDS = 5
# How many `dstack login` attempts one address may start, as DRF writes a
# rate. Each attempt is a row until a day after it expires.
DEVICE_LOGIN_RATE = config.rate("DSTACK_DEVICE_LOGIN_RATE", "30/hour")
