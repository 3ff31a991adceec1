# syntax=docker/dockerfile:1
# The panel image: one image for the `web`, `worker` and `beat` services of docker-compose.yml
# (they differ only in their command). See docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONPATH=/app \
    STATIC_ROOT=/app/var/static

# The processes run as this unprivileged user; the code stays root-owned and read-only to it.
RUN groupadd --gid 10001 tempusmail \
 && useradd --uid 10001 --gid tempusmail --home-dir /app/var --no-create-home \
        --shell /usr/sbin/nologin tempusmail

WORKDIR /app
COPY . /app

# The dependencies come from pyproject.toml's [project] dependencies. pyproject declares no
# Python packages ([tool.setuptools] packages = []), so the code itself runs from /app, which
# is the working directory and on PYTHONPATH (celery -A and gunicorn import it from there).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install /app \
 && rm -rf /app/build /app/*.egg-info \
 && chmod 0755 /app/docker/web/entrypoint.sh \
 && install -d -o tempusmail -g tempusmail -m 0755 /app/var /app/var/static /app/var/beat

USER tempusmail
EXPOSE 8000

# `web` runs docker/web/entrypoint.sh (migrate + collectstatic, then this command); `worker`
# and `beat` override the command with their celery invocation.
CMD ["gunicorn", "tempusmail.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", \
     "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-", "--error-logfile", "-"]
