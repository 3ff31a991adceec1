# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test venv lint typecheck format mailstack

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

venv: $(BIN)/.installed

# axe-core for the browser tests' accessibility checks (package.json; test tools only).
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The panel on the embedded default: SQLite, tasks run in-process, demo login printed.
run: venv
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py demo
	@echo "Panel: http://127.0.0.1:8000/  (mail servers: python manage.py mailstack start)"
	DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:8000

# The whole suite, with the live Postfix/Dovecot test bed (installs what is missing, as root).
# Two processes (pytest-xdist), each with its own test bed and Redis (tests/conftest.py); a
# module stays in one process, so its fixtures and ordering hold. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2
test: venv
	bash scripts/setup-system.sh
	$(MAKE) node_modules/.installed
	$(MAKE) lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15 \
	    --ignore=tests/test_api_schema.py
	$(BIN)/python -m pytest tests/test_api_schema.py  # schemathesis runs no case under xdist

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) typecheck

# mypy with django-stubs; what it checks, and how strictly, is in pyproject.toml ([tool.mypy],
# docs/typing.md). Its cache lives under var/, so a clean clone starts without one.
typecheck: venv
	$(BIN)/mypy

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

mailstack: venv
	$(BIN)/python manage.py mailstack start
