"""Failed uptake (``--expect-file``): is the served leaf the one on disk? Pure.

The two are compared by their DER bytes, never by subject: a renewed
certificate usually keeps the subject. When they differ the state is WARNING
and the text says which one is newer (by notBefore). When the one on disk is
newer it also says how long ago it was written (its notBefore); once that is
longer than the rotation period R, the service has missed a whole rotation,
and the text says so in the words the model uses for a missed rotation. The
state stays WARNING: the urgency follows the served certificate's own time
left, which is judged as usual (CRITICAL at half the reaction window).
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from check_cert_validity.certinfo import CertFacts, utc_minute
from check_cert_validity.durations import format_duration
from check_cert_validity.thresholds import OK, WARNING, Judgement


def _identity(facts: CertFacts) -> str:
    return f"serial {facts.serial}, notBefore {utc_minute(facts.not_before)}"


def compare(
    served: CertFacts, disk: CertFacts, path: str, now: datetime, rotation: Optional[float]
) -> Judgement:
    """OK when the DER bytes match; else WARNING with one reason saying what differs."""
    if served.der == disk.der:
        return Judgement(OK, (f"the served certificate is the one at {path}",))
    head = f"served certificate ({_identity(served)}) is not the one at {path} ({_identity(disk)})"
    if served.not_before > disk.not_before:
        stale = f"{path} holds an older one (a restart would serve it)"
        return Judgement(WARNING, (f"{head}: the served one is newer; {stale}",))
    written = disk.age(now)
    if served.not_before == disk.not_before:
        newer = "both have the same notBefore"
    elif written < 0:
        newer = f"the one on disk is newer and not valid for another {format_duration(-written)}"
    else:
        newer = f"the one on disk is newer, written {format_duration(written)} ago"
        if rotation is not None and written > rotation:
            newer += (
                f", longer than R {format_duration(rotation)}: rotation overdue by "
                f"{format_duration(written - rotation)}"
            )
    return Judgement(WARNING, (f"{head}: the service has not reloaded it; {newer}",))
