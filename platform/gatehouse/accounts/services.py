"""Writes to users, in whatever schema the connection is on (the caller picks the tenant)."""

from __future__ import annotations

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from gatehouse.accounts.models import User


class UserError(ValueError):
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
