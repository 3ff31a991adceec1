"""TempusMail settings: the one place configuration is read, always from the environment.

With no environment at all this runs on SQLite with Celery tasks executed in-process (no broker),
writing the local mail node's files under var/mailstack. Every variable is documented in
.env.example.
"""

from __future__ import annotations

from pathlib import Path

import environ
from csp import constants as csp

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # backup codes
    "organizations",
    "domains",
    "mailboxes",
    "security",
    "webmail_settings",
    "provisioning",
    "owners",
    "jobs",
    "imports",
    "invitations",
    "api",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request (the session cookie, forms, the login throttle):
    # refuses values nothing can store, ids the request, keeps /api/ errors JSON.
    "tempusmail.request_guard.RequestGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "owners.middleware.OwnerSessionMiddleware",  # after messages: it may say why you left
    # After the owners' one (a forced password change comes first): forced 2FA after its grace.
    "security.middleware.TwoFactorPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tempusmail.urls"
WSGI_APPLICATION = "tempusmail.wsgi.application"

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

(BASE_DIR / "var").mkdir(exist_ok=True)  # the embedded default keeps its files here
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file-backed test database, so that a worker process started by the tests sees it.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str(
        "TEST_SQLITE_NAME", default=str(BASE_DIR / "var" / "test-db.sqlite3")
    )
    # The web process and workers write concurrently: wait for locks, and take the write lock
    # at BEGIN so two writers never deadlock upgrading read locks; WAL lets readers go on.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL;"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Admins' panel passwords (mailbox passwords have their own policy: mailboxes/passwords.py).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "var" / "static")))

# Admins log in with a user name; mailbox owners with their address and mailbox password.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "owners.backends.MailboxOwnerBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Login: two-factor codes and throttling (security/) -----------------------------------
# A user with a confirmed authenticator gives a code within this many seconds of the password.
LOGIN_CODE_TIMEOUT_SECONDS = env.int("LOGIN_CODE_TIMEOUT_SECONDS", default=300)
# Sensitive actions (delete, 2FA reset, limits above the plan) need a password (+ code) this recent.
REAUTH_WINDOW_MINUTES = env.int("REAUTH_WINDOW_MINUTES", default=5)
# django-otp's per-device back-off stays off: the login throttle below counts wrong codes and
# says so, where the back-off would silently refuse a right code typed soon after a wrong one.
OTP_TOTP_THROTTLE_FACTOR = 0
OTP_STATIC_THROTTLE_FACTOR = 0
# Failed logins per account name (as typed) and per client IP, over a sliding window: from
# DELAY_AFTER failures on, each try waits DELAY_SECONDS after the last; at LOCK_AFTER the name
# or IP is locked for LOCK_MINUTES. An IP gets more room: an office shares one.
LOGIN_THROTTLE_WINDOW_MINUTES = env.int("LOGIN_THROTTLE_WINDOW_MINUTES", default=15)
LOGIN_THROTTLE_DELAY_AFTER = env.int("LOGIN_THROTTLE_DELAY_AFTER", default=5)
LOGIN_THROTTLE_DELAY_SECONDS = env.int("LOGIN_THROTTLE_DELAY_SECONDS", default=30)
LOGIN_THROTTLE_LOCK_AFTER = env.int("LOGIN_THROTTLE_LOCK_AFTER", default=10)
LOGIN_THROTTLE_LOCK_MINUTES = env.int("LOGIN_THROTTLE_LOCK_MINUTES", default=15)
LOGIN_THROTTLE_IP_DELAY_AFTER = env.int("LOGIN_THROTTLE_IP_DELAY_AFTER", default=10)
LOGIN_THROTTLE_IP_LOCK_AFTER = env.int("LOGIN_THROTTLE_IP_LOCK_AFTER", default=30)

# --- Web hardening ------------------------------------------------------------------------
# SECURE_TLS: the panel is served over HTTPS (usually a TLS-terminating proxy in front of it).
# Then cookies travel only over TLS and browsers are told to use nothing but HTTPS (HSTS).
SECURE_TLS = env.bool("SECURE_TLS", default=False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_TLS
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True  # no script of ours reads either cookie
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000) if SECURE_TLS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
# The header a trusted proxy sets to "https" for requests that reached it over TLS, e.g.
# X-Forwarded-Proto. Only when set: otherwise any client could claim HTTPS with it.
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# Networks of the reverse proxies in front of the panel: requests from them are attributed to
# the X-Forwarded-For client (tempusmail/client_ip.py). Empty: REMOTE_ADDR is the client.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# No inline script or style, no plugins, no framing, forms post only here. Pages keep their
# behaviour in static/js; QR codes are inline <svg> markup (no style attribute).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp.SELF],
        "script-src": [csp.SELF],
        "style-src": [csp.SELF],
        "img-src": [csp.SELF, "data:"],
        "object-src": [csp.NONE],
        "base-uri": [csp.NONE],
        "frame-ancestors": [csp.NONE],
        "form-action": [csp.SELF],
    },
}

