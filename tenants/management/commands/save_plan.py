"""``manage.py save_plan``: create or change a plan (``tenants.services.plan_save``)."""

from kernel.cli import OperatorCommand
from oauth.selectors import RATE_LIMIT_FIELDS
from tenants.services import plan_save


class Command(OperatorCommand):
    help = (
        "Create or change a plan: its name and the rate limits its tenants get "
        "(a limit left out takes the platform default)."
    )

    def add_command_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        for name in RATE_LIMIT_FIELDS:
            parser.add_argument(
                "--" + name.lower().replace("_", "-"),
                type=int,
                dest=name,
                help="per window; left out = GATEHOUSE_RATE_LIMIT_" + name,
            )

    def run(self, **options) -> dict:
        limits = {name: options[name] for name in RATE_LIMIT_FIELDS if options[name] is not None}
        plan = plan_save(slug=options["slug"], name=options["name"], rate_limits=limits)
        return {"plan": plan.slug, "name": plan.name, "rate_limits": plan.rate_limits}
