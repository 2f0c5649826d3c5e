"""Provider keys at rest: encrypted, never stored in plaintext, readable across a key rotation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection

from bots import services as bot_services
from bots.models import Bot
from bots.widget import services as widget_services
from providers import crypto, services
from providers.models import ProviderCredential
from tenants.context import tenant_context
from tests.processes import run_manage
from tests.tenants.factories import World, make_world

SECRET = "sk-live-VERYSECRET-0123456789abcdef"


@pytest.fixture
def fresh_keys() -> Iterator[None]:
    """Restore the configured keys after a test that rotates them."""
    original = list(settings.FIELD_ENCRYPTION_KEYS)
    yield
    settings.FIELD_ENCRYPTION_KEYS = original
    crypto.reset_key_cache()


def raw_column(world: World) -> str:
    with tenant_context(world.tenant.pk), connection.cursor() as cursor:
        cursor.execute("SELECT encrypted_api_key, key_last_four FROM providers_providercredential")
        encrypted, last_four = cursor.fetchone()
    return f"{encrypted} {last_four}"


@pytest.mark.django_db
def test_the_raw_column_holds_no_plaintext(world: World) -> None:
    credential = services.credential_create(
        actor=world.actor(), provider="openai", name="OpenAI", api_key=SECRET
    )
    stored = raw_column(world)
    assert SECRET not in stored
    assert all(SECRET[i : i + 8] not in stored for i in range(len(SECRET) - 8))  # not even a slice
    assert credential.key_last_four == SECRET[-4:]
    assert services.credential_api_key(credential) == SECRET


@pytest.mark.django_db
def test_values_encrypted_under_an_old_key_still_decrypt_after_rotation(
    world: World, fresh_keys: None
) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    crypto.reset_key_cache()
    credential = services.credential_create(
        actor=world.actor(), provider="anthropic", name="Claude", api_key=SECRET
    )
    under_old_key = credential.encrypted_api_key

    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]  # rotation: the new key goes first
    crypto.reset_key_cache()
    assert services.credential_api_key(credential) == SECRET  # old rows still read

    assert services.reencrypt_all_credentials() == 1
    with tenant_context(world.tenant.pk):
        rotated = ProviderCredential.objects.get(pk=credential.pk)
    assert rotated.encrypted_api_key != under_old_key
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key can now go
    crypto.reset_key_cache()
    assert services.credential_api_key(rotated) == SECRET
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt(under_old_key)


@pytest.mark.django_db(transaction=True)
def test_the_reencrypt_command_rotates_every_tenants_keys(fresh_keys: None) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    crypto.reset_key_cache()
    acme, globex = make_world("Acme"), make_world("Globex")
    for world in (acme, globex):
        services.credential_create(actor=world.actor(), provider="openai", name="OpenAI", api_key=SECRET)
    bot = bot_services.bot_create(actor=globex.actor(), name="Helper")
    identity_secret = widget_services.bot_rotate_identity_secret(actor=globex.actor(), bot_id=bot.pk)

    result = run_manage("reencrypt_provider_keys", FIELD_ENCRYPTION_KEYS=f"{new_key},{old_key}")
    assert result.returncode == 0, result.stderr
    assert "Re-encrypted 2 provider keys and 1 widget identity secrets" in result.stdout
    assert SECRET not in result.stdout + result.stderr

    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    crypto.reset_key_cache()
    for world in (acme, globex):
        with tenant_context(world.tenant.pk):
            credential = ProviderCredential.objects.get()
        assert services.credential_api_key(credential) == SECRET
    with tenant_context(globex.tenant.pk):
        assert crypto.decrypt(Bot.objects.get(pk=bot.pk).identity_secret) == identity_secret
