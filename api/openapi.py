"""The OpenAPI 3 document of /api/v1/, written by hand (served at /api/v1/openapi.json, rendered
at /api/v1/docs). tests/test_api_schema.py checks that every /api/v1/ route is in it and runs
schemathesis against it, so a route or a field changed without changing this fails there."""

from __future__ import annotations

from typing import Any

from api.pagination import MAX_LIMIT
from api.v1_accounts import MAX_PER_PAGE, SORT_CHOICES
from api.v1_fields import AUTORESPONDER, FORWARDING, SETTINGS
from mailboxes.models import LANGUAGES, MailboxKind, MailboxState, SyncStatus
from mailboxes.rules import SERVICE_OFFERS
from mailboxes.selectors import STATUS_FILTERS

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Schema, description: str = "") -> Schema:
    return {**schema, "nullable": True, **({"description": description} if description else {})}


STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer"}
MOMENT: Schema = {"type": "string", "format": "date-time"}
LIMIT = _nullable({"type": "integer", "minimum": 0}, "Null: the domain's default; 0: no limit.")

# Every account setting, as the account object shows it and PATCH takes it.
SETTING_SCHEMAS: dict[str, Schema] = {
    "first_name": {**STRING, "maxLength": 150, "description": "Name or description."},
    "last_name": {**STRING, "maxLength": 150},
    "language": {**STRING, "enum": [code for code, _ in LANGUAGES]},
    "time_zone": {**STRING, "description": "An IANA time zone, e.g. Europe/Berlin."},
    "quota_bytes": {**INTEGER, "minimum": 0, "description": "Storage quota; 0: unlimited."},
    "daily_send_limit": LIMIT,
    "hourly_send_limit": LIMIT,
    "max_recipients": LIMIT,
    **{name: {**BOOLEAN, "description": "Within the plan's services."} for name in SERVICE_OFFERS},
    "force_password_change": {**BOOLEAN, "description": "A new password at the next login."},
    "password_expiry_days": _nullable(
        {**INTEGER, "minimum": 1, "maximum": 3650}, "Null: passwords do not expire."
    ),
    "password_expires_at": _nullable(MOMENT, "When the current password expires."),
    "force_2fa": BOOLEAN,
    "allowed_networks": {
        "type": "array",
        "items": STRING,
        "description": "Addresses or networks (CIDR) logins may come from; empty: anywhere.",
    },
    "owner_may_change_password": BOOLEAN,
    "owner_may_forward": BOOLEAN,
    "api_access": {**BOOLEAN, "description": "The owner may make personal API keys."},
    "forward_to": {
        "type": "array",
        "items": {**STRING, "format": "email"},
        "maxItems": 20,
        "description": "Addresses mail is forwarded to.",
    },
    "forward_keep_copy": {**BOOLEAN, "description": "Keep a copy of forwarded mail here."},
    "spam_to_inbox": {**BOOLEAN, "description": "Deliver spam to the inbox, not Junk."},
    "autoreply_enabled": BOOLEAN,
    "autoreply_subject": {**STRING, "maxLength": 200, "description": "Needed when enabled."},
    "autoreply_body": {**STRING, "maxLength": 10000},
    "autoreply_start": _nullable(MOMENT, "With its offset; null: from now on."),
    "autoreply_end": _nullable(MOMENT, "With its offset; after the start; null: open-ended."),
}


def _object(names: tuple[str, ...], *, required: bool) -> Schema:
    schema: Schema = {
        "type": "object",
        "properties": {name: SETTING_SCHEMAS[name] for name in names},
        "additionalProperties": False,
    }
    return {**schema, "required": list(names)} if required else schema


