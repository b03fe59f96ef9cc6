#!/usr/bin/env python3
"""Writes the tick file the trading example's feed replays: a deterministic random walk of
bid/ask quotes for several instruments, one quote a line, in integer cents.

    python3 data/gen_ticks.py --ticks 2000 --out data/ticks.tsv
    python3 data/gen_ticks.py --ticks 300 --out data/ticks-short.tsv

Standard library only, and a fixed seed, so the committed files can be made again byte for
byte. Each line is `instrument<TAB>bid<TAB>ask`; lines starting with '#' are comments.
"""

import argparse
import random

# Instrument and its opening mid price in cents.
INSTRUMENTS = [("ACME", 10_000), ("BOLT", 5_000), ("CRUX", 2_500), ("DYNE", 20_000)]


def generate(ticks, seed):
    rng = random.Random(seed)
    mids = dict(INSTRUMENTS)
    names = [name for name, _ in INSTRUMENTS]
    lines = ["# instrument\tbid\task (cents), seed %d" % seed]
    for _ in range(ticks):
        name = rng.choice(names)
        mid = mids[name]
        # A small step, with a slow drift so the strategies have trends to follow.
        step = rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3]) * max(mid // 10_000, 1)
        mid = max(mid + step, 100)
        mids[name] = mid
        spread = rng.choice([2, 2, 4, 6])
        lines.append("%s\t%d\t%d" % (name, mid - spread // 2, mid + spread // 2))
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.out, "w", encoding="ascii") as out:
        out.write(generate(args.ticks, args.seed))


if __name__ == "__main__":
    main()
