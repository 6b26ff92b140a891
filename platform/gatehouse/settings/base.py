"""Settings shared by every environment. Values an operator sets come from ``kernel.env``;
Gatehouse's own defaults are declared once, in ``kernel.conf.DEFAULTS``.

Environment-specific modules (``dev``, ``test``, ``production``) set the defaults they allow
in ``os.environ`` first, then import this module.
"""

from pathlib import Path

from kernel import env
from kernel.conf import DEFAULTS

REPO_ROOT = Path(__file__).resolve().parents[3]

DEBUG = env.boolean("DEBUG", False)
SECRET_KEY = env.secret_key(
    "SECRET_KEY", min_length=env.integer("GATEHOUSE_SECRET_KEY_MIN_LENGTH", 50)
)
GATEHOUSE_BASE_DOMAIN = env.hostname("GATEHOUSE_BASE_DOMAIN")
REDIS_URL = env.redis_url("REDIS_URL")

DATABASES = {"default": env.database("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# "transaction" behind a transaction-mode pooler (PgBouncer pool_mode=transaction, RDS Proxy):
# each transaction then sets its own search_path (tenants/postgresql_backend).
DATABASE_POOL_MODE = env.choice("DATABASE_POOL_MODE", ("session", "transaction"), "session")
DATABASES["default"]["POOL_MODE"] = DATABASE_POOL_MODE
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.integer(
    "DATABASE_CONNECT_TIMEOUT", 3, minimum=1
)
if DATABASE_POOL_MODE == "session":
    # A server session of our own per connection: statements are bound on the server
    # (psycopg's extended protocol, no quoting of parameters in Python) and prepared once a
    # statement has run DATABASE_PREPARE_THRESHOLD times on a connection, so PostgreSQL
    # parses and plans the hot statements once instead of on every request; psycopg keeps
    # the DATABASE_PREPARED_MAX most recently used per connection (tenants/postgresql_backend).
    # A transaction-mode pooler refuses both (its server sessions are not ours).
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = env.integer(
        "DATABASE_PREPARE_THRESHOLD", 2, minimum=0
    )
    DATABASES["default"]["PREPARED_MAX"] = env.integer("DATABASE_PREPARED_MAX", 200, minimum=1)
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]

# --- Tenancy (django-tenants) -------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "tenants",
    "kernel.accounts",
    "kernel.audit",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.admin",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    # Operators are users of the public schema; their second factors live beside them.
    "oauth.mfa",
]
TENANT_APPS = [
    "kernel.accounts",
    "kernel.audit",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth",
    "oauth.mfa",
]
INSTALLED_APPS = (
    ["gatehouse", "workers"] + SHARED_APPS + [a for a in TENANT_APPS if a not in SHARED_APPS]
)

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
PUBLIC_SCHEMA_URLCONF = "gatehouse.urls_public"
ROOT_URLCONF = "gatehouse.urls_tenant"
# One SET search_path per connection and tenant switch instead of one per cursor.
TENANT_LIMIT_SET_CALLS = True
TENANT_MULTIPROCESSING_MAX_PROCESSES = env.integer(
    "TENANT_MULTIPROCESSING_MAX_PROCESSES", 2, minimum=1
)
# migrate_schemas skips up-to-date schemas (one ledger query) and migrates the rest in
# parallel, TENANT_MULTIPROCESSING_MAX_PROCESSES connections at most (docs/scaling.md).
GET_EXECUTOR_FUNCTION = "tenants.migrations_executor.get_executor"

AUTH_USER_MODEL = "accounts.User"

MIDDLEWARE = [
    # Answers /healthz, /readyz and /metrics on any Host (pod IP included), before the
    # https redirect, ALLOWED_HOSTS and the tenant lookup.
    "gatehouse.probes.ProbeMiddleware",
    # Counts and times every request that gets past the probes, by route name and outcome.
    "gatehouse.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tenants.middleware.TenantRoutingMiddleware",
    # Token, introspection and revocation answered here, without the browser middleware
    # below (gatehouse.fastpath).
    "gatehouse.fastpath.OAuthEndpointsFastPath",
    # Django's, with a database outage during the session save answered 503 (kernel.sessions).
    "kernel.sessions.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who is acting, for the audit rows services write (kernel.audit).
    "kernel.audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Tenant hosts are subdomains of the base domain; custom tenant domains are listed by the
# operator (the Helm chart fills this from its customDomains value).
ALLOWED_HOSTS = [GATEHOUSE_BASE_DOMAIN, f".{GATEHOUSE_BASE_DOMAIN}"] + env.string_list(
    "GATEHOUSE_EXTRA_HOSTS"
)

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [REPO_ROOT / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "gatehouse.context_processors.branding",
            ],
        },
    },
]

