"""The resource kit: what every stored resource's routes share, one module per job, no resource's words.

- ``identity``: the caller (security.Owner: the token's ``iss`` and ``sub``), who owns what it writes;
- ``params``: query parameters and headers given at most once;
- ``paging``: ``limit`` and ``cursor``, read and documented, and the page's model;
- ``preconditions``: ETags, If-None-Match (304) and If-Match (428, 412);
- ``store_errors``: what a store refuses, as the documented error (503 when the database is unavailable);
- ``answers``: answers made at once;
- ``stores``: which store a namespace's routes use (app.database opens it);
- ``json_body``: the strict JSON body (swagger.bodies), re-exported here for the routes.

See docs/stored-resources.md, "Adding a stored resource", and namespaces/messages/, the first user.
"""

from swagger import json_body

from .answers import json_answer, no_content
from .identity import caller, no_subject, several_issuers
from .paging import LIMIT_RULE, cursor, page_model, page_size, paging_parameters
from .params import single
from .preconditions import (
    ENTITY_TAGS,
    etag,
    expected_version,
    if_match,
    if_none_match,
    not_modified,
    precondition_required,
)
from .store_errors import REFUSALS, named_examples, not_found, refusal, refusing_store_errors, storage_down
from .stores import declared_stores, store_key, uses_store

__all__ = [
    "ENTITY_TAGS", "LIMIT_RULE", "REFUSALS",
    "caller", "cursor", "declared_stores", "etag", "expected_version", "if_match", "if_none_match", "json_answer",
    "json_body", "named_examples", "no_content", "no_subject", "not_found", "not_modified", "page_model",
    "page_size", "paging_parameters", "precondition_required", "refusal", "refusing_store_errors",
    "several_issuers", "single", "storage_down", "store_key", "uses_store",
]
