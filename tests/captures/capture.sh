#!/usr/bin/env bash
# Regenerates tests/captures/mod.rs and tests/captures/pcaps/*.pcap from real
# packets captured inside three throw-away network namespaces:
#
#   svcp-cli (client)            svcp-rtr (router)                 svcp-srv (server)
#   c0 10.0.1.2/24   <--veth-->  r0 10.0.1.1/24  r1 10.0.2.1/24  <--veth-->  s0 10.0.2.2/24
#      fd00:1::2/64                 fd00:1::1/64     fd00:2::1/64               fd00:2::2/64
#      mtu 1500                     mtu 1500         mtu 1280                   mtu 1280
#
# The router forwards IPv4 and IPv6; the far link (r1 <-> s0) has MTU 1280 so
# that the router emits ICMPv4 "fragmentation needed" / ICMPv6 "packet too big"
# and fragments DF=0 IPv4 datagrams. Checksum offload (and TSO/GSO/GRO) is
# switched off on all four veths with ethtool, and every packet is taken from a
# capture on the RECEIVING side (tcpdump on c0 for packets that arrive at the
# client, on s0 for packets that arrive at the server), so all checksums in the
# captures are the ones that went over the wire.
#
# Traffic only ever flows between the addresses above, inside namespaces this
# script creates; the namespaces have no route anywhere else. The namespaces
# (and the tcpdump processes in them) are removed on exit, whatever happens.
#
# The captures are then cut into one packet each, checked with tshark (every
# checksum must be Good) and written out by gen_fixtures.py beside this script.
#
# Needs: root, iproute2, ethtool, tcpdump, tshark,
# iputils-ping, netcat-openbsd, python3 with scapy (Debian python3-scapy).
#   DEBIAN_FRONTEND=noninteractive apt-get install -y tcpdump tshark iproute2 \
#       iputils-ping netcat-openbsd python3-scapy ethtool
#
# Usage: sudo tests/captures/capture.sh     (writes mod.rs and pcaps/ beside it)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
C=svcp-cli
R=svcp-rtr
S=svcp-srv
WORK=$(mktemp -d /tmp/svcp-captures.XXXXXX)
PIDS=()

# A python3 that has scapy (Debian's python3-scapy lives in /usr/bin/python3).
PY=""
for cand in "${PYTHON:-}" /usr/bin/python3 python3; do
    [ -n "$cand" ] || continue
    if "$cand" -c 'import scapy.all' >/dev/null 2>&1; then PY=$cand; break; fi
done
[ -n "$PY" ] || { echo "need python3 with scapy (apt-get install python3-scapy)" >&2; exit 1; }

cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    # Anything else still running inside our namespaces was started by this
    # script: end it by pid before deleting the namespaces.
    for ns in $C $R $S; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null; done
    done
    for ns in $C $R $S; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Foreground helpers. Background jobs call `ip netns exec` directly so that $!
# is the pid of the process itself (ip execs it) and can be killed by pid.
inc() { ip netns exec $C "$@"; }
inr() { ip netns exec $R "$@"; }
ins() { ip netns exec $S "$@"; }

# ---------------------------------------------------------------- topology --
for ns in $C $R $S; do ip netns del "$ns" 2>/dev/null || true; done
for ns in $C $R $S; do ip netns add "$ns"; done

ip link add c0 netns $C type veth peer name r0 netns $R
ip link add s0 netns $S type veth peer name r1 netns $R

for ns in $C $R $S; do
    ip netns exec "$ns" ip link set lo up
    # ICMP errors must not be rate limited, and no IPv6 autoconf noise.
    ip netns exec "$ns" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0 \
        net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0
done
inr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

inc ip addr add 10.0.1.2/24 dev c0
inc ip addr add fd00:1::2/64 dev c0 nodad
inr ip addr add 10.0.1.1/24 dev r0
inr ip addr add fd00:1::1/64 dev r0 nodad
inr ip addr add 10.0.2.1/24 dev r1
inr ip addr add fd00:2::1/64 dev r1 nodad
ins ip addr add 10.0.2.2/24 dev s0
ins ip addr add fd00:2::2/64 dev s0 nodad

inr ip link set r1 mtu 1280
ins ip link set s0 mtu 1280

