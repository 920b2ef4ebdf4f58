"""LeadCRM settings: one module, every knob from the environment.

With nothing set the app runs on a SQLite file with Celery in eager mode, so a newcomer
needs no services. DATABASE_URL / REDIS_URL switch to PostgreSQL and a real broker.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from leadcrm.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("LEADCRM_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set in the environment when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-change-me-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "import_export",
    "axes",
    "health_check",
    "django_prometheus",
    "leads",
    "scoring",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "leadcrm.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leadcrm.db_router.ReportsDatabaseMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "leadcrm.sessions.IdleSessionMiddleware",
    "leadcrm.request_context.RequestContextMiddleware",
    "leadcrm.htmx.HtmxLoginRedirectMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "leadcrm.urls"
WSGI_APPLICATION = "leadcrm.wsgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                _database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
            )
        }
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is malformed: {exc}") from exc
    if DATABASES["default"]["ENGINE"].endswith("postgresql") and env_bool("DB_DISABLE_JIT", True):
        # PostgreSQL's JIT compiled 1 ms queue queries for 9-28 ms at 1M leads (BENCHMARKS.md, "JIT").
        DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # The web server and the worker processes share this file: WAL lets readers run beside
            # the one writer, IMMEDIATE takes the write lock up front (no mid-transaction upgrade
            # deadlock) and a writer waits up to `timeout` seconds for it instead of failing.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
# Optional read replica for the manager reports (leadcrm/db_router.py, docs/deploy.md).
_reports_database_url = env_str("REPORTS_DATABASE_URL")
if _reports_database_url:
    try:
        DATABASES["reports"] = dj_database_url.parse(
            _reports_database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"REPORTS_DATABASE_URL is malformed: {exc}") from exc
    DATABASES["reports"]["OPTIONS"] = {**DATABASES["default"].get("OPTIONS", {})}
    DATABASES["reports"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["leadcrm.db_router.ReportsRouter"]
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "leads.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "leads:queue"
LOGOUT_REDIRECT_URL = "login"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# In development (and tests) WhiteNoise serves straight from the apps' static folders; in
# production it serves what `collectstatic` gathered into STATIC_ROOT.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = VAR_DIR / "media"
MODEL_ARTIFACT_DIR = Path(env_str("MODEL_ARTIFACT_DIR", str(VAR_DIR / "models")))

# --- Cache ------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL and not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must start with redis://, rediss:// or unix://")
# The cache may live in another Redis database than the broker (REDIS_CACHE_URL), so that
# clearing it can never drop queued tasks.
REDIS_CACHE_URL = env_str("REDIS_CACHE_URL") or REDIS_URL
if REDIS_CACHE_URL and not REDIS_CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_CACHE_URL={REDIS_CACHE_URL!r} must start with redis://, rediss:// or unix://")
CACHES = {
    "default": (
        # Redis down: reads miss and writes are skipped (with a warning) instead of failing pages.
        {"BACKEND": "leadcrm.cache.ResilientRedisCache", "LOCATION": REDIS_CACHE_URL}
        if REDIS_CACHE_URL
        # No Redis: the web server and the embedded worker are separate processes, so the cache
        # (rescore debounce keys, locks, heartbeats, report summaries) must be shared: files.
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    )
}

# --- reports and model monitoring ---
# Manager reports (leads/reports) and the model's quality and drift pages (scoring/quality.py,
# scoring/drift.py). First-contact SLA per tier, in hours: a hot lead should hear from us within the hour.
REPORT_SLA_HOT_HOURS = env_int("REPORT_SLA_HOT_HOURS", 1, minimum=1)
REPORT_SLA_WARM_HOURS = env_int("REPORT_SLA_WARM_HOURS", 24, minimum=1)
REPORT_SLA_COLD_HOURS = env_int("REPORT_SLA_COLD_HOURS", 72, minimum=1)
# A feature whose population stability index is above this has drifted ("consider retraining").
REPORT_PSI_FLAG = env_float("REPORT_PSI_FLAG", 0.2)
REPORT_DRIFT_CACHE_SECONDS = env_int("REPORT_DRIFT_CACHE_SECONDS", 600, minimum=0)
# PSI needs distributions, not every row: above this many open leads, drift reads a systematic
# sample (one open lead in k, in runs of consecutive ids: scoring.drift.SAMPLE_RUN_IDS), since
# reading the leads and their JSON attributes dominates the cost. 20,000 is plenty for PSI: with no
# drift, a sample of n leads binned in k levels shows a PSI of about (k - 1) / n by chance, 0.001 for
# 20 levels, and 0.015 even if each run of ids were one lead's worth of information, against the
# REPORT_PSI_FLAG of 0.2. 50,000 took 1.1 s at 1M leads on a slow box, 20,000 about half a second.
REPORT_DRIFT_SAMPLE_ROWS = env_int("REPORT_DRIFT_SAMPLE_ROWS", 20_000, minimum=1000)
# A report's GROUP BY over a million leads spills its sort to disk at PostgreSQL's default 4MB
# work_mem; the report queries raise it for their own transaction only.
REPORT_WORK_MEM_MB = env_int("REPORT_WORK_MEM_MB", 64, minimum=1)
REPORT_COHORT_WEEKS = env_int("REPORT_COHORT_WEEKS", 26, minimum=1)
# Report summaries are cached this long; the beat tasks recompute the unfiltered ones (and the
# active model's observed conversion and drift) every REPORT_REFRESH_SECONDS.
REPORT_CACHE_SECONDS = env_int("REPORT_CACHE_SECONDS", 900, minimum=0)
REPORT_REFRESH_SECONDS = env_int("REPORT_REFRESH_SECONDS", 300, minimum=60)
# Reports read rollup tables of the leads (leads/reports/rollups.py). A write marks its leads' days
# and a task rebuilds them REPORT_ROLLUP_DEBOUNCE_SECONDS after the commit (one run per burst);
# every REPORT_ROLLUP_REBUILD_SECONDS the beat rebuilds every day, for writes that bypass the
# services (SQL, QuerySet.update outside them). Above REPORT_ROLLUP_PENDING_DAYS_MAX pending days a
# computed report reads the leads directly until the rebuild is done.
REPORT_ROLLUP_DEBOUNCE_SECONDS = env_int("REPORT_ROLLUP_DEBOUNCE_SECONDS", 5, minimum=0)
REPORT_ROLLUP_REBUILD_SECONDS = env_int("REPORT_ROLLUP_REBUILD_SECONDS", 3600, minimum=60)
REPORT_ROLLUP_PENDING_DAYS_MAX = env_int("REPORT_ROLLUP_PENDING_DAYS_MAX", 62, minimum=0)
# The open leads' forecast groups (per source x campaign x owner) are cached this long; the
# summaries' beat and a large rescore refresh them.
REPORT_FORECAST_CACHE_SECONDS = env_int("REPORT_FORECAST_CACHE_SECONDS", 900, minimum=0)

# --- Celery (processes, broker, queues; see docs/deploy.md) -------------------------------
# Tasks always run in a worker process; eager mode is for the tests (tests/conftest.py sets it).
# No REDIS_URL (the embedded default): kombu's filesystem transport, a spool directory under
# LEADCRM_VAR_DIR that needs no server, no extra package and no polling of the SQLite file.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
BROKER_SPOOL_DIR = VAR_DIR / "broker"
# (A host in the URL, though the spool has none, keeps kombu from warning "No hostname was supplied".)
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost/"
# The database holds every job's state and progress; results are kept only where Redis is (and
# leadcrm.dispatch sends with ignore_result anyway).
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# What a task prints (the console email backend's messages in `make run`) is logged at INFO, not WARNING.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3300, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, int | float | str]
if REDIS_URL:
    # The visibility timeout must outlive the longest task, or Redis re-delivers a running task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_TASK_TIME_LIMIT + 600,
        "socket_connect_timeout": 1,
        "socket_timeout": 5,
    }
else:
    for _folder in ("queue", "control"):
        (BROKER_SPOOL_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_SPOOL_DIR / "queue"),
        "data_folder_out": str(BROKER_SPOOL_DIR / "queue"),
        "control_folder": str(BROKER_SPOOL_DIR / "control"),
    }
# Queues by kind, so a long training or a 1M-row rescore never holds up an import (or the other
# way round): each kind has workers of its own in the Procfile; a worker started without -Q
# consumes all three (the embedded default).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in ("imports", "scoring", "default"))
CELERY_TASK_ROUTES = {
    "leads.import_*": {"queue": "imports"},
    "leads.imports_*": {"queue": "imports"},
    "scoring.rescore_leads": {"queue": "scoring"},
    "scoring.rescore_partition": {"queue": "scoring"},
    "scoring.retrain_model": {"queue": "scoring"},
}
# Beat runs exactly once: a second beat (another host, a restarted container) waits on the lock
# and takes over within BEAT_LOCK_SECONDS when the holder stops (leadcrm/beat.py).
CELERY_BEAT_SCHEDULER = "leadcrm.beat:LockedScheduler"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
BEAT_LOCK_SECONDS = env_int("BEAT_LOCK_SECONDS", 60, minimum=10)
# Workers record a heartbeat per queue every WORKER_HEARTBEAT_SECONDS (leadcrm/celery.py).
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 15, minimum=1)
# Publishing with the broker down gives up within about a second (leadcrm.dispatch then records
# the work in the database and the beat entry "redispatch-queued" sends it once the broker is back).
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 1.0)
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 1
CELERY_REDIS_SOCKET_TIMEOUT = 5
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker went away keeps retrying the connection for as long as it takes.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TIMEZONE = TIME_ZONE
# Workers log through Django's LOGGING (LOG_FORMAT, with the task id on every line).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False


def _beat_entry(task: str, every: int, *, expires: int | None = None, **entry) -> dict:
    """A beat schedule entry whose message expires (by default at its next run) rather than pile
    up while no worker listens."""
    return {"task": task, "schedule": every, "options": {"expires": every if expires is None else expires}, **entry}


CELERY_BEAT_SCHEDULE: dict = {
    # Nightly retrain (single-flight; a new version is activated, and every lead rescored, only
    # when it beats the active one), and a daily full rescore: "days since last activity" ages.
    "scoring-nightly-retrain": _beat_entry(
        "scoring.retrain_model",
        env_int("SCORING_RETRAIN_EVERY_SECONDS", 24 * 3600, minimum=60),
        expires=6 * 3600,
        kwargs={"trigger": "schedule"},
    ),
    "scoring-daily-rescore": _beat_entry(
        "scoring.rescore_leads", env_int("SCORING_RESCORE_EVERY_SECONDS", 24 * 3600, minimum=60), expires=6 * 3600
    ),
    # Work recorded while the broker was down (leadcrm.dispatch), and rescores whose worker died.
    "redispatch-queued": _beat_entry(
        "scoring.redispatch_queued", env_int("REDISPATCH_EVERY_SECONDS", 60, minimum=5), expires=60
    ),
    "imports-redispatch-queued": _beat_entry(
        "leads.import_redispatch_queued", env_int("REDISPATCH_EVERY_SECONDS", 60, minimum=5), expires=60
    ),
    # An import whose worker died (no heartbeat for IMPORT_STALE_SECONDS) is resumed or failed.
    "imports-recover-stale": _beat_entry(
        "leads.import_recover_stale", env_int("IMPORT_RECOVER_EVERY_SECONDS", 300, minimum=30), expires=300
    ),
    # Uploaded import files past IMPORT_FILE_RETENTION_DAYS, and uploads a crash left behind.
    "imports-prune-files": _beat_entry(
        "leads.imports_prune_files", env_int("IMPORT_PRUNE_EVERY_SECONDS", 24 * 3600, minimum=60), expires=6 * 3600
    ),
    # Manager reports read cached summaries; recompute the unfiltered ones ahead of time.
    "reports-refresh-summaries": _beat_entry("reports.refresh_summaries", REPORT_REFRESH_SECONDS),
    # The active model's observed conversion per tier and drift, which the model pages read cached.
    "scoring-refresh-monitoring": _beat_entry("scoring.refresh_monitoring", REPORT_REFRESH_SECONDS),
    # The open leads' forecast, stored once a month (the first run of a month takes it) so the
    # channels report can set last month's forecast beside what those leads did.
    "reports-forecast-snapshot": _beat_entry("reports.forecast_snapshot", 3600),
    # The safety net of the reports' rollups: rebuild every day (writes that bypass the services).
    "reports-rollups-rebuild": _beat_entry("reports.rollups_rebuild_all", REPORT_ROLLUP_REBUILD_SECONDS),
}


# --- REST framework ---------------------------------------------------------------------
def _throttle_rate(name: str, default: str) -> str:
    rate = env_str(name, default).strip()
    number, _, period = rate.partition("/")
    if not (number.isascii() and number.isdecimal()) or not period or period[0] not in "smhd":
        raise ImproperlyConfigured(f"{name}={rate!r} is not a rate like 100/min, 10/s or 5000/day")
    return rate


REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON in, with a size and depth limit (leadcrm/json_limits.py): a hostile body is a 400, not a 500.
    # Only the import endpoint takes multipart (the browsable API still renders for a browser).
    "DEFAULT_PARSER_CLASSES": ["leadcrm.json_limits.LimitedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "leadcrm.api_schema.ClientReadyAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["leadcrm.api_filters.StrictFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "leadcrm.api_pagination.KeysetCursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "leadcrm.api_errors.api_exception_handler",
    # Per user (or per IP for anonymous callers); fail-open when the cache is down.
    "DEFAULT_THROTTLE_CLASSES": ["leads.permissions.UserThrottle", "leads.permissions.AnonThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": _throttle_rate("API_THROTTLE_USER", "2000/min"),
        "anon": _throttle_rate("API_THROTTLE_ANON", "60/min"),
        "bulk": _throttle_rate("API_THROTTLE_BULK", "60/min"),
        # POST /api/v1/auth/token/ per client IP, on top of the django-axes lockout.
        "login": _throttle_rate("API_THROTTLE_LOGIN", "20/min"),
    },
}
# Under /api/ a failed CSRF check answers in the API's error body (leadcrm/api_errors.py).
CSRF_FAILURE_VIEW = "leadcrm.api_errors.csrf_failure"
SPECTACULAR_SETTINGS = {
    "TITLE": "LeadCRM API",
    "DESCRIPTION": (
        "Leads, activities, follow-ups, imports and lead scoring.\n\n"
        "**Auth**: `Authorization: Token <key>` (get one with POST /api/v1/auth/token/) or the browser session "
        "(with its CSRF token). Reps see their own leads and the unassigned pool; managers see every lead; "
        "only admins import leads and manage models. A lead a user cannot see is a 404, and no answer reveals "
        "one: reps cannot send `external_id` (unique across every lead), so a taken id never tells them "
        "another rep's lead exists.\n\n"
        "**Limits**: JSON bodies are at most `JSON_MAX_BYTES` (10 MB) and `JSON_MAX_DEPTH` (32) levels deep, "
        "else 400. POST /api/v1/auth/token/ is throttled per IP, and 5 wrong passwords for one username from "
        "one IP lock that pair out for 15 minutes (429 `locked_out`, even with the right password).\n\n"
        "**Lists** are cursor-paginated: follow `next` until it is null; `page_size` is at most 500.\n\n"
        "**Errors** (every 4xx) share one body: "
        '`{"error": {"status": 400, "code": "invalid", "message": "...", "fields": {"email": ["..."]}}}`; '
        "429 adds `retry_after` (seconds)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs are for logged-in users (session or token), like the rest of the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Request and response components differ (read-only fields are not asked for, write-only not
    # promised), so a generated client never has to send an `id` or a `token`.
    "COMPONENT_SPLIT_REQUEST": True,
    # Fields the server always returns are required in the response components.
    "COMPONENT_NO_READ_ONLY_REQUIRED": False,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "leadcrm.api_schema.name_enum_values",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status"/"mode"; name their enums so the schema has no collisions.
    "ENUM_NAME_OVERRIDES": {
        "LeadStatusEnum": "leads.models.Lead.Status",
        "ImportJobStatusEnum": "leads.models.ImportJob.Status",
        "ImportJobModeEnum": "leads.models.ImportJob.Mode",
        "ModelVersionStatusEnum": "scoring.models.ModelVersion.Status",
        # One tier enum wherever a tier appears (a lead, a score, a score's history).
        "TierEnum": "leads.models.Lead.Tier",
    },
}

# --- LeadCRM knobs ----------------------------------------------------------------------
QUEUE_PAGE_SIZE = env_int("QUEUE_PAGE_SIZE", 50, minimum=1)
# The queue's total is exact up to this many leads (it reads at most this many + 1 rows), then
# PostgreSQL's planner estimate, shown as "about N": a request never counts a million rows.
QUEUE_COUNT_EXACT_UP_TO = env_int("QUEUE_COUNT_EXACT_UP_TO", 10_000, minimum=1)
# A bulk change from the queue over "all N matching" asks for confirmation above this many leads,
# and changes at most QUEUE_BULK_MAX leads in one transaction (narrow the filter for more).
QUEUE_BULK_CONFIRM_OVER = env_int("QUEUE_BULK_CONFIRM_OVER", 100, minimum=0)
QUEUE_BULK_MAX = env_int("QUEUE_BULK_MAX", 10_000, minimum=1)
IMPORT_MAX_FILE_BYTES = env_int("IMPORT_MAX_FILE_BYTES", 200 * 1024 * 1024, minimum=1)
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", 5000, minimum=1)
IMPORT_CHUNK_ROWS = env_int("IMPORT_CHUNK_ROWS", 20000, minimum=1)
# PostgreSQL connections writing an import's chunks side by side (they still commit in file order).
IMPORT_WRITERS = env_int("IMPORT_WRITERS", 2, minimum=1)
# A running import whose heartbeat is older than this lost its worker; a starting worker resumes it.
IMPORT_STALE_SECONDS = env_int("IMPORT_STALE_SECONDS", 600, minimum=1)
# Admin uploads with more rows than this import as a background ImportJob instead of in the request.
IMPORT_ADMIN_SYNC_MAX_ROWS = env_int("IMPORT_ADMIN_SYNC_MAX_ROWS", 5000, minimum=1)
# Days an import's uploaded file is kept after the job finished (leads/importing/retention.py).
IMPORT_FILE_RETENTION_DAYS = env_int("IMPORT_FILE_RETENTION_DAYS", 30, minimum=1)
# --- import wizard (issue 14) ---
# Longest cell an import accepts (characters); a longer one is a per-row error. The API's limit too.
IMPORT_MAX_CELL_CHARS = env_int("IMPORT_MAX_CELL_CHARS", 10_000, minimum=1)
# Rows the import wizard reads for its sample and preview (never the whole file).
IMPORT_PREVIEW_ROWS = env_int("IMPORT_PREVIEW_ROWS", 1000, minimum=10)
SCORING_MIN_CONVERTED = env_int("SCORING_MIN_CONVERTED", 50, minimum=1)
SCORING_MIN_LOST = env_int("SCORING_MIN_LOST", 50, minimum=1)
SCORING_RESCORE_CHUNK = env_int("SCORING_RESCORE_CHUNK", 20000, minimum=1)
# A full rescore is cut into partitions of this many leads (by id), each a task on the `scoring`
# queue that any worker takes; a worker holds a partition for SCORING_RESCORE_LEASE_SECONDS and
# renews the claim with every chunk, so the lease must outlast one chunk's scoring and write.
SCORING_RESCORE_PARTITION_SIZE = env_int("SCORING_RESCORE_PARTITION_SIZE", 50_000, minimum=1)
SCORING_RESCORE_LEASE_SECONDS = env_int("SCORING_RESCORE_LEASE_SECONDS", 60, minimum=1)
# Database connections that write a partition's chunks in parallel (PostgreSQL) while the worker
# scores the next one; each scoring worker holds this many connections more.
SCORING_RESCORE_WRITERS = env_int("SCORING_RESCORE_WRITERS", 2, minimum=1)
SCORING_HOT_THRESHOLD = env_float("SCORING_HOT_THRESHOLD", 0.6)
SCORING_WARM_THRESHOLD = env_float("SCORING_WARM_THRESHOLD", 0.3)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1)
IMPORT_EXPORT_SKIP_ADMIN_LOG = True

# --- scoring ---------------------------------------------------------------------------
# Seconds a changed lead waits before its rescore, so a burst of edits is scored once.
SCORING_RESCORE_DEBOUNCE_SECONDS = env_int("SCORING_RESCORE_DEBOUNCE_SECONDS", 2, minimum=0)
# An import bringing at least this many new outcomes asks for a retrain (when enough are in).
SCORING_RETRAIN_AFTER_OUTCOMES = env_int("SCORING_RETRAIN_AFTER_OUTCOMES", 50, minimum=0)
# Attribute columns never used as features, comma-separated (import profiles can exclude more).
SCORING_EXCLUDED_COLUMNS = env_list("SCORING_EXCLUDED_COLUMNS", [])
# OpenMP/BLAS threads per process for training and scoring; raise it only on a dedicated host.
SCORING_THREADS = env_int("SCORING_THREADS", 1, minimum=1)
# Threads a training fits its independent models on (CV folds, the winner's calibration fits),
# each held to one OpenMP thread: the cores a retrain may use. 1 = one fit at a time.
SCORING_TRAINING_JOBS = env_int("SCORING_TRAINING_JOBS", 2, minimum=1)
# Closed leads a training learns from at most: above it, a seeded sample stratified by outcome and
# by period (scoring.training.training_sample; the model's page says so). Training's memory and time
# grow with its rows, its quality had stopped growing: at 1M closed leads every row took 6.2 GB, a
# 500,000 sample 3.6 GB, a 300,000 sample 2.1 GB with the same ROC AUC to 0.001 (BENCHMARKS.md,
# "Training memory").
SCORING_TRAINING_MAX_ROWS = env_int("SCORING_TRAINING_MAX_ROWS", 300_000, minimum=1000)

# --- Hardening: hostile input, brute force, sessions, audit, data protection (issue 18) ---
# Every JSON a client or a file sends (leadcrm/json_limits.py): larger or deeper is a 400.
JSON_MAX_BYTES = env_int("JSON_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 32, minimum=2)
# django-axes: AXES_FAILURE_LIMIT wrong passwords for one username from one IP lock that pair out
# for AXES_COOLOFF_MINUTES (/login/, the admin login and the API token); a success resets the count.
# Admins unlock in the admin (Axes > Access attempts: delete the row).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "leadcrm.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Behind a proxy, set AXES_IPWARE_PROXY_COUNT so the client IP is the real one, not the proxy's.
AXES_IPWARE_PROXY_COUNT = env_int("AXES_IPWARE_PROXY_COUNT", 0, minimum=0) or None
# A session idle this long ends (leadcrm/sessions.py refreshes an active one at most every 5 minutes).
SESSION_IDLE_TIMEOUT_SECONDS = env_int("SESSION_IDLE_TIMEOUT_SECONDS", 8 * 3600, minimum=300)
SESSION_COOKIE_AGE = SESSION_IDLE_TIMEOUT_SECONDS
# Closed leads older than this many months are anonymised by a daily beat task; 0 = never.
RETENTION_ANONYMISE_CLOSED_MONTHS = env_int("RETENTION_ANONYMISE_CLOSED_MONTHS", 0, minimum=0)
AUDIT_PAGE_SIZE = env_int("AUDIT_PAGE_SIZE", 100, minimum=1)
CELERY_BEAT_SCHEDULE["leads-retention-anonymise"] = _beat_entry(
    "leads.retention_anonymise", 24 * 3600, expires=6 * 3600
)

# --- Pages: error pages and expired sessions (issue 17) ----------------------------------
# `make run` serves with DEBUG off over plain http on 127.0.0.1, so a newcomer never sees Django's
# debug pages: it sets SECURE_COOKIES, SECURE_SSL_REDIRECT and STATIC_MANIFEST to false.
SECURE_COOKIES = env_bool("SECURE_COOKIES", True)
CSRF_FAILURE_VIEW = "leadcrm.errors.csrf_failure"

# --- scoring: activation gates (issue 13) ---------------------------------------------------
# A model failing one is never activated automatically; an admin may "activate anyway" with a reason.
# Holdout ROC AUC below this: little better than chance (or backwards).
SCORING_GATE_MIN_AUC = env_float("SCORING_GATE_MIN_AUC", 0.55)
# Holdout ROC AUC this far below the model's own cross-validated AUC (beyond sampling error).
SCORING_GATE_MAX_CV_GAP = env_float("SCORING_GATE_MAX_CV_GAP", 0.05)
# Holdout expected calibration error above this (beyond what chance gives on the holdout's size).
SCORING_GATE_MAX_ECE = env_float("SCORING_GATE_MAX_ECE", 0.10)

# --- the sales team's day: routing, SLA escalation, notifications, email (leads/routing.py, sla.py, notifications.py)
# A burst of new or rescored leads is routed once, this many seconds after the first of them.
ROUTING_DEBOUNCE_SECONDS = env_int("ROUTING_DEBOUNCE_SECONDS", 5, minimum=0)
ROUTING_EVERY_SECONDS = env_int("ROUTING_EVERY_SECONDS", 300, minimum=30)
# A lead's owner is warned when this share of its tier's first-contact SLA (REPORT_SLA_*_HOURS) has passed.
SLA_WARNING_FRACTION = env_float("SLA_WARNING_FRACTION", 0.75)
if not 0.0 < SLA_WARNING_FRACTION < 1.0:
    raise ImproperlyConfigured(f"SLA_WARNING_FRACTION={SLA_WARNING_FRACTION} must be between 0 and 1")
SLA_CHECK_EVERY_SECONDS = env_int("SLA_CHECK_EVERY_SECONDS", 300, minimum=30)
# Leads that breached longer ago than this were escalated already: the check never scans older ones.
SLA_LOOKBACK_HOURS = env_int("SLA_LOOKBACK_HOURS", 48, minimum=1)
# The daily "follow-ups due today" notifications go out at this local hour.
FOLLOW_UP_DIGEST_HOUR = env_int("FOLLOW_UP_DIGEST_HOUR", 7, minimum=0)
NOTIFICATION_EMAIL_RETRIES = env_int("NOTIFICATION_EMAIL_RETRIES", 5, minimum=0)
# Console email by default; EMAIL_HOST set: SMTP.
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "LeadCRM <leadcrm@localhost>")
# Links in emails (password reset, notifications) point here.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CELERY_BEAT_SCHEDULE.update(
    {
        "leads-route-pool": _beat_entry("leads.route_pool", ROUTING_EVERY_SECONDS),
        "leads-sla-escalate": _beat_entry("leads.sla_escalate", SLA_CHECK_EVERY_SECONDS),
        "leads-follow-ups-due-notify": _beat_entry("leads.follow_ups_due_notify", 3600),
    }
)

# --- Security (production: DEBUG off) -----------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if not DEBUG:
    SESSION_COOKIE_SECURE = SECURE_COOKIES
    CSRF_COOKIE_SECURE = SECURE_COOKIES
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Health, metrics and logs (leadcrm/health.py, leadcrm/metrics.py, leadcrm/logs.py) ------
# /metrics answers these addresses (REMOTE_ADDR; networks allowed) or a request sending
# "Authorization: Bearer $METRICS_TOKEN"; everyone else gets 403.
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
METRICS_TOKEN = env_str("METRICS_TOKEN")
if not DEBUG:
    # Load balancers probe over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
# text (default): readable lines for a terminal; json: one JSON object a line, for a log shipper.
LOG_FORMAT = env_str("LOG_FORMAT", "text")
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} must be text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "leadcrm.logs.ContextFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s task=%(task_id)s] %(message)s"},
        "json": {"()": "leadcrm.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["context"], "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
