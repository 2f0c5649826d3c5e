"""Dashboard pages for foundation models (catalog, comparison, settings, providers, the tenant's own
models) and for usage.

Views stay thin: they validate a form, call a service or selector, and render or redirect; readable
numbers and the usage chart's geometry live in ``providers.presentation``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from core.errors import GroundworkError, ValidationFailed
from core.forms import FILTER_AUTO_ID
from providers import selectors, services
from providers.forms import (
    CREDENTIAL_PROVIDER_CHOICES,
    BudgetForm,
    CredentialForm,
    CredentialUpdateForm,
    CustomModelForm,
    ModelFilterForm,
    ModelSettingsForm,
    UsageFilterForm,
)
from providers.models import CustomModel, ModelKind, Provider, ProviderCredential, TenantModelSettings
from providers.presentation import (
    NARROW,
    WIDE,
    cost_label,
    present_model,
    present_usage_rows,
    usage_chart,
    usage_cost_places,
)
from providers.readiness import present_readiness, readiness_by_ref
from tenants import quotas
from tenants.models import Role
from tenants.views_base import TenantFormView, TenantView, form_with_errors


def models_url(anchor: str = "") -> str:
    return reverse("dashboard:models") + (f"#{anchor}" if anchor else "")


# The catalog's filter form has a "provider" field too: the key form's ids get their own prefix, so each
# label points at its own control.
CREDENTIAL_FORM_IDS = "credential-%s"


def safe_next(request: HttpRequest) -> str:
    """The ``next`` path a form brings the tenant back to (posted, or in the query string), or "" unless it
    is a path on this site: never another host or scheme, so a crafted link cannot send anyone off-site."""
    value = request.POST.get("next") or request.GET.get("next") or ""
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return ""
    if not url_has_allowed_host_and_scheme(
        value, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return value


def model_servers(credentials: Iterable[ProviderCredential]) -> list[ProviderCredential]:
    """The OpenAI-compatible servers among the credentials: where the tenant's own models run."""
    return [credential for credential in credentials if credential.provider == Provider.OPENAI_COMPATIBLE]