# --- Celery -------------------------------------------------------------------------------
# No broker configured: tasks run in-process, so the README's run command needs no Redis.
CELERY_TASK_ALWAYS_EAGER = not env.str("CELERY_BROKER_URL", default="")
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_DEFAULT_QUEUE = "panel"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE = {
    "reconcile-provisioning": {
        "task": "provisioning.tasks.reconcile",
        "schedule": env.float("PROVISIONING_RECONCILE_SECONDS", default=30.0),
    },
    # Expired passwords refuse protocol logins from the next run on.
    "expire-passwords": {"task": "mailboxes.tasks.expire_passwords", "schedule": 60.0},
    # Asks every mail node for its accounts' storage, message count and last login.
    "request-usage-reports": {
        "task": "provisioning.tasks.request_usage_reports",
        "schedule": env.float("PROVISIONING_USAGE_SECONDS", default=300.0),
    },
    # Each node's mail queue (the panel's Queue pages show this snapshot, with its time).
    "request-queue-reports": {
        "task": "provisioning.tasks.request_queue_reports",
        "schedule": env.float("PROVISIONING_QUEUE_SECONDS", default=300.0),
    },
    # Asks every mail node to delete the homes of deleted accounts past their retention.
    "request-trash-purge": {
        "task": "provisioning.tasks.request_trash_purge",
        "schedule": 3600.0,
    },
    # Checked CSV uploads nobody imported go after a day (they may hold typed passwords).
    "forget-stale-uploads": {"task": "imports.tasks.forget_stale_uploads", "schedule": 3600.0},
    # Replaced DKIM keys retire once their grace period is over (domains/dkim_services.py).
    "retire-dkim-keys": {"task": "domains.tasks.retire_dkim_keys", "schedule": 3600.0},
}

# --- Provisioning -------------------------------------------------------------------------
# The mail node that new domains are placed on, and the folder its agent writes into when it
# runs on this machine (the same folder `manage.py mailstack start` serves from).
DEFAULT_MAIL_NODE = env.str("DEFAULT_MAIL_NODE", default="local")
MAILNODE_DIR = Path(env.str("MAILNODE_DIR", default=str(BASE_DIR / "var" / "mailstack"))).resolve()
MAILNODE_MAP_TYPE = env.str("MAILNODE_MAP_TYPE", default="cdb")
# Redis the node's Dovecot writes usage into (quota_clone, last_login) and its agent reads back,
# and the prefix of this node's keys there (nodes and test runs can share one Redis).
MAILNODE_REDIS_URL = env.str("MAILNODE_REDIS_URL", default="redis://127.0.0.1:6379/0")
MAILNODE_REDIS_PREFIX = env.str(
    "MAILNODE_REDIS_PREFIX", default=f"tm/{env.str('MAILNODE_NAME', default=DEFAULT_MAIL_NODE)}/"
)
# Redis of the "sent" counters (provisioning/sent_counter.py): one for all mail nodes, whose
# policy services write them, and the panel, which reads them ("sent in 24 h").
SENDING_REDIS_URL = env.str("SENDING_REDIS_URL", default="redis://127.0.0.1:6379/0")
SENDING_REDIS_PREFIX = env.str("SENDING_REDIS_PREFIX", default="tm/")
# The password-guessing guard (provisioning/policy/guard*.py, issue 27): its counts and bans
# live in this Redis, shared by every mail node and read by the panel (default: the counters').
GUARD_REDIS_URL = env.str("GUARD_REDIS_URL", default=SENDING_REDIS_URL)
GUARD_REDIS_PREFIX = env.str("GUARD_REDIS_PREFIX", default=SENDING_REDIS_PREFIX)
# Its rules (guard_rules.py): 3 free failures per client in 10 min, then a doubling delay (at
# most 15 s); 10 failures: a 1 h ban, doubled for each ban in the last 30 days (at most 7 days).
# A login name with more than 20 failures in the window delays every client not known to it.
GUARD_WINDOW_SECONDS = env.int("GUARD_WINDOW_SECONDS", default=600)
GUARD_FREE_FAILURES = env.int("GUARD_FREE_FAILURES", default=3)
GUARD_BAN_AFTER = env.int("GUARD_BAN_AFTER", default=10)
GUARD_BAN_SECONDS = env.int("GUARD_BAN_SECONDS", default=3600)
GUARD_MAX_DELAY_SECONDS = env.int("GUARD_MAX_DELAY_SECONDS", default=15)
GUARD_ACCOUNT_FREE_FAILURES = env.int("GUARD_ACCOUNT_FREE_FAILURES", default=20)
# The provider's own networks, neither counted nor delayed (monitoring; a webmail host that
# forwards its users' own addresses is trusted by Dovecot instead, login_trusted_networks).
GUARD_EXEMPT_NETWORKS = env.list("GUARD_EXEMPT_NETWORKS", default=[])
# How `mailstack start` runs the node (provisioning/mailstack/profile.py, docs/deployment.md):
# "testbed" listens on 127.0.0.1 at ports it picks; "production" on MAILNODE_LISTEN at 25, 465,
# 587, 993, 995 and 4190 with TLS, postscreen and delivery to the world by MX.
MAILNODE_PROFILE = env.str("MAILNODE_PROFILE", default="testbed")
MAILNODE_HOSTNAME = env.str("MAILNODE_HOSTNAME", default="mx.tempusmail.test")
# A public mail host listens on every address (a container's only one) unless told otherwise.
MAILNODE_LISTEN = env.list("MAILNODE_LISTEN", default=["0.0.0.0", "::"])  # noqa: S104
# Clients that may relay without logging in (e.g. the panel's host). Nothing by default.
MAILNODE_MYNETWORKS = env.list("MAILNODE_MYNETWORKS", default=[])
MAILNODE_MESSAGE_SIZE_LIMIT = env.int("MAILNODE_MESSAGE_SIZE_LIMIT", default=25 * 1024 * 1024)
# The certificate of MAILNODE_HOSTNAME (PEM files); empty: a self-signed one is made.
MAILNODE_TLS_CERT = env.str("MAILNODE_TLS_CERT", default="")
MAILNODE_TLS_KEY = env.str("MAILNODE_TLS_KEY", default="")
# A name server Postfix asks instead of /etc/resolv.conf's (a private mount namespace).
MAILNODE_RESOLVER = env.str("MAILNODE_RESOLVER", default="")
# Per client IP at port 25 (Postfix anvil): connections at once, connections and messages a
# minute; and how long postscreen waits for a client that talks before its turn.
MAILNODE_CLIENT_CONNECTIONS = env.int("MAILNODE_CLIENT_CONNECTIONS", default=20)
MAILNODE_CLIENT_CONNECTION_RATE = env.int("MAILNODE_CLIENT_CONNECTION_RATE", default=60)
MAILNODE_CLIENT_MESSAGE_RATE = env.int("MAILNODE_CLIENT_MESSAGE_RATE", default=120)
MAILNODE_POSTSCREEN_GREET_WAIT = env.int("MAILNODE_POSTSCREEN_GREET_WAIT", default=6)
# Smarthost outside mail leaves through ("[host]:port", read by `mailstack start`; empty: none),
# and the file holding its AUTH login as "user:password" (never the login itself here).
MAILNODE_RELAYHOST = env.str("MAILNODE_RELAYHOST", default="")
MAILNODE_RELAY_PASSWORD_FILE = env.str("MAILNODE_RELAY_PASSWORD_FILE", default="")
# Homes of deleted accounts are kept this many days in the node's trash/, then purged.
MAILNODE_TRASH_RETENTION_DAYS = env.int("MAILNODE_TRASH_RETENTION_DAYS", default=7)
# A change not acknowledged within this many seconds is sent again by the reconcile task.
PROVISIONING_RESEND_AFTER_SECONDS = env.float("PROVISIONING_RESEND_AFTER_SECONDS", default=20.0)
# SHA512-CRYPT rounds: Dovecot verifies in one auth process, so this caps logins/s per node.
# The webmail server's key for GET /api/webmail/v1/me ("Authorization: Bearer <key>"); empty
# closes that way in (owners' own sessions still work). See docs/webmail.md.
WEBMAIL_SERVICE_KEY = env.str("WEBMAIL_SERVICE_KEY", default="")
MAILBOX_HASH_ROUNDS = env.int("MAILBOX_HASH_ROUNDS", default=5000)
# A new mailbox password may not be any of the account's last N (the current one included).
MAILBOX_PASSWORD_HISTORY = env.int("MAILBOX_PASSWORD_HISTORY", default=5)

