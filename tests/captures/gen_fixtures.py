#!/usr/bin/env python3
"""Extracts the fixtures from the raw captures made by capture.sh, checks every
checksum with tshark and writes mod.rs and pcaps/NAME.pcap.

usage: gen_fixtures.py WORKDIR OUTDIR
  WORKDIR holds cli.pcap (tcpdump on c0 in svcp-cli) and srv.pcap (tcpdump on
  s0 in svcp-srv); OUTDIR gets mod.rs and pcaps/.
Only the Python standard library and tshark are used here.
"""
import ipaddress
import json
import os
import re
import struct
import subprocess
import sys

TSHARK_PREFS = [
    "-o", "ip.check_checksum:TRUE",
    "-o", "tcp.check_checksum:TRUE",
    "-o", "udp.check_checksum:TRUE",
    "-o", "sctp.checksum:CRC 32c",
]
TSHARK_PREFS_TEXT = ("-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE "
                     "-o udp.check_checksum:TRUE -o 'sctp.checksum:CRC 32c'")

CLI = ("cli", "on arrival at the client (`tcpdump -i c0` in netns svcp-cli)")
SRV = ("srv", "on arrival at the server (`tcpdump -i s0` in netns svcp-srv)")

NOT_ICMP = "!icmp && !icmpv6"

