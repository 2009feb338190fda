"""Every package's tables on one metadata (`core.db.Base`): what migrations and tests compare.

A package that adds tables adds its models module here, and nowhere else.
"""

from __future__ import annotations

import back_office.models  # noqa: F401  (RMA intake, inspections, the catalogue)
import core.audit  # noqa: F401  (the audit log)
import core.models  # noqa: F401  (customers, orders, returns, calls and their event log)
import core.webhooks  # noqa: F401  (signed deliveries to the order system, finance, logistics)
import middle_office.models  # noqa: F401  (order intake, reviews)
import outbound.models  # noqa: F401  (outbound tasks, attempts, the do-not-call list)
import queues.models  # noqa: F401  (agents, their skills and presence log, queue entries)
import recordings.models  # noqa: F401  (recordings and their processing state)
import supervision.models  # noqa: F401  (alerts, support pulls, monitoring)
import work_orders.complaints  # noqa: F401  (complaints: severity, remedy, follow-up)
import work_orders.knowledge_models  # noqa: F401  (the knowledge base: articles, versions)
import work_orders.models  # noqa: F401  (work orders, their timeline, linked calls)
from core.db import Base

metadata = Base.metadata
