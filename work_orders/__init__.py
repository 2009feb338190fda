"""Work orders: one per contact, routed to departments by keyword rules, with SLA clocks,
escalation, the callback that closes them, complaints, and first-contact resolution.
`docs/WORK_ORDERS.md` tells the whole story.

Modules, each importing only those above it in this list:

    rules          categories, departments and keyword rules (config/work_orders.toml) and
                   the pure classifier that suggests a category and a department
    models         tables: work orders, their timeline of events, the calls linked to them
    knowledge_models  tables: knowledge-base articles and their versions
    knowledge      the knowledge base: versioned articles, suggestions, search
    sla_policy     SLA policies as data (config/sla.toml), per category and priority
    timeline       opening a work order (once per client key) and writing its timeline
    states         the state machine, written down once, and `move` (compare-and-set)
    sla            the pure SLA clocks of a timeline at `now` (business hours, pauses)
    sweep          the clocks' snapshot, the sweep: warnings, breaches, escalation once
    search         finding work orders (number, phone, order, RMA, status, department, breach)
    complaints     the complaint flow: receive, classify, remedy, carry out, follow up
    callbacks      the callback task kind: planned on a department's reply, assigned to the
                   owner or their group; its outcome closes or reopens the work order
    department     the departments' inbox and actions: claim, reply, ask, resolve, notes
    desk           the front desk's work order of every call (the wrap-up), earlier contacts,
                   the caller's work orders on the screen pop
"""
