"""The container setup: docker-compose.yml, the two Dockerfiles and the scripts they start.

No Docker engine runs where the tests run, so nothing is built here. Instead, everything a build
or a container start relies on is checked against the repository: the services, the paths that
are built and copied, the executables, Python modules and management commands (with their
options) that are run, the variables that are set, the volumes, and the ports. The two
entrypoint scripts are run for real, with stub `python`/`celery`/`gunicorn` programs that record
how they were called.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCS = REPO / "docs" / "deployment.md"

SERVICES = {"postgres", "redis", "web", "worker", "beat", "mailnode"}
PANEL_SERVICES = ("web", "worker", "beat")
OWN_SERVICES = (*PANEL_SERVICES, "mailnode")
# Variables read by the third-party images themselves, not by TempusMail.
IMAGE_VARIABLES = {
    "postgres": {"POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD"},
    "redis": {"REDISCLI_AUTH"},  # redis-cli's password, for the health check
}
# What the third-party images' own commands may run.
IMAGE_PROGRAMS = {"postgres": {"pg_isready"}, "redis": {"redis-server", "redis-cli"}}
# Console scripts our images get from pyproject's [project] dependencies.
CONSOLE_SCRIPTS = {"celery": "celery", "gunicorn": "gunicorn"}
MAILNODE_PACKAGES = {
    "postfix",
    "postfix-cdb",
    "dovecot-core",
    "dovecot-imapd",
    "dovecot-pop3d",
    "dovecot-lmtpd",
    "dovecot-sieve",
    "dovecot-managesieved",
    "python3",
}


# --- reading the files ---------------------------------------------------------------------


@functools.cache
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


_VARIABLE = re.compile(
    r"\$(?:\{(?P<braced>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))"
)


def interpolate(value: str) -> str:
    """Compose's interpolation with nothing set: defaults apply, others read as <NAME>."""

    def one(match: re.Match[str]) -> str:
        if match["op"] in (":-", "-"):
            return match["arg"]
        return f"<{match['braced'] or match['bare']}>"

    return "$".join(_VARIABLE.sub(one, part) for part in value.split("$$"))


def interpolated_names(value: str) -> set[str]:
    names = set()
    for part in value.split("$$"):
        names |= {m["braced"] or m["bare"] for m in _VARIABLE.finditer(part)}
    return names


