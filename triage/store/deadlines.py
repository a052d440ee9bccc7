"""Response deadlines (限时办结): working days per category, read from a TOML settings file."""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from .. import paths
from ..errors import DataError

DEFAULT_FILE = paths.DATA_DIR / "deadlines.toml"


@dataclass(frozen=True)
class Deadlines:
    """Working days allowed per category; ``due_at`` counts them from the day a letter arrives."""

    days: dict[str, int] = field(default_factory=dict)
    default: int = 15
    timezone: str = "Asia/Shanghai"
    holidays: frozenset[dt.date] = frozenset()
    workdays: frozenset[dt.date] = frozenset()

    @classmethod
    def load(cls, path: str | Path | None = None) -> Deadlines:
        """Read ``path`` (default ``data/deadlines.toml``); a missing or malformed file is a clear error."""
        path = Path(path or DEFAULT_FILE)
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise DataError(f"Deadlines file {path} not found; copy data/deadlines.toml there or set "
                            "TRIAGE_DEADLINES_FILE.") from e
        except tomllib.TOMLDecodeError as e:
            raise DataError(f"Deadlines file {path} is not valid TOML: {e}") from e
        try:
            days = {str(k): int(v) for k, v in raw.get("days", {}).items()}
            default = int(raw.get("default", 15))
            holidays = frozenset(dt.date.fromisoformat(d) for d in raw.get("holidays", []))
            workdays = frozenset(dt.date.fromisoformat(d) for d in raw.get("workdays", []))
            tz = str(raw.get("timezone", "Asia/Shanghai"))
            ZoneInfo(tz)
        except (TypeError, ValueError, KeyError) as e:
            raise DataError(f"Deadlines file {path}: {e}. Days are whole numbers, dates are YYYY-MM-DD, "
                            "timezone an IANA name such as Asia/Shanghai.") from e
        bad = {k: v for k, v in {**days, "default": default}.items() if v < 0}
        if bad:
            raise DataError(f"Deadlines file {path}: negative working days {bad}.")
        return cls(days, default, tz, holidays, workdays)

    def days_for(self, category: str | None) -> int:
        return self.days.get(category or "", self.default)

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def due_at(self, received_at: dt.datetime, category: str | None) -> dt.datetime:
        """The end (local midnight) of the N-th working day after the day ``received_at`` falls on, in UTC.

        A letter received on Friday with 3 working days is due at the end of Wednesday; with 0 days, at the
        end of the day it arrived.
        """
        tz = ZoneInfo(self.timezone)
        day = received_at.astimezone(tz).date()
        left = self.days_for(category)
        while left > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=tz)
        return end.astimezone(dt.UTC)
