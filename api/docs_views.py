"""The API's OpenAPI document, as JSON and as a server-rendered page (no script, no CDN: the
panel's strict CSP applies). Both are public: they describe the API, they open nothing."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from api.openapi import openapi_document

METHODS = ("get", "post", "patch", "put", "delete")


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


def _schema(document: dict[str, Any], schema: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(component name or "", the schema behind a $ref)."""
    ref = schema.get("$ref", "")
    if not ref:
        return "", schema
    name = ref.rsplit("/", 1)[-1]
    return name, document["components"]["schemas"][name]


def _type(document: dict[str, Any], schema: dict[str, Any]) -> str:
    name, schema = _schema(document, schema)
    if name:
        return name
    text = schema.get("type", "object")
    if text == "array":
        text = f"array of {_type(document, schema.get('items', {}))}"
    if "enum" in schema:
        text += ": " + " | ".join(str(v) for v in schema["enum"])
    if "format" in schema:
        text += f" ({schema['format']})"
    return text + (", or null" if schema.get("nullable") else "")


def _fields(document: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, str]]:
    _, schema = _schema(document, schema)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": _type(document, prop),
            "required": "yes" if name in required else "",
            "description": _schema(document, prop)[1].get("description", ""),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(document: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> dict:
    body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    return {
        "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
        "method": method.upper(),
        "path": path,
        "summary": op["summary"],
        "description": op.get("description", ""),
        "public": op.get("security") == [],
        "parameters": [
            {**p, "type": _type(document, p["schema"]), "description": p.get("description", "")}
            for p in op.get("parameters", [])
        ],
        "body": _type(document, body["schema"]) if body else "",
        "body_fields": _fields(document, body["schema"]) if body else [],
        "responses": [
            {
                "status": status,
                "description": answer["description"],
                "type": _type(document, answer["content"]["application/json"]["schema"])
                if "application/json" in answer.get("content", {})
                else "",
            }
            for status, answer in op["responses"].items()
        ],
    }


def _sections(document: dict[str, Any]) -> list[dict[str, Any]]:
    sections: dict[str, list[dict[str, Any]]] = {tag["name"]: [] for tag in document["tags"]}
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                sections[op["tags"][0]].append(_operation(document, path, method, op))
    return [{"name": name, "operations": ops} for name, ops in sections.items()]


@require_GET
def docs(request: HttpRequest) -> HttpResponse:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    objects = [
        {"name": name, "fields": _fields(document, schema)}
        for name, schema in schemas.items()
        if schema.get("properties")
    ]
    context = {"info": document["info"], "sections": _sections(document), "objects": objects}
    return render(request, "api/docs.html", context)
