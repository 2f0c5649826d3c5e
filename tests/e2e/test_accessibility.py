"""Every dashboard page, checked by axe-core in Chromium against WCAG 2.0, 2.1 and 2.2, levels A and AA:
zero violations, at desktop and at phone width.

The pages are not listed by hand: every route of the URL conf under /app/ is opened (its ids filled from a
tenant that has one of everything: a published bot, a knowledge base with an ingested document, a
conversation, a regression suite with a finished run, API keys, a member and a pending invitation, an
endpoint with a model of its own, usage), signed out and signed in; whatever answers with a whole HTML
page is checked. A new page is checked the day it is added; a new kind of id in a route fails the test
until it is taught here how to fill it. The API docs and the error page are checked too.

axe-core is vendored under tests/e2e/vendor/axe-core/ (see its README for the version and licence).
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.tokens import default_token_generator
from django.db import connection
from django.urls import resolve
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Browser, Page, expect

from bots.models import Bot, RegressionCase
from tenants import services as tenant_services
from tenants.context import tenant_context
from tenants.models import Invitation, Role, User
from tenants.models import Tenant as Organisation
from tests.bots.factories import published_bot, record_conversation
from tests.bots.regression.factories import finished_run, make_case, make_suite
from tests.e2e.pages import GRACE_EMAIL, shot, sign_up
from tests.knowledge.factories import ingested_text, make_knowledge_base
from tests.providers.factories import endpoint_credential, own_model, record_usage
from tests.security.routes import route_templates
from tests.tenants.factories import PASSWORD, World, make_world

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE_VERSION = "4.14.1"
AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js").read_text()
# All of WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe's tags), no rule left out.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
# Rules the dashboard must pass by name, whatever axe's tags become: contrast, labels, unique ids.
REQUIRED_RULES = {"color-contrast", "label", "duplicate-id-aria", "aria-valid-attr-value"}
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Third-party API documentation renderers: Swagger UI and ReDoc draw their own widgets, which axe finds
# faults in that are not ours to fix (their code, vendored as is); only our own frame around them (the
# header with the product's name and the way back) is checked on those pages.
API_DOCS = {"/api/v1/docs/": "[data-api-docs-header]", "/api/v1/redoc/": "[data-api-docs-header]"}

# The object each kind of route parameter names, by the path segment before it.
SEGMENT_OBJECTS = {
    "knowledge": "knowledge_base",
    "documents": "document",
    "bots": "bot",
    "answers": "answer",
    "conversations": "conversation",
    "suites": "suite",
    "cases": "case",
    "runs": "run",
    "providers": "credential",
    "own": "own_model",
    "members": "membership",
    "invitations": "invitation",
    "api-keys": "api_key",
    "organisations": "tenant",
    "verify-email": "verification_token",
    "password-reset": "password_reset",
}


@dataclass
class SeededTenant:
    world: World
    ids: dict[str, str]


def a_tenant_with_everything() -> SeededTenant:
    world = make_world("Accessible Shop")
    # The server checks passwords with the production hasher, not the tests' fast one.
    world.owner.password = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    world.owner.save(update_fields=["password"])
    base = make_knowledge_base(world, "Help centre")
    document = ingested_text(
        world,
        base,
        "# Refunds\n\nRefunds go back to the card you paid with within five working days.",
        title="Refund policy",
    )
    bot = published_bot(world, "Concierge", knowledge_base_ids=[base.pk])
    conversation_id, answer = record_conversation(world, bot, rating=1, comment="Clear.")
    suite = make_suite(world, bot)
    make_case(world, suite, "How long do refunds take?", expected_facts=["five working days"])
    make_case(world, suite, "Can I pay by cheque?", must_refuse=True)
    run = finished_run(world, suite, True, False)
    member = world.add_member(Role.EDITOR, "ada@example.test")
    api_key, _secret = world.api_key(Role.VIEWER, name="Reporting")
    world.api_key(Role.ADMIN, name="Deploys")
    credential = endpoint_credential(world)
    model = own_model(world, credential)
    record_usage(world, "openai:gpt-4o-mini", "0.0042", bot_id=bot.pk)
    record_usage(world, "local:no-llm", "0", days_ago=2)
    invitation_token = "an-invitation-token-for-the-accessibility-check"
    with tenant_context(world.tenant.pk):
        invitation = tenant_services.invitation_create(
            actor=world.actor(), email="linus@example.test", role=Role.VIEWER
        )
        # The real token exists only in the email; the test knows its own.
        Invitation.objects.filter(pk=invitation.pk).update(
            token_hash=tenant_services.hash_secret(invitation_token)
        )
        case = RegressionCase.objects.filter(suite=suite).order_by("created_at").first()
        assert case is not None
        assert Bot.objects.filter(pk=bot.pk).exists()
    ids = {
        "knowledge_base": str(base.pk),
        "document": str(document.pk),
        "bot": str(bot.pk),
        "answer": str(answer.pk),
        "conversation": str(conversation_id),
        "suite": str(suite.pk),
        "case": str(case.pk),
        "run": str(run.pk),
        "credential": str(credential.pk),
        "own_model": str(model.pk),
        "membership": str(member.pk),
        "invitation": str(invitation.pk),
        "invitation_token": invitation_token,
        "api_key": str(api_key.pk),
        "tenant": str(world.tenant.pk),
        "verification_token": tenant_services.email_verification_token(user=world.owner),
        "uidb64": urlsafe_base64_encode(force_bytes(world.owner.pk)),
        "password_reset": default_token_generator.make_token(world.owner),
    }
    return SeededTenant(world=world, ids=ids)


def concrete_path(template: str, ids: dict[str, str]) -> str:
    """``template`` with each parameter filled from ``ids``, by the segment before it; a parameter this
    test does not know fails it (a new kind of page must be taught, not skipped)."""
    segments = template.strip("/").split("/")
    filled = []
    for index, segment in enumerate(segments):
        match = re.fullmatch(r"{(\w+)}", segment)
        if not match:
            filled.append(segment)
            continue
        name = match.group(1)
        previous = segments[index - 1]
        if name == "uidb64":
            key = "uidb64"
        elif name == "token" and previous == "invitations":
            key = "invitation_token"
        else:
            key = SEGMENT_OBJECTS.get(previous if not previous.startswith("{") else "password-reset", "")
        assert key in ids, f"teach test_accessibility.py how to fill {{{name}}} in {template}"
        filled.append(ids[key])
    return "/" + "/".join(filled) + "/"


def dashboard_paths(ids: dict[str, str]) -> list[str]:
    return sorted(
        {concrete_path(template, ids) for template, _ in route_templates() if template.startswith("/app/")}
    )


def axe_violations(page: Page, include: str | None = None) -> list[dict[str, Any]]:
    """The violations axe-core finds on the page as it is now (or in the ``include`` selector only)."""
    if page.evaluate("typeof window.axe === 'undefined'"):
        # Evaluated through the DevTools protocol, so the page's Content-Security-Policy does not apply.
        page.evaluate(AXE_SOURCE)
    result: dict[str, Any] = page.evaluate(
        """async ([include, tags]) => await window.axe.run(include ? {include: [include]} : document,
            {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})""",
        [include, WCAG_TAGS],
    )
    return list(result["violations"])


# axe 4.x retired its rule for duplicate ids that nothing refers to; HTML still requires every id to be
# unique, and a label must point at a control that exists: both checked here, on the whole document, with
# template syntax leaking into the page's text.
ID_PROBLEMS = r"""() => {
    const problems = [];
    const seen = new Map();
    for (const element of document.querySelectorAll("[id]")) {
        seen.set(element.id, (seen.get(element.id) || 0) + 1);
    }
    for (const [id, count] of seen) if (count > 1) problems.push(`id "${id}" is used ${count} times`);
    for (const label of document.querySelectorAll("label[for]")) {
        const target = document.getElementById(label.htmlFor);
        if (!target) problems.push(`label "${label.textContent.trim()}" points at missing #${label.htmlFor}`);
        else if (!target.matches("input, select, textarea, button, meter, output, progress"))
            problems.push(`label "${label.textContent.trim()}" points at a <${target.localName}>`);
    }
    // A template comment or tag that reaches the page is broken markup, whatever axe says of it.
    if (/\{[#%]|[#%]\}/.test(document.body.innerText)) problems.push("template syntax shows on the page");
    return problems;
}"""


def describe(violations: list[dict[str, Any]]) -> list[str]:
    lines = []
    for violation in violations:
        for node in violation["nodes"][:5]:
            lines.append(f"{violation['id']}: {node['target']} {node['failureSummary'][:200]!r}")
    return lines


def page_at(page: Page, base_url: str, path: str) -> str | None:
    """The path of the whole HTML page GET ``path`` shows, as the signed-in or signed-out browser of
    ``page`` sees it; None for an action, a fragment, a file or a redirect elsewhere. A redirect within
    the same route is followed (a password-reset link moves its token into the session, then shows its
    form at .../set-password/)."""
    response = page.request.get(base_url + path, max_redirects=0)
    assert response.status < 500, f"GET {path}: {response.status}"
    location = urlsplit(response.headers.get("location", "")).path
    if response.status in (301, 302) and location and resolve(location).route == resolve(path).route:
        return page_at(page, base_url, location)
    kind = response.headers.get("content-type", "")
    whole = response.status == 200 and kind.startswith("text/html")
    return path if whole and response.text().lstrip().startswith("<!doctype html>") else None


def check_pages(page: Page, base_url: str, paths: list[str], label: str) -> dict[str, list[str]]:
    """axe on each path at desktop and phone width; the violations by "path @ width"."""
    found: dict[str, list[str]] = {}
    # Toasts fade in; axe would measure a toast's text half-way through the fade. With reduced motion
    # (which Bootstrap honours) each page is checked as it settles.
    page.emulate_media(reduced_motion="reduce")
    for path in paths:
        for width_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.goto(base_url + path)
            violations = axe_violations(page, API_DOCS.get(path))
            problems = describe(violations) + (
                [] if path in API_DOCS else [f"ids: {problem}" for problem in page.evaluate(ID_PROBLEMS)]
            )
            name = f"a11y-{label}-{width_name}-{path.strip('/').replace('/', '_')[:80]}"
            if problems:
                found[f"{path} @ {width_name}"] = problems
                shot(page, name)
            elif path in API_DOCS or path == "/app/sign-in/":
                shot(page, name)
    page.set_viewport_size(DESKTOP)
    return found


@pytest.fixture
def shop() -> SeededTenant:
    # Made on a thread of its own: Playwright keeps an event loop on the test's thread, and ingestion
    # calls the embedder through async_to_sync, which refuses to run beside one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(made_in_a_thread).result()


def made_in_a_thread() -> SeededTenant:
    try:
        return a_tenant_with_everything()
    finally:
        connection.close()


def test_every_dashboard_page_passes_axe_at_desktop_and_phone_width(
    page: Page, browser: Browser, server_url: str, shop: SeededTenant
) -> None:
    paths = dashboard_paths(shop.ids)
    # Signed out: sign in and up, password reset, the invitation and verification links.
    shown_signed_out = {path: shown for path in paths if (shown := page_at(page, server_url, path))}
    signed_out = sorted(set(shown_signed_out.values()))
    assert {
        "/app/sign-in/",
        "/app/sign-up/",
        "/app/password-reset/",
        f"/app/password-reset/{shop.ids['uidb64']}/set-password/",
        f"/app/invitations/{shop.ids['invitation_token']}/",
    } <= set(signed_out), signed_out
    found = check_pages(page, server_url, signed_out, "signed-out")

    page.goto(f"{server_url}/app/sign-in/")
    page.get_by_label("Email").fill(shop.world.owner.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/app/$"))
    signed_in = [
        shown for path in paths if path not in shown_signed_out and (shown := page_at(page, server_url, path))
    ]
    # The enumeration reached the pages with data behind them, not only the lists.
    ids = shop.ids
    assert {
        "/app/",
        f"/app/bots/{ids['bot']}/",
        f"/app/bots/{ids['bot']}/install/",
        f"/app/bots/{ids['bot']}/install/test-page/",
        f"/app/knowledge/{ids['knowledge_base']}/",
        f"/app/knowledge/documents/{ids['document']}/",
        f"/app/conversations/{ids['conversation']}/",
        f"/app/suites/{ids['suite']}/",
        f"/app/runs/{ids['run']}/",
        "/app/settings/audit-log/",
        "/app/models/",
        "/app/usage/",
        "/app/team/",
        "/app/api-keys/",
    } <= set(signed_in), signed_in
    missing_page = f"/app/bots/{uuid.uuid4()}/"  # the 404 page inside the dashboard
    found |= check_pages(page, server_url, [*signed_in, missing_page, *API_DOCS], "signed-in")
    assert found == {}, "\n".join(f"{where}:\n  " + "\n  ".join(lines) for where, lines in found.items())


def test_the_checked_rules_include_contrast_labels_and_unique_ids(page: Page, server_url: str) -> None:
    """The tags given to axe select the rules this check promises (a tag renamed upstream cannot
    silently empty the check), and axe does find a fault when there is one."""
    page.goto(f"{server_url}/app/sign-in/")
    page.evaluate(AXE_SOURCE)
    assert page.evaluate("window.axe.version") == AXE_VERSION
    rules = set(
        page.evaluate(
            "(tags) => window.axe.getRules(tags).map((rule) => rule.ruleId)",
            WCAG_TAGS,
        )
    )
    assert rules >= REQUIRED_RULES
    # A label-less input and faint text on the real page: both are reported.
    page.evaluate(
        """() => {
            const input = document.createElement("input");
            input.id = "unlabelled-probe";
            document.querySelector("main").append(input);
            const faint = document.createElement("p");
            faint.textContent = "Faint text";
            faint.id = "faint-probe";
            faint.style.color = "#c8c8c8";  // through the CSSOM: the CSP refuses style attributes
            faint.style.background = "#ffffff";
            document.querySelector("main").append(faint);
        }"""
    )
    reported = {violation["id"] for violation in axe_violations(page)}
    assert {"label", "color-contrast"} <= reported


# --- the pieces the check does not see: focus, toggles, toasts, collapsed filters ------------------------


def test_sign_up_focuses_its_first_field_and_shows_the_password_on_demand(
    page: Page, server_url: str
) -> None:
    page.goto(f"{server_url}/app/sign-up/")
    expect(page.get_by_label("Your name")).to_be_focused()
    password = page.get_by_label("Password", exact=True)
    toggle = page.get_by_role("button", name="Show password")
    expect(password).to_have_attribute("type", "password")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(toggle).to_have_attribute("aria-controls", str(password.get_attribute("id")))

    password.fill("a-compiler-for-everyone")
    toggle.click()
    expect(password).to_have_attribute("type", "text")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    shot(page, "a11y-sign-up-password-shown-desktop")
    # From the keyboard: Space on the focused button hides it again; Tab from the field reaches the button.
    password.focus()
    page.keyboard.press("Tab")
    expect(toggle).to_be_focused()
    page.keyboard.press("Space")
    expect(password).to_have_attribute("type", "password")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Enter")
    expect(password).to_have_attribute("type", "text")

    # Sent with the password shown (the form is incomplete, so it comes back): a password field again.
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("type", "password")
    page.set_viewport_size(PHONE)
    shot(page, "a11y-sign-up-errors-phone")

    page.goto(f"{server_url}/app/sign-in/")
    expect(page.get_by_label("Email")).to_be_focused()
    page.get_by_role("button", name="Show password").click()
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("type", "text")


def bounding_boxes_overlap(first: dict[str, float], second: dict[str, float]) -> bool:
    return not (
        first["x"] + first["width"] <= second["x"]
        or second["x"] + second["width"] <= first["x"]
        or first["y"] + first["height"] <= second["y"]
        or second["y"] + second["height"] <= first["y"]
    )


def test_a_success_toast_sits_under_the_page_header_and_fades_out(page: Page, server_url: str) -> None:
    sign_up(page, server_url, "Toasted Shop")
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto(f"{server_url}/app/organisations/new/")
        page.get_by_label("Name").fill(f"Second shop {name}")
        page.get_by_role("button", name="Create organisation").click()
        toast = page.get_by_role("status").filter(has_text=f"Created Second shop {name}.")
        expect(toast).to_be_visible()
        expect(page.locator("[data-toasts]")).to_have_attribute("aria-live", "polite")
        shot(page, f"a11y-toast-{name}")
        toast_box = toast.bounding_box()
        assert toast_box is not None
        # Nothing the page starts with is under it: the heading, the page's buttons, the menu button.
        covered = page.locator("main h1, .gw-page-actions a, .gw-page-actions button, .gw-topbar button")
        for index in range(covered.count()):
            element = covered.nth(index)
            if not element.is_visible():
                continue
            box = element.bounding_box()
            assert box is not None
            assert not bounding_boxes_overlap(toast_box, box), f"the toast covers {element.inner_text()!r}"
        heading_box = page.locator("main h1").bounding_box()
        assert heading_box is not None and toast_box["y"] >= heading_box["y"] + heading_box["height"]
        # A success goes by itself (errors do not: tests/core/test_accessible_pages.py).
        expect(toast).to_be_hidden(timeout=15_000)


def test_filters_fold_behind_a_button_on_phones_and_stay_open_on_desktop(page: Page, server_url: str) -> None:
    sign_up(page, server_url, "Filtered Shop")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(a_conversation_in, "Filtered Shop").result()
    page.goto(f"{server_url}/app/conversations/")
    filters = page.locator('form[aria-label="Filter conversations"]')
    toggle = page.locator("[data-filters-toggle]")
    expect(filters).to_be_visible()
    expect(toggle).to_be_hidden()

    page.set_viewport_size(PHONE)
    page.goto(f"{server_url}/app/conversations/")
    expect(filters).to_be_hidden()
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", str(filters.get_attribute("id")))
    shot(page, "a11y-filters-closed-phone")
    toggle.click()
    expect(filters).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_label("Bot")).to_be_focused()
    shot(page, "a11y-filters-open-phone")

    # With a filter applied the form opens by itself, and the button counts it.
    page.get_by_label("Channel").select_option("api")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"channel=api"))
    expect(filters).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_contain_text("1 filter applied")


def a_conversation_in(organisation: str) -> None:
    """A published bot with one answered conversation in ``organisation`` (signed up through the pages)."""
    try:
        world = World(
            tenant=Organisation.objects.get(name=organisation), owner=User.objects.get(email=GRACE_EMAIL)
        )
        record_conversation(world, published_bot(world, "Concierge"))
    finally:
        connection.close()
