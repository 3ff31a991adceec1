"""Web hardening: security headers and cookies, TLS settings from the environment, templates
without inline script or style (the Content-Security-Policy forbids them), and no secret in any
log line or error report.

The walk of every URL (tests/test_url_walk.py) checks access and CSRF; the browser test
(tests/test_browser_csp.py) checks that Chromium reports no CSP violation on the pages.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client, override_settings
from django.urls import resolve, reverse
from django.views.debug import SafeExceptionReporterFilter

from mailboxes.models import Mailbox
from mailboxes.passwords import hash_password
from tempusmail.log_redaction import RedactSecrets
from tests.bed import REPO
from tests.personas import PASSWORD, World, build_world, owner_of

pytestmark = pytest.mark.django_db

WIZARD_PASSWORD = "wizard-secret-Pw-41"
ADMIN_SET_PASSWORD = "admin-set-secret-Pw-42"
OWNER_NEW_PASSWORD = "owner-new-secret-Pw-43"
CLEANSED = SafeExceptionReporterFilter.cleansed_substitute


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


# --- headers and cookies ---------------------------------------------------------------------


def _directives(header: str) -> dict[str, list[str]]:
    parts = (part.split() for part in header.split(";") if part.strip())
    return {words[0]: words[1:] for words in parts}


def test_pages_carry_a_strict_content_security_policy(world: World) -> None:
    for client, url in [
        (world.client("anonymous"), reverse("login")),
        (world.client("alice"), reverse("mailbox_detail", args=[world.acme_mailbox.pk])),
    ]:
        policy = _directives(client.get(url)["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"]
        assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
        assert policy["img-src"] == ["'self'", "data:"]
        assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == ["'none'"]
        assert policy["form-action"] == ["'self'"]
        assert not any("unsafe" in source for sources in policy.values() for source in sources)


def test_pages_refuse_framing_sniffing_and_cross_site_referrers(world: World) -> None:
    response = world.client("alice").get(reverse("mailbox_list", args=[world.acme_domain.pk]))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in response  # plain HTTP: no HSTS


def test_cookies_are_http_only_and_same_site(world: World) -> None:
    client = Client()
    form = client.get(reverse("login"))
    login = client.post(
        reverse("login"), {"username": world.users["alice"].username, "password": PASSWORD}
    )
    assert login.status_code == 302
    for name, response in [
        (settings.CSRF_COOKIE_NAME, form),
        (settings.SESSION_COOKIE_NAME, login),
    ]:
        cookie = response.cookies[name]
        assert cookie["httponly"] and cookie["samesite"] == "Lax", name
        assert not cookie["secure"], name  # SECURE_TLS is off in the tests


def _settings_with(environment: dict[str, str]) -> dict[str, object]:
    """The security settings a fresh process reads from this environment."""
    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n, None) for n in ["
        "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', "
        "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_PROXY_SSL_HEADER']}))"
    )
    names = ("SECURE_TLS", "SECURE_HSTS_SECONDS", "SECURE_PROXY_SSL_HEADER")
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(DJANGO_SETTINGS_MODULE="tempusmail.settings", **environment)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tls_settings_come_from_the_environment(world: World) -> None:
    plain = _settings_with({})
    assert plain["SESSION_COOKIE_SECURE"] is plain["CSRF_COOKIE_SECURE"] is False
    assert plain["SECURE_HSTS_SECONDS"] == 0 and plain["SECURE_PROXY_SSL_HEADER"] is None

    tls = _settings_with({"SECURE_TLS": "true", "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto"})
    assert tls["SESSION_COOKIE_SECURE"] is tls["CSRF_COOKIE_SECURE"] is True
    assert tls["SECURE_HSTS_SECONDS"] == 31_536_000
    assert tls["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]

    # With those settings, a request the proxy marks as HTTPS gets HSTS; one it does not, none.
    url = reverse("mailbox_list", args=[world.acme_domain.pk])
    with override_settings(
        SECURE_HSTS_SECONDS=tls["SECURE_HSTS_SECONDS"],
        SECURE_PROXY_SSL_HEADER=tuple(tls["SECURE_PROXY_SSL_HEADER"]),
    ):
        alice = world.client("alice")
        proxied = alice.get(url, headers={"x-forwarded-proto": "https"})
        assert proxied["Strict-Transport-Security"] == "max-age=31536000"
        assert "Strict-Transport-Security" not in alice.get(url)
    # Without SECURE_PROXY_SSL_HEADER the header is anyone's to send: it is not believed.
    with override_settings(SECURE_HSTS_SECONDS=31_536_000):
        ignored = world.client("alice").get(url, headers={"x-forwarded-proto": "https"})
        assert "Strict-Transport-Security" not in ignored


# --- templates ------------------------------------------------------------------------------

# What a strict CSP blocks: inline scripts (a <script> with no src, unless a JSON data block),
# event-handler attributes, javascript: URLs, inline styles, and htmx attributes that evaluate.
_INLINE = {
    "inline <script>": re.compile(
        r"<script\b(?![^>]*\bsrc\s*=)(?![^>]*type\s*=\s*[\"']application/json)[^>]*>", re.I
    ),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "htmx evaluating attribute": re.compile(r"\shx-on[:-]|\shx-(?:vals|vars)\s*=\s*[\"']js:", re.I),
}


_COMMENTS = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)


def _templates() -> list[Path]:
    folders = [REPO / "templates", *REPO.glob("*/templates")]
    return sorted(p for folder in folders if folder.is_dir() for p in folder.rglob("*.html"))


def _blank_lines(comment: re.Match[str]) -> str:
    return "\n" * comment.group().count("\n")  # keeps the line numbers of what follows


def test_templates_have_no_inline_script_handler_or_style() -> None:
    found = [
        f"{path.relative_to(REPO)}:{text[: match.start()].count(chr(10)) + 1}: {what}"
        for path in _templates()
        for text in [_COMMENTS.sub(_blank_lines, path.read_text("utf-8"))]
        for what, pattern in _INLINE.items()
        for match in pattern.finditer(text)
    ]
    assert len(_templates()) > 20
    assert not found, "Move these into static/js or static/css:\n" + "\n".join(found)


def test_htmx_never_injects_its_inline_indicator_style() -> None:
    # htmx adds a <style> element unless told not to: every page that loads it says so.
    loading = [path for path in _templates() if "htmx.min.js" in path.read_text("utf-8")]
    assert loading
    for path in loading:
        config = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", path.read_text())
        assert config is not None, f"{path}: loads htmx without its htmx-config meta"
        assert json.loads(config.group(1)) == {
            "includeIndicatorStyles": False, "allowEval": False, "allowScriptTags": False,
        }, path  # fmt: skip


# --- no secrets in logs -----------------------------------------------------------------------


@dataclass
class LogCapture:
    stream: io.StringIO
    caplog: pytest.LogCaptureFixture

    def output(self) -> str:
        """What the configured handlers wrote."""
        return self.stream.getvalue()

    def records(self) -> str:
        """Every record as any handler would get it (pytest's own capture handler included)."""
        formatter = logging.Formatter("%(name)s %(message)s")
        return "\n".join(formatter.format(record) for record in self.caplog.records)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[LogCapture]:
    """The panel logging everything, SQL included, into the handlers settings.LOGGING made."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, RedactSecrets) for f in handler.filters)
    ]
    assert handlers, "settings.LOGGING gives the root logger no redacting handler"
    stream = io.StringIO()
    previous = [handler.setStream(stream) for handler in handlers]
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    connection.force_debug_cursor = True
    try:
        yield LogCapture(stream, caplog)
    finally:
        connection.force_debug_cursor = False
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


def _wizard_creates_an_account(client: Client, world: World) -> Mailbox:
    start = client.get(reverse("mailbox_wizard_start", args=[world.acme_domain.pk]))
    token = str(resolve(start["Location"]).kwargs["token"])
    steps = {
        "account": {"first_name": "Log", "last_name": "Test", "local_part": "logtest",
                    "password1": WIZARD_PASSWORD, "password2": WIZARD_PASSWORD},
        "services": {"quota": "1G", "mail_access": "on"},
        "security": {},
        "options": {},
    }  # fmt: skip
    for step, data in steps.items():
        url = reverse("mailbox_wizard_step", args=[world.acme_domain.pk, token, step])
        response = client.post(url, {**data, "action": "next"})
        assert response.status_code == 302, response.context["form"].errors
    client.get(reverse("mailbox_wizard_summary", args=[world.acme_domain.pk, token]))
    client.post(reverse("mailbox_wizard_confirm", args=[world.acme_domain.pk, token]))
    return Mailbox.objects.get(domain=world.acme_domain, local_part="logtest")


def test_passwords_posted_through_the_panel_never_reach_a_log(world: World, logs) -> None:
    alice = world.client("alice")
    created = _wizard_creates_an_account(alice, world)
    security = reverse("mailbox_security", args=[world.acme_mailbox.pk])
    response = alice.post(security, {"form": "password", "pw-password": ADMIN_SET_PASSWORD,
                                     "pw-password_confirm": ADMIN_SET_PASSWORD})  # fmt: skip
    assert response.status_code == 302
    delete = reverse("mailbox_delete", args=[created.pk])
    assert alice.post(delete, {"password": "not-alices-" + PASSWORD}).status_code == 200
    owner = Client()
    owner.force_login(owner_of(world.other_mailbox))
    response = owner.post(reverse("owner_password_change"), {
        "current_password": PASSWORD, "new_password": OWNER_NEW_PASSWORD,
        "new_password_again": OWNER_NEW_PASSWORD,
    })  # fmt: skip
    assert response.status_code == 302

    output, records = logs.output(), logs.records()
    assert "INSERT INTO" in output and "UPDATE" in output  # SQL was logged, values and all
    hashes = [
        Mailbox.objects.get(pk=pk).password_hash
        for pk in (created.pk, world.acme_mailbox.pk, world.other_mailbox.pk)
    ]
    sessions = [s.session_data for s in Session.objects.all()]  # the wizard's draft was there
    secrets = [WIZARD_PASSWORD, ADMIN_SET_PASSWORD, OWNER_NEW_PASSWORD, PASSWORD, *hashes,
               *sessions, settings.SECRET_KEY]  # fmt: skip
    for secret in secrets:
        assert secret not in output, f"the log output holds {secret[:12]}..."
        assert secret not in records, f"a log record holds {secret[:12]}..."


def test_hashes_keys_and_secrets_in_messages_and_tracebacks_are_redacted(logs) -> None:
    mailbox_hash = hash_password("some-password-1")
    totp_key = "JBSWY3DPEHPK3PXPJBSWY3DP"
    log = logging.getLogger("provisioning.tasks")
    log.error("apply failed: %s", {"address": "a@example.test", "password_hash": mailbox_hash})
    try:
        raise ValueError(f"cannot parse {{SHA512-CRYPT}}{mailbox_hash}")
    except ValueError:
        log.exception("apply of example.test v3 failed")
    log.warning("otpauth://totp/TempusMail:alice?secret=%s&issuer=TempusMail", totp_key)
    log.warning("settings: SECRET_KEY=%s", settings.SECRET_KEY)

    for text in (logs.output(), logs.records()):
        for secret in (mailbox_hash, mailbox_hash.split("$")[-1], totp_key, settings.SECRET_KEY):
            assert secret not in text
        assert "apply failed" in text and "a@example.test" in text  # the rest is kept
    output = logs.output()
    assert "ValueError: cannot parse [redacted]" in output and output.count("[redacted]") >= 4


def test_a_celery_worker_redacts_its_log_lines_too() -> None:
    # A worker replaces the root logger's handlers with its own (tempusmail/celery.py).
    mailbox_hash = hash_password("some-password-1")
    script = (
        "import logging, sys; from tempusmail.celery import app; "
        "app.log.setup(loglevel='INFO', redirect_stdouts=False); "
        f"logging.getLogger('provisioning.tasks').error('state %s', {mailbox_hash!r})"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tempusmail.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    assert "state [redacted]" in done.stderr
    assert mailbox_hash not in done.stderr + done.stdout


@pytest.mark.parametrize("view", ["wizard", "security", "delete", "owner"])
def test_password_views_hide_their_passwords_from_error_reports(world: World, view: str) -> None:
    """Error reports (the debug page, mails to admins) list POST data: never the passwords."""
    alice = world.client("alice")
    if view == "wizard":
        token = str(resolve(alice.get(
            reverse("mailbox_wizard_start", args=[world.acme_domain.pk])
        )["Location"]).kwargs["token"])  # fmt: skip
        url = reverse("mailbox_wizard_step", args=[world.acme_domain.pk, token, "account"])
        client, data = alice, {"local_part": "x", "password1": "p-1", "password2": "p-2"}
    elif view == "security":
        url = reverse("mailbox_security", args=[world.acme_mailbox.pk])
        data = {"form": "password", "pw-password": "p-1", "pw-password_confirm": "p-2"}
        client = alice
    elif view == "delete":
        url = reverse("mailbox_delete", args=[world.acme_mailbox.pk])
        client, data = alice, {"password": "p-1"}
    else:
        url = reverse("owner_password_change")
        client = Client()
        client.force_login(owner_of(world.acme_mailbox))
        data = {"current_password": "p-0", "new_password": "p-1", "new_password_again": "p-2"}
    request = client.post(url, data).wsgi_request
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    for field, value in data.items():
        if value.startswith("p-"):
            assert shown[field] == CLEANSED, f"{view}: {field} is shown in error reports"
        else:
            assert shown[field] == value  # the rest stays, to debug with
