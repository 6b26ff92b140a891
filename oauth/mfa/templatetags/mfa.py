"""``{% mfa_factors user as factors %}`` for the account page's MFA section."""

from django import template

from oauth.mfa import selectors

register = template.Library()


@register.simple_tag
def mfa_factors(user):
    """The user's factors (``selectors.Factors``), or None for an anonymous user."""
    if user is None or not user.is_authenticated:
        return None
    return selectors.factors(user)


@register.simple_tag
def mfa_enabled() -> bool:
    return selectors.mfa_enabled()
