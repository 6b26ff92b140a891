"""The shape every operator command shares (DESIGN.md §5): non-interactive, ``--json``
prints exactly one JSON object on stdout, bad input exits non-zero with one line."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from kernel.audit.context import Actor, acting_as


class OperatorCommand(BaseCommand):
    #: Exceptions whose message is shown as the one-line error.
    user_errors: tuple[type[Exception], ...] = (ValueError,)

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser) -> None:
        """Declare the command's own options."""

    def handle(self, *args, **options):
        command = self.__module__.rsplit(".", 1)[-1]
        try:
            # Audit rows written by the command name it as their actor.
            with acting_as(Actor(label=f"operator command {command}")):
                result = self.run(**options)
        except self.user_errors as exc:
            raise CommandError(str(exc)) from None
        if options["json"]:
            self.stdout.write(json.dumps(result, sort_keys=True))
        else:
            self.stdout.write(self.describe(result))

    def run(self, **options) -> dict:
        raise NotImplementedError

    def describe(self, result: dict) -> str:
        return "\n".join(f"{key}: {value}" for key, value in result.items())
