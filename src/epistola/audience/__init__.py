"""Audience: the segment language, its two compilers, the analytical mart, counts and micro-segments.

Modules (imported directly, so that importing a segment does not load DuckDB or scikit-learn):

- ``language``  parse definitions into conditions, with path-precise errors
- ``semantics`` the calendar and money arithmetic both compilers share
- ``sql``       compile to SQL on the operational store (reference, small bases, cross-check)
- ``duck``      compile to DuckDB SQL on the mart
- ``extract``   read the operational store into Arrow (SQLite, PostgreSQL)
- ``mart``      build and refresh the mart, freshness
- ``engines``   the `Audience` port: `MartAudience`, `StoreAudience`
- ``counts``    counts with reach per channel, overlaps
- ``profile``   age, gender, regions, purchases and spend of a segment, with charts
- ``clusters``  micro-segment proposals as saveable definitions
- ``segments``  segments as stored objects, snapshots
"""

from epistola.audience.language import Condition, parse_definition
from epistola.audience.segments import Segment, Snapshot, get_segment, save_segment, take_snapshot

__all__ = ["Condition", "Segment", "Snapshot", "get_segment", "parse_definition", "save_segment", "take_snapshot"]
