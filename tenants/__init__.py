"""Tenants: users, organisations, members and roles, invitations, API keys, the audit log, and the tenant
context every request, task and command runs in.

- ``models``: users, tenants, memberships, invitations, API keys, audit events; ``TenantOwnedModel``
- ``context`` / ``rls``: the tenant set on the transaction, and Row-Level Security backing it up
- ``actors``: who acts, for which tenant, with which role; ``authentication`` / ``permissions``: API keys
- ``services`` / ``selectors``: every write, and every read that leaves the app
- ``api_base`` / ``views_base``: the base views of every app's tenant-scoped endpoints and pages
- ``serializers`` / ``api``: the REST API; ``forms`` / ``views``: accounts, team, API keys and settings pages
- ``context_processors``: the user's organisations and role on every page; ``tasks``: the invitation purge
- ``management/commands``: ``create_tenant``, ``seed_demo``, ``run_platform``
"""
