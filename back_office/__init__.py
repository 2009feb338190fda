"""The back office: return and exchange (RMA) review, the hand-offs to finance and logistics,
and the status calls to the customer. `docs/BACK_OFFICE.md` tells the whole story.

Modules, each importing only those above it in this list:

    models     tables: RMA intake fingerprints, inspections, the catalogue
    fields     reading a partner system's request field by field, naming every bad one
    catalogue  each SKU's category and stock (idempotent upsert by SKU)
    states     the RMA state machine, written down once, and `move` (compare-and-set)
    notices    the automated notice call (refund issued, replacement shipped): a task kind
               of the outbound engine, closing the RMA when it is over
    handoffs   approved returns to finance, exchanges to logistics; their confirmations
    intake     RMA requests from the order system: validate, create or update (by number)
    inspections  the warehouse's quality inspection of a returned item
    policy     the return policy file and its pure checklist
    refunds    the refund proposed, and the checks on the amount entered (pure, fen)
    status_calls  the RMA status call: a task kind of the outbound engine, closing a rejected RMA
    review     approve (return or exchange), reject, convert an out-of-stock exchange to a return
    cancellations  the refund of an order that has not shipped, without review (IVR, desk)
    work_list  what the back office's console shows: RMAs in review, pending hand-offs, calls
"""
