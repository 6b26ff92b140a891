"""The operators' console on the public host: tenants and the operators' own audit log."""
