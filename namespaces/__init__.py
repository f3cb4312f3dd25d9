"""The API's resources, one module (or, for a stored resource, one package) per namespace: its routes, and the
scopes they need (see docs/extending.md, "Protecting a route", and docs/stored-resources.md). Register a namespace here,
once; the docs, the local issuer and the tests follow."""

from . import messages, private, public

#: (namespace, URL prefix), in the order the docs list them
NAMESPACES = [(public.ns, "/api"), (private.ns, "/api"), (messages.ns, "/api")]
