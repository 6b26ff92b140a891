"""Writes to users, in whatever schema the connection is on (the caller picks the tenant)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from kernel import credentials
from kernel.accounts.models import LoginHandoff, User
from kernel.errors import DomainError


class UserError(DomainError):
    """A one-line, user-facing reason the user could not be created."""


def _first_message(exc: ValidationError) -> str:
    return " ".join(exc.messages[:1]) if exc.messages else str(exc)


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    email_verified: bool = False,
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    username = username.strip()
    if not username or len(username) > 150:
        raise UserError("username must be 1-150 characters")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise UserError(f"email {email!r} is not a valid address") from None
    if User.objects.filter(username=username).exists():
        raise UserError(f"user {username!r} already exists")
    user = User(
        username=username,
        email=email,
        email_verified=email_verified,
        is_staff=is_staff,
        is_superuser=is_superuser,
    )
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise UserError(f"password rejected: {_first_message(exc)}") from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise UserError(f"user {username!r} already exists") from None
    return user


HANDOFF_SECONDS = 60


@transaction.atomic
def login_handoff_create(*, user: User) -> str:
    """A single-use sign-in token for ``user``, valid for a minute. Returned once."""
    token = credentials.new_secret()
    LoginHandoff.objects.create(
        token_digest=credentials.digest(token),
        user=user,
        expires_at=timezone.now() + timedelta(seconds=HANDOFF_SECONDS),
    )
    return token


@transaction.atomic
def login_handoff_redeem(*, token: str) -> User | None:
    """The user the token signs in, or None if it is unknown, used or expired. Single use:
    the row is locked, so two redemptions of one token cannot both succeed."""
    if not token or len(token) > 128:
        return None
    handoff = (
        LoginHandoff.objects.select_for_update()
        .select_related("user")
        .filter(token_digest=credentials.digest(token))
        .first()
    )
    now = timezone.now()
    if handoff is None or handoff.used_at is not None or handoff.expires_at <= now:
        return None
    handoff.used_at = now
    handoff.save(update_fields=["used_at"])
    return handoff.user if handoff.user.is_active else None