# The JSON API (api/): requests per key per minute (0: no limit), counted in this Redis under
# this prefix. Redis away: requests are allowed and a warning logged (api/ratelimit.py).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=600)
API_RATE_LIMIT_REDIS_URL = env.str("API_RATE_LIMIT_REDIS_URL", default="redis://127.0.0.1:6379/0")
API_RATE_LIMIT_REDIS_PREFIX = env.str("API_RATE_LIMIT_REDIS_PREFIX", default="tm/")

# Outgoing mail of the panel itself (invitations): Django's SMTP backend to this server.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="TempusMail <no-reply@localhost>")
# Where the panel is reached from outside: absolute links in e-mails.
PANEL_BASE_URL = env.str("PANEL_BASE_URL", default="http://127.0.0.1:8000")
# An invitation link works this many days after it was sent (or resent).
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", default=7)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Password hashes, the secret key and SQL values never reach a log line
    # (tempusmail/log_redaction.py).
    # A request's id (X-Request-ID) goes beside its traceback (tempusmail/request_id.py).
    "filters": {
        "redact_secrets": {"()": "tempusmail.log_redaction.RedactSecrets"},
        "request_id": {"()": "tempusmail.request_id.RequestIdLogFilter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    "loggers": {
        # Per-task success lines would drown the commands' own output in eager mode.
        "celery.app.trace": {"level": "WARNING"},
        # Django's own default handlers would bypass the filter: its records go to the root's.
        "django": {"handlers": []},
        # Its "Internal Server Error" records carry the traceback: add the request's id.
        "django.request": {"filters": ["request_id"]},
        # Logged SQL carries its values; redacted where it is logged, for every handler.
        "django.db.backends": {"filters": ["redact_secrets"]},
    },
}
