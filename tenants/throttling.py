"""Throttles on the account pages: sign-in lockouts (django-axes) and request rates (core.rate_limits).

Sign-in is an authentication, so django-axes counts its failures (per account and per client address,
in the database, see README "Accounts"); when it locks, ``sign_in_locked_out`` answers instead of the
sign-in view. Sign-up, password reset, verification emails and invitation acceptance are not
authentications: they are counted with ``core.rate_limits`` per client address and per email address
(or account). Every refusal says the same thing: "Too many attempts; try again in N minutes."
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core import rate_limits
from core.client_address import client_address
from core.errors import RateLimited


def too_many_attempts(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many attempts; try again in {minutes} minute{'' if minutes == 1 else 's'}."


def throttle(scope: str, subject: str, rate: str) -> None:
    """Count one attempt of ``subject`` in ``scope`` against ``rate``; RateLimited once it is past."""
    wait = rate_limits.hit(f"accounts:{scope}", subject, rate_limits.Rate.parse(rate))
    if wait:
        raise RateLimited(too_many_attempts(wait), retry_after=wait)


def throttle_by_address_and_email(request: HttpRequest, *, scope: str, email: str) -> None:
    """One attempt from this client address about this email address (sign-up, password reset).

    Both are counted whether or not the email has an account, so a refusal tells nothing about it.
    """
    throttle(f"{scope}:address", client_address(request), settings.ACCOUNT_RATE_PER_ADDRESS)
    throttle(f"{scope}:email", email.strip().lower(), settings.ACCOUNT_RATE_PER_EMAIL)


def sign_in_client_address(request: HttpRequest) -> str | None:
    """``core.client_address.client_address`` for axes (``AXES_CLIENT_IP_CALLABLE``), with its
    "unknown" as None: axes keeps addresses in an ``inet`` column, which refuses anything else."""
    address = client_address(request)
    return None if address == "unknown" else address


def sign_in_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The account a sign-in attempt names, as axes counts it: emails in any case are one account."""
    username = (credentials or {}).get("username") or request.POST.get("username")
    return str(username).strip().lower() if username else None


def seconds_until_unlocked(request: HttpRequest) -> int:
    """Until the newest counted failure of this account or this address leaves the cool-off window
    (an upper bound: the lock may lift sooner for one of the two)."""
    cool_off = get_cool_off(request) or timedelta(0)
    username = sign_in_username(request, None)
    matching = Q(ip_address=sign_in_client_address(request))
    if username:
        matching |= Q(username=username)
    latest = AccessAttempt.objects.filter(matching).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return int(cool_off.total_seconds())
    return max(1, math.ceil((latest + cool_off - timezone.now()).total_seconds()))


def sign_in_locked_out(request: HttpRequest, *args: Any) -> HttpResponse:
    """axes' lockout response (``AXES_LOCKOUT_CALLABLE``): the sign-in page again, saying how long to
    wait, with 429 and Retry-After. It reads nothing from axes' own arguments (their order differs
    between axes' sync and async middleware)."""
    from tenants.forms import SignInForm  # forms import auth machinery that needs the app registry

    wait = seconds_until_unlocked(request)
    # Unbound: validating the posted form would try the password again.
    form = SignInForm(request, initial={"username": sign_in_username(request, None) or ""})
    context = {"form": form, "next": request.POST.get("next", ""), "refusal": too_many_attempts(wait)}
    response = render(request, "tenants/sign_in.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response
