"""Inbound queues, agents and their presence, routing, and connecting callers to agents."""
