#!/usr/bin/env python3
"""Django's command-line utility for Gatehouse."""

import os
import sys
from pathlib import Path


def main() -> None:
    # platform/ holds the project package (gatehouse); it is a plain folder, not a package,
    # so the stdlib `platform` module stays importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings.dev")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
