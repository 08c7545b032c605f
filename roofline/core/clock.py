"""The date written into fitted and measured profiles' ``source`` strings.

``SOURCE_DATE_EPOCH`` (the reproducible-builds convention: seconds since the epoch, UTC), where set,
stands for today, so a regenerated report can be byte-identical to the committed one.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

from .errors import InvalidInputError


def today() -> str:
    """Today's date as ``YYYY-MM-DD``: the UTC date of ``SOURCE_DATE_EPOCH`` where it is set."""
    raw = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not raw:
        return date.today().isoformat()
    try:
        seconds = int(raw)
        return datetime.fromtimestamp(seconds, tz=timezone.utc).date().isoformat()
    except (ValueError, OverflowError, OSError):
        raise InvalidInputError(f"SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01 UTC, "
                                f"got {raw!r}") from None