class ModelsPage(TenantView):
    """The models page and the forms posted from it, which render it again with their errors."""

    write_role = Role.ADMIN
    template_name = "providers/models.html"

    def render_page(self, *, status: int = 200, **forms: Any) -> HttpResponse:
        filter_form = ModelFilterForm(self.request.GET, auto_id=FILTER_AUTO_ID)
        filters = {
            name: value
            for name, value in (filter_form.cleaned_data if filter_form.is_valid() else {}).items()
            if value
        }
        all_rows = selectors.model_catalog(tenant=self.tenant)
        rows = selectors.model_catalog(tenant=self.tenant, **filters) if filters else all_rows
        shown = {row["ref"] for row in rows}
        current = selectors.model_settings(tenant=self.tenant)
        credentials = list(selectors.credential_list(tenant=self.tenant))
        endpoints = model_servers(credentials)
        settings_form = forms.get("settings_form") or ModelSettingsForm(
            rows=all_rows,
            initial={
                "enabled_models": current.enabled_models,
                "default_chat_model": current.default_chat_model,
                "default_embedding_model": current.default_embedding_model,
            },
        )
        choosable = [present_model(row) for row in all_rows if not row["is_retired"]]
        chat_choices = [row for row in choosable if row["kind"] == ModelKind.CHAT]
        embedding_choices = [row for row in choosable if row["kind"] == ModelKind.EMBEDDING]
        # What the form shows as chosen: the posted values after an error, else the saved settings.
        chat_selected = settings_form["default_chat_model"].value()
        embedding_selected = settings_form["default_embedding_model"].value()
        warnings = {row["ref"]: row["deprecation_warning"] for row in choosable}
        # Chat models in use or offered (enabled, default, or chosen as the default in the form) that
        # cannot answer yet say so in their row and under the default's select, with the fix.
        here = reverse("dashboard:models") + "#catalog"
        readiness = {
            ref: present_readiness(found, next_path=here)
            for ref, found in readiness_by_ref(
                tenant=self.tenant, refs=[row["ref"] for row in chat_choices]
            ).items()
            if not found.connected
        }
        presented = [present_model(row) for row in rows]
        for model in presented:
            model["readiness"] = readiness.get(model["ref"])
        for model in chat_choices:
            model["readiness"] = readiness.get(model["ref"])
        # ?add=openai (the "Add your OpenAI key" links) opens the providers' form for that provider, and
        # ?next= brings the tenant back once the key is saved.
        adding = self.request.GET.get("add", "")
        if adding not in {value for value, _ in CREDENTIAL_PROVIDER_CHOICES}:
            adding = ""
        credential_form = forms.get("credential_form") or CredentialForm(
            initial={"provider": adding} if adding else None, auto_id=CREDENTIAL_FORM_IDS
        )
        if adding:
            credential_form.fields["api_key"].widget.attrs["autofocus"] = True  # the one thing to type
        context = {
            "filter_form": filter_form,
            "filtered": bool(filters),
            "models": presented,
            "model_count": len(all_rows),
            # Enabled models the filter hides still belong to the settings form, or saving would drop them.
            "hidden_enabled": [
                row["ref"]
                for row in all_rows
                if row["is_enabled"] and row["ref"] not in shown and not row["is_retired"]
            ],
            "current_settings": current,
            "settings_form": settings_form,
            "chat_choices": chat_choices,
            "embedding_choices": embedding_choices,
            "chat_selected": chat_selected,
            "embedding_selected": embedding_selected,
            "chat_warning": warnings.get(chat_selected, ""),
            "chat_readiness": readiness.get(chat_selected),
            "embedding_warning": warnings.get(embedding_selected, ""),
            "enabled_selected": set(settings_form["enabled_models"].value() or []),
            "settings_warnings": selectors.model_settings_warnings(tenant=self.tenant),
            "credentials": credentials,
            "credential_form": credential_form,
            "adding": adding,
            "next_path": safe_next(self.request),
            "custom_models": selectors.custom_model_list(tenant=self.tenant),
            "custom_model_form": forms.get("custom_model_form") or CustomModelForm(credentials=endpoints),
            "has_endpoints": bool(endpoints),
            "can_manage": self.actor.can(Role.ADMIN),
            "compare_min": selectors.COMPARE_MIN_MODELS,
            "compare_max": selectors.COMPARE_MAX_MODELS,
            "open_form": next(iter(forms), "") or ("credential_form" if adding else ""),
        }
        return render(self.request, self.template_name, context, status=status)


class ModelsView(ModelsPage):
    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_page()


class ModelsFormView(ModelsPage, TenantFormView):
    """A form posted from the models page; with errors, the page renders again with that form open."""

    http_method_names = ["post"]
    form_slot: str  # the form's name in the page's context

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        return self.render_page(status=status, **{self.form_slot: form})


class ModelSettingsUpdateView(ModelsFormView):
    form_class = ModelSettingsForm
    form_slot = "settings_form"

    def form_kwargs(self) -> dict[str, Any]:
        return {"rows": selectors.model_catalog(tenant=self.tenant)}

    def perform(self, form: Form) -> TenantModelSettings:
        return services.model_settings_update(actor=self.actor, **form.cleaned_data)

    def success_url(self, result: TenantModelSettings) -> str:
        return models_url("model-settings")

    def success_message(self, result: TenantModelSettings) -> str:
        return "Model settings saved."


class CredentialCreateView(ModelsFormView):
    form_class = CredentialForm
    form_slot = "credential_form"

    def form_kwargs(self) -> dict[str, Any]:
        return {"auto_id": CREDENTIAL_FORM_IDS}

    def perform(self, form: Form) -> ProviderCredential:
        return services.credential_create(actor=self.actor, **form.cleaned_data)

    def success_url(self, result: ProviderCredential) -> str:
        return safe_next(self.request) or models_url("providers")

    def success_message(self, result: ProviderCredential) -> str:
        return f"Added {result.name}. Test the connection to check the key."


