#!/usr/bin/env python3
"""Generates a deterministic tree of many small files for the change-detection
benchmark (issue 4): `make_tree.py DIR --files 200000` writes DIR/dNNN/dNN/fNNNNNN
with 100..8000 bytes each (text-like, compressible), 100 files per directory.

`make_tree.py DIR --touch-percent 1` instead changes that percentage of the
existing files (appends a line, so size, mtime and ctime change), choosing them
with a fixed seed, and prints how many it changed.
"""
import argparse
import os
import random
import sys

WORDS = ("backup chunk digest payload metadata stream index snapshot verify restore "
         "collector chunker compressor uploader orchestrator repository").split()


def make(root, files, seed):
    rng = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    for i in range(files):
        d = os.path.join(root, "d%03d" % (i // 10000), "d%02d" % ((i // 100) % 100))
        if i % 100 == 0:
            os.makedirs(d, exist_ok=True)
        size = rng.randint(100, 8000)
        words = []
        n = 0
        while n < size:
            w = rng.choice(WORDS)
            words.append(w)
            n += len(w) + 1
        with open(os.path.join(d, "f%06d" % i), "w") as f:
            f.write((" ".join(words))[:size])


def touch(root, percent, seed):
    paths = []
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            # Regular files only: never write through a symlink (it may
            # point outside the tree).
            if os.path.isfile(p) and not os.path.islink(p):
                paths.append(p)
    paths.sort()
    rng = random.Random(seed)
    chosen = rng.sample(paths, max(1, int(len(paths) * percent / 100)))
    for p in chosen:
        with open(p, "a") as f:
            f.write("\nchanged\n")
    print(len(chosen))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=200000)
    ap.add_argument("--touch-percent", type=float)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.touch_percent is not None:
        touch(a.dir, a.touch_percent, a.seed)
    else:
        make(a.dir, a.files, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
