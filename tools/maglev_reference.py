#!/usr/bin/env python3
"""Independent reference implementation of svcplane's weighted Maglev table (src/maglev.rs).

Written from the module documentation alone, on top of the PyPI `xxhash` package (which wraps
the reference xxHash C library), to produce the golden vectors in the Rust tests:

    pip install xxhash
    python3 tools/maglev_reference.py

Slow (full permutations, linear search for the next turn): for small tables only.
"""
import ipaddress

import xxhash

SKIP_SEED_XOR = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def key(ip):
    a = ipaddress.ip_address(ip)
    if a.version == 4:
        return ipaddress.IPv6Address("::ffff:" + ip).packed
    return a.packed


def table(backends, seed, m):
    """backends: list of (16-byte key, weight) in canonical (ascending key) order."""
    active = [(i, k, w) for i, (k, w) in enumerate(backends) if w > 0]
    perms = []
    for i, k, w in active:
        offset = xxhash.xxh64(k, seed=seed).intdigest() % m
        skip = xxhash.xxh64(k, seed=(seed ^ SKIP_SEED_XOR) & MASK64).intdigest() % (m - 1) + 1
        perms.append([(offset + j * skip) % m for j in range(m)])
    nxt = [0] * len(active)
    turns = [0] * len(active)  # t: number of turns taken so far
    entry = [None] * m
    filled = 0
    while filled < m:
        # next turn: smallest t/w, then smallest index
        best = None
        for a, (_, _, w) in enumerate(active):
            if best is None or turns[a] * active[best][2] < turns[best] * w:
                best = a
        a = best
        turns[a] += 1
        while entry[perms[a][nxt[a]]] is not None:
            nxt[a] += 1
        entry[perms[a][nxt[a]]] = active[a][0]
        nxt[a] += 1
        filled += 1
    return entry


def digest(entries):
    data = b"".join(e.to_bytes(2, "little") for e in entries)
    return xxhash.xxh64(data, seed=0).intdigest()


def show(name, backends, seed, m):
    t = table(backends, seed, m)
    print(f"{name}: seed={seed:#x} m={m}")
    print("  first16 =", t[:16])
    print(f"  xxh64(table as u16 LE, seed 0) = {digest(t):#018x}")
    counts = [t.count(i) for i in range(len(backends))]
    print("  counts =", counts)


if __name__ == "__main__":
    v4 = sorted((key(f"10.0.0.{i}"), 1) for i in range(1, 6))
    show("GOLDEN_V4_EQUAL", v4, 0x5EED, 251)
    v6 = sorted((key(f"2001:db8::{i:x}"), 0) for i in range(1, 5))
    v6 = [(k, w) for (k, _), w in zip(v6, [1, 2, 3, 4])]
    show("GOLDEN_V6_WEIGHTED", v6, 0x0123456789ABCDEF, 509)
    mixed = sorted([(key("10.1.2.3"), 5), (key("192.168.0.9"), 0), (key("fd00::7"), 2),
                    (key("172.16.5.4"), 5), (key("2001:db8::42"), 1)])
    show("GOLDEN_MIXED", mixed, 42, 1021)
