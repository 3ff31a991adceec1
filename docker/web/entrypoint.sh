#!/bin/sh
# Entrypoint of the panel's `web` container: bring the database schema and the static files up
# to date, then run the command given (gunicorn, see the Dockerfile's CMD). Only `web` does
# this: `worker` and `beat` start after it is healthy, i.e. after the migrations.
set -eu

# The repository root (/app in the image), whatever the working directory.
cd "$(dirname "$0")/../.."

python manage.py migrate --noinput
python manage.py collectstatic --noinput
exec "$@"
