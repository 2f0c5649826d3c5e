"""The row a service is about to change, found in the actor's tenant and locked until its transaction ends."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist

from core.errors import NotFound
from knowledge import selectors
from tenants.models import Tenant, TenantOwnedModel

Row = TypeVar("Row", bound=TenantOwnedModel)


def locked_for_update(model: type[Row], tenant: Tenant, object_id: uuid.UUID | str, what: str) -> Row:
    """``model``'s row ``object_id`` of ``tenant``, locked; another tenant's is the same 404 ("No such
    {what}.") as a missing one."""
    object_id = selectors._uuid(object_id, what)
    try:
        return model.objects.for_tenant(tenant).select_for_update().get(pk=object_id)
    except ObjectDoesNotExist:
        raise NotFound(f"No such {what}.") from None
