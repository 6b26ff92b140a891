"""Writes to users, in whatever schema the connection is on (the caller picks the tenant)."""

from __future__ import annotations

from datetime import timedelta
from importlib import import_module

from django.conf import settings
from django.contrib.auth.password_validation import (
    password_validators_help_texts,
    validate_password,
)
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from kernel import credentials
from kernel.accounts.mail import MailSite, send_branded
from kernel.accounts.models import (
    AccountPolicy,
    EmailVerification,
    LoginHandoff,
    PasswordReset,
    User,
    UserSession,
)
from kernel.accounts.signals import password_replaced, sessions_ended
from kernel.audit.services import audit_record, diff
from kernel.errors import DomainError
from kernel.http import client_ip


class UserError(DomainError):
    """A one-line, user-facing reason a change to a user was refused. ``field`` names the
    form field at fault, for pages that show it there."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def user_snapshot(user: User) -> dict:
    """What an audit diff shows of a user (never the password or its hash)."""
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "email_verified": user.email_verified,
        "is_staff": user.is_staff,
        "is_active": user.is_active,
    }


def _audit(action: str, user: User, changes: dict | None = None) -> None:
    audit_record(
        action=action,
        object_type="user",
        object_id=str(user.pk),
        object_label=user.username,
        changes=changes,
    )


def _clean_email(email: str) -> str:
    email = (email or "").strip()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise UserError(f"email {email!r} is not a valid address", field="email") from None
    return email


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
    password_hash: str | None = None,
) -> User:
    """A new user, audited. ``password_hash``: ``make_password(password)`` computed ahead by
    the caller (tenant provisioning hashes while PostgreSQL copies the schema); ``password``
    is still what the validators judge."""
    username = username.strip()
    if not username or len(username) > 150 or "\x00" in username:
        raise UserError("username must be 1-150 characters", field="username")
    email = _clean_email(email)
    if User.objects.filter(username=username).exists():
        raise UserError(f"user {username!r} already exists", field="username")
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
        raise UserError(f"password rejected: {_first_message(exc)}", field="password") from None
    if password_hash is None:
        user.set_password(password)
    else:
        user.password, user._password = password_hash, password  # as set_password leaves them
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise UserError(f"user {username!r} already exists", field="username") from None
    _audit("user.created", user, diff({}, user_snapshot(user)))
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    first_name: str,
    last_name: str,
    email: str,
    email_verified: bool,
    is_staff: bool,
) -> User:
    """Change a user's name, email, verified flag and admin flag (one audited diff).
    Changing the email address does not keep it verified unless ``email_verified`` says so."""
    user = User.objects.select_for_update().get(pk=user.pk)
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > 150 or "\x00" in value:
            raise UserError("a name must be at most 150 characters", field=name)
    before = user_snapshot(user)
    user.first_name, user.last_name = first_name.strip(), last_name.strip()
    user.email = _clean_email(email)
    user.email_verified, user.is_staff = email_verified, is_staff
    changes = diff(before, user_snapshot(user))
    if changes:
        user.save(update_fields=["first_name", "last_name", "email", "email_verified", "is_staff"])
        _audit("user.updated", user, changes)
    return user


@transaction.atomic
def user_set_active(*, user: User, active: bool) -> User:
    """Disable or re-enable a user. A disabled user cannot sign in, every session of theirs
    ends at once, and their tokens introspect as inactive (the token endpoints check
    ``is_active``). Setting the state the user already has writes nothing."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.is_active == active:
        return user
    user.is_active = active
    user.save(update_fields=["is_active"])
    ended = 0 if active else _end_sessions(UserSession.objects.filter(user=user))
    changes = diff({"is_active": not active}, {"is_active": active})
    if not active:
        changes["sessions_ended"] = ended
    _audit("user.enabled" if active else "user.disabled", user, changes)
    return user


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Delete a user with their sessions; their tokens, codes, grants and consents go with
    them (the oauth tables cascade on the user)."""
    _end_sessions(UserSession.objects.filter(user=user))
    _audit("user.deleted", user, diff(user_snapshot(user), {}))
    User.objects.filter(pk=user.pk).delete()


def password_rules() -> list[str]:
    """The password rules (``AUTH_PASSWORD_VALIDATORS``) in words, to show before they fail."""
    return list(password_validators_help_texts())


@transaction.atomic
def user_set_password(*, user: User, password: str) -> User:
    """Set ``user``'s password through the password validators. Every session of theirs ends
    and ``password_replaced`` is sent, so the layers above end what the old one granted."""
    user = User.objects.select_for_update().get(pk=user.pk)
    ended = _replace_password(user, password)
    _audit("user.password_set", user, {"sessions_ended": ended})
    return user


def _replace_password(user: User, password: str, *, keep_session_key: str = "") -> int:
    """Validate and set ``password``, end every session of ``user`` (but the one named by
    ``keep_session_key``) and every reset link still out, and send ``password_replaced``;
    how many sessions ended."""
    if len(password) > 1024 or "\x00" in password:
        raise UserError("a password must be at most 1024 characters", field="password")
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise UserError(" ".join(exc.messages), field="password") from None
    user.set_password(password)
    user.save(update_fields=["password"])
    PasswordReset.objects.filter(user=user, used_at__isnull=True).update(used_at=timezone.now())
    ended = _end_sessions(
        UserSession.objects.filter(user=user).exclude(session_key=keep_session_key or None)
    )
    password_replaced.send(sender=User, user=user)
    return ended


# --- Password reset by email ------------------------------------------------------------------

#: How long a reset link works (seconds), and how soon another may be sent to the same user.
PASSWORD_RESET_SECONDS = 3600
PASSWORD_RESET_RESEND_SECONDS = 60
#: The path of the reset page on the tenant's host (``gatehouse.urls_tenant``).
PASSWORD_RESET_PATH = "/account/reset/"


def _as_site(site: MailSite | str, site_name: str = "") -> MailSite:
    return site if isinstance(site, MailSite) else MailSite(origin=site, name=site_name)


@transaction.atomic
def password_reset_send(
    *, user: User, site: MailSite | str, site_name: str = "", by_user: bool = False
) -> bool:
    """Email ``user`` a single-use link to choose a new password, on ``site`` (the tenant's
    origin and branding, ``MailSite``; a bare origin string is accepted). False when none
    was sent: the user has no email address, is disabled, or was sent one less than a
    minute ago (a repeated click or a reload sends nothing more). The token is only in the
    email; its digest is stored. ``by_user``: the user asked ("forgot password"), audited
    as ``user.password_reset_requested``; otherwise an admin sent it."""
    site = _as_site(site, site_name)
    user = User.objects.select_for_update().get(pk=user.pk)
    now = timezone.now()
    recent = PasswordReset.objects.filter(
        user=user,
        used_at__isnull=True,
        created_at__gt=now - timedelta(seconds=PASSWORD_RESET_RESEND_SECONDS),
    )
    if not user.email or not user.is_active or recent.exists():
        return False
    token = credentials.new_secret()
    PasswordReset.objects.create(
        token_digest=credentials.digest(token),
        user=user,
        created_at=now,
        expires_at=now + timedelta(seconds=PASSWORD_RESET_SECONDS),
    )
    action = "user.password_reset_requested" if by_user else "user.password_reset_sent"
    _audit(action, user, {"email": user.email})
    send_branded(
        template="password_reset",
        to=user.email,
        subject=f"Reset your password at {site.title}",
        site=site,
        context={
            "user": user,
            "link": f"{site.origin}{PASSWORD_RESET_PATH}{token}/",
            "minutes": PASSWORD_RESET_SECONDS // 60,
        },
    )
    return True


@transaction.atomic
def password_reset_send_for_email(*, email: str, site: MailSite | str, site_name: str = "") -> None:
    """The end user's "forgot password": the same outcome whether or not ``email`` (or a
    user name) belongs to an account, so the answer reveals nothing about who has one."""
    password_reset_request(identifier=email, site=_as_site(site, site_name))


@transaction.atomic
def password_reset_request(*, identifier: str, site: MailSite) -> None:
    """Send a reset link to every active account whose email address (any case) or user
    name is ``identifier``; nothing, and no error, when none is."""
    identifier = (identifier or "").strip()
    if not identifier or len(identifier) > 254 or "\x00" in identifier:
        return
    users = User.objects.filter(
        Q(email__iexact=identifier) | Q(username=identifier), is_active=True
    ).order_by("pk")
    for user in users:
        password_reset_send(user=user, site=site, by_user=True)


def password_reset_user(*, token: str) -> User | None:
    """The active user a live (unused, unexpired) reset token is for, else None."""
    if not token or len(token) > 128 or "\x00" in token:
        return None
    reset = (
        PasswordReset.objects.select_related("user")
        .filter(
            token_digest=credentials.digest(token),
            used_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    return reset.user if reset and reset.user.is_active else None


@transaction.atomic
def password_reset_complete(*, token: str, password: str) -> User:
    """Spend a reset token on a new password (validated). Every session of the user ends,
    every other reset link of theirs dies, and ``password_replaced`` lets oauth revoke
    their refresh tokens. Single use: the row is locked, so two submissions cannot both
    succeed."""
    if not token or len(token) > 128 or "\x00" in token:
        raise UserError("this reset link is not valid")
    reset = (
        PasswordReset.objects.select_for_update()
        .filter(token_digest=credentials.digest(token))
        .first()
    )
    now = timezone.now()
    if reset is None or reset.used_at is not None or reset.expires_at <= now:
        raise UserError("this reset link was already used or has expired: ask for a new one")
    user = User.objects.select_for_update().get(pk=reset.user_id)
    if not user.is_active:
        raise UserError("this reset link was already used or has expired: ask for a new one")
    ended = _replace_password(user, password)
    reset.used_at = now
    reset.save(update_fields=["used_at"])
    _audit("user.password_reset", user, {"sessions_ended": ended})
    return user


# --- The user's own account (the account page) ------------------------------------------------


@transaction.atomic
def user_change_password(
    *, user: User, current_password: str, new_password: str, keep_session_key: str = ""
) -> int:
    """The user changes their own password: ``current_password`` must be right, the new one
    passes the validators. Every other session of theirs ends (``keep_session_key`` is the
    one they are using), reset links die and ``password_replaced`` ends their refresh
    tokens. Returns how many sessions ended."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if len(current_password) > 1024 or not user.check_password(current_password):
        raise UserError("the current password is not correct", field="current_password")
    ended = _replace_password(user, new_password, keep_session_key=keep_session_key)
    _audit("user.password_changed", user, {"sessions_ended": ended})
    return ended


