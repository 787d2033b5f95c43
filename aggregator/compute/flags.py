"""Which HJ 212 data flags keep a reading out of statistics, decided per flag.

HJ 212-2017 表8 (reference/hj212.md §6.4) defines the flags; the reference advises, and we
follow, that only ``N`` enters statistics:

* ``N`` normal — valid.
* ``F`` instrument stopped, ``M`` maintenance, ``D`` fault, ``C`` calibration,
  ``B`` instrument/logger communication failure — the value was not produced by a working
  measurement, so it is excluded.
* ``S`` manually entered set value — excluded: the reference allows it "only if audited" and
  audited values arrive as revised readings with flag ``N``.
* ``T`` above the measuring upper limit — excluded (the true value is unknown, only that it
  is high); the reading is kept in ``readings`` and counted in ``excluded_readings``.
"""

from __future__ import annotations

from typing import Final

from ingest.reading import DATA_FLAGS, DataFlag

VALID_FLAGS: Final[frozenset[str]] = frozenset({"N"})
EXCLUDED_FLAGS: Final[tuple[DataFlag, ...]] = tuple(f for f in DATA_FLAGS if f not in VALID_FLAGS)


def is_valid_flag(flag: str) -> bool:
    """True when a reading with ``flag`` may enter statistics."""
    return flag in VALID_FLAGS
