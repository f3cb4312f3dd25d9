"""Swagger 2.0 -> OpenAPI 3.0, for the subset flask-restx emits, at run time.

No maintained converter runs in-process in Python (openapi-generator's needs Java), and the OpenAPI 3
document must follow the live settings (issuer URLs), so this small one serves /openapi.json. A test
holds its output against openapi-generator's ``-g openapi`` conversion of the same document.

One deliberate difference: an ``apiKey`` scheme for the ``Authorization`` header is how 2.0 spells an
HTTP authentication scheme, so it becomes ``type: http``: ``scheme: bearer, bearerFormat: JWT``, or the
scheme its ``x-auth-scheme`` names (``DPoP``). And two additions: a response's ``x-links`` become its
``links``, and ``add_named_examples`` puts in what 2.0 cannot hold (several named examples per response,
header examples).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

from .auth_schemes import HTTP_SCHEME

OPENAPI_VERSION = "3.0.3"
OAUTH2_FLOWS = {  # Swagger 2.0 `flow` -> OpenAPI 3 `flows` key
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
    "accessCode": "authorizationCode",
}
FLOW_FIELDS = ("authorizationUrl", "tokenUrl", "refreshUrl", "scopes")
SCHEMA_FIELDS = ("type", "format", "items", "enum", "default", "minimum", "maximum", "exclusiveMinimum",
                 "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems",
                 "multipleOf")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch")


def to_openapi3(swagger: dict) -> dict:
    """The OpenAPI 3.0 document equivalent to a Swagger 2.0 one (which is left untouched)."""
    swagger = _refs(copy.deepcopy(swagger))
    document = {"openapi": OPENAPI_VERSION, "info": swagger["info"], "servers": _servers(swagger)}
    for key in ("tags", "security", "externalDocs"):
        if key in swagger:
            document[key] = swagger[key]
    document["paths"] = {url: _path(item, swagger) for url, item in swagger.get("paths", {}).items()}
    components = {}
    if swagger.get("definitions"):
        components["schemas"] = {name: _schema(s) for name, s in swagger["definitions"].items()}
    if swagger.get("securityDefinitions"):
        components["securitySchemes"] = {
            name: security_scheme(s) for name, s in swagger["securityDefinitions"].items()
        }
    if components:
        document["components"] = components
    document.update({k: v for k, v in swagger.items() if k.startswith("x-")})
    return document


def security_scheme(scheme: dict) -> dict:
    """One `securityDefinitions` entry as an OpenAPI 3 security scheme."""
    extra = {k: v for k, v in scheme.items() if k == "description" or (k.startswith("x-") and k != HTTP_SCHEME)}
    kind = scheme["type"]
    if kind == "basic":
        return {"type": "http", "scheme": "basic", **extra}
    if kind == "apiKey":
        if scheme["in"] == "header" and scheme["name"].lower() == "authorization":
            if HTTP_SCHEME in scheme:
                return {"type": "http", "scheme": scheme[HTTP_SCHEME], **extra}
            return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT", **extra}
        return {"type": "apiKey", "in": scheme["in"], "name": scheme["name"], **extra}
    if kind == "oauth2":
        flow = {k: scheme[k] for k in FLOW_FIELDS if k in scheme}
        return {"type": "oauth2", "flows": {OAUTH2_FLOWS[scheme["flow"]]: flow}, **extra}
    raise ValueError(f"unsupported security scheme type {kind!r}")


def _refs(node):
    """Rewrites every ``#/definitions/X`` reference to ``#/components/schemas/X``."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/definitions/"):
            node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/definitions/")
        for value in node.values():
            _refs(value)
    elif isinstance(node, list):
        for value in node:
            _refs(value)
    return node


def _servers(swagger: dict) -> list[dict]:
    base = swagger.get("basePath", "/")
    if "host" not in swagger:
        return [{"url": base}]
    return [{"url": f"{scheme}://{swagger['host']}{base}"} for scheme in swagger.get("schemes", ["https"])]


