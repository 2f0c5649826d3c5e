"""Input and output shapes of the tenants REST API."""

from __future__ import annotations

from rest_framework import serializers

from core.serializers import StrictInputSerializer
from tenants.models import ApiKey, ApiKeyStatus, AuditEvent, Invitation, Membership, Role, Tenant
from tenants.quotas import QUOTA_CHOICES

# The roles a member or an API key may be given; ownership moves only by transfer.
ASSIGNABLE_ROLES = [Role.VIEWER, Role.EDITOR, Role.ADMIN]


# --- output -----------------------------------------------------------------------------------------


class TenantOutput(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "plan", "created_at"]


class MemberOutput(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")

    class Meta:
        model = Membership
        fields = ["id", "email", "full_name", "role", "created_at"]


class InvitationOutput(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "expires_at"]


class ApiKeyOutput(serializers.ModelSerializer):
    status = serializers.ChoiceField(
        choices=ApiKeyStatus.choices,
        read_only=True,
        help_text="`creator_removed`: the key stopped working when its creator left the organisation.",
    )
    status_label = serializers.SerializerMethodField(
        help_text="The status in words, e.g. “Inactive: creator removed”."
    )
    effective_role = serializers.ChoiceField(
        choices=Role.choices,
        read_only=True,
        allow_null=True,
        help_text="What the key may do now: the lower of `role` and its creator's current role; "
        "null when it does not work.",
    )
    created_by = serializers.EmailField(source="created_by.email", read_only=True, allow_null=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "role",
            "effective_role",
            "status",
            "status_label",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_status_label(self, api_key: ApiKey) -> str:
        return str(api_key.status.label)


class ApiKeyCreatedOutput(ApiKeyOutput):
    secret = serializers.CharField(help_text="The secret key. Shown in this response only: store it now.")

    class Meta(ApiKeyOutput.Meta):
        fields = [*ApiKeyOutput.Meta.fields, "secret"]


class AuditEventOutput(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "actor_label", "action", "target_type", "target_id", "changes"]


# --- input ------------------------------------------------------------------------------------------


class TenantUpdateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)


class MemberInviteInput(StrictInputSerializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES, default=Role.EDITOR)


class MemberRoleInput(StrictInputSerializer):
    role = serializers.ChoiceField(choices=ASSIGNABLE_ROLES)


class ApiKeyCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(
        choices=ASSIGNABLE_ROLES,
        default=Role.VIEWER,
        help_text="What the key may do, never more than its creator. Without it: `viewer`, the least "
        "role that reads; ask for `editor` or `admin` on purpose.",
    )


class QuotaOutput(serializers.Serializer):
    """One quota of the organisation's plan: what is used of it, and its limit (null: none)."""

    name = serializers.ChoiceField(choices=QUOTA_CHOICES)
    used = serializers.IntegerField(help_text="Documents, bytes, pages or runs, by the quota's name.")
    limit = serializers.IntegerField(allow_null=True)
    resets_daily = serializers.BooleanField(help_text="Counted per UTC day, from midnight.")


class QuotasOutput(serializers.Serializer):
    plan = serializers.CharField()
    quotas = QuotaOutput(many=True)
