//! Service DNS: answers for the cluster domain, in DNS wire format, into caller buffers.
//!
//! A [`Zone`] is compiled on the control path — from a [`Catalog`](crate::catalog::Catalog)
//! with [`Zone::from_catalog`], or Service by Service with [`Zone::builder`] — into an immutable
//! map from lowercase names to records. [`Zone::answer`] then answers one query message:
//! it parses and validates the query ([`wire`]), looks the name up in O(log n) in the number of
//! names, and writes the response, names compressed, into the caller's `&mut [u8]`. Answering
//! never allocates and never panics, whatever the input; a zone is `Send + Sync` and can be
//! shared by any number of threads behind an `Arc`, and replaced whole when the catalog changes.
//!
//! # Why a zone of its own, not the snapshot
//!
//! A [`Snapshot`](crate::snapshot::Snapshot) holds what the packet path needs; headless and
//! ExternalName Services compile to plans without ports or addresses, and the plans keep neither
//! endpoint hostnames, nor readiness for headless Services, nor `externalName`. DNS needs all of
//! that, keyed by name instead of by (protocol, address, port), so it gets its own compiled
//! structure built from the same catalog. Rebuilding it is cheap (one pass over the Services);
//! a caller that recompiles snapshots after a batch of changes rebuilds the zone beside them.
//!
//! # What it answers (Kubernetes DNS specification 1.1.0, SEMANTICS.md §9)
//!
//! With `<zone>` the cluster domain (`cluster.local` by default) and TTL 5 s unless configured:
//!
//! | name | records |
//! |---|---|
//! | `<svc>.<ns>.svc.<zone>` (ClusterIP, NodePort, LoadBalancer) | A and/or AAAA: every cluster IP (dual stack: both) |
//! | `_<port>._<proto>.<svc>.<ns>.svc.<zone>` | SRV `0 100 <port> <svc>.<ns>.svc.<zone>` per named port (unnamed ports have none); the target's A/AAAA in the additional section |
//! | `<svc>.<ns>.svc.<zone>` (headless) | A/AAAA: every ready endpoint (every endpoint with `publishNotReadyAddresses`); none ready: NXDOMAIN |
//! | `<host>.<svc>.<ns>.svc.<zone>` (headless) | A/AAAA of that endpoint; `<host>` is its `hostname`, or else its address with `.`/`:` turned into `-` (`10-244-1-5`, as kube-dns and CoreDNS name it) |
//! | `_<port>._<proto>.<svc>.<ns>.svc.<zone>` (headless) | SRV per ready endpoint × named port: priority 0, weights splitting 100 evenly, the endpoint's own port (from its EndpointSlice: where a headless client connects, and what CoreDNS sends; the specification's text names the Service port), target `<host>.<svc>…`; addresses in the additional section |
//! | `<svc>.<ns>.svc.<zone>` (ExternalName) | CNAME to `externalName` (a trailing dot is allowed); none when `externalName` is an IP address, which is no host name (NXDOMAIN, as CoreDNS answers for the form without a trailing dot; counted in [`Zone::skipped`]) |
//! | `d.c.b.a.in-addr.arpa`, nibbles`.ip6.arpa` | PTR of cluster IPs → `<svc>.<ns>.svc.<zone>`; of headless endpoints → `<host>.<svc>.<ns>.svc.<zone>` |
//! | `<zone>` and each reverse zone apex | SOA (`ns.dns.<zone>`, `hostmaster.<zone>`, serial, 7200, 1800, 86400, negative TTL) and NS `ns.dns.<zone>` |
//! | `ns.dns.<zone>` | A/AAAA of [`ZoneConfig::nameservers`], when given |
//! | `dns-version.<zone>` | TXT `"1.1.0"` |
//! | `<a>-<b>-<c>-<d>.<ns>.pod.<zone>` (deprecated, §2.6) | A `<a>.<b>.<c>.<d>`; the IPv6 form `fd00-10-244-1--5` AAAA ([`ZoneConfig::pod_records`]: any address under any namespace name by default, as the specification requires; only endpoint addresses of that namespace, or none, as configured) |
//!
//! Endpoint names exist for headless Services only, as the specification lists them (CoreDNS
//! also answers them under Services with a cluster IP).
//!
//! The deprecated pod records (specification §2.6, "required to satisfy this specification")
//! follow CoreDNS's `pods insecure | verified | disabled` ([`PodRecords`]); the default,
//! [`PodRecords::Insecure`], answers `<address>.<ns>.pod.<zone>` for every address, read from
//! the name as CoreDNS reads it (IPv4 without leading zeros; IPv6 with `-` for `:`), under
//! every valid namespace name, without storing anything per name; `pod.<zone>` and
//! `<ns>.pod.<zone>` are NODATA, and names there that hold no address NXDOMAIN.
//! [`PodRecords::Verified`] answers only the addresses of EndpointSlice endpoints of that
//! namespace (svcplane has no Pod objects; see its documentation for what that approximation
//! means).
//!
//! Names under a Service that hold nothing themselves (`<ns>.svc.<zone>`, `svc.<zone>`,
//! `_tcp.<svc>…`) exist as empty non-terminals, and so do the names between a reverse zone's
//! apex and a zone nested in it (with `10.0.0.0/8` and `10.244.1.0/24`, `244.10.in-addr.arpa`
//! is NODATA with `10.in-addr.arpa`'s SOA). Reverse zones are the configured prefixes'
//! reverse names ([`ZoneConfig::reverse_zones`]; [`Zone::from_catalog`] adds the node's service
//! and pod CIDRs), each prefix rounded to whole labels so the zone claims no address outside it.
//! A cluster IP or headless endpoint outside all of them (a cluster IP outside the service
//! CIDRs; a hostNetwork pod, or a CNI that gives pods addresses outside the pod CIDRs) still has
//! its PTR, as the specification (§2.3.3, §2.4.3) requires and CoreDNS answers: its reverse name
//! is made a zone of its own holding that one address (as an RFC 2317 classless delegation of a
//! /32 or /128 would), with SOA and NS, so other types there are NODATA while the neighbouring
//! addresses, outside every zone, stay REFUSED.
//!
//! # How a query is answered
//!
//! - **Matching** ignores ASCII case (RFC 4343); the answer echoes the question's case.
//! - **NXDOMAIN vs NODATA**: a name in a zone that does not exist is NXDOMAIN; a name that
//!   exists (an empty non-terminal too) without records of the asked type is NODATA (NOERROR,
//!   no answer). Both carry the zone's SOA in the authority section with TTL
//!   min(TTL, negative TTL) (RFC 2308). AA is set for every answer from the zones.
//! - **Outside the zones**: REFUSED, AA clear. svcplane is an authoritative source for the
//!   cluster, not a resolver; a forwarder in front of it (or the caller) sends other names
//!   upstream. RA is never set.
//! - **Short names** (`my-api`, `payments.billing`) are never expanded here: the pod's resolver
//!   tries its search list (`<ns>.svc.<zone> svc.<zone> <zone>`, ndots:5) and asks for full
//!   names.
//! - **CNAME**: a query for any type but CNAME at an ExternalName Service gets the CNAME, and
//!   when the target is inside the zones it is followed there (up to 8 links; the response code
//!   is the last name's, RFC 6604). A chain that comes back to a name it has visited (a loop
//!   of ExternalName Services) stops there, each CNAME given once (RFC 2181 §5), NOERROR.
//!   Targets outside are left to the client's resolver.
//! - **ANY** returns every RRset at the name (the zones are small and public inside the
//!   cluster; RFC 8482 allows it). AXFR, IXFR, MAILA, MAILB, TKEY and TSIG get NOTIMP; OPT as a
//!   query type FORMERR. Other types at an existing name are NODATA. Classes other than IN and
//!   ANY get REFUSED.
//! - **Malformed queries**: fewer than 12 bytes, or a response (QR set), get no answer
//!   ([`NoAnswer`]). An opcode other than QUERY gets NOTIMP; QDCOUNT ≠ 1, a malformed name or
//!   record (see [`wire`]), an OPT outside the additional section, two OPTs or an OPT not owned
//!   by the root get FORMERR — echoing the question when it could be read, and an OPT when the
//!   query's OPT could be read (also when a malformed record follows it, RFC 6891 §7). Bytes
//!   after the last record are ignored.
//! - **EDNS(0)** (RFC 6891): an OPT in the query raises the UDP limit to its buffer size,
//!   between 512 and [`ZoneConfig::udp_payload_size`] (1232 by default), and the response
//!   carries an OPT advertising that size, with the DO bit copied. EDNS versions other than 0
//!   get BADVERS. Options are ignored (none is echoed).
//! - **Truncation** (RFC 2181 §9): the response fits in the caller's buffer and the
//!   transport's limit ([`Transport::Udp`]: 512 bytes without EDNS; [`Transport::Tcp`]: 65,535).
//!   Answer records are written one by one, in order, as many whole records as fit: the first
//!   that does not fit sets TC and ends the answer and authority sections, and what fit before
//!   it stays — a part of an RRset too, which RFC 2181 §9 allows with TC set. That is what
//!   CoreDNS sends, and what a client without a TCP fallback (musl before 1.2.4) uses as it
//!   is, so it still gets addresses. The authority SOA is written whole or not at all (TC when
//!   it does not fit); additional records come only with a whole answer, and RRsets of them
//!   that do not fit are left out without TC. The OPT an EDNS query needs is kept out of the
//!   room the sections may fill, so a truncated response still carries it. A buffer too small
//!   for the question gets the header alone, with TC;
//!   one too small for the OPT an EDNS query needs gets TC too (and an extended RCODE such as
//!   BADVERS, which only the OPT can carry, is not sent).
//! - **Header**: ID, opcode, RD and CD are copied; AD, RA and Z are clear.
//! - **Order**: records are in a fixed order (addresses ascending); svcplane does not rotate
//!   them per query.

mod answer;
pub mod wire;
mod zone;

pub use answer::{NoAnswer, Response, Transport};
pub use zone::{
    dashed_ip, reverse_name, reverse_zone_apexes, PodRecords, Zone, ZoneBuilder, ZoneConfig,
    ZoneError, DEFAULT_TTL, DEFAULT_UDP_PAYLOAD, SCHEMA_VERSION,
};

#[cfg(test)]
mod tests;
