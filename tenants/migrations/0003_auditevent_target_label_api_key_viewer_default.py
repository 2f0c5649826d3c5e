"""Issue 14: audit events keep their target's name, so the audit log says "Support bot" instead of an
id (earlier events keep an empty name, and the log words them without it); a new API key is a
viewer's unless another role is chosen (the least role that reads)."""

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
        migrations.AlterField(
            model_name="apikey",
            name="role",
            field=models.CharField(
                choices=[("viewer", "Viewer"), ("editor", "Editor"), ("admin", "Admin"), ("owner", "Owner")],
                default="viewer",
                max_length=10,
            ),
        ),
    ]
