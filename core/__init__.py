"""Cross-cutting web plumbing shared by every app, with no models of its own: domain errors and
problem+json responses, pagination, strict input serializers and query validation, the async endpoint
base, the size-limited upload handler, CSV formula defusing and formatting helpers, and the guarded
outbound transport for every URL a tenant gives (``outbound``).

Never name this package ``platform``: that would shadow the standard library module of that name.
"""