# name, capture, tshark display filter (must match exactly one frame), how it
# was produced, and optional extras:
#   pair:   the other fragment of the same datagram (UDP checksum is checked on
#           the reassembly of both)
#   origin: (capture, filter) of the original datagram whose truncated quote is
#           inside this ICMP error (its UDP checksum is checked against it)
FIXTURES = [
    dict(name="IPV4_TCP_SYN", cap=SRV,
         flt=f"{NOT_ICMP} && ip.dst==10.0.2.2 && tcp.dstport==7001 && tcp.flags==0x002",
         how=["Step 1 of capture.sh: server `nc -4 -l 10.0.2.2 7001` in svcp-srv; client",
              "`printf 'svcplane tcp4\\n' | nc -4 -N -w 2 -p 40001 10.0.2.2 7001` in svcp-cli.",
              "The client kernel's SYN (options MSS, SACK_PERM, TS, NOP, WS as Linux orders them),",
              "forwarded by the router (TTL 64 -> 63)."]),
    dict(name="IPV4_TCP_DATA", cap=SRV,
         flt=f"{NOT_ICMP} && ip.dst==10.0.2.2 && tcp.dstport==7001 && tcp.len>0",
         how=["Step 1 of capture.sh (same connection as `IPV4_TCP_SYN`): the client's first data",
              "segment, PSH|ACK carrying `svcplane tcp4\\n` (14 bytes) with a TS option."]),
    dict(name="IPV4_UDP", cap=SRV,
         flt=f"{NOT_ICMP} && ip.dst==10.0.2.2 && udp.dstport==7002",
         how=["Step 2 of capture.sh: a python3 UDP socket in svcp-cli bound to 10.0.1.2:40003",
              "does `sendto(b'svcplane udp4\\n', ('10.0.2.2', 7002))`; a UDP socket in svcp-srv",
              "is bound to 10.0.2.2:7002, so no ICMP error follows. Checksum is non-zero."]),
    dict(name="IPV6_TCP_SYN", cap=SRV,
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && tcp.dstport==7001 && tcp.flags==0x002",
         how=["Step 1 of capture.sh: server `nc -6 -l fd00:2::2 7001` in svcp-srv; client",
              "`printf 'svcplane tcp6\\n' | nc -6 -N -w 2 -p 40002 fd00:2::2 7001` in svcp-cli.",
              "The client kernel's SYN, forwarded by the router (hop limit 64 -> 63)."]),
    dict(name="IPV6_TCP_DATA", cap=SRV,
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && tcp.dstport==7001 && tcp.len>0",
         how=["Step 1 of capture.sh (same connection as `IPV6_TCP_SYN`): the client's first data",
              "segment, PSH|ACK carrying `svcplane tcp6\\n` (14 bytes) with a TS option."]),
    dict(name="IPV6_UDP", cap=SRV,
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && udp.dstport==7002",
         how=["Step 2 of capture.sh: a python3 UDP socket in svcp-cli bound to [fd00:1::2]:40004",
              "does `sendto(b'svcplane udp6\\n', ('fd00:2::2', 7002))`; a UDP socket in svcp-srv",
              "is bound to [fd00:2::2]:7002."]),
    dict(name="IPV4_ICMP_ECHO_REQUEST", cap=SRV,
         flt="ip.dst==10.0.2.2 && icmp.type==8 && ip.len==52",
         how=["Step 4 of capture.sh: `ping -q -c1 -W2 -s 24 -p 73766370 10.0.2.2` in svcp-cli",
              "(iputils; 24 data bytes = 16-byte timeval + the pattern `svcp` twice)."]),
    dict(name="IPV4_ICMP_ECHO_REPLY", cap=CLI,
         flt="ip.dst==10.0.1.2 && icmp.type==0 && ip.len==52",
         how=["Step 4 of capture.sh: the server kernel's reply to `IPV4_ICMP_ECHO_REQUEST`,",
              "forwarded by the router."]),
    dict(name="IPV6_ICMP_ECHO_REQUEST", cap=SRV,
         flt="ipv6.dst==fd00:2::2 && icmpv6.type==128 && ipv6.plen==32",
         how=["Step 4 of capture.sh: `ping -q -6 -c1 -W2 -s 24 -p 73766370 fd00:2::2` in svcp-cli."]),
    dict(name="IPV6_ICMP_ECHO_REPLY", cap=CLI,
         flt="ipv6.dst==fd00:1::2 && icmpv6.type==129 && ipv6.plen==32",
         how=["Step 4 of capture.sh: the server kernel's reply to `IPV6_ICMP_ECHO_REQUEST`,",
              "forwarded by the router."]),
    dict(name="IPV4_ICMP_PORT_UNREACHABLE", cap=CLI,
         flt="ip.dst==10.0.1.2 && icmp.type==3 && icmp.code==3",
         how=["Step 5 of capture.sh: a python3 UDP socket in svcp-cli bound to 10.0.1.2:40005",
              "does `sendto(b'closed port 4\\n', ('10.0.2.2', 7005))`; nothing listens on 7005",
              "so the server kernel answers with port unreachable, quoting the whole datagram",
              "(as it arrived at the server: TTL 63). Forwarded by the router (TTL 64 -> 63)."]),
    dict(name="IPV6_ICMP_PORT_UNREACHABLE", cap=CLI,
         flt="ipv6.dst==fd00:1::2 && icmpv6.type==1 && icmpv6.code==4",
         how=["Step 5 of capture.sh: a python3 UDP socket in svcp-cli bound to [fd00:1::2]:40006",
              "does `sendto(b'closed port 6\\n', ('fd00:2::2', 7005))`; the server kernel answers",
              "with ICMPv6 port unreachable quoting the whole datagram (hop limit 63)."]),
    dict(name="IPV4_ICMP_FRAG_NEEDED", cap=CLI,
         flt="ip.dst==10.0.1.2 && icmp.type==3 && icmp.code==4",
         origin=(CLI, "!icmp && ip.src==10.0.1.2 && ip.len==1328 && udp.srcport==40009"),
         how=["Step 6a of capture.sh: a python3 UDP socket in svcp-cli bound to 10.0.1.2:40009",
              "with `setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)` (DF=1) sends a",
              "1300-byte payload (`bytes(range(256))*5 + bytes(20)`) to 10.0.2.2:7006: a 1328-byte",
              "packet. The router's link r1 towards the server has MTU 1280, so the router kernel",
              "answers \"fragmentation needed\" with next-hop MTU 1280, from 10.0.1.1, quoting the",
              "first 548 bytes of the packet (Linux caps ICMPv4 errors at 576 bytes)."]),
    dict(name="IPV6_ICMP_PACKET_TOO_BIG", cap=CLI,
         flt="ipv6.dst==fd00:1::2 && icmpv6.type==2",
         origin=(CLI, "!icmpv6 && ipv6.src==fd00:1::2 && ipv6.plen==1308 && udp.srcport==40010"),
         how=["Step 6b of capture.sh: a python3 UDP socket in svcp-cli bound to [fd00:1::2]:40010",
              "sends a 1300-byte payload (`bytes(range(256))*5 + bytes(20)`) to [fd00:2::2]:7008:",
              "a 1348-byte packet. The router's link r1 has MTU 1280, so the router kernel answers",
              "ICMPv6 packet too big, MTU 1280, from fd00:1::1, quoting the first 1232 bytes of",
              "the packet (ICMPv6 errors are capped at 1280 bytes)."]),
    dict(name="IPV4_ICMP_TIME_EXCEEDED", cap=CLI,
         flt="ip.dst==10.0.1.2 && icmp.type==11",
         how=["Step 7 of capture.sh: a python3 UDP socket in svcp-cli bound to 10.0.1.2:40011",
              "with `setsockopt(IPPROTO_IP, IP_TTL, 1)` sends `b'ttl 1\\n'` to 10.0.2.2:7007; the",
              "router kernel answers time exceeded in transit from 10.0.1.1, quoting the whole",
              "datagram (TTL 1)."]),
    dict(name="IPV6_ICMP_TIME_EXCEEDED", cap=CLI,
         flt="ipv6.dst==fd00:1::2 && icmpv6.type==3",
         how=["Step 7 of capture.sh: a python3 UDP socket in svcp-cli bound to [fd00:1::2]:40012",
              "with `setsockopt(IPPROTO_IPV6, IPV6_UNICAST_HOPS, 1)` sends `b'hlim 1\\n'` to",
              "[fd00:2::2]:7007; the router kernel answers hop limit exceeded in transit from",
              "fd00:1::1, quoting the whole datagram."]),
    dict(name="IPV4_UDP_FRAG_FIRST", cap=SRV, pair="IPV4_UDP_FRAG_LAST",
         flt=f"{NOT_ICMP} && ip.dst==10.0.2.2 && ip.flags.mf==1 && ip.frag_offset==0",
         how=["Step 8a of capture.sh: a python3 UDP socket in svcp-cli bound to 10.0.1.2:40008",
              "with `setsockopt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)` (DF=0) sends a",
              "1300-byte payload (`bytes(range(256))*5 + bytes(20)`) to 10.0.2.2:7008 (a UDP",
              "socket listens there). The 1328-byte packet leaves the client whole; the router",
              "kernel fragments it for the 1280-MTU link r1: this first fragment (MF=1, offset 0)",
              "holds the UDP header and 1248 payload bytes."]),
    dict(name="IPV4_UDP_FRAG_LAST", cap=SRV, pair="IPV4_UDP_FRAG_FIRST",
         flt=f"{NOT_ICMP} && ip.dst==10.0.2.2 && ip.flags.mf==0 && ip.frag_offset>0",
         how=["Step 8a of capture.sh: the second and last fragment (MF=0, offset 1256 bytes) of",
              "the datagram of `IPV4_UDP_FRAG_FIRST`, made by the router kernel."]),
    dict(name="IPV6_UDP_FRAG_FIRST", cap=SRV, pair="IPV6_UDP_FRAG_LAST",
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && ipv6.fraghdr.more==1 && ipv6.fraghdr.offset==0",
         how=["Step 6b/8b of capture.sh: after the packet too big of `IPV6_ICMP_PACKET_TOO_BIG`,",
              "the same socket ([fd00:1::2]:40010) sends the same 1300-byte payload to",
              "[fd00:2::2]:7008 again (a UDP socket listens there); the client kernel now knows the",
              "path MTU 1280 and fragments it itself: this first fragment (M=1, offset 0) holds",
              "the UDP header and 1224 payload bytes after a fragment header."]),
    dict(name="IPV6_UDP_FRAG_LAST", cap=SRV, pair="IPV6_UDP_FRAG_FIRST",
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && ipv6.fraghdr.more==0 && ipv6.fraghdr.offset>0",
         how=["Step 8b of capture.sh: the second and last fragment (M=0, offset 1232 bytes) of",
              "the datagram of `IPV6_UDP_FRAG_FIRST`, made by the client kernel."]),
    dict(name="IPV4_SCTP_INIT", cap=SRV,
         flt=f"{NOT_ICMP} && ip.dst==10.0.2.2 && sctp.chunk_type==1",
         how=["Step 9 of capture.sh. NOT a kernel SCTP stack: this kernel has no SCTP",
              "(`CONFIG_IP_SCTP` is not set, `modprobe sctp` fails, `socket(AF_INET, SOCK_STREAM,",
              "IPPROTO_SCTP)` gives EPROTONOSUPPORT). The SCTP common header and INIT chunk",
              "were built by scapy 2.5.0 (`SCTP(sport=40013, dport=7009, tag=0) /",
              "SCTPChunkInit(init_tag=0x5356434c, a_rwnd=106496, n_out_streams=10,",
              "n_in_streams=65535, init_tsn=0x0c0ffee0, params=[SupportedAddrTypes(5, 6)])`,",
              "scapy computing the CRC32c) and sent from svcp-cli through a raw socket",
              "`socket(AF_INET, SOCK_RAW, 132)` to 10.0.2.2, so the IPv4 header is the client",
              "kernel's. tshark with `sctp.checksum:CRC 32c` confirms scapy's CRC32c."]),
    dict(name="IPV6_SCTP_INIT", cap=SRV,
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && sctp.chunk_type==1",
         how=["Step 9 of capture.sh. NOT a kernel SCTP stack (see `IPV4_SCTP_INIT`): common",
              "header + INIT chunk built by scapy 2.5.0 (sport 40014, otherwise as",
              "`IPV4_SCTP_INIT`), sent from svcp-cli through `socket(AF_INET6, SOCK_RAW, 132)` to",
              "fd00:2::2, so the IPv6 header is the client kernel's. tshark with",
              "`sctp.checksum:CRC 32c` confirms scapy's CRC32c."]),
    dict(name="IPV4_ICMP_PROTO_UNREACHABLE", cap=CLI,
         flt="ip.dst==10.0.1.2 && icmp.type==3 && icmp.code==2",
         how=["Step 9 of capture.sh: the server kernel (no SCTP) answers `IPV4_SCTP_INIT` with",
              "protocol unreachable, quoting the whole SCTP packet (TTL 63). Kernel-generated."]),
    dict(name="IPV6_ICMP_PARAM_PROBLEM_NEXT_HEADER", cap=CLI,
         flt="ipv6.dst==fd00:1::2 && icmpv6.type==4 && icmpv6.code==1",
         how=["Step 9 of capture.sh: the server kernel (no SCTP) answers `IPV6_SCTP_INIT` with",
              "ICMPv6 parameter problem, unrecognized next header, pointer 6 (the next header",
              "field), quoting the whole SCTP packet. Kernel-generated."]),
    dict(name="IPV6_HOPOPTS_UDP", cap=SRV,
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && ipv6.hopopts && udp.dstport==7012",
         how=["Step 10 of capture.sh: a python3 UDP socket in svcp-cli bound to [fd00:1::2]:40015",
              "with `setsockopt(IPPROTO_IPV6, IPV6_HOPOPTS (54), bytes([0, 0, 1, 4, 0, 0, 0, 0]))`",
              "sends `b'svcplane hbh\\n'` to [fd00:2::2]:7012 (a UDP socket listens there): the",
              "client kernel inserts an 8-byte hop-by-hop header (one PadN option) before UDP."]),
    dict(name="IPV6_DSTOPTS_UDP", cap=SRV,
         flt=f"{NOT_ICMP} && ipv6.dst==fd00:2::2 && ipv6.dstopts && udp.dstport==7013",
         how=["Step 10 of capture.sh: a python3 UDP socket in svcp-cli bound to [fd00:1::2]:40016",
              "with `setsockopt(IPPROTO_IPV6, IPV6_DSTOPTS (59), bytes([0, 1, 1, 12]) + bytes(12))`",
              "sends `b'svcplane dstopt\\n'` to [fd00:2::2]:7013 (a UDP socket listens there):",
              "the client kernel inserts a 16-byte destination options header (one PadN option)",
              "before UDP."]),
]

