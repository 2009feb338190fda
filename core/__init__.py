"""The kernel: database plumbing, the shared models, calls and their event log, phone numbers,
the Twilio REST gateway, domain errors and the audit log. It imports no domain."""