USAGE: Schema = {
    "type": "object",
    "required": ["storage_bytes", "messages", "last_login_at", "last_login_protocol"],
    "properties": {
        "storage_bytes": _nullable(INTEGER, "Null until the mail node reports it."),
        "messages": _nullable(INTEGER),
        "last_login_at": _nullable(MOMENT),
        "last_login_protocol": _nullable(STRING, "imap, pop3, managesieve"),
    },
}
VERSIONS: Schema = {
    "type": "object",
    "required": ["desired_version", "applied_version", "in_sync", "error"],
    "properties": {
        "desired_version": {**INTEGER, "description": "Changes made to the domain so far."},
        "applied_version": {**INTEGER, "description": "Changes its mail node has applied."},
        "in_sync": BOOLEAN,
        "error": _nullable(STRING, "Why the last apply failed."),
    },
}
ACCOUNT: Schema = {
    "type": "object",
    "required": [
        "address",
        "local_part",
        "domain",
        "kind",
        "state",
        "status",
        "created_at",
        "updated_at",
        "password_changed_at",
        "password_expired",
        "settings",
        "usage",
    ],
    "properties": {
        "address": {**STRING, "format": "email"},
        "local_part": STRING,
        "domain": STRING,
        "kind": {**STRING, "enum": MailboxKind.values},
        "state": {**STRING, "enum": MailboxState.values},
        "status": {
            **STRING,
            "enum": SyncStatus.values,
            "description": "updating until the mail servers have the last change, then "
            "online (active) or offline (deactivated).",
        },
        "created_at": MOMENT,
        "updated_at": MOMENT,
        "password_changed_at": _nullable(MOMENT),
        "password_expired": BOOLEAN,
        "settings": _ref("Settings"),
        "usage": _ref("Usage"),
        "password": {**STRING, "description": "Only when the API generated it, once."},
    },
}
SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {**STRING, "example": "validation"},
                    "message": STRING,
                    "fields": {
                        "type": "object",
                        "description": "Messages by the field they concern.",
                        "additionalProperties": {"type": "array", "items": STRING},
                    },
                    "request_id": {
                        **STRING,
                        "description": "On a 500: what our logs file the error under.",
                    },
                },
            }
        },
    },
    "Domain": {
        "type": "object",
        "required": [
            "name",
            "display_name",
            "organization",
            "is_active",
            "created_at",
            "provisioning",
        ],
        "properties": {
            "name": {**STRING, "description": "ASCII (IDNA) name."},
            "display_name": {**STRING, "description": "Unicode name."},
            "organization": STRING,
            "is_active": BOOLEAN,
            "created_at": MOMENT,
            "provisioning": _ref("Versions"),
        },
    },
    "DomainPage": {
        "type": "object",
        "required": ["data", "next_cursor"],
        "properties": {
            "data": {"type": "array", "items": _ref("Domain")},
            "next_cursor": _nullable(STRING, "Pass as ?cursor= for the next page."),
        },
    },
    "Versions": VERSIONS,
    "Settings": _object(SETTINGS, required=True),
    "SettingsChange": _object(SETTINGS, required=False),
    "Usage": USAGE,
    "Account": ACCOUNT,
    "AccountPage": {
        "type": "object",
        "required": ["data", "page", "per_page", "total", "next_page"],
        "properties": {
            "data": {"type": "array", "items": _ref("Account")},
            "page": INTEGER,
            "per_page": INTEGER,
            "total": {**INTEGER, "description": "Accounts matching the filters."},
            "next_page": _nullable(INTEGER),
        },
    },
    "AccountCreate": {
        "type": "object",
        "required": ["local_part"],
        "properties": {
            "local_part": {**STRING, "description": "The part of the address before the @."},
            "password": {**STRING, "description": "Omitted: one is generated and returned."},
            "kind": {**STRING, "enum": MailboxKind.values, "default": "person"},
            **SETTING_SCHEMAS,
        },
        "additionalProperties": False,
    },
    "Forwarding": _object(FORWARDING, required=True),
    "ForwardingChange": _object(FORWARDING, required=False),
    "Autoresponder": _object(AUTORESPONDER, required=True),
    "AutoresponderChange": _object(AUTORESPONDER, required=False),
    "AccountUsage": {
        "type": "object",
        "required": [*USAGE["required"], "quota_bytes", "sent_24h", "sent_unavailable"],
        "properties": {
            **USAGE["properties"],
            "quota_bytes": INTEGER,
            "sent_24h": _nullable(
                {
                    "type": "object",
                    "required": ["day", "hour", "daily_limit", "hourly_limit", "near_limit"],
                    "properties": {
                        "day": {**INTEGER, "description": "Messages sent in the last 24 h."},
                        "hour": _nullable(INTEGER, "Read only under an hourly limit."),
                        "daily_limit": {**INTEGER, "description": "0: none."},
                        "hourly_limit": {**INTEGER, "description": "0: none."},
                        "near_limit": {**BOOLEAN, "description": "At 80 % of a limit or more."},
                    },
                },
                "Null when the counters cannot be read (see sent_unavailable).",
            ),
            "sent_unavailable": _nullable(STRING),
        },
    },
    "Provisioning": {
        "type": "object",
        "required": ["status", "changed_version", "error", "domain"],
        "properties": {
            "status": {**STRING, "enum": SyncStatus.values},
            "changed_version": {**INTEGER, "description": "The domain version of its last change."},
            "error": _nullable(STRING, "The domain's apply error while this change waits."),
            "domain": _ref("Versions"),
        },
    },
    "NewPassword": {
        "type": "object",
        "properties": {"password": {**STRING, "description": "Omitted: one is generated."}},
        "additionalProperties": False,
    },
    "GeneratedPassword": {
        "type": "object",
        "properties": {"password": {**STRING, "description": "Only when generated, once."}},
    },
    "Me": {
        "allOf": [
            _ref("Account"),
            {
                "type": "object",
                "required": ["permissions"],
                "properties": {
                    "permissions": {
                        "type": "object",
                        "required": ["may_forward", "may_change_password"],
                        "properties": {"may_forward": BOOLEAN, "may_change_password": BOOLEAN},
                    }
                },
            },
        ]
    },
}

