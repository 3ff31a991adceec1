"""MAILNODE_RELAYHOST and its password file (provisioning/mailstack/relay.py): what Postfix gets,
what is refused with which message, and that the password never appears in one."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from provisioning.mailstack.relay import (
    NO_OUTSIDE_DELIVERY,
    Relay,
    RelayConfigError,
    outbound_settings,
    relay_from_settings,
    write_password_map,
)

SECRET = "s3cret with spaces:and colons"


@pytest.mark.parametrize("host", ["[smtp.example.com]:587", "smtp.example.com:25", "[10.0.0.1]"])
def test_relayhost_forms_postfix_knows(host: str) -> None:
    lines = outbound_settings(Relay(host), password_map="cdb:/x")
    assert f"relayhost = {host}\n" in lines and "default_transport = smtp\n" in lines
    assert "smtp_sasl_auth_enable" not in lines  # no password file: no AUTH


@pytest.mark.parametrize("host", ["smtp.example.com:0", "[a]:70000", "bad host", "x;y", "[]:25"])
def test_a_bad_relayhost_is_refused_with_its_name(host: str) -> None:
    with pytest.raises(RelayConfigError, match="MAILNODE_RELAYHOST"):
        Relay(host)


def test_without_relayhost_outside_mail_fails_at_once(settings) -> None:
    settings.MAILNODE_RELAYHOST = ""
    assert relay_from_settings() is None
    assert f"default_transport = {NO_OUTSIDE_DELIVERY}" in outbound_settings(None, password_map="")


def test_settings_name_the_file_never_the_login(settings, tmp_path: Path) -> None:
    settings.MAILNODE_RELAYHOST = "[127.0.0.1]:2525"
    settings.MAILNODE_RELAY_PASSWORD_FILE = str(tmp_path / "relay")
    relay = relay_from_settings()
    assert relay == Relay("[127.0.0.1]:2525", tmp_path / "relay")
    lines = outbound_settings(relay, password_map="cdb:/node/postfix/relay/relay_passwd")
    assert "smtp_sasl_password_maps = cdb:/node/postfix/relay/relay_passwd" in lines


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read it"),
        ("", "the first line must be user:password"),
        ("no colon here\n", "the first line must be user:password"),
        (":password-without-user\n", "the first line must be user:password"),
        (f"user name:{SECRET}\n", "the first line must be user:password"),
    ],
)
def test_a_bad_password_file_is_refused_without_its_content(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "relay"
    if content is not None:
        path.write_text(content)
    with pytest.raises(RelayConfigError, match=message) as caught:
        Relay("[127.0.0.1]:2525", path).login()
    assert SECRET not in str(caught.value) and str(path) in str(caught.value)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("postmap"), reason="needs root, postmap")
def test_the_map_is_roots_alone(tmp_path: Path) -> None:
    secret_file = tmp_path / "relay"
    secret_file.write_text(f"relayuser:{SECRET}\nignored second line\n")
    postfix_dir = tmp_path / "postfix"
    postfix_dir.mkdir()
    table = write_password_map(Relay("[127.0.0.1]:2525", secret_file), postfix_dir, "cdb")
    folder = postfix_dir / "relay"
    assert table == f"cdb:{folder / 'relay_passwd'}"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("relay_passwd", "relay_passwd.cdb"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert (folder / "relay_passwd").read_text() == f"[127.0.0.1]:2525 relayuser:{SECRET}\n"
    # Without a relay (or a login) the map is emptied, never left with an old password.
    write_password_map(None, postfix_dir, "cdb")
    assert (folder / "relay_passwd").read_text() == ""