class CredentialUpdateView(TenantView):
    """Replace a credential's key, or move an OpenAI-compatible server's base URL."""

    write_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        credential = selectors.credential_get(tenant=self.tenant, credential_id=pk)
        form = CredentialUpdateForm(request.POST)
        if not form.is_valid() or not form.changes():
            wanted = (
                "a new key or base URL"
                if credential.provider == Provider.OPENAI_COMPATIBLE
                else "the new key"
            )
            messages.error(request, f"Paste {wanted} for {credential.name}.")
            return redirect(models_url("providers"))
        try:
            services.credential_update(actor=self.actor, credential_id=credential.pk, **form.changes())
        except GroundworkError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, f"Updated {credential.name}. Test the connection to check it.")
        return redirect(models_url("providers"))


class CredentialDeleteView(TenantView):
    write_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        credential = selectors.credential_get(tenant=self.tenant, credential_id=pk)
        services.credential_delete(actor=self.actor, credential_id=credential.pk)
        messages.success(request, f"Deleted {credential.name}; its key is gone from Groundwork.")
        return redirect(models_url("providers"))


class CredentialTestView(TenantView):
    write_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        credential = selectors.credential_get(tenant=self.tenant, credential_id=pk)  # 404 before any call
        from providers.gateway import credential_test  # the gateway imports the SDKs: load them on use

        try:
            tested: ProviderCredential = credential_test(actor=self.actor, credential_id=credential.pk)
        except GroundworkError as error:
            messages.error(request, f"{credential.name}: {error.message}")
        else:
            if tested.last_test_ok:
                messages.success(request, f"{tested.name} works. {tested.last_test_message}".strip())
            else:
                messages.error(request, f"{tested.name} failed the test. {tested.last_test_message}".strip())
        return redirect(models_url("providers"))


class CustomModelCreateView(ModelsFormView):
    form_class = CustomModelForm
    form_slot = "custom_model_form"

    def form_kwargs(self) -> dict[str, Any]:
        return {"credentials": model_servers(selectors.credential_list(tenant=self.tenant))}

    def perform(self, form: Form) -> CustomModel:
        fields = dict(form.cleaned_data)
        for price in ("input_price_per_million", "output_price_per_million"):
            fields[price] = fields[price] or Decimal(0)  # a blank price: free, like your own hardware
        return services.custom_model_create(
            actor=self.actor, credential_id=uuid.UUID(fields.pop("credential")), **fields
        )

    def success_url(self, result: CustomModel) -> str:
        return models_url("own-models")

    def success_message(self, result: CustomModel) -> str:
        return f"Added {result.display_name}. Enable it below to offer it to bots."


class CustomModelDeleteView(TenantView):
    write_role = Role.ADMIN

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        model = selectors.custom_model_get(tenant=self.tenant, custom_model_id=pk)
        services.custom_model_delete(actor=self.actor, custom_model_id=model.pk)
        messages.success(request, f"Removed {model.display_name}.")
        return redirect(models_url("own-models"))


class ModelCompareView(TenantView):
    template_name = "providers/compare.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            rows = selectors.model_comparison(tenant=self.tenant, refs=request.GET.getlist("models"))
        except ValidationFailed as error:
            return render(request, self.template_name, {"error": error.message, "models": []}, status=400)
        models = [present_model(row) for row in rows]
        costs = [row["typical_answer_cost_usd"] for row in rows if row["typical_answer_cost_usd"] is not None]
        contexts = [model["context_window"] for model in models if not model["quotes_only"]]
        for model in models:
            cost = model["typical_answer_cost_usd"]
            model["thousand_answers_label"] = (
                "Free" if cost == 0 else cost_label(cost * 1000) if cost is not None else "—"
            )
            # Only worth pointing out when there is a choice: two or more chat models.
            model["is_cheapest"] = len(costs) > 1 and model["typical_answer_cost_usd"] == min(costs)
            model["is_largest_context"] = (
                len(set(contexts)) > 1
                and not model["quotes_only"]
                and model["context_window"] == max(contexts)
            )
        return render(
            request,
            self.template_name,
            {
                "models": models,
                "error": "",
                "typical_input": selectors.TYPICAL_ANSWER_INPUT_TOKENS,
                "typical_output": selectors.TYPICAL_ANSWER_OUTPUT_TOKENS,
            },
        )


# --- usage page -------------------------------------------------------------------------------------