ERRORS = {
    "400": "Invalid input: `fields` names each field at fault, with the pages' messages. Any "
    "operation answers 400 to a NUL, bytes that are not UTF-8 or a lone surrogate anywhere in the "
    "request, and to a control character in the path, the query or a header.",
    "401": "No key, or a key that is unknown, revoked, expired, or used from outside its networks.",
    "403": "A write with a read-only key, or a change the key's account may not make.",
    "404": "Not there, or outside the key's scope (the two look the same).",
    "429": "Past the key's rate limit; Retry-After says when to try again.",
    "500": "Our fault: `request_id` (also the X-Request-ID header) finds it in our logs.",
}
# Any operation may answer these (tempusmail/request_guard.py, tempusmail/error_views.py).
EVERY_OPERATION = ("400", "500")
HEADERS = {
    "401": {"WWW-Authenticate": {"schema": STRING}},
    "429": {"Retry-After": {"schema": INTEGER, "description": "Seconds."}},
}


def _json(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _path(name: str, description: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": STRING,
            "description": description}  # fmt: skip


def _query(name: str, schema: Schema, description: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}  # fmt: skip


DOMAIN = _path("domain_name", "The domain's name (Unicode or ASCII).")
LOCAL_PART = _path("local_part", "The account's address before the @.")


def _operation(
    summary: str,
    *,
    tag: str,
    ok: tuple[str, str, str | None],
    params: tuple[Schema, ...] = (),
    body: str | None = None,
    errors: tuple[str, ...] = ("401", "404", "429"),
    description: str = "",
) -> Schema:
    status, what, schema = ok
    responses: dict[str, Any] = {
        status: {"description": what, **({"content": _json(_ref(schema))} if schema else {})}
    }
    for code in dict.fromkeys((*errors, *EVERY_OPERATION)):
        responses[code] = {"description": ERRORS[code], "content": _json(_ref("Error"))}
        if code in HEADERS:
            responses[code]["headers"] = HEADERS[code]
    operation: Schema = {"summary": summary, "tags": [tag], "responses": responses}
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = list(params)
    if body:
        operation["requestBody"] = {"required": True, "content": _json(_ref(body))}
    return operation


READ = ("401", "404", "429")
WRITE = ("400", "401", "403", "404", "429")
ACCOUNT_PARAMS = (DOMAIN, LOCAL_PART)
ACCOUNT_PATH = "/api/v1/domains/{domain_name}/accounts/{local_part}"
LIST_PARAMS = (
    DOMAIN,
    _query("q", {**STRING, "maxLength": 200}, "Search in the address and the names."),
    _query("status", {**STRING, "enum": list(STATUS_FILTERS)}, "Only accounts in this status."),
    _query(
        "sort",
        {**STRING, "enum": list(SORT_CHOICES)},
        "Order (-: descending); ties by address, so pages are stable. Default: address.",
    ),
    _query("page", {**INTEGER, "minimum": 1, "maximum": 10**9}, "From 1."),
    _query("per_page", {**INTEGER, "minimum": 1, "maximum": MAX_PER_PAGE}, "Default 50."),
)


def _account_paths() -> dict[str, Any]:
    tag = "Accounts"
    return {
        "/api/v1/domains/{domain_name}/accounts": {
            "get": _operation("List a domain's accounts", tag=tag, params=LIST_PARAMS,
                              ok=("200", "A page of accounts.", "AccountPage"),
                              errors=("400", *READ)),
            "post": _operation(
                "Create an account", tag=tag, params=(DOMAIN,), body="AccountCreate",
                ok=("201", "The new account (with its password if generated).", "Account"),
                errors=WRITE,
                description="Any setting may be given; omitted ones take the domain's "
                "defaults. Without a password, a generated one is returned this once.",
            ),
        },
        ACCOUNT_PATH: {
            "get": _operation("Show an account", tag=tag, params=ACCOUNT_PARAMS,
                              ok=("200", "The account.", "Account")),
            "patch": _operation("Change an account's settings", tag=tag, params=ACCOUNT_PARAMS,
                                body="SettingsChange", ok=("200", "The account.", "Account"),
                                errors=WRITE, description="Only the fields given change."),
            "delete": _operation("Delete an account", tag=tag, params=ACCOUNT_PARAMS,
                                 ok=("204", "Deleted; its mail is moved aside.", None),
                                 errors=WRITE),
        },
        f"{ACCOUNT_PATH}/deactivate": {
            "post": _operation("Deactivate an account", tag=tag, params=ACCOUNT_PARAMS,
                               ok=("200", "The account.", "Account"), errors=WRITE,
                               description="Logins are refused and mail to it bounces."),
        },
        f"{ACCOUNT_PATH}/reactivate": {
            "post": _operation("Reactivate an account", tag=tag, params=ACCOUNT_PARAMS,
                               ok=("200", "The account.", "Account"), errors=WRITE),
        },
        f"{ACCOUNT_PATH}/password": {
            "post": _operation("Set a new password", tag=tag, params=ACCOUNT_PARAMS,
                               body="NewPassword", errors=WRITE,
                               ok=("200", "Done; the password if generated.", "GeneratedPassword"),
                               description="The domain's password policy applies."),
        },
        f"{ACCOUNT_PATH}/forwarding": {
            "get": _operation("Show forwarding", tag=tag, params=ACCOUNT_PARAMS,
                              ok=("200", "Forwarding.", "Forwarding")),
            "patch": _operation("Change forwarding", tag=tag, params=ACCOUNT_PARAMS,
                                body="ForwardingChange", errors=WRITE,
                                ok=("200", "Forwarding.", "Forwarding")),
        },
        f"{ACCOUNT_PATH}/autoresponder": {
            "get": _operation("Show the autoresponder", tag=tag, params=ACCOUNT_PARAMS,
                              ok=("200", "The autoresponder.", "Autoresponder")),
            "patch": _operation("Change the autoresponder", tag=tag, params=ACCOUNT_PARAMS,
                                body="AutoresponderChange", errors=WRITE,
                                ok=("200", "The autoresponder.", "Autoresponder")),
        },
        f"{ACCOUNT_PATH}/usage": {
            "get": _operation("Show usage", tag=tag, params=ACCOUNT_PARAMS,
                              ok=("200", "Storage, last access, sent in 24 h.", "AccountUsage")),
        },
        f"{ACCOUNT_PATH}/provisioning": {
            "get": _operation("Show provisioning state", tag=tag, params=ACCOUNT_PARAMS,
                              ok=("200", "Whether the mail servers have it.", "Provisioning")),
        },
    }  # fmt: skip


def _me_paths() -> dict[str, Any]:
    tag = "Own account (personal keys)"
    return {
        "/api/v1/me": {
            "get": _operation("Show the key's own account", tag=tag,
                              ok=("200", "The account and what its owner may change.", "Me")),
        },
        "/api/v1/me/usage": {
            "get": _operation("Show the own account's usage", tag=tag,
                              ok=("200", "Usage.", "AccountUsage")),
        },
        "/api/v1/me/forwarding": {
            "get": _operation("Show own forwarding", tag=tag,
                              ok=("200", "Forwarding.", "Forwarding")),
            "patch": _operation("Change own forwarding", tag=tag, body="ForwardingChange",
                                ok=("200", "Forwarding.", "Forwarding"), errors=WRITE,
                                description="forward_to and forward_keep_copy only when the "
                                "administrators let the owner forward (403 otherwise)."),
        },
        "/api/v1/me/autoresponder": {
            "get": _operation("Show own autoresponder", tag=tag,
                              ok=("200", "The autoresponder.", "Autoresponder")),
            "patch": _operation("Change own autoresponder", tag=tag, body="AutoresponderChange",
                                ok=("200", "The autoresponder.", "Autoresponder"), errors=WRITE),
        },
    }  # fmt: skip


def _domain_paths() -> dict[str, Any]:
    tag = "Domains"
    return {
        "/api/v1/domains": {
            "get": _operation(
                "List domains", tag=tag, ok=("200", "A page of domains, by name.", "DomainPage"),
                errors=("400", *READ),
                params=(
                    _query("limit", {**INTEGER, "minimum": 1, "maximum": MAX_LIMIT}, "Default 50."),
                    _query("cursor", STRING, "The previous page's next_cursor."),
                ),
            ),
        },
        "/api/v1/domains/{domain_name}": {
            "get": _operation("Show a domain", tag=tag, params=(DOMAIN,),
                              ok=("200", "The domain.", "Domain")),
        },
    }  # fmt: skip


def _document_paths() -> dict[str, Any]:
    def public(summary: str, media: str, schema: Schema) -> Schema:
        return {
            "summary": summary,
            "tags": ["Documentation"],
            "security": [],
            "responses": {"200": {"description": summary, "content": {media: {"schema": schema}}}},
        }

    return {
        "/api/v1/openapi.json": {
            "get": public("This document", "application/json", {"type": "object"})
        },
        "/api/v1/docs": {"get": public("This document as a web page", "text/html", STRING)},
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "TempusMail API",
            "version": "1",
            "description": (
                "Manage domains and accounts with an API key, sent as the header "
                "Authorization: Bearer tm_.... "
                "An organization key reaches its organization's domains (or the ones chosen "
                "for it); a personal key only its own account, under /api/v1/me. Writes go "
                "through the same rules as the panel's pages, are audited under the key's "
                "name and reach the mail servers in a moment (see an account's provisioning). "
                "Errors have one shape (Error)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [{"name": name} for name in
                 ("Domains", "Accounts", "Own account (personal keys)", "Documentation")],
        "paths": {**_domain_paths(), **_account_paths(), **_me_paths(), **_document_paths()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }  # fmt: skip
