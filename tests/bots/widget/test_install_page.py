"""A bot's Install page and test page: the snippet with the key and whether the bot answers yet, the
allowed websites (normalised, each wrong one marked, nothing saved on an error, any website only when
ticked), the appearance, identity verification (the secret shown once, examples that compute what
Groundwork checks), the real widget embedded with a preview token; read-only for viewers, identity for
admins, and 404 for another tenant's bot on every route.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from bots import services
from bots.models import Bot
from bots.widget import rules as widget_rules
from providers import crypto
from tenants.context import tenant_context
from tenants.models import AuditEvent, Role
from tests.bots.factories import make_bot
from tests.bots.helpers import reload
from tests.clients import HOSTILE, member_client
from tests.tenants.factories import World, make_world

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------------


def text_of(response: Any) -> str:
    """The page's visible text, tags stripped (inline code and emphasis without a space), entities
    decoded and spaces collapsed, for phrase checks of the snippets and examples."""
    inline = re.sub(r"</?(code|strong|em)>", "", response.content.decode())
    without_tags = re.sub(r"<[^>]+>", " ", inline)
    return re.sub(r"\s+", " ", html.unescape(without_tags))


def install_url(bot: Bot) -> str:
    return f"/app/bots/{bot.pk}/install/"


def widget_post(bot: Bot, **changes: Any) -> dict[str, Any]:
    """The Install page's form as the browser posts it, with ``changes``."""
    data: dict[str, Any] = {
        "allowed_origins": list(bot.allowed_origins) or [""],
        "widget_title": bot.widget_title,
        "widget_color": bot.widget_color,
        "widget_position": bot.widget_position,
        "widget_icon": bot.widget_icon,
    }
    if bot.allow_any_origin:
        data["allow_any_origin"] = "on"
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def widget_scripts(page: str) -> list[dict[str, str]]:
    """The attributes of every <script> that loads the widget."""
    scripts = []
    for tag in re.findall(r"<script\b[^>]*>", page):
        attributes = dict(re.findall(r'([\w-]+)(?:="([^"]*)")?', tag[len("<script") : -1]))
        if attributes.get("src", "").endswith("/widget.js"):
            scripts.append({name: html.unescape(value) for name, value in attributes.items()})
    return scripts


def shown_snippet(page: str) -> str:
    """The text of the snippet's element, as copying it gives it (its parts are spans, for wrapping)."""
    match = re.search(r'<code id="widget-snippet">(.*?)</code>', page, re.S)
    assert match, "no snippet on the page"
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def code_example(page: str, slug: str) -> str:
    match = re.search(rf'<code id="identity-code-{slug}"[^>]*>(.*?)</code>', page, re.S)
    assert match, slug
    return html.unescape(match.group(1))


def checkbox(response: Any, name: str) -> str:
    """The checkbox's tag."""
    match = re.search(rf'<input type="checkbox" name="{name}"[^>]*>', response.content.decode())
    assert match, name
    return match.group(0)


def shown_secret(response: Any) -> str:
    match = re.search(r'<code id="identity-secret"[^>]*>([^<]+)</code>', response.content.decode())
    assert match, "no secret on the page"
    return match.group(1)


def assert_strict_csp_ready(page: str) -> None:
    assert " style=" not in page
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in tag, tag  # no inline script


# --- the page -----------------------------------------------------------------------------------------


def test_the_install_page_gives_the_snippet_to_paste_and_embeds_the_real_widget_in_preview(
    world: World, owner_client: Client, settings: Any
) -> None:
    settings.PUBLIC_URL = "https://groundwork.example.com"
    bot = make_bot(world, "Concierge")
    response = owner_client.get(install_url(bot))
    assert response.status_code == 200
    page = response.content.decode()

    assert shown_snippet(page) == (
        f'<script src="https://groundwork.example.com/widget.js" data-bot="{bot.publishable_key}" async>'
        "</script>"
    )
    assert 'data-copy-target="#widget-snippet"' in page
    text = text_of(response)
    assert "Paste it just before the closing </body> tag" in text
    assert bot.publishable_key in text
    # A draft answers nowhere but the preview, and says so, with the way to publish it.
    assert "Concierge is a draft: it answers nowhere yet but in the preview" in text
    assert f'action="/app/bots/{bot.pk}/install/publish/"' in page
    assert "No website allowed yet" in text
    assert "it works nowhere" in text  # deny by default, explained

    # The real widget, from Groundwork's own origin, with a preview token for this bot.
    [script] = widget_scripts(page)
    assert script["src"] == "/widget.js" and script["data-bot"] == bot.publishable_key
    assert widget_rules.is_preview(bot, script["data-preview"])
    assert "defer" in script
    assert re.search(r'<script src="/static/js/install(\.[0-9a-f]+)?\.js" defer>', page)
    assert "data-preview-stage" in page
    assert f'href="/app/bots/{bot.pk}/install/test-page/"' in page
    assert "The chat widget arrives in the next release." not in text
    assert_strict_csp_ready(page)


