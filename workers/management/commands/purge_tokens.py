from kernel.cli import OperatorCommand
from tenants.selectors import active_tenants, tenant_by_slug
from workers.purge import count_schema, purge_schema, purge_targets


class Command(OperatorCommand):
    help = (
        "Delete expired tokens, codes, grant families, sessions and audit events past their "
        "retention, in batches, in every active tenant (and public's sessions and audit "
        "events) or one tenant."
    )

    def add_command_arguments(self, parser):
        parser.add_argument("--tenant", help="slug of one tenant (suspended ones too)")
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be purged, delete nothing"
        )

    def run(self, **options) -> dict:
        if options["tenant"]:
            tenant = tenant_by_slug(options["tenant"])
            if tenant is None:
                raise ValueError(f"unknown tenant {options['tenant']!r}; check the slug")
            targets = [(tenant.slug, tenant.schema_name)]
        else:
            targets = purge_targets(active_tenants())

        progress = Progress(self.stderr, total=len(targets))
        tenants = {}
        for label, schema in targets:
            progress.start(label)
            if options["dry_run"]:
                tenants[label] = count_schema(schema=schema)
            else:
                tenants[label] = purge_schema(
                    schema=schema, on_step=lambda step: progress.advance(step.total)
                )
            progress.finish(sum(tenants[label].values()))
        totals: dict[str, int] = {}
        for per_kind in tenants.values():
            for kind, rows in per_kind.items():
                totals[kind] = totals.get(kind, 0) + rows
        return {"dry_run": options["dry_run"], "tenants": tenants, "totals": totals}

    def describe(self, result: dict) -> str:
        verb = "would purge" if result["dry_run"] else "purged"
        lines = []
        for label, per_kind in result["tenants"].items():
            detail = ", ".join(f"{kind} {rows:,}" for kind, rows in per_kind.items())
            lines.append(f"{label}: {verb} {sum(per_kind.values()):,} rows ({detail})")
        total = sum(result["totals"].values())
        lines.append(f"total: {verb} {total:,} rows in {len(result['tenants'])} schema(s)")
        return "\n".join(lines)


class Progress:
    """One status line per tenant on stderr (a Django OutputWrapper); redrawn in place while
    a tenant is being purged when stderr is a terminal."""

    def __init__(self, stream, *, total: int) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.label = ""
        self.rows = 0
        self.live = stream.isatty()

    def _line(self) -> str:
        return f"[{self.done + 1}/{self.total}] {self.label}: {self.rows:,} rows"

    def start(self, label: str) -> None:
        self.label, self.rows = label, 0
        if self.live:
            self.stream.write(f"\r\x1b[K{self._line()}", ending="")
            self.stream.flush()

    def advance(self, rows: int) -> None:
        self.rows += rows
        if self.live:
            self.stream.write(f"\r\x1b[K{self._line()}", ending="")
            self.stream.flush()

    def finish(self, rows: int) -> None:
        self.rows = rows
        self.stream.write(("\r\x1b[K" if self.live else "") + self._line())
        self.stream.flush()
        self.done += 1
