"""The supervisor's dispatch jobs (RQ): what a dispatch action leaves to do after its commit."""

from __future__ import annotations

import contextlib

from callcenter.runtime import runtime
from core.telephony import TelephonyRejected


def redirect_call(call_sid: str, url: str) -> None:
    """Send a live call to new TwiML (a call that has ended is fine)."""
    with contextlib.suppress(TelephonyRejected):
        runtime().telephony.redirect_call(call_sid, url)
