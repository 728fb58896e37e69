"""Routers: how a canary weight becomes traffic."""
