"""mypy's configuration covers what docs/typing.md promises: every app is checked, and the node's
code (agent, renderers), the policy service and every services module are checked strictly.

mypy itself runs in `make lint` (and so in `make test`); this only reads its configuration, so
a new `*_services.py` or app that the configuration misses fails here, not silently.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from mypy.config_parser import parse_config_file
from mypy.options import Options

REPO = Path(__file__).resolve().parent.parent
# The per-module flags `strict` turns on (pyproject.toml spells them out).
STRICT_FLAGS = (
    "disallow_untyped_defs", "disallow_incomplete_defs", "disallow_untyped_calls",
    "disallow_untyped_decorators", "disallow_any_generics", "disallow_subclassing_any",
    "warn_return_any", "strict_equality",
)  # fmt: skip


def _options() -> Options:
    options = Options()
    errors = io.StringIO()
    parse_config_file(options, lambda: None, str(REPO / "pyproject.toml"), io.StringIO(), errors)
    assert errors.getvalue() == ""  # e.g. a module pattern mypy cannot read
    return options


def _module(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


def _apps() -> list[str]:
    return [*sorted(p.parent.name for p in REPO.glob("*/apps.py")), "tempusmail"]


def _strict_set() -> list[str]:
    apps = _apps()
    services = [
        _module(p)
        for app in apps
        for pattern in ("**/services.py", "**/*_services.py")
        for p in (REPO / app).glob(pattern)
        if "migrations" not in p.parts
    ]
    node = [_module(p) for p in (REPO / "provisioning").glob("node/*.py")]
    policy = [_module(p) for p in (REPO / "provisioning").glob("policy/*.py")]
    return sorted(services + node + policy)


def test_every_app_is_checked() -> None:
    assert sorted(_options().files or []) == sorted(_apps())


def test_the_strict_set_includes_the_renderers_and_every_service() -> None:
    modules = _strict_set()
    for expected in ("provisioning.node.render", "provisioning.node.sieve", "mailboxes.services"):
        assert expected in modules


@pytest.mark.parametrize("module", _strict_set())
def test_strict(module: str) -> None:
    options = _options().clone_for_module(module)
    assert {flag: getattr(options, flag) for flag in STRICT_FLAGS} == dict.fromkeys(
        STRICT_FLAGS, True
    )
