"""Generate the synthetic base: 100,000 customers with default events.

Reproduce: make bench B=generate   (or: python benchmarks/bench_generate.py [customers])
"""

from __future__ import annotations

import shutil
import sys

from common import WORK, figure, timed

from epistola.synth import generate

customers = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
folder = WORK / f"data-{customers}"
shutil.rmtree(folder, ignore_errors=True)
with timed() as t:
    dataset = generate(folder, customers=customers, seed=42)
rows = sum(dataset.records.values())
print(f"{customers:,} customers, {rows:,} rows in {t[0]:.1f} s into {folder}")
figure(f"generate_{customers // 1000}k_s", t[0], "s")
figure("generate_rows_per_s", rows / t[0], "rows/s")
