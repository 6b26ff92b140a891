"""Authlib grants and endpoints, one module per concern; ``oauth.server`` registers them.

Import the module you need (``oauth.grants.authorization_code``, ``oauth.grants.errors``, ...):
nothing is re-exported here.
"""