for pair in "$C c0" "$R r0" "$R r1" "$S s0"; do
    set -- $pair
    ip netns exec "$1" ethtool -K "$2" tx off rx off tso off gso off gro off >/dev/null 2>&1 || \
        ip netns exec "$1" ethtool -K "$2" tx off rx off
    ip netns exec "$1" ip link set "$2" up
done

inc ip route add 10.0.2.0/24 via 10.0.1.1
inc ip -6 route add fd00:2::/64 via fd00:1::1
ins ip route add 10.0.1.0/24 via 10.0.2.1
ins ip -6 route add fd00:1::/64 via fd00:2::1
sleep 1

# ----------------------------------------------------------------- capture --
ip netns exec $C tcpdump -i c0 -n -U -s 0 -Z root -w "$WORK/cli.pcap" 2>"$WORK/tcpdump-cli.log" &
PIDS+=($!)
ip netns exec $S tcpdump -i s0 -n -U -s 0 -Z root -w "$WORK/srv.pcap" 2>"$WORK/tcpdump-srv.log" &
PIDS+=($!)
for i in $(seq 50); do
    grep -q listening "$WORK/tcpdump-cli.log" && grep -q listening "$WORK/tcpdump-srv.log" && break
    sleep 0.1
done

# Neighbour resolution first, so that nothing later waits on ARP/ND.
inc ping -q -c1 -W2 10.0.2.2 >/dev/null
inc ping -q -6 -c1 -W2 fd00:2::2 >/dev/null

# UDP sink on the server: binds the "open" UDP ports on IPv4 and IPv6 and
# drains them for a while (so datagrams to them draw no port unreachable).
cat >"$WORK/sink.py" <<'EOF'
import socket, select, time
socks = []
for port in (7002, 7008, 7012, 7013):
    for fam, addr in ((socket.AF_INET, "10.0.2.2"), (socket.AF_INET6, "fd00:2::2")):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((addr, port))
        socks.append(s)
end = time.time() + 25
while time.time() < end:
    r, _, _ = select.select(socks, [], [], 0.2)
    for s in r:
        s.recv(65535)
EOF
ip netns exec $S "$PY" "$WORK/sink.py" &
PIDS+=($!)
sleep 0.5

# Helper: send one UDP datagram from the client namespace.
#   udpsend FAMILY DST DPORT SPORT PAYLOAD_SPEC [OPTION...]
# PAYLOAD_SPEC is a python expression for the bytes; options are python
# statements run on the socket `s` before sendto.
udpsend() {
    local fam=$1 dst=$2 dport=$3 sport=$4 payload=$5; shift 5
    local opts="${*:-pass}"
    inc "$PY" -c "
import socket
fam = socket.AF_INET if '$fam' == '4' else socket.AF_INET6
s = socket.socket(fam, socket.SOCK_DGRAM)
s.bind(('10.0.1.2' if '$fam' == '4' else 'fd00:1::2', $sport))
$opts
s.sendto($payload, ('$dst', $dport))
"
}

# 1. TCP over IPv4 and IPv6: a Linux SYN (MSS, SACK_PERM, TS, WS options) and
#    one data segment, from nc (netcat-openbsd) to an nc listener.
for v in 4 6; do
    if [ $v = 4 ]; then dst=10.0.2.2; sport=40001; else dst=fd00:2::2; sport=40002; fi
    ip netns exec $S timeout 5 nc -$v -l "$dst" 7001 >/dev/null &
    lpid=$!
    sleep 0.5
    printf 'svcplane tcp%s\n' $v | inc timeout 5 nc -$v -N -w 2 -p $sport "$dst" 7001
    wait $lpid || true
    sleep 0.3
done

# 2./3. UDP over IPv4 and IPv6, to the sink.
udpsend 4 10.0.2.2 7002 40003 "b'svcplane udp4\n'"
udpsend 6 fd00:2::2 7002 40004 "b'svcplane udp6\n'"
sleep 0.3

# 4. ping: echo request (taken at the server) and echo reply (taken at the client).
inc ping -q -c1 -W2 -s 24 -p 73766370 10.0.2.2 >/dev/null
inc ping -q -6 -c1 -W2 -s 24 -p 73766370 fd00:2::2 >/dev/null
sleep 0.3

# 5. UDP to a closed port: the server's kernel answers with port unreachable.
udpsend 4 10.0.2.2 7005 40005 "b'closed port 4\n'"
udpsend 6 fd00:2::2 7005 40006 "b'closed port 6\n'"
sleep 0.3

