#!/bin/sh
# Entrypoint of a mail-node container: start this node's Postfix, Dovecot and sending-limits
# policy service under the state folder, then become the node agent, a Celery worker consuming
# queue node.<MAILNODE_NAME>.
#
#   MAILNODE_NAME  the node's name: a MailNode row of that name must exist in the panel, whose
#                  tasks for this node go to queue node.<name> (default mx1)
#   MAILNODE_DIR   the state folder, also read by the agent through settings.MAILNODE_DIR, so
#                  both write and serve the same files (default /var/lib/tempusmail)
#
# The agent never touches the panel's database (no DATABASE_URL): what it applies arrives in
# the task, through CELERY_BROKER_URL, and it reports back the same way.
set -eu

# The repository root (/app in the image), whatever the working directory.
cd "$(dirname "$0")/../.."

name="${MAILNODE_NAME:-mx1}"
state_dir="${MAILNODE_DIR:-/var/lib/tempusmail}"

# Same rule as the MailNode.name field: no panel node can have another name, so an agent
# under a bad one would wait on a queue that never gets a task.
case "$name" in
  "" | -* | *[!a-z0-9-]*)
    echo "MAILNODE_NAME=$name is not a node name (lowercase letters, digits and '-')" >&2
    exit 64
    ;;
esac

# Dovecot and Postfix first: the agent must not write files that nothing serves. The daemons
# detach; a failure to start them ends the container, and its restart policy tries again.
# How they face the world (MAILNODE_PROFILE, MAILNODE_HOSTNAME, MAILNODE_LISTEN ...) is read
# from the environment by settings.py; docker-compose.yml runs the production profile.
python manage.py mailstack start --state-dir "$state_dir"

# One task at a time: every apply rewrites the node's maps, so applies must not interleave.
exec celery -A tempusmail worker -Q "node.$name" -c 1 -l info -n "agent-$name@%h"
