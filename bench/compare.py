#!/usr/bin/python3
"""Compare two benchmark runs: bench/compare.py A.json B.json

A and B are the performance.json files bench/run.py writes. For every
figure both have, print A, B and the change, with each side's spread (the
range of its samples). Exit 1 when a figure got worse beyond its spread,
so this serves as a regression check:

- a rate (Mpps) is worse when B's whole range lies below A's range, and
  its median is more than NOISE below A's (one sample a side: the range is
  that sample);
- instructions a packet (callgrind, exact run to run) are worse when B's
  exceed A's by more than EXACT.
"""

import json
import statistics
import sys

NOISE = 0.05    # rates within 5 % of each other are the same figure
EXACT = 0.02    # callgrind's counts repeat within well under 1 %


def rates(run):
    """{(case, implementation, size): [samples, Mpps]}."""
    return {(r["case"], r["impl"], r["size"]): r.get("samples") or
            [r["mpps"]] for r in run.get("rows", []) if r.get("mpps")}


def instructions(run):
    return {(r["case"], r["impl"], r["size"]): r["instructions"]
            for r in run.get("instructions", []) if r.get("instructions")}


def worse_rate(a, b):
    return max(b) < min(a) and \
        statistics.median(b) < statistics.median(a) * (1 - NOISE)


def compare(a, b, out=sys.stdout):
    """Print every common figure; return the keys of those that got
    worse."""
    worse = []
    ra, rb = rates(a), rates(b)
    print(f"{'case':44} {'A Mpps':>16} {'B Mpps':>16} {'change':>8}",
          file=out)
    for key in [k for k in ra if k in rb]:
        sa, sb = ra[key], rb[key]
        ma, mb = statistics.median(sa), statistics.median(sb)
        flag = ""
        if worse_rate(sa, sb):
            worse.append(key)
            flag = "  WORSE"
        print(f"{label(key):44} {span(ma, sa):>16} {span(mb, sb):>16} "
              f"{(mb - ma) / ma:>+8.1%}{flag}", file=out)
    ia, ib = instructions(a), instructions(b)
    common = [k for k in ia if k in ib]
    if common:
        print(f"\n{'case':44} {'A instr/pkt':>16} {'B instr/pkt':>16} "
              f"{'change':>8}", file=out)
    for key in common:
        flag = ""
        if ib[key] > ia[key] * (1 + EXACT):
            worse.append(key)
            flag = "  WORSE"
        print(f"{label(key):44} {ia[key]:>16.1f} {ib[key]:>16.1f} "
              f"{(ib[key] - ia[key]) / ia[key]:>+8.1%}{flag}", file=out)
    only = sorted(set(ra) ^ set(rb), key=str)
    if only:
        print(f"\nin one run only: {', '.join(label(k) for k in only)}",
              file=out)
    return worse


def label(key):
    case, impl, size = key
    return f"{case} [{impl}, {size} B]"


def span(median, samples):
    if len(samples) < 2:
        return f"{median:.2f}"
    return f"{median:.2f} ({min(samples):.1f}-{max(samples):.1f})"


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        runs = []
        for path in argv[1:]:
            with open(path) as f:
                runs.append(json.load(f))
    except (OSError, ValueError) as e:
        print(f"compare: {e}", file=sys.stderr)
        return 2
    worse = compare(*runs)
    if worse:
        print(f"\n{len(worse)} figure(s) worse beyond their spread",
              file=sys.stderr)
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