WSGI_APPLICATION = "gatehouse.wsgi.application"

# --- Passwords: tenant users' passwords are low-entropy, so a memory-hard KDF ---------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Cache: per-tenant keys, fails open when Redis is down ---------------------------------
CACHES = {
    "default": {
        "BACKEND": "gatehouse.cache.FailOpenRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5},
    }
}

# --- Email (reset and verification links): one mailer, from EMAIL_URL -------------------
# EMAIL_URL (smtp://user:password@host:587?tls=1, smtp+ssl://..., console://, file:///dir);
# without it, the older EMAIL_HOST / EMAIL_PORT / EMAIL_HOST_USER / EMAIL_HOST_PASSWORD /
# EMAIL_USE_TLS variables still configure SMTP.
if env.string("EMAIL_URL", ""):
    MAILERS = {"default": env.email("EMAIL_URL")}
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": env.string("EMAIL_HOST", "localhost"),
                "port": env.integer("EMAIL_PORT", 25, minimum=1),
                "username": env.string("EMAIL_HOST_USER", ""),
                "password": env.string("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env.boolean("EMAIL_USE_TLS", False),
                "timeout": 10,
            },
        }
    }
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL", f"no-reply@{GATEHOUSE_BASE_DOMAIN}")

# --- Sessions and cookies: host-only, per tenant schema ------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS: list[str] = []
CSRF_FAILURE_VIEW = "kernel.views.csrf_failure"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = REPO_ROOT / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Bodies larger than this are refused with a 400 before any view parses them.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Celery (namespace CELERY_) ---------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"

