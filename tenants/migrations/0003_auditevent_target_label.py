"""Audit events keep their target's name, so the audit log can say "Support bot" instead of an id
(issue 14). Earlier events keep an empty name; the log words them without it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0002_user_email_verified_at_api_key_revoked_reason"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="target_label",
            field=models.CharField(blank=True, default="", max_length=200),
        ),
    ]
