"""The local phone network: a simulator that plays Twilio's part for demos, training and tests.

Apart from the rest: it imports nothing of the call centre. Its parts meet through Protocols of
its own (`ports`), and `network` composes them; `server` serves its REST and control APIs.
"""
