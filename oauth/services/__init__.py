"""Writes to OAuth storage, one module per concern (callers import the module they need).

Every function takes keyword-only arguments and runs in the current tenant's schema. Plain
secrets, tokens and codes are never stored: only ``kernel.credentials.digest`` of them
(DESIGN.md §3). Code redemption and refresh rotation lock the row they consume
(``select_for_update``), so two concurrent requests cannot both succeed and neither sees a
5xx.
"""
