"""Offline fuzzing of the EVTX reader: corrupted copies of real sample files, far more than the test suite
runs. Each case cuts a file at a random offset, flips random bytes, or overwrites a random range (header,
chunk header or records). Checks: no exception, no hang, and no loss without a warning.

    python bench/fuzz_evtx.py [--cases 3000] [--seed 1]
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import sys
import tempfile
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evtx

from aptwatch.model.records import TableBatch
from aptwatch.sources.base import ReadContext, SourceRef
from aptwatch.sources.evtx import Evtx
from harness import SHARED


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    files = sorted(glob.glob(os.path.join(SHARED, "evtx-attack-samples", "**", "*.evtx"), recursive=True),
                   key=os.path.getsize)[:120]
    rnd = random.Random(a.seed)
    worst = 0.0
    silent = 0
    with tempfile.TemporaryDirectory() as tmp:
        p = os.path.join(tmp, "fuzz.evtx")
        for _ in range(a.cases):
            src = rnd.choice(files)
            with open(src, "rb") as f:
                data = bytearray(f.read())
            mode = rnd.random()
            if mode < 0.3:
                data = data[: rnd.randrange(len(data))]
            elif mode < 0.7:
                for _ in range(rnd.choice([1, 5, 50, 500])):
                    data[rnd.randrange(len(data))] = rnd.randrange(256)
            else:
                start = rnd.choice([0, 4096, 4096 + 512, rnd.randrange(len(data))])
                end = min(len(data), start + rnd.randrange(1, 600))
                data[start:end] = bytes(rnd.randrange(256) for _ in range(end - start))
            with open(p, "wb") as f:
                f.write(bytes(data))
            t = time.perf_counter()
            n = w = 0
            for item in Evtx().read(ReadContext(SourceRef(p), "0" * 64, len(data))):
                if isinstance(item, TableBatch):
                    n += item.num_rows
                else:
                    w += 1
            worst = max(worst, time.perf_counter() - t)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                full = sum(1 for _ in evtx.PyEvtxParser(src, number_of_threads=1).records_json())
            if n < full and w == 0:
                silent += 1
                print(f"silent loss: {src} {n}/{full}", flush=True)
    print(f"{a.cases} corrupted copies of {len(files)} files: no exception; slowest {worst:.2f} s; "
          f"losses without a warning: {silent}")
    sys.exit(1 if silent else 0)


if __name__ == "__main__":
    main()