def usage_link(path: str, report: dict[str, Any], metric: str, **changes: str) -> str:
    """The usage page for the same range, with one choice (grouping or chart) changed."""
    query = {
        "start": report["start"].isoformat(),
        "end": report["end"].isoformat(),
        "group_by": report["group_by"],
        "chart": metric,
        **changes,
    }
    return f"{path}?{urlencode(query)}"


def budget_context(tenant: Any, form: BudgetForm | None = None) -> dict[str, Any]:
    """The budget card: this month's spend against the budget, and the form that sets it."""
    budget = selectors.model_settings(tenant=tenant).monthly_budget_usd
    spent = selectors.spend_this_month(tenant=tenant)
    share = None if budget is None else (100 if budget <= 0 else min(100, int(spent * 100 / budget)))
    return {
        "budget_form": form
        or BudgetForm(initial={"monthly_budget_usd": budget, "no_budget": budget is None}),
        "budget": budget,
        "budget_label": cost_label(budget) if budget is not None else "",
        "spent_label": cost_label(spent),
        "budget_share": share,
    }


class UsageView(TenantFormView):
    """The usage report (its range and grouping from the query string) and the monthly budget's form."""

    template_name = "providers/usage.html"
    write_role = Role.ADMIN  # the monthly budget
    form_class = BudgetForm

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_usage(request)  # 400 for a range the report refuses

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        assert isinstance(form, BudgetForm)
        return self.render_usage(self.request, budget_form=form, status=status)

    def perform(self, form: Form) -> Decimal | None:
        amount: Decimal | None = form.cleaned_data["monthly_budget_usd"]
        services.monthly_budget_update(actor=self.actor, monthly_budget_usd=amount)
        return amount

    def success_url(self, result: Decimal | None) -> str:
        return reverse("dashboard:usage") + "#budget"

    def success_message(self, result: Decimal | None) -> str:
        if result is None:
            return "Monthly budget removed: spending is not capped."
        return f"Monthly budget set to {cost_label(result, 2)}."

    def render_usage(
        self, request: HttpRequest, *, budget_form: BudgetForm | None = None, status: int | None = None
    ) -> HttpResponse:
        form = UsageFilterForm(request.GET)
        report: dict[str, Any] | None = None
        metric = "cost"
        if form.is_valid():
            metric = form.cleaned_data["chart"] or "cost"
            try:
                report = selectors.usage_report(
                    tenant=self.tenant,
                    group_by=form.cleaned_data["group_by"] or "day",
                    start=form.cleaned_data["start"],
                    end=form.cleaned_data["end"],
                )
            except ValidationFailed as error:
                form_with_errors(form, error)
            else:
                totals = report["totals"]
                if not form.cleaned_data["chart"] and totals["calls"] and not totals["cost_usd"]:
                    metric = "tokens"  # nothing cost anything: a chart of zeros would say nothing
        context: dict[str, Any] = {
            "form": form,
            "report": report,
            "has_usage": selectors.usage_list(tenant=self.tenant).exists(),
            "can_manage": self.actor.can(Role.ADMIN),
            "not_from_a_bot_hint": selectors.USAGE_NOT_FROM_A_BOT_HINT,
            "quotas": quotas.usage(self.tenant),
            **budget_context(self.tenant, budget_form),
        }
        if report is not None:
            context.update(
                # The range actually shown (the defaults filled in), so the date inputs say what it is.
                form=UsageFilterForm(
                    initial={
                        "start": report["start"],
                        "end": report["end"],
                        "group_by": report["group_by"],
                        "chart": metric,
                    }
                ),
                rows=present_usage_rows(report),
                totals_cost=cost_label(report["totals"]["cost_usd"], usage_cost_places(report)),
                charts=[usage_chart(report, metric, WIDE), usage_chart(report, metric, NARROW)],
                group_tabs=[
                    (
                        value,
                        label,
                        usage_link(request.path, report, metric, group_by=value),
                        value == report["group_by"],
                    )
                    for value, label in (("day", "By day"), ("model", "By model"), ("bot", "By bot"))
                ],
                metric_tabs=[
                    (value, label, usage_link(request.path, report, value), value == metric)
                    for value, label in (("cost", "Cost"), ("tokens", "Tokens"))
                ],
            )
        if status is None:
            status = 200 if report is not None else 400
        return render(request, self.template_name, context, status=status)
