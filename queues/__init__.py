"""Inbound queues, routing, agent presence and outbound task queues."""
