"""The served documents as the tests read them: the operations a Swagger 2.0 document describes, the auth
each needs, and the settings the docs page hands Swagger UI."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Operation:
    """One operation of a served Swagger 2.0 document, and the auth it requires."""

    path: str
    method: str
    spec: dict
    path_parameters: tuple[dict, ...] = ()  # the parameters its path declares for every method

    @property
    def public(self) -> bool:
        return self.spec.get("security") == []

    @property
    def scope_options(self) -> list[list[str]]:
        """The scope sets any one of which opens it: one per OAuth2 alternative (``[[]]``: any valid token)."""
        options = []
        for alternative in self.spec.get("security", []):
            for scopes in alternative.values():
                if scopes and sorted(scopes) not in options:
                    options.append(sorted(scopes))
        return options or [[]]

    @property
    def scopes(self) -> list[str]:
        """Every scope its OAuth2 alternatives name: a token with all of them gets in, whatever the options."""
        return sorted({scope for option in self.scope_options for scope in option})

    @property
    def parameters(self) -> list[dict]:
        return [*self.path_parameters, *self.spec.get("parameters", [])]

    @property
    def success(self) -> str:
        """The status of its success answer (its first 2xx)."""
        return next(status for status in self.spec["responses"] if status.startswith("2"))

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


def opened_as_they_are(operation: Operation, scopes: set[str]) -> bool:
    """Whether a token with ``scopes`` gets the operation's success answer with nothing else to send (no
    required parameter or body): the routes a transport test can call as they are."""
    opens = operation.public or any(set(option) <= scopes for option in operation.scope_options)
    return opens and not any(p.get("required") for p in operation.parameters)


def operations(document: dict) -> list[Operation]:
    """Every operation the document describes: the routes under test come from here, never from a list."""
    return [Operation(path, method, operation, tuple(item.get("parameters", [])))
            for path, item in document["paths"].items()
            for method, operation in item.items() if method != "parameters"]


DOCS_SETTINGS = re.compile(r'<script type="application/json" id="docs-settings">(.*?)</script>', re.DOTALL)


def docs_settings(html: str) -> dict:
    """What the docs page hands Swagger UI: the JSON data block of swagger/templates/swagger-ui.html."""
    return json.loads(DOCS_SETTINGS.search(html).group(1))
