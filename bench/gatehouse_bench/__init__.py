"""Gatehouse as the benchmark runs it: production settings plus one no-op view on tenant
hosts (``/bench/noop``), the ceiling of our own stack. Only ``bench/`` puts this package on
the path; nothing in the product imports it."""
