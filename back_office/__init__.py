"""The back office: return and exchange (RMA) review, the hand-offs to finance and logistics,
and the status calls to the customer. `docs/BACK_OFFICE.md` tells the whole story.

Modules, each importing only those above it in this list:

    models     tables: RMA intake fingerprints, inspections, the catalogue
    states     the RMA state machine, written down once, and `move` (compare-and-set)
    handoffs   approved returns to finance, exchanges to logistics; their confirmations
"""
