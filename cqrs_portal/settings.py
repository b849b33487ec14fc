"""Settings for the CQRS portal, read from the environment.

Two modes, and nothing in between:
- production (DEBUG off, the default): DATABASE_URL, REDIS_URL, SECRET_KEY and ALLOWED_HOSTS are required,
  and a missing one stops start-up with a message saying so. Nothing falls back to SQLite, to tasks run
  inside the web process, or to a known key. See docs/deployment.md.
- embedded (DEBUG=true, as `make demo` and `make test` set it): SQLite unless DATABASE_URL is given, Celery
  tasks in-process unless REDIS_URL is given, email to the console.
"""

import hashlib
import ipaddress
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)


def required(name: str, what: str) -> str:
    """A production setting with no safe default: stop start-up, naming it, rather than guess."""
    value = os.environ.get(name, "").strip()
    if not value and not DEBUG:
        raise ImproperlyConfigured(
            f"{name} is not set. With DEBUG off the portal needs {what}; see docs/deployment.md "
            "(or set DEBUG=true for a development machine, as `make demo` does)."
        )
    return value


DEVELOPMENT_SECRET_KEY = "insecure-development-key-never-used-in-production"  # noqa: S105
SECRET_KEY = required("SECRET_KEY", "a long random secret key") or DEVELOPMENT_SECRET_KEY
if not DEBUG and SECRET_KEY == DEVELOPMENT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY is the published development key; generate a secret one.")
# A key anyone could know or guess: Django's generated placeholder prefix, a short one, or one of few
# characters. Production refuses to start with it, as with the development key.
if not DEBUG and (
    SECRET_KEY.startswith("django-insecure") or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "SECRET_KEY is too weak (at least 50 random characters are needed); generate one with "
        '`python -c "import secrets; print(secrets.token_urlsafe(50))"`.'
    )

# The audit chain's key (accounts.audit). Keep it apart from the database's owner; set it separately from
# SECRET_KEY so that the secret key can be rotated without re-keying the chain.
AUDIT_CHAIN_KEY = (
    os.environ.get("AUDIT_CHAIN_KEY", "").strip()
    or hashlib.sha256(f"cqrs-audit-chain:{SECRET_KEY}".encode()).hexdigest()
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") if not DEBUG else env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
if not DEBUG and not ALLOWED_HOSTS:
    required("ALLOWED_HOSTS", "the host names it is served under (comma-separated)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "cqrs_portal.apps.PortalStaticFilesConfig",
    "django.contrib.humanize",
    "guardian",
    "axes",
    "django_otp",
    "csp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_tables2",
    "django_filters",
    "cqrs_portal",
    # Lowest layer first: each app may import those above it in this list, never those below.
    "accounts",
    "notifications",
    "participation",
    "extracts",
    "manual_entry",
    "notices",
    "calculation",
    "declarations",
    "payments",
    "reports",
    "home",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the application itself, compressed and cached forever under hashed names.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "cqrs_portal.middleware.AllowedNetworksMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "cqrs_portal.middleware.IdleSessionMiddleware",
    "cqrs_portal.middleware.SecondFactorMiddleware",
    "cqrs_portal.middleware.NoStoreMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cqrs_portal.middleware.RaceMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "cqrs_portal.urls"

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
                "cqrs_portal.context_processors.portal",
            ],
        },
    },
]

WSGI_APPLICATION = "cqrs_portal.wsgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        required("DATABASE_URL", "a PostgreSQL database (postgres://user:password@host:5432/name)")
        or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Demo data is loaded in bulk while the dev server reads; WAL and a busy timeout keep that smooth.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First, so a locked-out address is refused before its password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian's anonymous user is never used: every page needs a signed-in user.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home:index"
LOGOUT_REDIRECT_URL = "login"
# Invitations are password-set links and CQRS invitations lasted 14 days; a password-reset link lasts hours
# (accounts.tokens). Each link works once: its token hashes the password and last sign-in, so setting a
# password or signing in spends it.
INVITATION_TIMEOUT = 60 * 60 * 24 * 14
PASSWORD_RESET_TIMEOUT = int(os.environ.get("PASSWORD_RESET_TIMEOUT_HOURS", "2")) * 60 * 60
# Emails on request are rate-limited (accounts.throttle): resets per address and per client, per hour, and
# invitations per administrator per hour.
PASSWORD_RESET_EMAILS_PER_HOUR = int(os.environ.get("PASSWORD_RESET_EMAILS_PER_HOUR", "3"))
PASSWORD_RESET_REQUESTS_PER_HOUR = int(os.environ.get("PASSWORD_RESET_REQUESTS_PER_HOUR", "20"))
INVITATIONS_PER_HOUR = int(os.environ.get("INVITATIONS_PER_HOUR", "30"))

# A second factor (TOTP, with backup codes) for every holder of a commissioner or national role, and for
# everyone when this is on (accounts.second_factor).
SECOND_FACTOR_FOR_ALL = env_bool("SECOND_FACTOR_FOR_ALL", False)
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "CQRS")
# Each wrong code doubles the wait before the next is accepted (django-otp's throttling).
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1

