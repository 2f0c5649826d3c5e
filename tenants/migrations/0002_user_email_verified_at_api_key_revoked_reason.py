"""Email verification and API keys that follow their creator (issue 13).

- ``User.email_verified_at``: everyone who already has an account is marked verified (at the time they
  joined), so nobody is locked out of API keys or publishing by the new rule; only accounts signed up
  from now on must verify.
- ``ApiKey.revoked_reason``: why a key stopped (an admin revoked it, or its creator left).
- Keys made by another key used to have no creator; they are given the creator of the key that made
  them (found through the ``api_key.created`` audit events), so they follow that person from now on.
  A key whose chain cannot be traced keeps no creator, and authentication refuses it.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models
from django.db.models import F

# The migration reads every tenant's keys and audit events: the explicit escape hatch from Row-Level
# Security (tenants.context.unscoped), as a transaction-local setting.
UNSCOPED = "SELECT set_config('groundwork.unscoped', 'on', true)"


def mark_existing_users_verified(apps: Any, schema_editor: Any) -> None:
    User = apps.get_model("tenants", "User")
    User.objects.filter(email_verified_at__isnull=True).update(email_verified_at=F("date_joined"))


def give_keys_made_by_keys_their_creator(apps: Any, schema_editor: Any) -> None:
    ApiKey = apps.get_model("tenants", "ApiKey")
    AuditEvent = apps.get_model("tenants", "AuditEvent")
    schema_editor.execute(UNSCOPED)
    creator_of = dict(ApiKey.objects.values_list("pk", "created_by_id"))
    made_by = {
        event.target_id: event.actor_api_key_id
        for event in AuditEvent.objects.filter(action="api_key.created", actor_api_key__isnull=False)
    }
    for key_id, creator in list(creator_of.items()):
        if creator is not None:
            continue
        maker, seen = made_by.get(str(key_id)), set()
        while maker is not None and creator_of.get(maker) is None and maker not in seen:
            seen.add(maker)
            maker = made_by.get(str(maker))
        if maker is not None and creator_of.get(maker) is not None:
            creator_of[key_id] = creator_of[maker]
            ApiKey.objects.filter(pk=key_id).update(created_by_id=creator_of[maker])


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="revoked_reason",
            field=models.CharField(
                blank=True,
                choices=[("", "Revoked"), ("creator_removed", "Its creator left the organisation")],
                default="",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="email_verified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(mark_existing_users_verified, migrations.RunPython.noop),
        migrations.RunPython(give_keys_made_by_keys_their_creator, migrations.RunPython.noop),
    ]
