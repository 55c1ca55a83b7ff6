"""How current an answer is: every count carries one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True, kw_only=True)
class Freshness:
    """From the mart as of a moment, or live from the operational store."""

    source: str  # "mart" | "store"
    as_of: datetime
    age_s: float

    def describe(self) -> str:
        if self.source == "store":
            return "live (operational store)"
        age = int(self.age_s)
        ago = f"{age} s" if age < 120 else f"{age // 60} min" if age < 7200 else f"{age // 3600} h"
        return f"mart as of {self.as_of:%Y-%m-%d %H:%M:%S} UTC ({ago} ago)"

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "as_of": self.as_of.isoformat(), "age_s": round(self.age_s, 3)}