@transaction.atomic
def user_profile_update(*, user: User, first_name: str, last_name: str, email: str) -> bool:
    """The user changes their own name and email address. A new address is no longer
    verified (``user.email_changed`` is audited with both addresses); True when the
    address changed, so the caller sends a verification link to it."""
    user = User.objects.select_for_update().get(pk=user.pk)
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value) > 150 or "\x00" in value:
            raise UserError("a name must be at most 150 characters", field=name)
    email = _clean_email(email)
    before = user_snapshot(user)
    email_changed = email.lower() != user.email.lower()
    user.first_name, user.last_name = first_name.strip(), last_name.strip()
    if email_changed:
        user.email, user.email_verified = email, False
        EmailVerification.objects.filter(user=user, used_at__isnull=True).update(
            used_at=timezone.now()
        )
    elif email != user.email:
        user.email = email  # the same address in other letters: still verified
    changes = diff(before, user_snapshot(user))
    if not changes:
        return False
    user.save(update_fields=["first_name", "last_name", "email", "email_verified"])
    if email_changed:
        _audit("user.email_changed", user, changes)
    else:
        _audit("user.updated", user, changes)
    return email_changed


# --- Email verification -----------------------------------------------------------------------

#: How long a verification link works (seconds), and how soon another may be sent.
EMAIL_VERIFICATION_SECONDS = 24 * 3600
EMAIL_VERIFICATION_RESEND_SECONDS = 60
#: The path of the verification page on the tenant's host (``oauth.account.urls``).
EMAIL_VERIFICATION_PATH = "/account/verify/"