def test_the_builder_links_to_the_install_page_from_publishing(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    page = owner_client.get(f"/app/bots/{bot.pk}/").content.decode()
    publishing = page[page.index('id="publishing"') : page.index('id="limits"')]
    assert f'href="/app/bots/{bot.pk}/install/"' in publishing
    assert "Install on your website" in publishing
    assert "No website allowed yet" in publishing
    assert "arrives in the next release" not in page


def test_publishing_from_the_install_page(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    response = owner_client.post(f"/app/bots/{bot.pk}/install/publish/")
    assert response.status_code == 302 and response["Location"] == f"{install_url(bot)}#snippet"
    assert reload(world, bot).status == "published"
    page = owner_client.get(install_url(bot))
    text = text_of(page)
    assert "Add the websites it may answer on: until then it answers nowhere." in text
    assert "Published, but no website is allowed yet: it answers nowhere." in text
    assert "/install/publish/" not in page.content.decode()

    services.bot_update(actor=world.actor(), bot_id=bot.pk, allowed_origins=["https://shop.example.com"])
    assert "Live: Concierge answers visitors on 1 website." in text_of(owner_client.get(install_url(bot)))


# --- allowed websites ---------------------------------------------------------------------------------


def test_allowed_websites_are_saved_normalised_one_per_row(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    rows = [
        "https://Shop.Example.com/",
        "https://help.example.com  http://localhost:3000",  # pasted together into one row
        "",
        "https://shop.example.com",  # twice
    ]
    response = owner_client.post(install_url(bot), widget_post(bot, allowed_origins=rows))
    assert response.status_code == 302 and response["Location"] == install_url(bot)
    saved = reload(world, bot)
    assert saved.allowed_origins == [
        "https://shop.example.com",
        "https://help.example.com",
        "http://localhost:3000",
    ]
    assert saved.allow_any_origin is False
    page = owner_client.get(install_url(bot))
    html_page = page.content.decode()
    for origin in saved.allowed_origins:
        assert f'name="allowed_origins" value="{origin}"' in html_page
    assert "3 allowed websites" in text_of(page)
    with tenant_context(world.tenant.pk):
        event = AuditEvent.objects.filter(action="bot.updated").get()
    assert event.changes["allowed_origins"]["to"] == saved.allowed_origins

    # Removing every row removes every website: the widget then answers nowhere.
    assert owner_client.post(install_url(bot), widget_post(saved, allowed_origins=[""])).status_code == 302
    assert reload(world, bot).allowed_origins == []


def test_a_wrong_website_is_marked_readably_and_nothing_is_saved(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    response = owner_client.post(
        install_url(bot),
        widget_post(
            bot,
            allowed_origins=["https://shop.example.com", "shop", "ftp://files"],
            widget_color="#0d9488",  # a valid change beside the wrong ones: not saved either
        ),
    )
    assert response.status_code == 400
    page = response.content.decode()
    text = text_of(response)
    assert "Nothing was saved: check the fields marked below." in text
    refusal = (
        "“shop” is not a website address. Type it as the address bar shows it, like "
        "https://www.example.com or http://localhost:3000."
    )
    # At the top of the form (each problem linking to its field) and at the field.
    top = page[page.index("data-form-errors") : page.index('id="websites"')]
    assert html.escape(refusal, quote=False) in top and 'href="#websites"' in top
    assert text.count(refusal) == 2
    assert "“ftp://files” is not a website address" in text
    # Every row is kept as typed; the wrong ones are marked.
    assert 'class="form-control" name="allowed_origins" value="https://shop.example.com"' in page
    assert re.search(
        r'class="form-control is-invalid" name="allowed_origins" value="shop"[^>]*'
        r'aria-invalid="true"',
        page,
    )
    assert 'value="#0d9488"' in page  # the unsaved colour stays in the form (and the preview)
    saved = reload(world, bot)
    assert saved.allowed_origins == [] and saved.widget_color == "#4f46e5"
    with tenant_context(world.tenant.pk):
        assert not AuditEvent.objects.filter(action="bot.updated").exists()


def test_any_website_only_when_ticked(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    page = owner_client.get(install_url(bot))
    assert "Allow any website (not recommended)" in text_of(page)
    assert " checked" not in checkbox(page, "allow_any_origin")

    assert owner_client.post(install_url(bot), widget_post(bot, allow_any_origin="on")).status_code == 302
    assert reload(world, bot).allow_any_origin is True
    page = owner_client.get(install_url(bot))
    assert "Any website allowed" in text_of(page)
    assert " checked" in checkbox(page, "allow_any_origin")

    # Unticked (a checkbox posts nothing): back to the list alone.
    data = widget_post(reload(world, bot))
    data.pop("allow_any_origin")
    assert owner_client.post(install_url(bot), data).status_code == 302
    assert reload(world, bot).allow_any_origin is False


# --- appearance -----------------------------------------------------------------------------------------


def test_the_appearance_is_saved(world: World, owner_client: Client) -> None:
    bot = make_bot(world, "Concierge")
    response = owner_client.post(
        install_url(bot),
        widget_post(
            bot,
            widget_title="  Ask Northwind  ",
            widget_color="#0D9488",
            widget_position="left",
            widget_icon="headset",
        ),
    )
    assert response.status_code == 302
    saved = reload(world, bot)
    assert (saved.widget_title, saved.widget_color, saved.widget_position, saved.widget_icon) == (
        "Ask Northwind",
        "#0d9488",
        "left",
        "headset",
    )
    page = owner_client.get(install_url(bot)).content.decode()
    assert 'name="widget_title" value="Ask Northwind"' in page
    assert 'name="widget_color" value="#0d9488"' in page
    assert 'name="widget_position" value="left" checked' in page
    assert 'name="widget_icon" value="headset" checked' in page
    assert 'name="widget_title" value="Ask Northwind"' in page

    # A colour pasted from a design tool without its "#" is taken as meant.
    assert owner_client.post(install_url(bot), widget_post(saved, widget_color="16A34A")).status_code == 302
    assert reload(world, bot).widget_color == "#16a34a"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"widget_color": "teal"}, "widget_color", "Give the colour as #rrggbb, for example #4f46e5."),
        ({"widget_color": ""}, "widget_color", "This field is required."),
        ({"widget_position": "top"}, "widget_position", "Select a valid choice."),
        ({"widget_icon": "rocket"}, "widget_icon", "Select a valid choice."),
        ({"widget_title": "x" * 81}, "widget_title", "at most 80 characters"),
    ],
)
def test_appearance_errors_show_on_their_fields_and_nothing_is_saved(
    world: World, owner_client: Client, changes: dict[str, Any], field: str, message: str
) -> None:
    bot = make_bot(world, "Concierge")
    response = owner_client.post(
        install_url(bot), widget_post(bot, allowed_origins=["https://shop.example.com"], **changes)
    )
    assert response.status_code == 400
    assert "Nothing was saved: check the fields marked below." in text_of(response)
    assert message in text_of(response)
    assert "gw-field-invalid" in response.content.decode()
    saved = reload(world, bot)
    assert saved.allowed_origins == [] and saved.widget_color == "#4f46e5"


# --- identity verification ------------------------------------------------------------------------------


def test_the_identity_secret_is_shown_once_and_the_examples_compute_what_groundwork_checks(
    world: World, owner_client: Client, tmp_path: Path
) -> None:
    bot = make_bot(world, "Concierge")
    page = owner_client.get(install_url(bot))
    assert "Identity verification off" in text_of(page)
    assert "Generate secret" in text_of(page)
    assert "HMAC-SHA256(secret, user_id)" in text_of(page)
    assert "Groundwork.identify({ userId, userHash })" in text_of(page)

    made = owner_client.post(f"/app/bots/{bot.pk}/install/identity-secret/")
    assert made.status_code == 200
    secret = shown_secret(made)
    assert secret.startswith("gw_ivs_")
    assert "data-shown-once" in made.content.decode()
    assert "It will not be shown again" in text_of(made)
    stored = reload(world, bot).identity_secret
    assert stored and secret not in stored and crypto.decrypt(stored) == secret

    # Never again: not on the page, not in the builder.
    later = owner_client.get(install_url(bot))
    assert secret not in later.content.decode()
    assert "data-shown-once" not in later.content.decode()
    assert "Identity verification on" in text_of(later) and "Rotate secret" in text_of(later)
    assert secret not in owner_client.get(f"/app/bots/{bot.pk}/").content.decode()

    # The server-side examples on the page compute exactly the hash the widget's API verifies.
    expected = widget_rules.identity_hash(secret, "user-42")
    namespace: dict[str, Any] = {}
    python_example = code_example(later.content.decode(), "python")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GROUNDWORK_IDENTITY_SECRET", secret)
        exec(compile(python_example, "example.py", "exec"), namespace)  # noqa: S102 - the page's own example
    assert namespace["groundwork_user_hash"]("user-42") == expected
    node = shutil.which("node")
    if node:
        script = tmp_path / "example.js"
        script.write_text(
            code_example(later.content.decode(), "node") + 'console.log(groundworkUserHash("user-42"));\n'
        )
        result = subprocess.run(
            [node, str(script)],
            capture_output=True,
            text=True,
            check=True,
            env={"GROUNDWORK_IDENTITY_SECRET": secret, "PATH": "/usr/bin:/bin"},
            timeout=30,
        )
        assert result.stdout.strip() == expected
    page_example = code_example(later.content.decode(), "page")
    assert bot.publishable_key in page_example and "Groundwork.identify(" in page_example

    # Rotating makes another secret (shown once); turning it off clears it.
    rotated = owner_client.post(f"/app/bots/{bot.pk}/install/identity-secret/")
    new_secret = shown_secret(rotated)
    assert new_secret != secret and crypto.decrypt(reload(world, bot).identity_secret) == new_secret
    cleared = owner_client.post(f"/app/bots/{bot.pk}/install/identity-secret/clear/")
    assert cleared.status_code == 302 and cleared["Location"] == f"{install_url(bot)}#identity"
    assert reload(world, bot).identity_secret == ""
    assert "Identity verification off" in text_of(owner_client.get(install_url(bot)))
    with tenant_context(world.tenant.pk):
        actions = list(
            AuditEvent.objects.filter(action__startswith="bot.identity").values_list("action", flat=True)
        )
    assert sorted(actions) == [
        "bot.identity_secret_cleared",
        "bot.identity_secret_rotated",
        "bot.identity_secret_rotated",
    ]


# --- roles ------------------------------------------------------------------------------------------------


def test_editors_change_the_widget_but_only_admins_manage_identity(world: World) -> None:
    bot = make_bot(world, "Concierge")
    editor = member_client(world, Role.EDITOR)
    page = editor.get(install_url(bot))
    assert 'id="widget-form"' in page.content.decode()
    assert "Generate secret" not in text_of(page)
    assert "Admins of Acme set up identity verification." in text_of(page)
    assert editor.post(install_url(bot), widget_post(bot, widget_icon="sparkles")).status_code == 302
    assert reload(world, bot).widget_icon == "sparkles"
    assert editor.post(f"/app/bots/{bot.pk}/install/identity-secret/").status_code == 403
    assert reload(world, bot).identity_secret == ""

    admin = member_client(world, Role.ADMIN)
    assert admin.post(f"/app/bots/{bot.pk}/install/identity-secret/").status_code == 200
    assert reload(world, bot).identity_secret != ""


def test_viewers_see_the_page_read_only_and_their_writes_are_refused(world: World) -> None:
    bot = make_bot(world, "Concierge", allowed_origins=["https://shop.example.com"])
    viewer = member_client(world, Role.VIEWER)
    response = viewer.get(install_url(bot))
    assert response.status_code == 200
    page = response.content.decode()
    assert '<fieldset class="gw-install-fields" disabled>' in page
    assert "only editors and above change where and how it shows" in page
    for control in (
        'id="widget-form"',
        "Save changes",
        "/install/publish/",
        "/rotate-key/",
        "/identity-secret/",
    ):
        assert control not in page, control
    assert 'value="https://shop.example.com"' in page  # everything is there to read
    assert widget_scripts(page)  # and the preview to try
    assert viewer.get(f"/app/bots/{bot.pk}/install/test-page/").status_code == 200

    before = reload(world, bot)
    writes = [
        viewer.post(install_url(bot), widget_post(bot, allow_any_origin="on", widget_color="#000000")),
        viewer.post(f"/app/bots/{bot.pk}/install/publish/"),
        viewer.post(f"/app/bots/{bot.pk}/install/identity-secret/"),
        viewer.post(f"/app/bots/{bot.pk}/install/identity-secret/clear/"),
        viewer.post(f"/app/bots/{bot.pk}/rotate-key/"),
    ]
    assert [response.status_code for response in writes] == [403] * 5
    after = reload(world, bot)
    assert (after.allow_any_origin, after.widget_color, after.status, after.identity_secret) == (
        False,
        "#4f46e5",
        "draft",
        "",
    )
    assert after.publishable_key == before.publishable_key


def test_another_tenants_bot_is_404_on_every_install_route(world: World, owner_client: Client) -> None:
    other = make_world("Globex")
    theirs = services.bot_create(actor=other.actor(), name="Theirs")
    for path in (install_url(theirs), f"/app/bots/{theirs.pk}/install/test-page/"):
        assert owner_client.get(path).status_code == 404, path
    posts = [
        (install_url(theirs), widget_post(theirs, allow_any_origin="on")),
        (f"/app/bots/{theirs.pk}/install/publish/", {}),
        (f"/app/bots/{theirs.pk}/install/identity-secret/", {}),
        (f"/app/bots/{theirs.pk}/install/identity-secret/clear/", {}),
    ]
    for path, data in posts:
        assert owner_client.post(path, data).status_code == 404, path
    with tenant_context(other.tenant.pk):
        untouched = Bot.objects.get()
    assert (untouched.allow_any_origin, untouched.status, untouched.identity_secret) == (False, "draft", "")


# --- the test page and the key ------------------------------------------------------------------------------


def test_the_test_page_is_a_plain_page_with_the_real_widget_and_a_preview_token(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Concierge")
    response = owner_client.get(f"/app/bots/{bot.pk}/install/test-page/")
    assert response.status_code == 200
    page = response.content.decode()
    [script] = widget_scripts(page)
    assert script["src"] == "/widget.js" and script["data-bot"] == bot.publishable_key
    assert widget_rules.is_preview(bot, script["data-preview"])
    assert "gw-sidebar" not in page and 'aria-label="Main"' not in page  # no dashboard chrome
    assert (
        "Concierge is a draft: it answers here, for you, and nowhere else until you publish it."
        in text_of(response)
    )
    assert f'href="{install_url(bot)}"' in page
    assert_strict_csp_ready(page)

    services.bot_update(actor=world.actor(), bot_id=bot.pk, status="published")
    published = owner_client.get(f"/app/bots/{bot.pk}/install/test-page/")
    assert "visitors of your allowed websites get exactly this" in text_of(published)


def test_rotating_the_key_returns_to_the_install_page_with_the_new_snippet(
    world: World, owner_client: Client
) -> None:
    bot = make_bot(world, "Concierge")
    rotated = owner_client.post(f"/app/bots/{bot.pk}/rotate-key/")
    assert rotated.status_code == 302 and rotated["Location"] == f"{install_url(bot)}#snippet"
    fresh = reload(world, bot).publishable_key
    assert fresh != bot.publishable_key
    page = owner_client.get(install_url(bot)).content.decode()
    assert f"data-bot=&quot;{fresh}&quot;" in page and bot.publishable_key not in page
    assert widget_scripts(page)[0]["data-bot"] == fresh


def test_what_the_tenant_named_is_escaped(world: World, owner_client: Client) -> None:
    bot = make_bot(world, HOSTILE)
    services.bot_update(actor=world.actor(), bot_id=bot.pk, widget_title=HOSTILE)
    for path in (install_url(bot), f"/app/bots/{bot.pk}/install/test-page/"):
        page = owner_client.get(path).content.decode()
        assert HOSTILE not in page, path
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page, path
