"""Domain error types. Each carries a one-line, user-facing reason that says what went wrong
and what to do; operator commands print it as their one-line error (``kernel.cli``), pages
show it in a form."""


class DomainError(ValueError):
    """A request that the domain refuses; the message is safe to show to the caller."""
