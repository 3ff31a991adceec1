"""The OpenAPI 3 document of the webmail integration endpoint, written by hand: one endpoint,
so a generator would add more than it saves. Served at /api/webmail/v1/openapi.json."""

from __future__ import annotations

from typing import Any

_STRING = {"type": "string"}
_SIGNATURE = {
    "type": "object",
    "required": ["id", "name", "html", "text", "default", "bcc_sender", "corporate", "locked"],
    "properties": {
        "id": {"type": "integer"},
        "name": _STRING,
        "html": {**_STRING, "description": "Sanitised HTML (safe to insert as is)."},
        "text": {**_STRING, "description": "Plain-text version."},
        "default": {"type": "boolean", "description": "The identity's default signature."},
        "bcc_sender": {
            "type": "boolean",
            "description": "Add the sender (the identity's address) in BCC.",
        },
        "corporate": {
            "type": "boolean",
            "description": "Made by the domain admin's signature template, filled with the "
            "account's details; it follows every change of the template.",
        },
        "locked": {
            "type": "boolean",
            "description": "A corporate signature the owner may use but not edit or delete: "
            "a webmail should not let the user change it either.",
        },
    },
}
_IDENTITY = {
    "type": "object",
    "required": ["id", "name", "email", "signatures"],
    "properties": {
        "id": {"type": "integer"},
        "name": {**_STRING, "description": "Display name (may be empty)."},
        "email": {**_STRING, "format": "email"},
        "signatures": {"type": "array", "items": {"$ref": "#/components/schemas/Signature"}},
    },
}
_PROFILE = {
    "type": "object",
    "required": ["address", "name", "identities", "preferences", "autoresponder"],
    "properties": {
        "address": {**_STRING, "format": "email"},
        "name": _STRING,
        "identities": {"type": "array", "items": {"$ref": "#/components/schemas/Identity"}},
        "preferences": {
            "type": "object",
            "properties": {
                "language": {**_STRING, "example": "de"},
                "time_zone": {**_STRING, "example": "Europe/Berlin"},
                "date_format": {
                    **_STRING,
                    "description": "PHP date() format (as Roundcube's date_format).",
                    "example": "d.m.Y",
                },
                "time_format": {**_STRING, "description": "PHP date() format.", "example": "H:i"},
            },
        },
        "autoresponder": {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "active_now": {"type": "boolean"},
                "subject": _STRING,
                "body": _STRING,
                "start": {**_STRING, "format": "date-time", "nullable": True},
                "end": {**_STRING, "format": "date-time", "nullable": True},
            },
        },
    },
}
_ERROR = {"type": "object", "properties": {"error": _STRING}}


def _error_response(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "TempusMail webmail integration",
            "version": "1",
            "description": "What a webmail front end reads at the owner's login: identities, "
            "signatures, preferences and the autoresponder state. See docs/webmail.md.",
        },
        "servers": [{"url": "/api/webmail/v1"}],
        "paths": {
            "/me": {
                "get": {
                    "operationId": "getWebmailProfile",
                    "summary": "The account's identities, signatures and webmail preferences",
                    "parameters": [
                        {
                            "name": "address",
                            "in": "query",
                            "required": False,
                            "description": "The account, with the service key (ignored with "
                            "a session, which names its own account).",
                            "schema": {**_STRING, "format": "email"},
                        }
                    ],
                    "security": [{"serviceKey": []}, {"ownerSession": []}],
                    "responses": {
                        "200": {
                            "description": "The account's webmail profile.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/WebmailProfile"}
                                }
                            },
                        },
                        "401": _error_response("No session and no (valid) service key."),
                        "404": _error_response(
                            "No such active account with webmail, or the session is not a "
                            "mailbox owner's."
                        ),
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "serviceKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The WEBMAIL_SERVICE_KEY setting, for the webmail server.",
                },
                "ownerSession": {"type": "apiKey", "in": "cookie", "name": "sessionid"},
            },
            "schemas": {
                "WebmailProfile": _PROFILE,
                "Identity": _IDENTITY,
                "Signature": _SIGNATURE,
                "Error": _ERROR,
            },
        },
    }
