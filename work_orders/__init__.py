"""Work orders: one per contact, routed to departments by keyword rules, with SLA clocks,
escalation, the callback that closes them, complaints, and first-contact resolution.
`docs/WORK_ORDERS.md` tells the whole story.

Modules, each importing only those above it in this list:

    rules      categories, departments and keyword rules (config/work_orders.toml) and the
               pure classifier that suggests a category and a department from a description
    models     tables: work orders, their timeline of events, the calls linked to them
    timeline   opening a work order (once per client key) and writing its timeline
    states     the state machine, written down once, and `move` (compare-and-set)
"""
