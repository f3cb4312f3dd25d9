"""The API's resources, one namespace per tag. Auth is declared by decorators, nothing more."""

from . import private, public

#: (namespace, URL prefix), in the order the docs list them
NAMESPACES = [(public.ns, "/api"), (private.ns, "/api")]