def _path(item: dict, swagger: dict) -> dict:
    """The path's operations, each with the parameters the path declares for all of them put in front of
    its own (as openapi-generator's converter does; an operation's own one of the same name wins)."""
    result = {k: v for k, v in item.items() if k not in METHODS and k != "parameters"}
    for method in METHODS:
        if method in item:
            result[method] = _operation(item[method], swagger, shared=item.get("parameters", []))
    return result


def _operation(operation: dict, swagger: dict, shared: Sequence[dict] = ()) -> dict:
    produces = operation.pop("produces", None) or swagger.get("produces", ["application/json"])
    consumes = operation.pop("consumes", None) or swagger.get("consumes", ["application/json"])
    own = operation.pop("parameters", [])
    named = {(p["in"], p["name"]) for p in own}
    parameters = [p for p in shared if (p["in"], p["name"]) not in named] + own
    result = dict(operation)
    plain = [_parameter(p) for p in parameters if p["in"] != "body"]
    if plain:
        result["parameters"] = plain
    for body in (p for p in parameters if p["in"] == "body"):
        result["requestBody"] = {
            "content": {mime: {"schema": _schema(body["schema"])} for mime in consumes},
            "required": body.get("required", False),
            **({"description": body["description"]} if "description" in body else {}),
        }
        result["x-codegen-request-body-name"] = body["name"]  # 2.0's name for it, which generators keep
    result["responses"] = {code: _response(r, produces) for code, r in operation["responses"].items()}
    return result


def _parameter(parameter: dict) -> dict:
    if parameter["in"] == "formData":
        raise ValueError("formData parameters are not supported")
    result = {k: v for k, v in parameter.items() if k not in (*SCHEMA_FIELDS, "collectionFormat", "x-example")}
    result["schema"] = {k: parameter[k] for k in SCHEMA_FIELDS if k in parameter}
    if "x-example" in parameter:  # 2.0's vendor field for a non-body parameter's example
        result["example"] = parameter["x-example"]
    return result


def _response(response: dict, produces: list[str]) -> dict:
    result = {"description": response.get("description", "")}
    if "headers" in response:
        result["headers"] = {name: _header(h) for name, h in response["headers"].items()}
    if "x-links" in response:  # links have no place in 2.0; schemathesis reads them there under this name
        result["links"] = response["x-links"]
    if "schema" in response:
        examples = response.get("examples", {})
        result["content"] = {
            mime: {"schema": _schema(response["schema"]), **({"example": examples[mime]} if mime in examples else {})}
            for mime in produces
        }
    return result


def add_named_examples(document: dict, named: dict) -> dict:
    """Each response's named examples (``{(path, method, status): {name: {summary, value, headers}}}``)
    as the ``examples`` of its media types, and of its headers for the cases that send them."""
    for (url, method, status), examples in named.items():
        response = document["paths"][url][method]["responses"][status]
        for media in response.get("content", {}).values():
            media.pop("example", None)
            media["examples"] = {name: {"summary": e["summary"], "value": e["value"]} for name, e in examples.items()}
        for header_name, header in response.get("headers", {}).items():
            values = {name: {"summary": e["summary"], "value": e["headers"][header_name]}
                      for name, e in examples.items() if header_name in e.get("headers", {})}
            if values:
                header["examples"] = values
    return document


def _header(header: dict) -> dict:
    result = {k: header[k] for k in ("description",) if k in header}
    result["schema"] = {k: header[k] for k in SCHEMA_FIELDS if k in header}
    return result


def _schema(schema: dict) -> dict:
    """2.0 schema keywords that differ in 3.0: ``x-nullable`` becomes ``nullable``."""
    if isinstance(schema, dict):
        schema = {("nullable" if k == "x-nullable" else k): _schema(v) for k, v in schema.items()}
    elif isinstance(schema, list):
        schema = [_schema(v) for v in schema]
    return schema