@transaction.atomic
def email_verification_send(*, user: User, site: MailSite) -> bool:
    """Email ``user`` a single-use link that verifies their current address. False when
    none was sent: no address, already verified, disabled, or one was sent less than a
    minute ago. Only the token's digest is stored, with the address it was sent to."""
    user = User.objects.select_for_update().get(pk=user.pk)
    now = timezone.now()
    recent = EmailVerification.objects.filter(
        user=user,
        used_at__isnull=True,
        created_at__gt=now - timedelta(seconds=EMAIL_VERIFICATION_RESEND_SECONDS),
    )
    if not user.email or user.email_verified or not user.is_active or recent.exists():
        return False
    token = credentials.new_secret()
    EmailVerification.objects.create(
        token_digest=credentials.digest(token),
        user=user,
        email=user.email,
        created_at=now,
        expires_at=now + timedelta(seconds=EMAIL_VERIFICATION_SECONDS),
    )
    _audit("user.email_verification_sent", user, {"email": user.email})
    send_branded(
        template="email_verification",
        to=user.email,
        subject=f"Confirm your email address at {site.title}",
        site=site,
        context={
            "user": user,
            "link": f"{site.origin}{EMAIL_VERIFICATION_PATH}{token}/",
            "hours": EMAIL_VERIFICATION_SECONDS // 3600,
        },
    )
    return True


def _live_verification(token: str, *, lock: bool = False) -> EmailVerification | None:
    if not token or len(token) > 128 or "\x00" in token:
        return None
    rows = EmailVerification.objects.select_related("user")
    if lock:
        rows = rows.select_for_update(of=("self",))
    found = rows.filter(token_digest=credentials.digest(token)).first()
    if found is None or found.used_at is not None or found.expires_at <= timezone.now():
        return None
    user = found.user
    if not user.is_active or user.email.lower() != found.email.lower():
        return None  # sent to an address the user no longer has
    return found


def email_verification_user(*, token: str) -> User | None:
    """The user a live verification token is for, else None (used, expired, unknown, or
    the user has changed their address since)."""
    found = _live_verification(token)
    return found.user if found else None


