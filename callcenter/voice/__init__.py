"""Twilio voice webhooks: the blueprint and its pure TwiML renderers."""