# 8a. IPv4 fragments: 1300-byte UDP payload with DF=0 (IP_PMTUDISC_DONT).
#     The 1328-byte packet fits the client's 1500 link; the router fragments it
#     for the 1280-MTU far link.
udpsend 4 10.0.2.2 7008 40008 "bytes(range(256))*5 + bytes(20)" \
    "s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT"
sleep 0.3

# 6a. ICMPv4 fragmentation needed: same size, DF=1 (IP_PMTUDISC_DO).
udpsend 4 10.0.2.2 7006 40009 "bytes(range(256))*5 + bytes(20)" \
    "s.setsockopt(socket.IPPROTO_IP, 10, 2)  # IP_MTU_DISCOVER = IP_PMTUDISC_DO"
sleep 0.3

# 6b./8b. IPv6: a 1348-byte UDP packet draws ICMPv6 packet too big (MTU 1280)
#     from the router; the client then fragments the same datagram, sent again
#     from the same socket, into a first and a last fragment.
inc "$PY" -c "
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(('fd00:1::2', 40010))
data = bytes(range(256))*5 + bytes(20)
s.sendto(data, ('fd00:2::2', 7008))
time.sleep(0.5)
try:
    s.sendto(data, ('fd00:2::2', 7008))
except OSError:          # EMSGSIZE is reported once after the PTB; retry
    s.sendto(data, ('fd00:2::2', 7008))
"
sleep 0.3

# 7. TTL / hop limit 1: the router answers with time exceeded.
udpsend 4 10.0.2.2 7007 40011 "b'ttl 1\n'" \
    "s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, 1)"
udpsend 6 fd00:2::2 7007 40012 "b'hlim 1\n'" \
    "s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 1)"
sleep 0.3

# 9. SCTP INIT. This kernel has no SCTP (CONFIG_IP_SCTP unset, no module), so
#    the SCTP common header + INIT chunk is built by scapy (which computes the
#    CRC32c) and sent through a raw socket (IPPROTO_SCTP): the IP header is the
#    client kernel's. The server kernel, lacking SCTP, answers with ICMPv4
#    protocol unreachable / ICMPv6 parameter problem (unrecognized next header).
inc "$PY" - <<'EOF'
import socket
from scapy.layers.sctp import SCTP, SCTPChunkInit, SCTPChunkParamSupportedAddrTypes
for fam, dst, sport in ((socket.AF_INET, "10.0.2.2", 40013),
                        (socket.AF_INET6, "fd00:2::2", 40014)):
    init = SCTP(sport=sport, dport=7009, tag=0) / SCTPChunkInit(
        init_tag=0x5356434c, a_rwnd=106496, n_out_streams=10,
        n_in_streams=65535, init_tsn=0x0c0ffee0,
        params=[SCTPChunkParamSupportedAddrTypes(addr_type_list=[5, 6])])
    s = socket.socket(fam, socket.SOCK_RAW, 132)
    s.sendto(bytes(init), (dst, 0))
EOF
sleep 0.3

# 10. IPv6 extension headers before UDP, set by the client kernel through the
#     IPV6_HOPOPTS (54) / IPV6_DSTOPTS (59) socket options:
#     hop-by-hop = PadN(4) (8 bytes); destination options = PadN(12) (16 bytes).
udpsend 6 fd00:2::2 7012 40015 "b'svcplane hbh\n'" \
    "s.setsockopt(socket.IPPROTO_IPV6, 54, bytes([0, 0, 1, 4, 0, 0, 0, 0]))"
udpsend 6 fd00:2::2 7013 40016 "b'svcplane dstopt\n'" \
    "s.setsockopt(socket.IPPROTO_IPV6, 59, bytes([0, 1, 1, 12]) + bytes(12))"
sleep 1

# Stop the captures (and the sink) before reading the files.
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
for ns in $C $R $S; do
    for p in $(ip netns pids "$ns"); do kill "$p" 2>/dev/null || true; done
    ip netns del "$ns"
done

# ------------------------------------------------------- extract + verify --
if [ -n "${KEEP_RAW:-}" ]; then mkdir -p "$KEEP_RAW" && cp "$WORK"/*.pcap "$KEEP_RAW"/; fi
mkdir -p "$HERE/pcaps"
rm -f "$HERE"/pcaps/*.pcap
"$PY" "$HERE/gen_fixtures.py" "$WORK" "$HERE"
echo "wrote $HERE/mod.rs and $HERE/pcaps/"
