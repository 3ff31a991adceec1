"""The agent as configured on this machine (the node's own settings, not the panel's DB)."""

from __future__ import annotations

from django.conf import settings

from provisioning.node.agent import NodeAgent
from provisioning.node.paths import NodePaths


def local_agent() -> NodeAgent:
    return NodeAgent(NodePaths(settings.MAILNODE_DIR), map_type=settings.MAILNODE_MAP_TYPE)
