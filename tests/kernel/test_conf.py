"""Every Gatehouse setting has one default, declared in kernel.conf."""

import pytest

from kernel.conf import DEFAULTS, setting


def test_a_missing_key_falls_back_to_its_default(settings):
    settings.GATEHOUSE = {}
    assert setting("TOKEN_RETENTION_SECONDS") == DEFAULTS["TOKEN_RETENTION_SECONDS"]


def test_dict_settings_merge_over_their_defaults(settings):
    settings.GATEHOUSE = {"LOGIN_THROTTLE": {"USER_ATTEMPTS": 2}}
    limits = setting("LOGIN_THROTTLE")
    assert limits["USER_ATTEMPTS"] == 2
    assert limits["WINDOW_SECONDS"] == DEFAULTS["LOGIN_THROTTLE"]["WINDOW_SECONDS"]


def test_an_unknown_setting_is_an_error():
    with pytest.raises(KeyError):
        setting("NO_SUCH_SETTING")


def test_settings_modules_use_no_key_without_a_default():
    from django.conf import settings

    unknown = set(settings.GATEHOUSE) - set(DEFAULTS) - {"BASE_DOMAIN"}
    assert unknown == set()
