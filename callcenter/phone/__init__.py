"""The local phone network: a simulator that plays Twilio's part for demos, training and tests."""
