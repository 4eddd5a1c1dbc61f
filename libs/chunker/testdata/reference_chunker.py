#!/usr/bin/env python3
"""Independent, slow reference of the chunk boundary rule in
docs/formats/chunker.md. It produced the golden chunk lengths pinned in
chunker_test.cc (GoldenTest); run it to re-derive them:

    python3 libs/chunker/testdata/reference_chunker.py
"""
M64 = (1 << 64) - 1


def splitmix64(state):
    """Yields splitmix64 outputs starting from `state`."""
    while True:
        state = (state + 0x9E3779B97F4A7C15) & M64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        yield z ^ (z >> 31)


def gear_table(seed):
    g = splitmix64(seed)
    return [next(g) for _ in range(256)]


def test_input(n, seed):
    """n bytes: little-endian splitmix64 outputs from state `seed`."""
    g = splitmix64(seed)
    out = bytearray()
    while len(out) < n:
        out += next(g).to_bytes(8, "little")
    return bytes(out[:n])


def chunk_lengths(data, min_size, avg_size, max_size, seed=0):
    gear = gear_table(seed)
    bits = avg_size.bit_length() - 1
    strict = 1 << (64 - (bits + 2))
    loose = 1 << (64 - (bits - 2))
    lengths = []
    start = 0
    n = len(data)
    while start < n:
        end = min(n, start + max_size)
        cut = end  # the max_size cut, or the stream's end
        h = 0
        # Hash the 64-byte window ending at each candidate length L.
        for i in range(max(start, start + min_size - 64), end):
            h = ((h << 1) + gear[data[i]]) & M64
            length = i - start + 1
            if length >= min_size and h < (strict if length < avg_size else loose):
                cut = i + 1
                break
        lengths.append(cut - start)
        start = cut
    return lengths


if __name__ == "__main__":
    print("gear[0..3] seed 0:", [hex(x) for x in gear_table(0)[:4]])
    data = test_input(8 << 20, 42)
    print("8 MiB seed-42 input, 64K/256K/1M, gear seed 0:",
          chunk_lengths(data, 64 << 10, 256 << 10, 1 << 20))
    print("8 MiB seed-42 input, 256K/1M/4M, gear seed 0:",
          chunk_lengths(data, 256 << 10, 1 << 20, 4 << 20))
    print("8 MiB seed-42 input, 64K/256K/1M, gear seed 7:",
          chunk_lengths(data, 64 << 10, 256 << 10, 1 << 20, seed=7))