# ------------------------------------------------------------------ pcap io --

def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        e = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        e = ">"
    else:
        raise SystemExit(f"{path}: not a classic pcap (nanosecond or pcapng not handled)")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    if linktype != 1:
        raise SystemExit(f"{path}: linktype {linktype}, expected Ethernet (1)")
    frames, off = [], 24
    while off < len(data):
        ts_s, ts_us, incl, orig = struct.unpack(e + "IIII", data[off:off + 16])
        if incl != orig:
            raise SystemExit(f"{path}: frame {len(frames) + 1} truncated by the capture")
        frames.append((ts_s, ts_us, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return frames


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for ts_s, ts_us, b in frames:
            f.write(struct.pack("<IIII", ts_s, ts_us, len(b), len(b)))
            f.write(b)


def tshark(args):
    out = subprocess.run(["tshark"] + args, check=True, capture_output=True, text=True)
    return out.stdout


def select(pcap, flt):
    nums = [int(x) for x in tshark(["-r", pcap] + TSHARK_PREFS +
                                  ["-Y", flt, "-T", "fields", "-e", "frame.number"]).split()]
    if len(nums) != 1:
        raise SystemExit(f"filter {flt!r} on {pcap} matched frames {nums}, expected exactly one")
    return nums[0]


def l3_of(frame):
    ethertype = struct.unpack("!H", frame[12:14])[0]
    l3 = frame[14:]
    if ethertype == 0x0800:
        assert l3[0] >> 4 == 4
        total = struct.unpack("!H", l3[2:4])[0]
    elif ethertype == 0x86DD:
        assert l3[0] >> 4 == 6
        total = 40 + struct.unpack("!H", l3[4:6])[0]
    else:
        raise SystemExit(f"unexpected ethertype {ethertype:#x}")
    if total != len(l3):
        raise SystemExit(f"L3 length {len(l3)} != header length {total} (padding?)")
    return l3

# --------------------------------------------------------- tshark verdicts --

STATUS = {"0": "Bad", "1": "Good", "2": "Unverified", "3": "Not present", "4": "Illegal"}
PROTOS = ("ip", "ipv6", "tcp", "udp", "icmp", "icmpv6", "sctp")


def pairs_hook(pairs):
    d = {}
    for k, v in pairs:
        d.setdefault(k, []).append(v)
    return d


def walk(node, path, out, flags):
    if isinstance(node, list):
        for n in node:
            walk(n, path, out, flags)
        return
    if not isinstance(node, dict):
        return
    for k, vs in node.items():
        for v in vs:
            if k in PROTOS:
                walk(v, path + [k], out, flags)
            elif k.endswith("checksum.status") or k.endswith("checksum_status"):
                out.append(("/".join(path), STATUS.get(v, v)))
            elif k == "_ws.malformed":
                flags.append("malformed")
            elif k == "_ws.expert.severity" and int(v) >= 0x00800000:
                flags.append("expert error")
            else:
                walk(v, path, out, flags)


def verdicts(pcap, frame_no):
    js = json.loads(tshark(["-r", pcap] + TSHARK_PREFS + ["-T", "json"]),
                    object_pairs_hook=pairs_hook)
    pkt = js[frame_no - 1]
    out, flags = [], []
    walk(pkt, [], out, flags)
    if flags:
        raise SystemExit(f"{pcap} frame {frame_no}: tshark reports {flags}")
    return out

# ----------------------------------------------------------------- summary --

ICMP4 = {(0, 0): "echo reply", (8, 0): "echo request",
         (3, 3): "destination unreachable / port unreachable",
         (3, 2): "destination unreachable / protocol unreachable",
         (3, 4): "destination unreachable / fragmentation needed",
         (11, 0): "time exceeded / TTL exceeded in transit"}
ICMP6 = {(128, 0): "echo request", (129, 0): "echo reply",
         (1, 4): "destination unreachable / port unreachable",
         (2, 0): "packet too big", (3, 0): "time exceeded / hop limit exceeded in transit",
         (4, 1): "parameter problem / unrecognized next header"}
TCPFLAGS = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]
TCPOPTS = {0: "EOL", 1: "NOP", 2: "MSS", 3: "WS", 4: "SACK_PERM", 5: "SACK", 8: "TS"}


def tcp_opts(opts):
    names, i = [], 0
    while i < len(opts):
        k = opts[i]
        names.append(TCPOPTS.get(k, str(k)))
        if k in (0, 1):
            i += 1
        else:
            i += opts[i + 1]
    return ",".join(names)


def summarize(b, quoted=False):
    """One-line summary of an L3 packet (possibly a truncated ICMP quote)."""
    v = b[0] >> 4
    parts = []
    if v == 4:
        ihl = (b[0] & 15) * 4
        total, ident, fo, ttl, proto = struct.unpack("!HHHBB", b[2:10])
        src, dst = ipaddress.ip_address(b[12:16]), ipaddress.ip_address(b[16:20])
        df, mf, off = bool(fo & 0x4000), bool(fo & 0x2000), (fo & 0x1FFF) * 8
        ipinfo = f"IPv4 len {total} id {ident:#06x}{' DF' if df else ''}{' MF' if mf else ''}" \
                 f"{f' frag offset {off}' if off else ''} TTL {ttl}"
        l4, rest, nh = b[ihl:], None, proto
        if off:
            return f"{ipinfo}, {src} -> {dst}, non-first fragment of proto {proto}, " \
                   f"{len(l4)} bytes of fragment data"
        sa, da = str(src), str(dst)
    else:
        plen, nh, hlim = struct.unpack("!HBB", b[4:8])
        src, dst = ipaddress.ip_address(b[8:24]), ipaddress.ip_address(b[24:40])
        ipinfo = f"IPv6 payload len {plen} hop limit {hlim}"
        l4, exts = b[40:], []
        while nh in (0, 43, 44, 60):
            if nh == 44:
                fo, ident = struct.unpack("!HI", l4[2:8])
                off, m = fo & 0xFFF8, fo & 1
                exts.append(f"fragment hdr (id {ident:#010x} offset {off} M={m})")
                nh, l4 = l4[0], l4[8:]
                if off:
                    ipinfo += ", " + ", ".join(exts)
                    return f"{ipinfo}, {src} -> {dst}, non-first fragment of next header {nh}, " \
                           f"{len(l4)} bytes of fragment data"
                continue
            hl = (l4[1] + 1) * 8
            exts.append({0: "hop-by-hop", 60: "destination options", 43: "routing"}[nh]
                        + f" hdr ({hl} bytes)")
            nh, l4 = l4[0], l4[hl:]
        if exts:
            ipinfo += ", " + ", ".join(exts)
        sa, da = f"[{src}]", f"[{dst}]"
    if nh == 6:
        sp, dp, seq, ack, offfl = struct.unpack("!HHIIH", l4[:14])
        hl = (offfl >> 12) * 4
        flags = "|".join(f for i, f in enumerate(TCPFLAGS) if offfl & (1 << i))
        opts = tcp_opts(l4[20:hl]) if len(l4) >= hl else "?"
        pay = f", {len(l4) - hl} payload bytes" if not quoted else ""
        return f"{ipinfo}, TCP {sa}:{sp} -> {da}:{dp} {flags} options {opts}{pay}"
    if nh == 17:
        sp, dp, ulen, ck = struct.unpack("!HHHH", l4[:8])
        holder = "quote" if quoted else "this fragment"
        trunc = f" ({holder} holds {len(l4) - 8} of {ulen - 8} payload bytes)" \
            if len(l4) < ulen else ""
        return f"{ipinfo}, UDP {sa}:{sp} -> {da}:{dp} length {ulen} checksum {ck:#06x}{trunc}"
    if nh == 132:
        sp, dp, vtag = struct.unpack("!HHI", l4[:8])
        ct = l4[12]
        return f"{ipinfo}, SCTP {sa}:{sp} -> {da}:{dp} vtag {vtag:#x} chunk type {ct}" \
               f"{' (INIT)' if ct == 1 else ''}"
    if nh in (1, 58):
        t, c = l4[0], l4[1]
        name = (ICMP4 if nh == 1 else ICMP6).get((t, c), "?")
        kind = "ICMPv4" if nh == 1 else "ICMPv6"
        s = f"{ipinfo}, {kind} {sa} -> {da} type {t} code {c} ({name})"
        if (nh == 1 and t in (0, 8)) or (nh == 58 and t in (128, 129)):
            ident, seq = struct.unpack("!HH", l4[4:8])
            return s + f" id {ident:#06x} seq {seq}, {len(l4) - 8} data bytes"
        if nh == 1 and (t, c) == (3, 4):
            s += f" next-hop MTU {struct.unpack('!H', l4[6:8])[0]}"
        if nh == 58 and t == 2:
            s += f" MTU {struct.unpack('!I', l4[4:8])[0]}"
        if nh == 58 and t == 4:
            s += f" pointer {struct.unpack('!I', l4[4:8])[0]}"
        return s + f"; quoting {{{summarize(l4[8:], quoted=True)}}}"
    return f"{ipinfo}, next header {nh}"

# -------------------------------------------------------------------- main --

def main():
    work, outdir = sys.argv[1], sys.argv[2]
    caps = {c: read_pcap(os.path.join(work, c + ".pcap")) for c in ("cli", "srv")}
    pcapdir = os.path.join(outdir, "pcaps")
    os.makedirs(pcapdir, exist_ok=True)
    tsv = tshark(["--version"]).splitlines()[0].rstrip(".")
    tdv = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True)
    tdv = (tdv.stdout + tdv.stderr).splitlines()[0]
    uname = os.uname()

    picked = {}
    for fx in FIXTURES:
        cap = fx["cap"][0]
        n = select(os.path.join(work, cap + ".pcap"), fx["flt"])
        picked[fx["name"]] = caps[cap][n - 1]

    for fx in FIXTURES:
        name, frame = fx["name"], picked[fx["name"]]
        one = os.path.join(pcapdir, name.lower() + ".pcap")
        write_pcap(one, [frame])
        fx["l3"] = l3_of(frame[2])
        v = verdicts(one, 1)
        notes = []
        for layer, st in v:
            if st == "Bad" or st == "Illegal":
                raise SystemExit(f"{name}: {layer} checksum {st}")
        if "pair" in fx:
            other = picked[fx["pair"]]
            both = sorted([frame, other], key=lambda f: (f[0], f[1]))
            pp = os.path.join(work, name + ".pair.pcap")
            write_pcap(pp, both)
            last = verdicts(pp, 2)
            udp = [st for layer, st in last if layer.endswith("udp")]
            if udp != ["Good"]:
                raise SystemExit(f"{name}: reassembled UDP checksum {udp}")
            notes.append(f"UDP checksum of the datagram reassembled from this fragment and "
                         f"`{fx['pair']}`: Good")
        if "origin" in fx:
            ocap, oflt = fx["origin"]
            on = select(os.path.join(work, ocap[0] + ".pcap"), oflt)
            orig = caps[ocap[0]][on - 1]
            op = os.path.join(work, name + ".origin.pcap")
            write_pcap(op, [orig])
            ov = verdicts(op, 1)
            ol3 = l3_of(orig[2])
            hl = 20 if ol3[0] >> 4 == 4 else 40
            ock = ol3[hl + 6:hl + 8]
            ql3 = fx["l3"][(20 if fx["l3"][0] >> 4 == 4 else 40) + 8:]
            qck = ql3[hl + 6:hl + 8]
            if ock != qck or [s for l, s in ov if l.endswith("udp")] != ["Good"]:
                raise SystemExit(f"{name}: quoted UDP checksum {qck.hex()} vs original {ock.hex()} {ov}")
            notes.append(f"the quoted (truncated) UDP checksum 0x{qck.hex()} equals that of the "
                         f"original 1300-byte-payload datagram, taken leaving the client on c0 "
                         f"(offload off), which tshark validates as Good")
        fx["verdict"] = ", ".join(f"{layer} {st}" for layer, st in v) or \
            "none on its own (IPv6 has no header checksum; UDP is checked on reassembly)"
        fx["notes"] = notes
        fx["summary"] = summarize(fx["l3"])

    lines = []
    w = lines.append
    w("#![allow(dead_code)]")
    w("//! Raw L3 packets (starting at the IPv4/IPv6 header, no link-layer header) captured")
    w("//! from real Linux kernel traffic, for use as known-good test inputs.")
    w("//!")
    w("//! GENERATED by `tests/captures/capture.sh` (with `gen_fixtures.py`); do not edit by")
    w("//! hand, rerun the script as root instead. Timestamps, TCP sequence numbers, IP IDs,")
    w("//! ping identifiers and hence checksums differ from run to run; addresses, ports,")
    w("//! payloads and sizes do not.")
    w("//!")
    w("//! Topology (three network namespaces made by the script, nothing outside them):")
    w("//!")
    w("//! ```text")
    w("//! svcp-cli                 svcp-rtr (ip_forward=1, ipv6 forwarding=1)   svcp-srv")
    w("//! c0 10.0.1.2/24  <-veth->  r0 10.0.1.1/24   r1 10.0.2.1/24  <-veth->  s0 10.0.2.2/24")
    w("//!    fd00:1::2/64              fd00:1::1/64     fd00:2::1/64              fd00:2::2/64")
    w("//!    mtu 1500                  mtu 1500         mtu 1280                  mtu 1280")
    w("//! ```")
    w("//!")
    w("//! Checksum offload, TSO, GSO and GRO are off on all four veths")
    w("//! (`ethtool -K DEV tx off rx off tso off gso off gro off`), ICMP rate limits are 0 in")
    w("//! every namespace, and every packet was taken on its receiving side: with")
    w("//! `tcpdump -i c0 -s 0` in svcp-cli for packets arriving at the client, or")
    w("//! `tcpdump -i s0 -s 0` in svcp-srv for packets arriving at the server. The 14-byte")
    w("//! Ethernet header was removed and nothing else; each packet's length equals its IP")
    w("//! header's length (no padding, no truncation other than what ICMP errors quote).")
    w("//!")
    w(f"//! Captured on Linux {uname.release} ({uname.machine}), Debian")
    w(f"//! {open('/etc/debian_version').read().strip()}, {tdv}, {tsv}.")
    w("//! Every checksum was checked with")
    w(f"//! `tshark -V {TSHARK_PREFS_TEXT}`")
    w("//! (ICMP and ICMPv6 checksums are always checked); each constant lists the verdicts")
    w("//! by layer (`icmp/ip` = the IPv4 header quoted inside the ICMP message); none is Bad.")
    w("//! `Unverified` appears only for a quoted UDP header whose datagram the quote")
    w("//! truncates (that checksum was compared with the original datagram's instead). A")
    w("//! fragment's UDP checksum was checked by tshark on the datagram reassembled from")
    w("//! both fragments.")
    w("//! `tests/captures/pcaps/NAME.pcap` holds each packet as captured (with Ethernet).")
    w("//!")
    w("//! SCTP exception: this kernel has no SCTP, so the SCTP parts of `IPV4_SCTP_INIT` and")
    w("//! `IPV6_SCTP_INIT` were built by scapy (CRC32c validated by tshark); their IP headers")
    w("//! and everything else here come from the kernel.")
    for fx in FIXTURES:
        l3 = fx["l3"]
        w("")
        w(f"/// {fx['summary']}.")
        w("///")
        w(f"/// {len(l3)} bytes, captured {fx['cap'][1]}.")
        for h in fx["how"]:
            w(f"/// {h}")
        w("///")
        w(f"/// tshark checksum verdicts: {fx['verdict']}.")
        for n in fx["notes"]:
            w(f"/// Also: {n}.")
        w(f"pub const {fx['name']}: &[u8] = &[")
        for i in range(0, len(l3), 16):
            w("    " + " ".join(f"0x{x:02x}," for x in l3[i:i + 16]))
        w("];")
    # Bracketed IPv6 addresses would read as (broken) intra-doc links: code-span them.
    v6ref = re.compile(r"(?<!`)\[(fd00:[0-9a-f:]+)\](:\d+)?")
    lines = [v6ref.sub(lambda m: f"`{m.group(0)}`", l) if l.startswith("///") else l
             for l in lines]
    with open(os.path.join(outdir, "mod.rs"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for fx in FIXTURES:
        print(f"{fx['name']:40} {len(fx['l3']):5}  {fx['verdict']}")


if __name__ == "__main__":
    main()
