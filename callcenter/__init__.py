"""Call-centre kernel: app factory, database, shared models, telephony gateway and entry points."""