# --- Gatehouse's own namespace (read through kernel.conf.setting; defaults in DEFAULTS) ------
GATEHOUSE = {
    "BASE_DOMAIN": GATEHOUSE_BASE_DOMAIN,
    "PUBLIC_SCHEME": env.string("GATEHOUSE_PUBLIC_SCHEME", DEFAULTS["PUBLIC_SCHEME"]),
    "PUBLIC_PORT": env.integer("GATEHOUSE_PUBLIC_PORT", DEFAULTS["PUBLIC_PORT"], minimum=0),
    # Changes made in this process invalidate at once; other processes see them within this
    # many seconds.
    "TENANT_CACHE_SECONDS": env.integer(
        "GATEHOUSE_TENANT_CACHE_SECONDS", DEFAULTS["TENANT_CACHE_SECONDS"], minimum=0
    ),
    "KEY_ENCRYPTION_KEYS": env.string_list("GATEHOUSE_KEY_ENCRYPTION_KEY"),
    "OPERATOR_TOTP_REQUIRED": env.boolean(
        "GATEHOUSE_OPERATOR_TOTP_REQUIRED", DEFAULTS["OPERATOR_TOTP_REQUIRED"]
    ),
    "DEFAULT_PLAN": env.string("GATEHOUSE_DEFAULT_PLAN", DEFAULTS["DEFAULT_PLAN"]),
    "PURGE_INTERVAL_SECONDS": env.integer(
        "GATEHOUSE_PURGE_INTERVAL_SECONDS", DEFAULTS["PURGE_INTERVAL_SECONDS"], minimum=10
    ),
    "PURGE_BACKLOG_INTERVAL_SECONDS": env.integer(
        "GATEHOUSE_PURGE_BACKLOG_INTERVAL_SECONDS",
        DEFAULTS["PURGE_BACKLOG_INTERVAL_SECONDS"],
        minimum=10,
    ),
    "KEY_ROTATION_CHECK_SECONDS": env.integer(
        "GATEHOUSE_KEY_ROTATION_CHECK_SECONDS", DEFAULTS["KEY_ROTATION_CHECK_SECONDS"], minimum=60
    ),
    "TENANT_USAGE_INTERVAL_SECONDS": env.integer(
        "GATEHOUSE_TENANT_USAGE_INTERVAL_SECONDS",
        DEFAULTS["TENANT_USAGE_INTERVAL_SECONDS"],
        minimum=60,
    ),
    "BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS": env.integer(
        "GATEHOUSE_BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS",
        DEFAULTS["BACKCHANNEL_LOGOUT_SWEEP_INTERVAL_SECONDS"],
        minimum=10,
    ),
    # Purges are background work: lower CPU priority for workers, and a rows/s bound per worker
    # process while the database serves other sessions (0 turns either off; workers/purge.py).
    "WORKER_NICENESS": env.integer(
        "GATEHOUSE_WORKER_NICENESS", DEFAULTS["WORKER_NICENESS"], minimum=0
    ),
    "PURGE_BUSY_ROWS_PER_SECOND": env.integer(
        "GATEHOUSE_PURGE_BUSY_ROWS_PER_SECOND", DEFAULTS["PURGE_BUSY_ROWS_PER_SECOND"], minimum=0
    ),
    "METRICS_TENANTS": env.string_list("GATEHOUSE_METRICS_TENANTS"),
    "METRICS_TOP_TENANTS": env.integer(
        "GATEHOUSE_METRICS_TOP_TENANTS", DEFAULTS["METRICS_TOP_TENANTS"], minimum=0
    ),
    # OAuth endpoint limits (oauth.ratelimits): GATEHOUSE_RATE_LIMITS_ENABLED=false turns them
    # off; GATEHOUSE_RATE_LIMIT_<NAME> sets the platform default of each number (a tenant's
    # IssuerSettings may override it).
    "RATE_LIMITS": {
        "ENABLED": env.boolean("GATEHOUSE_RATE_LIMITS_ENABLED", DEFAULTS["RATE_LIMITS"]["ENABLED"]),
        **{
            name: env.integer(f"GATEHOUSE_RATE_LIMIT_{name}", default, minimum=1)
            for name, default in DEFAULTS["RATE_LIMITS"].items()
            if name != "ENABLED"
        },
    },
    # Documents fetched from other servers (oauth.fetch: Client ID Metadata Documents).
    # GATEHOUSE_DOCUMENT_FETCH_ALLOW_LOOPBACK=true is for development and tests only.
    "DOCUMENT_FETCH": {
        **DEFAULTS["DOCUMENT_FETCH"],
        "ALLOW_LOOPBACK": env.boolean("GATEHOUSE_DOCUMENT_FETCH_ALLOW_LOOPBACK", False),
        "CA_BUNDLE": env.string("GATEHOUSE_DOCUMENT_FETCH_CA_BUNDLE", ""),
    },
    # Logout tokens POSTed to clients (oauth.backchannel): GATEHOUSE_BACKCHANNEL_LOGOUT_<NAME>.
    "BACKCHANNEL_LOGOUT": {
        "ATTEMPTS": env.integer(
            "GATEHOUSE_BACKCHANNEL_LOGOUT_ATTEMPTS",
            DEFAULTS["BACKCHANNEL_LOGOUT"]["ATTEMPTS"],
            minimum=1,
        ),
        "RETRY_BASE_SECONDS": env.integer(
            "GATEHOUSE_BACKCHANNEL_LOGOUT_RETRY_BASE_SECONDS",
            DEFAULTS["BACKCHANNEL_LOGOUT"]["RETRY_BASE_SECONDS"],
            minimum=1,
        ),
        "SWEEP_GRACE_SECONDS": env.integer(
            "GATEHOUSE_BACKCHANNEL_LOGOUT_SWEEP_GRACE_SECONDS",
            DEFAULTS["BACKCHANNEL_LOGOUT"]["SWEEP_GRACE_SECONDS"],
            minimum=0,
        ),
        "RETENTION_SECONDS": env.integer(
            "GATEHOUSE_BACKCHANNEL_LOGOUT_RETENTION_SECONDS",
            DEFAULTS["BACKCHANNEL_LOGOUT"]["RETENTION_SECONDS"],
            minimum=0,
        ),
        "MAX_PENDING_SECONDS": env.integer(
            "GATEHOUSE_BACKCHANNEL_LOGOUT_MAX_PENDING_SECONDS",
            DEFAULTS["BACKCHANNEL_LOGOUT"]["MAX_PENDING_SECONDS"],
            minimum=60,
        ),
    },
    # 1 behind an ingress: rate limits take the client IP from X-Forwarded-For; 0 trusts none.
    "TRUSTED_PROXY_COUNT": env.integer(
        "GATEHOUSE_TRUSTED_PROXY_COUNT", DEFAULTS["TRUSTED_PROXY_COUNT"], minimum=0
    ),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tenant": {"()": "gatehouse.logging.TenantFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(name)s] tenant=%(tenant)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["tenant"]},
    },
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL", "INFO")},
}