# Guessing passwords (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one address, on the portal
# or /admin/, that address cannot sign in for the cool-off, which each further attempt restarts. Locked by
# address, not by client: NHS organisations share a few outgoing addresses (docs/adr/0009-security.md).
AXES_FAILURE_LIMIT = int(os.environ.get("SIGN_IN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("SIGN_IN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "accounts.sign_in.username_of"
AXES_LOCKOUT_CALLABLE = "accounts.sign_in.locked_out"
AXES_CLIENT_IP_CALLABLE = "accounts.client_address.axes_client_address"
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False
# Axes warns that locking by address alone lets one client try many addresses; that is answered by a limit
# on failed sign-ins per client (accounts.sign_in.failures_from_one_client), not by locking shared networks.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
SIGN_IN_FAILURES_PER_CLIENT_PER_HOUR = int(os.environ.get("SIGN_IN_FAILURES_PER_CLIENT_PER_HOUR", "300"))

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The NHS.UK frontend and htmx come from npm at set-up (package.json) and are collected from node_modules.
STATICFILES_DIRS = [
    ("nhsuk", BASE_DIR / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"),
    ("htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
]
# Uploaded extracts wait here until a worker loads them, then are deleted. With workers on several machines
# this must be storage they all share (docs/deployment.md).
EXTRACT_UPLOAD_ROOT = Path(os.environ.get("EXTRACT_UPLOAD_ROOT", BASE_DIR / "var" / "extract-uploads"))
# Uploads larger than memory allows are streamed to files here (not the system's /tmp), so that what a
# killed request leaves behind is found and removed (cqrs_portal.housekeeping).
FILE_UPLOAD_TEMP_DIR = Path(os.environ.get("FILE_UPLOAD_TEMP_DIR", BASE_DIR / "var" / "tmp"))
FILE_UPLOAD_TEMP_DIR.mkdir(parents=True, exist_ok=True)
# Scratch files older than this are left over from a crash: nothing the portal does takes as long.
STALE_FILE_SECONDS = int(os.environ.get("STALE_FILE_SECONDS", str(6 * 60 * 60)))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
    "extract_uploads": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": EXTRACT_UPLOAD_ROOT, "file_permissions_mode": 0o600},
    },
}

SERVICE_NAME = "Calculating Quality Reporting Service"
# The portal's public address, for links in emails (a notification's link is a path within the portal).
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000" if DEBUG else "")
if not DEBUG and not PORTAL_BASE_URL:
    required("PORTAL_BASE_URL", "its public address for links in emails (https://cqrs.example.nhs.uk)")

# Users must hold an NHS mail address; the list is configurable as it was in CQRS.
ALLOWED_EMAIL_DOMAINS = [d.lower() for d in env_list("ALLOWED_EMAIL_DOMAINS", "nhs.net,nhs.uk")]

# Separation of duties: one person approving declarations and releasing their payments at the same
# commissioner is refused unless this national setting allows it (docs/adr/0009-security.md).
ALLOW_APPROVAL_AND_FINANCE_TOGETHER = env_bool("ALLOW_APPROVAL_AND_FINANCE_TOGETHER", False)

# CQRS was reachable only from the NHS network (N3, now HSCN). Empty means no restriction.
ALLOWED_NETWORKS = [ipaddress.ip_network(net, strict=False) for net in env_list("ALLOWED_NETWORKS")]
# The proxies in front of the portal (CIDRs). X-Forwarded-For is read only from these, right to left; with
# none, the header is ignored and the client is REMOTE_ADDR (accounts.client_address).
TRUSTED_PROXIES = [ipaddress.ip_network(net, strict=False) for net in env_list("TRUSTED_PROXIES")]

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "cqrs-portal@nhs.net")
# Where users are told to write for help (the contact page).
SUPPORT_EMAIL = os.environ.get("SUPPORT_EMAIL", "cqrs.servicedesk@nhs.net")

# Celery: in development with no REDIS_URL tasks run in-process, so the demo needs no broker.
REDIS_URL = required("REDIS_URL", "Redis for the Celery workers (redis://host:6379/0)")
# A shared cache for rate limits (Redis when there is one; each process's memory on a development machine).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_TIMEZONE = TIME_ZONE

SESSION_COOKIE_HTTPONLY = True
# A session lasts at most 8 hours from sign-in, and ends sooner after SESSION_IDLE_MINUTES without a request.
SESSION_COOKIE_AGE = 60 * 60 * 8
SESSION_IDLE_TIMEOUT = int(os.environ.get("SESSION_IDLE_MINUTES", "30")) * 60
# No script but the portal's own files: no inline script, no other origin (django-csp).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        # The NHS.UK frontend loads its Frutiger web font from the NHS assets server.
        "font-src": ["'self'", "https://assets.nhs.uk"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DJANGO_TABLES2_TEMPLATE = "tables/nhsuk_table.html"
# A filter's empty choice reads "Any", never django-filter's "---------".
FILTERS_EMPTY_CHOICE_LABEL = "Any"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Tests run their real worker on a queue of their own, so a developer's running worker never takes
# their tasks.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")

# Beat schedule. Offers unanswered after their response date expire nightly; in-year calculation runs start
# nightly; a watchdog fails any run whose worker was killed mid-chunk (its result would never arrive). The
# stall limit exceeds a chunk's hard time limit (10 minutes), so a slow live chunk is never taken for lost.
CALCULATION_STALL_SECONDS = int(os.environ.get("CALCULATION_STALL_SECONDS", str(15 * 60)))
# A worker renews its lease on the run stage it works on every CALCULATION_HEARTBEAT_SECONDS; a lease not
# renewed for CALCULATION_LEASE_SECONDS means the worker is lost, and the watchdog (every
# CALCULATION_LEASE_CHECK_SECONDS) fails the run: a lost worker is noticed within lease + check (90 s).
CALCULATION_LEASE_SECONDS = int(os.environ.get("CALCULATION_LEASE_SECONDS", "60"))
CALCULATION_HEARTBEAT_SECONDS = float(
    os.environ.get("CALCULATION_HEARTBEAT_SECONDS", str(CALCULATION_LEASE_SECONDS / 4))
)
CALCULATION_LEASE_CHECK_SECONDS = int(os.environ.get("CALCULATION_LEASE_CHECK_SECONDS", "30"))
# A run's achievement stage calculates whole commissioners together, at least this many practices per task:
# each task has a fixed cost (its queries, its result COPY, its commit), so a national run is a handful of
# tasks (about 7 at 1,000) rather than one per commissioner, while two or more workers still share them.
CALCULATION_CHUNK_PRACTICES = int(os.environ.get("CALCULATION_CHUNK_PRACTICES", "1000"))
# A run none of whose tasks is waiting in the broker or leased by a worker for CALCULATION_LOST_TASK_SECONDS
# lost its task (the broker dropped it, or a worker died before starting it): the same watchdog fails it,
# within lost + check (90 s) rather than the stall limit.
CALCULATION_LOST_TASK_SECONDS = int(os.environ.get("CALCULATION_LOST_TASK_SECONDS", "60"))
CELERY_BEAT_SCHEDULE = {
    "participation-expire-lapsed-offers": {
        "task": "participation.expire_lapsed_offers",
        "schedule": crontab(hour=0, minute=30),
    },
    "calculation-nightly-in-year-runs": {
        "task": "calculation.start_nightly_runs",
        "schedule": crontab(hour=1, minute=0),
    },
    "calculation-fail-stalled-runs": {
        "task": "calculation.fail_stalled_runs",
        "schedule": CALCULATION_LEASE_CHECK_SECONDS,
    },
    "notifications-send-emails": {"task": "notifications.send_emails", "schedule": crontab(minute="*")},
    "cqrs-portal-tidy-up": {"task": "cqrs_portal.tidy_up", "schedule": crontab(minute=15)},
    "participation-record-automatic-participation": {
        "task": "participation.record_automatic_participation",
        "schedule": crontab(hour=0, minute=45),
    },
    # Cut-offs fall at a time of day set per year; checking every 15 minutes releases within 15 minutes of
    # one, and a check with no cut-off due (or one already released) does nothing.
    "payments-release-at-cutoff": {"task": "payments.release_due", "schedule": crontab(minute="*/15")},
}

# Rendered report pages are kept per publication (reports/page_cache.py) for this long; they never go stale
# (a new publication changes their key), so this only bounds the cache's memory.
REPORT_CACHE_SECONDS = int(os.environ.get("REPORT_CACHE_SECONDS", str(60 * 60)))

# Extract files: the command reads up to EXTRACT_MAX_BYTES; uploads through the portal stop reading past
# EXTRACT_UPLOAD_MAX_BYTES. A national year-end extract is about 450 MB.
EXTRACT_MAX_BYTES = int(os.environ.get("EXTRACT_MAX_BYTES", str(1024**3)))
EXTRACT_UPLOAD_MAX_BYTES = int(os.environ.get("EXTRACT_UPLOAD_MAX_BYTES", str(EXTRACT_MAX_BYTES)))

# Payments (docs/adr/0013-payments.md). A service year without its own release schedule pays on this day
# of each month, with the cut-off this many working days before at this time (UK time). Bank holidays are
# listed as ISO dates since they move each year. Finance may write off a recovery no larger than the
# write-off limit, with a reason.
PAYMENTS_SCHEDULE = {
    "payment_day": os.environ.get("PAYMENTS_PAYMENT_DAY", "15"),
    "working_days_before": os.environ.get("PAYMENTS_CUTOFF_WORKING_DAYS", "5"),
    "cutoff_time": os.environ.get("PAYMENTS_CUTOFF_TIME", "12:00"),
}
PAYMENTS_NON_WORKING_DAYS = frozenset(
    day for day in os.environ.get("PAYMENTS_NON_WORKING_DAYS", "").split(",") if day
)
PAYMENTS_WRITE_OFF_LIMIT = Decimal(os.environ.get("PAYMENTS_WRITE_OFF_LIMIT", "100.00"))
