#!/usr/bin/env python3
"""Writes fuzz/corpus/nat_rewrite/ seeds: each real capture from tests/captures/mod.rs behind
a rewrite prefix in the byte layout `arbitrary` 1.x decodes `Input` from (fill, mismatch, then
each Option as a presence byte and its value; the packet takes the rest)."""
import os, re

here = os.path.dirname(os.path.abspath(__file__))
src = open(os.path.join(here, "..", "tests", "captures", "mod.rs")).read()
out = os.path.join(here, "corpus", "nat_rewrite")
os.makedirs(out, exist_ok=True)

caps = re.findall(r"pub const (\w+): &\[u8\] = &\[(.*?)\];", src, re.S)
addr = bytes(range(0xA0, 0xB0))
prefixes = {
    # fill, no mismatch, src Some, sport Some, dst Some, dport Some
    "both": bytes([1, 0, 1]) + addr + bytes([1, 0x1F, 0x90, 1]) + addr[::-1] + bytes([1, 0x00, 0x35]),
    # fill, dnat only
    "dnat": bytes([1, 0, 0, 0, 1]) + addr + bytes([1, 0x1F, 0x90]),
}
for name, body in caps:
    pkt = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body))
    for tag, prefix in prefixes.items():
        with open(os.path.join(out, f"{name.lower()}_{tag}"), "wb") as f:
            f.write(prefix + pkt)
print(f"{len(caps) * len(prefixes)} seeds in {out}")