def environment(name: str) -> dict[str, str]:
    """A service's environment as the container sees it (compose defaults applied)."""
    env = service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolate(str(value)) for key, value in env.items()}


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def argv_of(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(interpolate(value))
    return [interpolate(str(arg)) for arg in value]


def env_example_names() -> set[str]:
    text = (REPO / ".env.example").read_text("utf-8")
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def settings_env_names() -> set[str]:
    text = (REPO / "tempusmail" / "settings.py").read_text("utf-8")
    return set(re.findall(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", text))


def dependency_names() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    return {re.match(r"[A-Za-z0-9_.-]+", dep)[0].lower() for dep in project["dependencies"]}


@functools.cache
def dockerignore() -> tuple[str, ...]:
    lines = (REPO / ".dockerignore").read_text("utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def _glob_match(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    """Docker's pattern matching: `*` stays within one path segment, `**` spans any number."""
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_glob_match(rest, path[i:]) for i in range(len(path) + 1))
    return bool(path) and fnmatch.fnmatchcase(path[0], head) and _glob_match(rest, path[1:])


def dockerignored(relative: str) -> bool:
    """Whether .dockerignore keeps a repository path out of the build context.

    The last matching pattern decides (`!` marks an exception); a pattern that matches a folder
    excludes everything inside it.
    """
    parts = PurePosixPath(relative).parts
    ignored = False
    for pattern in dockerignore():
        negated = pattern.startswith("!")
        pattern_parts = PurePosixPath(pattern.lstrip("!").strip("/")).parts
        if any(_glob_match(pattern_parts, parts[:i]) for i in range(1, len(parts) + 1)):
            ignored = not negated
    return ignored


@dataclass
class Dockerfile:
    path: Path
    context: Path
    instructions: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, name: str) -> Dockerfile:
        build = service(name)["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        dockerfile = cls(context / build.get("dockerfile", "Dockerfile"), context)
        logical = ""
        for raw in dockerfile.path.read_text("utf-8").splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue  # comments may sit between continued lines, too
            if line.endswith("\\"):
                logical += line[:-1] + " "
                continue
            keyword, _, args = (logical + line).partition(" ")
            dockerfile.instructions.append((keyword.upper(), args.strip()))
            logical = ""
        return dockerfile

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def exec_form(self, keyword: str) -> list[str]:
        args = self.last(keyword)
        if args is None:
            return []
        return json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]

    @property
    def workdir(self) -> str:
        return self.last("WORKDIR") or "/"

    @property
    def env(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for args in self.all("ENV"):
            values.update(token.split("=", 1) for token in shlex.split(args))
        return values

    def copies(self) -> Iterator[tuple[list[str], str]]:
        """(sources, absolute destination) of every COPY/ADD from the build context."""
        workdir = "/"
        for keyword, args in self.instructions:
            if keyword == "WORKDIR":
                workdir = str(PurePosixPath(workdir, args))
            if keyword not in ("COPY", "ADD"):
                continue
            tokens = json.loads(args) if args.startswith("[") else shlex.split(args)
            if any(token.startswith("--from") for token in tokens):
                continue  # from another stage, not from the repository
            *sources, dest = [token for token in tokens if not token.startswith("--")]
            absolute = str(PurePosixPath(workdir, dest))
            yield sources, absolute + ("/" if dest.endswith("/") else "")

    def repo_path(self, container_path: str) -> Path | None:
        """The repository file a path inside the image comes from (None: not from the repo)."""
        target = PurePosixPath(self.workdir, container_path)
        for sources, dest in self.copies():
            for source in sources:
                origin = (self.context / source).resolve()
                copied_to = PurePosixPath(dest.rstrip("/") or "/")
                if origin.is_dir():
                    if target == copied_to or copied_to in target.parents:
                        relative = target.relative_to(copied_to)
                        found = origin / relative
                        in_context = found.relative_to(self.context).as_posix()
                        return None if dockerignored(in_context) else found
                elif target == (copied_to / origin.name if dest.endswith("/") else copied_to):
                    return origin
        return None


# --- what the containers run ---------------------------------------------------------------


@dataclass(frozen=True)
class Invocation:
    where: str
    argv: tuple[str, ...]
    dockerfile: Dockerfile | None = field(default=None, compare=False, hash=False)


def shell_commands(text: str) -> Iterator[list[str]]:
    """The simple commands in a shell text (pipelines and lists split, a leading exec dropped)."""
    logical = text.replace("\\\n", " ")
    for line in logical.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        for token in [*lexer, ";"]:
            if token in ("|", "||", "&&", ";", ";;", "&"):
                if current and current[0] == "exec":
                    current = current[1:]
                if current:
                    yield current
                current = []
            else:
                current.append(token)


def entrypoint_script(name: str) -> Path | None:
    """The repository script a service's entrypoint runs, if it is one."""
    entrypoint = effective_argv(name)[0]
    if not entrypoint or "/" not in entrypoint[0]:
        return None
    return Dockerfile.of(name).repo_path(entrypoint[0])


def effective_argv(name: str) -> tuple[list[str], list[str]]:
    """(entrypoint, command) as Docker runs them: compose overrides the image's.

    Setting `entrypoint` in compose also drops the image's CMD.
    """
    svc = service(name)
    dockerfile = Dockerfile.of(name)
    if "entrypoint" in svc:
        entrypoint = argv_of(svc["entrypoint"])
        command = argv_of(svc.get("command"))
    else:
        entrypoint = dockerfile.exec_form("ENTRYPOINT")
        command = argv_of(svc["command"]) if "command" in svc else dockerfile.exec_form("CMD")
    return entrypoint, command


def healthcheck_commands(name: str) -> Iterator[list[str]]:
    test = service(name).get("healthcheck", {}).get("test")
    if not test:
        return
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    if test[0] == "CMD":
        yield argv_of(test[1:])
    elif test[0] == "CMD-SHELL":
        yield from shell_commands(interpolate(test[1]))


def invocations() -> list[Invocation]:
    """Every program our services run: entrypoints, commands, scripts and health checks."""
    found = []
    for name in OWN_SERVICES:
        dockerfile = Dockerfile.of(name)
        entrypoint, command = effective_argv(name)
        for part, argv in (("entrypoint", entrypoint), ("command", command)):
            if argv:
                found.append(Invocation(f"{name} {part}", tuple(argv), dockerfile))
        script = entrypoint_script(name)
        if script is not None and script.is_file():
            # The programs a script starts; the rest are shell builtins (set, cd, case, exit).
            for argv in shell_commands(script.read_text("utf-8")):
                if argv[0] in ("python", "python3", *CONSOLE_SCRIPTS):
                    found.append(Invocation(f"{name} {script.name}", tuple(argv), dockerfile))
        for argv in healthcheck_commands(name):
            found.append(Invocation(f"{name} healthcheck", tuple(argv), dockerfile))
    return found


def python_invocations(program: str) -> list[Invocation]:
    return [i for i in invocations() if i.argv[0] in (program, f"{program}3")]


def programs(argv_prefix: str) -> list[Invocation]:
    return [i for i in invocations() if i.argv[0] == argv_prefix]


def manage_py_calls() -> list[tuple[str, str, list[str]]]:
    """(where, command name, its --options) of every `python manage.py <command>`."""
    calls = []
    for inv in python_invocations("python"):
        if len(inv.argv) > 2 and inv.argv[1] == "manage.py":
            options = [arg.split("=", 1)[0] for arg in inv.argv[3:] if arg.startswith("--")]
            calls.append((inv.where, inv.argv[2], options))
    return calls


def module_file(dotted: str, root: Path = REPO) -> Path | None:
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def django_root() -> Path:
    spec = importlib.util.find_spec("django")
    assert spec is not None and spec.submodule_search_locations
    return Path(spec.submodule_search_locations[0])


def django_command_files(name: str) -> list[Path]:
    """The files of management command <name>: the project's own first, then Django's."""
    ours = [
        path
        for path in REPO.glob(f"*/management/commands/{name}.py")
        if not path.is_relative_to(REPO / ".venv")
    ]
    return ours + sorted(django_root().glob(f"**/management/commands/{name}.py"))


def app_label_of(command_file: Path) -> str | None:
    """The INSTALLED_APPS entry that provides a command file (None: Django's core commands)."""
    app_dir = command_file.parent.parent.parent
    if app_dir.is_relative_to(django_root()):
        label = ".".join(app_dir.relative_to(django_root().parent).parts)
        return None if label == "django.core" else label
    return ".".join(app_dir.relative_to(REPO).parts)


# --- services, images, builds --------------------------------------------------------------


def test_all_six_services_are_defined() -> None:
    assert set(compose()["services"]) >= SERVICES


def test_database_and_broker_images() -> None:
    assert service("postgres")["image"].startswith("postgres:16")
    assert service("redis")["image"].startswith("redis:7")


@pytest.mark.parametrize(
    ("name", "dockerfile"),
    [("web", "Dockerfile"), ("worker", "Dockerfile"), ("beat", "Dockerfile"),
     ("mailnode", "docker/mailnode/Dockerfile")],
)  # fmt: skip
def test_build_context_and_dockerfile_exist(name: str, dockerfile: str) -> None:
    build = service(name)["build"]
    context = (COMPOSE_FILE.parent / build["context"]).resolve()
    assert context == REPO, f"{name} must be built from the repository root"
    assert (context / build["dockerfile"]).resolve() == REPO / dockerfile
    assert (REPO / dockerfile).is_file()


def test_every_build_path_in_the_compose_file_exists() -> None:
    for name, svc in compose()["services"].items():
        if "build" in svc:
            context = COMPOSE_FILE.parent / svc["build"]["context"]
            assert context.is_dir(), f"{name}: build context {context} is missing"
            dockerfile = context / svc["build"].get("dockerfile", "Dockerfile")
            assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"


def test_web_worker_and_beat_share_one_image() -> None:
    builds = {json.dumps(service(n)["build"], sort_keys=True) for n in PANEL_SERVICES}
    images = {service(n)["image"] for n in PANEL_SERVICES}
    assert len(builds) == 1
    assert len(images) == 1
    assert service("mailnode")["image"] not in images


@pytest.mark.parametrize("name", ["web", "mailnode"])
def test_every_copied_source_exists_and_is_in_the_build_context(name: str) -> None:
    dockerfile = Dockerfile.of(name)
    copies = list(dockerfile.copies())
    assert copies, f"{dockerfile.path} copies nothing from the repository"
    for sources, _dest in copies:
        for source in sources:
            path = (dockerfile.context / source).resolve()
            assert path.exists(), f"{dockerfile.path}: COPY source {source} does not exist"
            relative = path.relative_to(dockerfile.context).as_posix()
            if relative != ".":
                assert not dockerignored(relative), f"{source} is excluded by .dockerignore"


@pytest.mark.parametrize("name", ["web", "mailnode"])
def test_the_code_is_copied_to_the_working_directory(name: str) -> None:
    # celery -A tempusmail, gunicorn tempusmail.wsgi and manage.py are found from there.
    dockerfile = Dockerfile.of(name)
    assert dockerfile.repo_path(dockerfile.workdir) == REPO
    assert dockerfile.repo_path("manage.py") == REPO / "manage.py"
    assert dockerfile.env.get("PYTHONPATH") == dockerfile.workdir


@pytest.mark.parametrize("name", ["web", "mailnode"])
def test_the_project_is_pip_installed_from_pyproject(name: str) -> None:
    dockerfile = Dockerfile.of(name)
    targets = [
        match[1]
        for run in dockerfile.all("RUN")
        for match in re.finditer(r"pip install (?:-\S+ )*(\S+)", run)
    ]
    assert targets, f"{dockerfile.path} never runs pip install"
    assert any(dockerfile.repo_path(target) == REPO for target in targets), targets
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    assert pyproject["project"]["dependencies"]


def test_panel_image_is_python_slim_non_root_and_exposes_8000() -> None:
    dockerfile = Dockerfile.of("web")
    assert dockerfile.all("FROM")[0].split()[0] == "python:3.11-slim"
    user = dockerfile.last("USER")
    assert user is not None and user.split(":")[0] not in ("root", "0")
    exposed = {port for args in dockerfile.all("EXPOSE") for port in args.split()}
    assert "8000" in exposed or "8000/tcp" in exposed


def test_mailnode_image_is_debian_12_with_the_mail_stack() -> None:
    dockerfile = Dockerfile.of("mailnode")
    base = dockerfile.all("FROM")[0].split()[0]
    assert re.fullmatch(r"debian:(12|bookworm)([-.][\w.-]+)?", base), base
    installed: set[str] = set()
    for run in dockerfile.all("RUN"):
        for match in re.finditer(r"apt-get install ((?:[\w.+-]+\s*)+)", run):
            installed |= {pkg for pkg in match[1].split() if not pkg.startswith("-")}
    assert installed >= MAILNODE_PACKAGES, MAILNODE_PACKAGES - installed
    # The map type the agent builds needs its Postfix package.
    map_type = environment("mailnode")["MAILNODE_MAP_TYPE"]
    assert map_type == "hash" or f"postfix-{map_type}" in installed


def test_dockerignore_keeps_secrets_and_local_state_out_but_not_the_code() -> None:
    for path in (".env", ".git/config", ".venv/bin/python", "var/db.sqlite3",
                 "tempusmail/__pycache__/settings.cpython-311.pyc"):  # fmt: skip
        assert dockerignored(path), f"{path} would be sent into the images"
    for path in ("manage.py", "pyproject.toml", "tempusmail/settings.py", "static/css/app.css",
                 "docker/web/entrypoint.sh", "docker/mailnode/entrypoint.sh"):  # fmt: skip
        assert not dockerignored(path), f"{path} would be missing from the images"


# --- what runs: executables, modules, management commands ----------------------------------


@pytest.mark.parametrize("name", OWN_SERVICES)
def test_each_service_runs_something(name: str) -> None:
    entrypoint, command = effective_argv(name)
    assert entrypoint or command, f"{name} has neither an entrypoint nor a command"


@pytest.mark.parametrize("name", OWN_SERVICES)
def test_entrypoint_scripts_exist_are_executable_and_parse(name: str) -> None:
    entrypoint, command = effective_argv(name)
    if not entrypoint:
        return
    script = entrypoint_script(name)
    assert script is not None, f"{name}: {entrypoint[0]} is not a file copied from the repo"
    assert script.is_file(), f"{name}: {script} is missing"
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert script.read_text("utf-8").startswith("#!/bin/sh\n")
    result = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    if command:
        # Otherwise the command compose passes would be silently dropped.
        assert 'exec "$@"' in script.read_text("utf-8"), f"{script} ignores its arguments"


def test_a_compose_entrypoint_that_runs_its_arguments_gets_a_command() -> None:
    # Setting entrypoint in compose drops the image's CMD: `exec "$@"` would then run nothing.
    for name in OWN_SERVICES:
        script = entrypoint_script(name)
        if "entrypoint" in service(name) and script and 'exec "$@"' in script.read_text("utf-8"):
            assert service(name).get("command"), f"{name} must set its command"


def test_every_program_run_exists() -> None:
    dependencies = dependency_names()
    for inv in invocations():
        program = inv.argv[0]
        if "/" in program:
            assert inv.dockerfile is not None
            path = inv.dockerfile.repo_path(program)
            assert path is not None and path.is_file(), f"{inv.where}: {program} is missing"
        elif program in CONSOLE_SCRIPTS:
            assert CONSOLE_SCRIPTS[program] in dependencies, f"{inv.where}: {program}"
        else:
            # python (both images); anything else would have to be installed explicitly.
            assert program in ("python", "python3"), f"{inv.where}: unknown program {program}"


def test_third_party_services_run_only_their_own_programs() -> None:
    for name, allowed in IMAGE_PROGRAMS.items():
        svc = service(name)
        argvs = [argv_of(svc.get("command")), *healthcheck_commands(name)]
        for argv in filter(None, argvs):
            assert argv[0] in allowed, f"{name} runs {argv[0]}"


def test_celery_app_module_exists() -> None:
    calls = programs("celery")
    assert {c.where for c in calls} >= {"worker command", "beat command"}
    assert any(c.where.startswith("mailnode") for c in calls)
    for call in calls:
        app = call.argv[call.argv.index("-A") + 1]
        assert module_file(app) is not None, f"{call.where}: no module {app}"
        # celery -A <package> finds the app in <package>.celery.
        app_module = module_file(f"{app}.celery")
        assert app_module is not None, f"{call.where}: no {app}/celery.py"
        assert re.search(r"^app = Celery\(", app_module.read_text("utf-8"), re.MULTILINE)


def test_gunicorn_serves_the_wsgi_application_on_the_exposed_port() -> None:
    (call,) = programs("gunicorn")
    assert call.where == "web command"
    target = next(arg for arg in call.argv[1:] if ":" in arg and not arg.startswith("-"))
    module, attribute = target.split(":")
    path = module_file(module)
    assert path is not None, f"no module {module}"
    assert re.search(rf"^{attribute}\s*=", path.read_text("utf-8"), re.MULTILINE)
    bind = call.argv[call.argv.index("--bind") + 1]
    assert bind == "0.0.0.0:8000"
    published = [str(p).rsplit(":", 1)[-1] for p in service("web").get("ports", [])]
    assert published == ["8000"]
    healthcheck = " ".join(next(healthcheck_commands("web")))
    assert "8000" in healthcheck


def test_python_snippets_compile_and_modules_exist() -> None:
    for inv in python_invocations("python"):
        if "-c" in inv.argv:
            code = inv.argv[inv.argv.index("-c") + 1]
            compile(code, inv.where, "exec")
        if "-m" in inv.argv:
            module = inv.argv[inv.argv.index("-m") + 1]
            assert module_file(module) or importlib.util.find_spec(module), inv.where
        if inv.argv[1:2] == ("manage.py",):
            assert (REPO / "manage.py").is_file()


def test_the_expected_management_commands_are_run() -> None:
    commands = {(where.split()[0], name) for where, name, _ in manage_py_calls()}
    assert commands >= {("web", "migrate"), ("web", "collectstatic"), ("mailnode", "mailstack")}


def test_every_management_command_run_exists_with_the_options_given() -> None:
    settings_text = (REPO / "tempusmail" / "settings.py").read_text("utf-8")
    calls = manage_py_calls()
    assert calls
    for where, name, options in calls:
        files = django_command_files(name)
        assert files, f"{where}: manage.py {name} is not a management command"
        command_file = files[0]
        app = app_label_of(command_file)
        assert app is None or f'"{app}"' in settings_text, (
            f"{where}: {app}, which provides {name}, is not in INSTALLED_APPS"
        )
        source = command_file.read_text("utf-8")
        for option in options:
            assert f'"{option}"' in source or f"'{option}'" in source, (
                f"{where}: manage.py {name} has no option {option}"
            )


def test_the_panel_worker_consumes_the_panel_queue() -> None:
    (call,) = [c for c in programs("celery") if c.where == "worker command"]
    assert call.argv[call.argv.index("-Q") + 1] == "panel"
    tasks = (REPO / "provisioning" / "tasks.py").read_text("utf-8")
    assert re.search(r'^PANEL_QUEUE = "panel"$', tasks, re.MULTILINE)
    settings_text = (REPO / "tempusmail" / "settings.py").read_text("utf-8")
    assert 'CELERY_TASK_DEFAULT_QUEUE = "panel"' in settings_text


def test_beat_keeps_its_schedule_on_a_volume_the_user_can_write() -> None:
    (call,) = [c for c in programs("celery") if c.where == "beat command"]
    assert "beat" in call.argv
    schedule = PurePosixPath(call.argv[call.argv.index("-s") + 1])
    assert str(schedule.parent) in named_volume_targets("beat")
    dockerfile = Dockerfile.of("beat")
    user = dockerfile.last("USER")
    assert user is not None
    assert any(
        str(schedule.parent) in run and re.search(rf"(-o {user}\b|chown\S* {user}\b)", run)
        for run in dockerfile.all("RUN")
    ), f"{schedule.parent} is not created writable for {user}"


# --- the entrypoint scripts, run with stub programs ----------------------------------------

STUB = """#!/bin/sh
line="$(pwd)	$(basename "$0")"
for arg in "$@"; do line="$line	$arg"; done
printf '%s\\n' "$line" >> "$STUB_LOG"
if [ -n "${STUB_FAIL:-}" ]; then
  case "$(basename "$0") $*" in *"$STUB_FAIL"*) exit 1 ;; esac
fi
exit 0
"""


@dataclass
class Run:
    returncode: int
    stderr: str
    calls: list[list[str]]
    cwds: set[str]


def run_with_stubs(tmp_path: Path, script: Path, args: list[str], env: dict[str, str]) -> Run:
    stubs = tmp_path / "bin"
    stubs.mkdir(exist_ok=True)
    for program in ("python", "celery", "gunicorn"):
        (stubs / program).write_text(STUB)
        (stubs / program).chmod(0o755)
    log = tmp_path / "calls.log"
    log.unlink(missing_ok=True)
    full_env = {**env, "PATH": f"{stubs}:/usr/bin:/bin", "STUB_LOG": str(log)}
    result = subprocess.run(
        [str(script), *args], cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=60
    )
    lines = log.read_text().splitlines() if log.exists() else []
    calls = [line.split("\t")[1:] for line in lines]
    return Run(result.returncode, result.stderr, calls, {line.split("\t")[0] for line in lines})


def container_env(name: str) -> dict[str, str]:
    image_env = {k: v for k, v in Dockerfile.of(name).env.items() if k != "PATH"}
    return {**image_env, **environment(name)}


def test_web_entrypoint_migrates_collects_static_then_runs_its_command(tmp_path: Path) -> None:
    script = entrypoint_script("web")
    assert script is not None
    _, command = effective_argv("web")
    run = run_with_stubs(tmp_path, script, command, container_env("web"))
    assert run.returncode == 0, run.stderr
    assert run.calls == [
        ["python", "manage.py", "migrate", "--noinput"],
        ["python", "manage.py", "collectstatic", "--noinput"],
        command,
    ]
    assert run.cwds == {str(REPO)}  # the image's /app, wherever the container starts


def test_web_entrypoint_does_not_serve_when_migrations_fail(tmp_path: Path) -> None:
    script = entrypoint_script("web")
    assert script is not None
    _, command = effective_argv("web")
    env = {**container_env("web"), "STUB_FAIL": "migrate"}
    run = run_with_stubs(tmp_path, script, command, env)
    assert run.returncode != 0
    assert [call[0] for call in run.calls] == ["python"]


def test_mailnode_entrypoint_starts_the_mail_stack_then_the_node_agent(tmp_path: Path) -> None:
    script = entrypoint_script("mailnode")
    assert script is not None
    env = container_env("mailnode")
    run = run_with_stubs(tmp_path, script, [], env)
    assert run.returncode == 0, run.stderr
    state_dir = env["MAILNODE_DIR"]
    assert run.calls[0] == ["python", "manage.py", "mailstack", "start", "--state-dir", state_dir]
    agent = run.calls[1]
    assert agent[:4] == ["celery", "-A", "tempusmail", "worker"]
    assert agent[agent.index("-Q") + 1] == f"node.{env['MAILNODE_NAME']}"
    assert agent[agent.index("-c") + 1] == "1"
    assert len(run.calls) == 2
    assert run.cwds == {str(REPO)}
    # The agent reads settings.MAILNODE_DIR: the same folder the stack serves, on the volume.
    assert state_dir in named_volume_targets("mailnode")
    models = (REPO / "provisioning" / "models.py").read_text("utf-8")
    assert 'return f"node.{self.name}"' in models  # MailNode.queue, where the panel sends


def test_mailnode_entrypoint_uses_its_own_node_name(tmp_path: Path) -> None:
    script = entrypoint_script("mailnode")
    assert script is not None
    env = {**container_env("mailnode"), "MAILNODE_NAME": "mx7"}
    run = run_with_stubs(tmp_path, script, [], env)
    agent = run.calls[-1]
    assert agent[agent.index("-Q") + 1] == "node.mx7"


def test_mailnode_agent_does_not_start_without_its_mail_stack(tmp_path: Path) -> None:
    script = entrypoint_script("mailnode")
    assert script is not None
    env = {**container_env("mailnode"), "STUB_FAIL": "mailstack start"}
    run = run_with_stubs(tmp_path, script, [], env)
    assert run.returncode != 0
    assert [call[0] for call in run.calls] == ["python"]


@pytest.mark.parametrize("bad", ["MX1", "mx_1", "-mx", "mx 1", "mx1;x"])
def test_mailnode_entrypoint_refuses_a_bad_node_name(tmp_path: Path, bad: str) -> None:
    script = entrypoint_script("mailnode")
    assert script is not None
    env = {**container_env("mailnode"), "MAILNODE_NAME": bad}
    run = run_with_stubs(tmp_path, script, [], env)
    assert run.returncode != 0
    assert run.calls == []
    assert "MAILNODE_NAME" in run.stderr


# --- configuration: variables, dependencies, volumes ---------------------------------------


def test_every_variable_set_is_documented() -> None:
    documented = env_example_names()
    read_by_settings = settings_env_names()
    docs = DOCS.read_text("utf-8")
    for name in compose()["services"]:
        variables = set(environment(name))
        if name in IMAGE_VARIABLES:
            assert variables <= IMAGE_VARIABLES[name], variables - IMAGE_VARIABLES[name]
            continue
        script = entrypoint_script(name)
        script_text = script.read_text("utf-8") if script else ""
        for variable in variables:
            if variable in read_by_settings:
                assert variable in documented, f"{name}: {variable} is not in .env.example"
            else:
                # Only an entrypoint reads it: then it must, and the deployment guide says how.
                assert re.search(rf"\$\{{?{variable}\b", script_text), (
                    f"{name}: {variable} is read neither by settings.py nor by its entrypoint"
                )
                assert f"`{variable}`" in docs, f"{variable} is not in docs/deployment.md"


def test_every_compose_input_is_documented() -> None:
    documented = env_example_names()
    docs = DOCS.read_text("utf-8")
    inputs = set()
    for text in strings(compose()):
        inputs |= interpolated_names(text)
    assert {"SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"} <= inputs
    for name in inputs:
        assert name in documented or f"`{name}`" in docs, f"${{{name}}} is documented nowhere"


def test_secrets_have_no_default() -> None:
    raw = COMPOSE_FILE.read_text("utf-8")
    for name in ("SECRET_KEY", "POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        uses = re.findall(rf"\$\{{{name}(:?[-?+]?)", raw)
        assert uses, name
        assert set(uses) == {":?"}, f"{name} must be required (${{{name}:?...}}), not defaulted"


def test_the_panel_is_configured_for_postgres_and_redis() -> None:
    for name in PANEL_SERVICES:
        env = environment(name)
        assert env["DATABASE_URL"].startswith("postgres://")
        assert "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert "@redis:6379/" in env["CELERY_BROKER_URL"]
        assert env["SECRET_KEY"] == "<SECRET_KEY>"
        assert env.get("DEBUG", "false").lower() == "false"


def test_the_mail_node_gets_no_database_and_no_panel_secret() -> None:
    env = environment("mailnode")
    assert "DATABASE_URL" not in env
    assert "SECRET_KEY" not in env
    assert env["CELERY_BROKER_URL"] == environment("worker")["CELERY_BROKER_URL"]


def test_new_domains_go_to_the_node_that_is_running() -> None:
    assert environment("web")["DEFAULT_MAIL_NODE"] == environment("mailnode")["MAILNODE_NAME"]


def test_dependencies_wait_for_health_that_is_checked() -> None:
    for name, svc in compose()["services"].items():
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            continue
        for other, condition in depends.items():
            assert other in compose()["services"], f"{name} depends on unknown {other}"
            if condition.get("condition") == "service_healthy":
                assert "healthcheck" in service(other), f"{other} has no healthcheck"
    assert "healthcheck" in service("postgres")
    for name in ("worker", "beat"):
        # The web entrypoint migrates: the workers must not run tasks before that.
        assert service(name)["depends_on"]["web"]["condition"] == "service_healthy"


def named_volume_targets(name: str) -> set[str]:
    targets = set()
    declared = compose().get("volumes") or {}
    for volume in service(name).get("volumes", []):
        if isinstance(volume, dict):
            source, target = volume.get("source"), volume["target"]
        else:
            source, target = volume.split(":")[:2]
        if source in declared:
            targets.add(interpolate(target).rstrip("/"))
    return targets


def test_data_lives_on_named_volumes() -> None:
    assert "/var/lib/postgresql/data" in named_volume_targets("postgres")
    assert environment("mailnode")["MAILNODE_DIR"] in named_volume_targets("mailnode")
    assert named_volume_targets("beat")
    for name, svc in compose()["services"].items():
        for volume in svc.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            assert not source.startswith(("/", ".")), f"{name}: bind mount {source}"
            assert source in (compose().get("volumes") or {}), f"{name}: {source} undeclared"


def test_internal_services_publish_no_ports() -> None:
    for name in ("postgres", "redis", "worker", "beat"):
        assert not service(name).get("ports"), f"{name} must not publish ports"
    for port in service("web").get("ports", []):
        assert str(port).startswith("127.0.0.1:"), "the panel is served through a TLS proxy"


def test_the_mail_node_is_a_production_mail_host_on_the_standard_ports() -> None:
    from provisioning.mailstack.profile import PRODUCTION, PRODUCTION_PORTS, Profile

    env = environment("mailnode")
    assert env["MAILNODE_PROFILE"] == PRODUCTION
    assert env["MAILNODE_HOSTNAME"] == "<MAILNODE_HOSTNAME>"  # required, no default
    published = {}
    for mapping in service("mailnode")["ports"]:
        host, _, container = str(mapping).rpartition(":")
        published[int(container)] = host
    # Exactly the public listeners, each on the same host port; LMTP, SASL, quota-status,
    # policy and SRS are on the container's loopback and never published.
    assert published == {port: str(port) for port in PRODUCTION_PORTS.values()}
    assert set(PRODUCTION_PORTS.values()) == {25, 465, 587, 993, 995, 4190}
    # What compose gives the node makes a valid profile.
    Profile(name=PRODUCTION, hostname="mx.example.com", listen=(env["MAILNODE_LISTEN"],))


@pytest.mark.skipif(
    not (shutil.which("docker-compose") or shutil.which("docker")), reason="no docker client"
)
def test_compose_accepts_the_file(tmp_path: Path) -> None:
    # An empty env file: a developer's .env next to the compose file must not decide the outcome.
    env_file = tmp_path / "empty.env"
    env_file.write_text("")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SECRET_KEY": "s",
        "POSTGRES_PASSWORD": "p",
        "REDIS_PASSWORD": "r",
        "MAILNODE_HOSTNAME": "mx.example.com",
    }
    for cli in (["docker", "compose"], ["docker-compose"]):
        if not shutil.which(cli[0]):
            continue
        if subprocess.run([*cli, "version"], capture_output=True, env=env).returncode != 0:
            continue  # the docker client without its compose plugin
        result = subprocess.run(
            [*cli, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "-q"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert result.returncode == 0, result.stderr
        return
    pytest.fail("no docker compose implementation: scripts/setup-system.sh installs one")
