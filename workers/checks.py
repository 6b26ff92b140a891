"""System check: every foreign key into a purgeable model is accounted for.

A purge is a plain DELETE. A row that another row still points at must either wait for it
(``keep_while_referenced_by``) or the delete would fail on the constraint, or worse, a
CASCADE would take live rows with it. A new model pointing at a purgeable one stops start-up
until its declaration says which. Registered by ``WorkersConfig.ready``.
"""

from django.core import checks

from workers.purge import PURGE_KINDS


def check_purge_registry(app_configs=None, **kwargs):
    errors = []
    for kind in PURGE_KINDS:
        model = kind.model_class
        declared = set(kind.keep_while_referenced_by)
        for relation in model._meta.related_objects:
            if relation.many_to_many:
                continue  # a join table row, not a row pointing at this one
            reference = f"{relation.related_model._meta.label}.{relation.field.name}"
            if reference not in declared:
                errors.append(
                    checks.Error(
                        f"{reference} points at purgeable {kind.model} ({kind.name}), "
                        "but the purge registry does not say whether it keeps the row.",
                        hint=f"Add {reference!r} to keep_while_referenced_by of the "
                        f"{kind.name!r} kind in workers/purge.py.",
                        id="workers.E001",
                    )
                )
    return errors
