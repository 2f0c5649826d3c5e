"""The base of every REST endpoint: tenant, role and filtering resolved once, here.

``TenantAPIView`` authenticates the API key, scopes the transaction to its tenant (RLS) and builds the
``Actor`` that services take. ``TenantViewSet`` adds a ``get_queryset`` that subclasses cannot
override: it always filters by the actor's tenant, so a missing or foreign id is the same 404.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from core.pagination import CursorPagination
from tenants.actors import Actor
from tenants.context import activate_tenant
from tenants.models import ApiKey, Role


class TenantAPIView(APIView):
    """Every tenant endpoint derives from this. Reads need ``read_role``, writes ``write_role``.

    A view whose URL names an object declares ``url_object_lookup = (selector, keyword)``: the object is
    looked up once per request, as ``selector(tenant=..., keyword=<the URL's id>)``, before anything reads
    the body (so a missing or another tenant's id is the same 404 whatever the body says), and handlers
    use ``self.url_object``. A service that writes it looks it up again under a row lock, which a write needs.
    """

    read_role = Role.VIEWER
    write_role = Role.EDITOR
    url_object_lookup: ClassVar[tuple[Callable[..., Any], str] | None] = None
    url_object_argument = "id"
    actor: Actor
    url_object: Any

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        api_key = request.auth
        assert isinstance(api_key, ApiKey)  # guaranteed by IsTenantMember, which ran in super().initial()
        activate_tenant(api_key.tenant_id)
        self.actor = Actor(tenant=api_key.tenant, role=Role(api_key.role), api_key=api_key)
        if self.url_object_lookup is not None:
            selector, keyword = self.url_object_lookup
            identifier = kwargs[self.url_object_argument]
            self.url_object = selector(tenant=self.actor.tenant, **{keyword: identifier})

    def output_context(self) -> dict[str, Any]:
        """What output serializers may need beyond the object: the tenant whose data they shape."""
        return {"tenant": self.actor.tenant}

    def paginated(self, queryset: QuerySet[Any], output: type[serializers.Serializer]) -> Response:
        """One page of ``queryset`` shaped by ``output``, with the ``next``/``previous`` cursor links."""
        # A view that paginates says so with ``pagination_class`` (which also documents the cursor
        # parameters in the schema); the helper falls back to the house cursor pagination.
        paginator_class: type[BasePagination] = getattr(self, "pagination_class", None) or CursorPagination
        paginator = paginator_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        data = output(page, many=True, context=self.output_context()).data
        return paginator.get_paginated_response(data)


class TenantViewSet(TenantAPIView, GenericViewSet):
    """Base viewset; set ``queryset`` to a tenant-owned model's queryset."""

    lookup_value_converter = "uuid"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} must not override get_queryset: tenant filtering lives in TenantViewSet. "
                "Narrow results in filter_tenant_queryset instead."
            )

    def get_queryset(self) -> QuerySet[Any]:
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False):  # schema generation has no request or tenant
            return queryset.none()
        return self.filter_tenant_queryset(queryset.filter(tenant_id=self.actor.tenant.pk))

    def filter_tenant_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Hook for extra narrowing (status filters, select_related); the tenant filter is already on."""
        return queryset
