"""Headless Debian Chromium for browser tests, resolving the test hosts to loopback: the
base domain (the public site, the operators' console) as well as every tenant host."""

import shutil
from contextlib import contextmanager

import pytest
from django.conf import settings
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def chromium(*, extra_args: tuple[str, ...] = ()):
    """Opened only after the test's database work: Playwright's sync API runs an event loop
    in this thread, inside which Django refuses ORM calls. ``extra_args`` go to Chromium as
    they are (a secure-context origin for WebAuthn, say)."""
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is required: apt-get install -y chromium")
    base = settings.GATEHOUSE_BASE_DOMAIN
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                f"--host-resolver-rules=MAP {base} 127.0.0.1, MAP *.{base} 127.0.0.1",
                "--disable-background-networking",
                "--disable-component-update",
                *extra_args,
            ],
        )
        yield browser
        browser.close()