@transaction.atomic
def email_verification_complete(*, token: str) -> User:
    """Spend a verification token: the user's address is verified (``email_verified``,
    which id_tokens and userinfo report). Single use: the row is locked."""
    found = _live_verification(token, lock=True)
    if found is None:
        raise UserError("this verification link was already used or has expired")
    user = User.objects.select_for_update().get(pk=found.user_id)
    now = timezone.now()
    EmailVerification.objects.filter(user=user, used_at__isnull=True).update(used_at=now)
    if not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
    _audit("user.email_verified", user, {"email": user.email})
    return user


def email_verification_pending(*, user: User) -> bool:
    """Whether the tenant requires a verified address before sign-in and ``user`` has
    none: sign-in then stops at a page that offers to send the link again."""
    return not user.email_verified and AccountPolicy.load().email_verification_required


@transaction.atomic
def account_policy_update(*, email_sender_name: str, email_verification_required: bool):
    """Change the tenant's account policy (audited ``settings.accounts_updated``; a call
    that changes nothing writes nothing)."""
    name = " ".join((email_sender_name or "").split())
    if len(name) > 100:
        raise UserError("the sender name must be at most 100 characters", field="email_sender_name")
    row = AccountPolicy.load()
    row = AccountPolicy.objects.select_for_update().get(pk=row.pk)
    fields = ("email_sender_name", "email_verification_required")
    before = {f: getattr(row, f) for f in fields}
    row.email_sender_name, row.email_verification_required = name, email_verification_required
    changes = diff(before, {f: getattr(row, f) for f in fields})
    if changes:
        row.save()
        audit_record(
            action="settings.accounts_updated",
            object_type="account_policy",
            object_id=str(row.pk),
            object_label="Account settings",
            changes=changes,
        )
    return row


# --- Sessions ---------------------------------------------------------------------------------


def _session_store():
    return import_module(settings.SESSION_ENGINE).SessionStore


#: Where a session keeps its OIDC ``sid`` (``UserSession.sid``), so a second sign-in in
#: the same browser session (a step-up) keeps the value the id_tokens already carry.
SID_SESSION_KEY = "gatehouse_sid"


def _sessions_ended(rows) -> None:
    """Send ``sessions_ended`` once per user for ``rows`` of (user_id, sid)."""
    by_user: dict = {}
    for user_id, sid in rows:
        by_user.setdefault(user_id, []).append(sid)
    for user_id, sids in by_user.items():
        sessions_ended.send(sender=UserSession, user_id=user_id, sids=sids)


def _end_sessions(sessions) -> int:
    """Delete these sessions from the session store and from the index; how many. Sends
    ``sessions_ended`` first, in the caller's transaction."""
    store = _session_store()
    rows = list(sessions.values_list("session_key", "user_id", "sid"))
    keys = [key for key, _user_id, _sid in rows]
    for key in keys:
        store(session_key=key).delete(key)
    _sessions_ended([(user_id, sid) for _key, user_id, sid in rows])
    UserSession.objects.filter(session_key__in=keys).delete()
    return len(keys)


@transaction.atomic
def user_session_end(*, session: UserSession) -> None:
    """End one session of a user (they are signed out on their next request)."""
    _end_sessions(UserSession.objects.filter(pk=session.pk))
    _audit(
        "user.session_ended",
        session.user,
        {"session_id": session.pk, "ip": session.ip, "started": session.created_at.isoformat()},
    )


def user_session_started(sender, request, user, **kwargs) -> None:
    """``user_logged_in`` receiver: index the new session under its user, with a new OIDC
    ``sid`` that the session also keeps (``SID_SESSION_KEY``); signing in again in the same
    browser session keeps its ``sid`` (even if the key changed)."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not key or user is None:
        return
    sid = session.get(SID_SESSION_KEY)
    if sid and UserSession.objects.filter(sid=sid, user=user).update(session_key=key):
        return  # a sign-in again in the same browser session (Django's login kept its data)
    row, _ = UserSession.objects.update_or_create(
        session_key=key,
        defaults={
            "user": user,
            "created_at": timezone.now(),
            "ip": client_ip(request)[:64],
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:300],
        },
    )
    session[SID_SESSION_KEY] = row.sid


def user_session_rekeyed(*, old_key: str, new_key: str) -> None:
    """The session changed its key (``cycle_key``, after a password change): keep it
    indexed under its user."""
    if old_key and new_key and old_key != new_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def user_session_closed(sender, request, user, **kwargs) -> None:
    """``user_logged_out`` receiver: the session is no longer the user's
    (``sessions_ended`` tells the layers above)."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        rows = UserSession.objects.filter(session_key=key)
        _sessions_ended(rows.values_list("user_id", "sid"))
        rows.delete()


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
