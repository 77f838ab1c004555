#!/usr/bin/env python3
"""Prints the median of every benchmark of the last criterion run, as time per
iteration and as throughput, from target/criterion/*/new/estimates.json.

Usage: python3 crates/benches/medians.py [TARGET_DIR]   (default: target)
"""
import json
import pathlib
import sys

# Elements per iteration, as each bench declares with Throughput::Elements.
ELEMENTS = {"engine_": 2}


def elements(bench_id):
    return next((n for prefix, n in ELEMENTS.items() if bench_id.startswith(prefix)), 1)


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"
    for path in sorted(root.glob("**/new/estimates.json")):
        bench_id = str(path.parent.parent.relative_to(root))
        median_ns = json.loads(path.read_text())["median"]["point_estimate"]
        per_second = elements(bench_id) * 1e9 / median_ns
        print(f"{bench_id:55} median {median_ns / 1000:10.2f} µs/iter  {per_second:12,.0f} /s")


if __name__ == "__main__":
    main()
