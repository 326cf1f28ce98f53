//! The zone and `Zone::answer` over the seed cluster (and a few Services of their own), checked
//! through the wire: every query is bytes in, every response is parsed back.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::net::IpAddr;

use super::wire::{
    Class, Header, Message, NameBuf, Opcode, RData, Rcode, Record, Section, Type, Writer,
};
use super::*;
use crate::catalog::Catalog;
use crate::model::{
    seed, ClusterIps, Conditions, Endpoint, EndpointPort, EndpointSlice, IpFamily, Protocol,
    Service, ServicePort, ServiceType,
};

fn seed_catalog() -> Catalog {
    let mut c = Catalog::new(seed::node(0)).unwrap();
    for s in seed::cluster() {
        c.upsert_service(s.service.clone()).unwrap();
        c.replace_endpoints(&s.service.id, s.slices).unwrap();
    }
    c
}

fn seed_zone() -> Zone {
    Zone::from_catalog(&seed_catalog(), ZoneConfig::default()).unwrap()
}

/// A query for `name`/`qtype`, RD set, with an OPT record advertising `edns` bytes if given.
fn query_with(name: &str, qtype: Type, qclass: Class, edns: Option<u16>) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut w = Writer::new(&mut buf);
    let header = Header {
        id: 0xbeef,
        rd: true,
        qdcount: 1,
        arcount: u16::from(edns.is_some()),
        ..Header::default()
    };
    w.header(&header).unwrap();
    w.question(NameBuf::from_dotted(name).unwrap().as_wire(), qtype, qclass)
        .unwrap();
    if let Some(size) = edns {
        let at = w.begin_record(&[0], Type::OPT, Class(size), 0).unwrap();
        w.end_record(at).unwrap();
    }
    let len = w.finish();
    buf[..len].to_vec()
}

fn query(name: &str, qtype: Type) -> Vec<u8> {
    query_with(name, qtype, Class::IN, Some(1232))
}

/// A response, parsed and printed.
#[derive(Debug)]
struct Reply {
    header: Header,
    rcode: Rcode,
    question: Option<String>,
    answer: Vec<String>,
    authority: Vec<String>,
    additional: Vec<String>,
    opt: Option<(u16, u32)>,
    len: usize,
}

fn show(r: &Record<'_>) -> String {
    let data = match r.data {
        RData::A(a) => a.to_string(),
        RData::Aaaa(a) => a.to_string(),
        RData::Ns(n) | RData::Cname(n) | RData::Ptr(n) => n.to_string(),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("{priority} {weight} {port} {target}"),
        RData::Soa(s) => format!(
            "{} {} {} {} {} {} {}",
            s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minimum
        ),
        RData::Txt(t) => format!("{:?}", String::from_utf8_lossy(&t[1..])),
        other => format!("{other:?}"),
    };
    format!("{} {} {} {}", r.name, r.ttl, r.rtype, data)
}

fn parse_reply(bytes: &[u8], len: usize) -> Reply {
    let msg = Message::parse(&bytes[..len]).expect("response parses");
    assert_eq!(msg.trailing(), 0);
    let header = *msg.header();
    let mut opt = None;
    let mut additional = Vec::new();
    for r in msg.records(Section::Additional) {
        if r.rtype == Type::OPT {
            assert!(opt.is_none(), "one OPT");
            opt = Some((r.class.0, r.ttl));
        } else {
            additional.push(show(&r));
        }
    }
    let ext = opt.map_or(0, |(_, ttl)| (ttl >> 24) as u16);
    Reply {
        header,
        rcode: Rcode(ext << 4 | u16::from(header.rcode)),
        question: msg
            .questions()
            .next()
            .map(|q| format!("{} {} {}", q.name, q.qtype, q.qclass)),
        answer: msg.records(Section::Answer).map(|r| show(&r)).collect(),
        authority: msg.records(Section::Authority).map(|r| show(&r)).collect(),
        additional,
        opt,
        len,
    }
}

fn ask_raw(zone: &Zone, query: &[u8], transport: Transport, out_len: usize) -> Reply {
    let mut out = vec![0u8; out_len];
    let r = zone.answer(query, transport, &mut out).expect("answered");
    let reply = parse_reply(&out, r.len);
    assert_eq!(reply.rcode, r.rcode);
    assert_eq!(reply.header.tc, r.truncated);
    assert_eq!(reply.header.aa, r.authoritative);
    assert!(reply.header.qr);
    assert_eq!(reply.header.id, u16::from_be_bytes([query[0], query[1]]));
    reply
}

fn ask(zone: &Zone, name: &str, qtype: Type) -> Reply {
    ask_raw(zone, &query(name, qtype), Transport::Udp, 4096)
}

const SOA: &str =
    "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5";

fn assert_answer(r: &Reply, expected: &[&str]) {
    assert_eq!(r.rcode, Rcode::NOERROR, "{r:#?}");
    assert!(r.header.aa && !r.header.tc, "{r:#?}");
    assert_eq!(r.answer, expected, "{r:#?}");
    assert!(r.authority.is_empty(), "{r:#?}");
}

fn assert_negative(r: &Reply, rcode: Rcode, soa: &str) {
    assert_eq!(r.rcode, rcode, "{r:#?}");
    assert!(r.header.aa, "{r:#?}");
    assert!(r.answer.is_empty(), "{r:#?}");
    assert_eq!(r.authority, [soa], "{r:#?}");
}

#[test]
fn cluster_ip_service_a() {
    let zone = seed_zone();
    let r = ask(
        &zone,
        "pricing-engine-svc.production.svc.cluster.local",
        Type::A,
    );
    assert_answer(
        &r,
        &["pricing-engine-svc.production.svc.cluster.local. 5 A 10.96.47.182"],
    );
    assert_eq!(
        r.question.as_deref(),
        Some("pricing-engine-svc.production.svc.cluster.local. A IN")
    );
    // RD copied, RA and AD clear; the OPT advertises 1232 bytes.
    assert!(r.header.rd && !r.header.ra && !r.header.ad);
    assert_eq!(r.opt, Some((1232, 0)));
    // NodePort, LoadBalancer and a Service without a ready endpoint resolve alike.
    for (name, ip) in [
        ("order-api-svc.production", "10.96.88.201"),
        ("order-api-lb.production", "10.96.122.45"),
        ("payments.billing", "10.96.100.50"),
        ("my-api.default", "10.96.45.100"),
    ] {
        let fqdn = format!("{name}.svc.cluster.local");
        let r = ask(&zone, &fqdn, Type::A);
        assert_answer(&r, &[&format!("{fqdn}. 5 A {ip}")]);
    }
}

#[test]
fn dual_stack_service_has_both_families() {
    let zone = seed_zone();
    let name = "kube-dns.kube-system.svc.cluster.local";
    assert_answer(
        &ask(&zone, name, Type::A),
        &[&format!("{name}. 5 A 10.96.0.10")],
    );
    assert_answer(
        &ask(&zone, name, Type::AAAA),
        &[&format!("{name}. 5 AAAA fd00:10:96::a")],
    );
    let any = ask(&zone, name, Type::ANY);
    assert_answer(
        &any,
        &[
            &format!("{name}. 5 A 10.96.0.10"),
            &format!("{name}. 5 AAAA fd00:10:96::a"),
        ],
    );
}

#[test]
fn nodata_and_nxdomain() {
    let zone = seed_zone();
    // A single-stack IPv4 Service has no AAAA: NODATA with the SOA.
    let r = ask(
        &zone,
        "pricing-engine-svc.production.svc.cluster.local",
        Type::AAAA,
    );
    assert_negative(&r, Rcode::NOERROR, SOA);
    // A type nothing has.
    let r = ask(
        &zone,
        "pricing-engine-svc.production.svc.cluster.local",
        Type::MX,
    );
    assert_negative(&r, Rcode::NOERROR, SOA);
    // Names that do not exist.
    for name in [
        "nope.production.svc.cluster.local",
        "pricing-engine-svc.staging.svc.cluster.local",
        "x.pricing-engine-svc.production.svc.cluster.local",
        "_http._udp.pricing-engine-svc.production.svc.cluster.local",
        "_tcp.my-api.default.svc.cluster.local",
        "nope.cluster.local",
        // No name server addresses configured: `ns.dns.<zone>` has no records, so no name.
        "dns.cluster.local",
    ] {
        let r = ask(&zone, name, Type::A);
        assert_negative(&r, Rcode::NXDOMAIN, SOA);
    }
    // Empty non-terminals exist: NODATA, not NXDOMAIN.
    for name in [
        "production.svc.cluster.local",
        "svc.cluster.local",
        "_tcp.pricing-engine-svc.production.svc.cluster.local",
        "kube-system.svc.cluster.local",
        // Pod records (insecure by default) exist below these.
        "pod.cluster.local",
        "default.pod.cluster.local",
    ] {
        let r = ask(&zone, name, Type::A);
        assert_negative(&r, Rcode::NOERROR, SOA);
        let r = ask(&zone, name, Type::ANY);
        assert_negative(&r, Rcode::NOERROR, SOA);
    }
}

#[test]
fn negative_ttl_is_the_smaller_of_ttl_and_negative_ttl() {
    let config = ZoneConfig {
        ttl: 30,
        negative_ttl: 10,
        serial: 7,
        ..ZoneConfig::default()
    };
    let zone = Zone::from_catalog(&seed_catalog(), config).unwrap();
    let r = ask(&zone, "nope.production.svc.cluster.local", Type::A);
    assert_eq!(
        r.authority,
        ["cluster.local. 10 SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 10"]
    );
    let r = ask(&zone, "my-api.default.svc.cluster.local", Type::A);
    assert_eq!(
        r.answer,
        ["my-api.default.svc.cluster.local. 30 A 10.96.45.100"]
    );
    let r = ask(&zone, "cluster.local", Type::SOA);
    assert_eq!(
        r.answer,
        ["cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. 7 7200 1800 86400 10"]
    );
}

#[test]
fn headless_service_and_endpoint_hostnames() {
    let zone = seed_zone();
    let r = ask(&zone, "redis.production.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &[
            "redis.production.svc.cluster.local. 5 A 10.244.1.50",
            "redis.production.svc.cluster.local. 5 A 10.244.2.51",
        ],
    );
    let r = ask(&zone, "redis-0.redis.production.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &["redis-0.redis.production.svc.cluster.local. 5 A 10.244.1.50"],
    );
    let r = ask(&zone, "redis-1.redis.production.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &["redis-1.redis.production.svc.cluster.local. 5 A 10.244.2.51"],
    );
    // IPv4 only: NODATA for AAAA.
    let r = ask(
        &zone,
        "redis-1.redis.production.svc.cluster.local",
        Type::AAAA,
    );
    assert_negative(&r, Rcode::NOERROR, SOA);
    // An endpoint with a hostname has no dashed-IP name (as in CoreDNS).
    let r = ask(
        &zone,
        "10-244-1-50.redis.production.svc.cluster.local",
        Type::A,
    );
    assert_negative(&r, Rcode::NXDOMAIN, SOA);
    let r = ask(&zone, "redis-2.redis.production.svc.cluster.local", Type::A);
    assert_negative(&r, Rcode::NXDOMAIN, SOA);
}

#[test]
fn srv_for_named_ports_of_cluster_ip_services() {
    let zone = seed_zone();
    let name = "_http._tcp.pricing-engine-svc.production.svc.cluster.local";
    let r = ask(&zone, name, Type::SRV);
    assert_answer(
        &r,
        &[&format!(
            "{name}. 5 SRV 0 100 80 pricing-engine-svc.production.svc.cluster.local."
        )],
    );
    assert_eq!(
        r.additional,
        ["pricing-engine-svc.production.svc.cluster.local. 5 A 10.96.47.182"]
    );
    // Two named ports, each with the Service port.
    let r = ask(
        &zone,
        "_metrics._tcp.monitoring-api-svc.production.svc.cluster.local",
        Type::SRV,
    );
    assert_eq!(r.answer.len(), 1);
    assert!(
        r.answer[0].ends_with("SRV 0 100 9090 monitoring-api-svc.production.svc.cluster.local.")
    );
    // Dual stack: both addresses in the additional section; UDP and TCP ports by protocol.
    let r = ask(
        &zone,
        "_dns._udp.kube-dns.kube-system.svc.cluster.local",
        Type::SRV,
    );
    assert!(r.answer[0].ends_with("SRV 0 100 53 kube-dns.kube-system.svc.cluster.local."));
    assert_eq!(
        r.additional,
        [
            "kube-dns.kube-system.svc.cluster.local. 5 A 10.96.0.10",
            "kube-dns.kube-system.svc.cluster.local. 5 AAAA fd00:10:96::a",
        ]
    );
    let r = ask(
        &zone,
        "_dns-tcp._tcp.kube-dns.kube-system.svc.cluster.local",
        Type::SRV,
    );
    assert_eq!(r.answer.len(), 1);
    let r = ask(
        &zone,
        "_dns._tcp.kube-dns.kube-system.svc.cluster.local",
        Type::SRV,
    );
    assert_negative(&r, Rcode::NXDOMAIN, SOA);
    // The unnamed port of my-api has no SRV.
    let r = ask(
        &zone,
        "_http._tcp.my-api.default.svc.cluster.local",
        Type::SRV,
    );
    assert_negative(&r, Rcode::NXDOMAIN, SOA);
}

#[test]
fn srv_for_headless_services_per_ready_endpoint() {
    let zone = seed_zone();
    let name = "_redis._tcp.redis.production.svc.cluster.local";
    let r = ask(&zone, name, Type::SRV);
    assert_answer(
        &r,
        &[
            &format!("{name}. 5 SRV 0 50 6379 redis-0.redis.production.svc.cluster.local."),
            &format!("{name}. 5 SRV 0 50 6379 redis-1.redis.production.svc.cluster.local."),
        ],
    );
    assert_eq!(
        r.additional,
        [
            "redis-0.redis.production.svc.cluster.local. 5 A 10.244.1.50",
            "redis-1.redis.production.svc.cluster.local. 5 A 10.244.2.51",
        ]
    );
}

#[test]
fn external_name_is_a_cname() {
    let zone = seed_zone();
    for qtype in [Type::A, Type::AAAA, Type::CNAME, Type::ANY, Type::SRV] {
        let r = ask(&zone, "external-db.default.svc.cluster.local", qtype);
        assert_answer(
            &r,
            &["external-db.default.svc.cluster.local. 5 CNAME db.example.com."],
        );
    }
    let r = ask(&zone, "my-database.default.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &["my-database.default.svc.cluster.local. 5 CNAME mydb.rds.amazonaws.com."],
    );
    let r = ask(
        &zone,
        "external-payments-gateway.production.svc.cluster.local",
        Type::A,
    );
    assert_answer(
        &r,
        &["external-payments-gateway.production.svc.cluster.local. 5 CNAME api.stripe.com."],
    );
}

/// An ExternalName whose value is an IP address (API validation accepts `192.0.2.1`) has no
/// record, as in CoreDNS, which adds only host names: NXDOMAIN for every type, not a CNAME to
/// `192.0.2.1.`; the Service is counted in `skipped`. A host name made of digits is still one.
#[test]
fn external_name_of_an_ip_address_has_no_record() {
    let zone = zone_with(&[
        external("default", "by-ip", "192.0.2.1"),
        external("default", "by-ip-dot", "192.0.2.1."),
        external("default", "by-ip6", "2001:db8::1"),
        external("default", "numeric-host", "192.0.2.1.nip.io"),
    ]);
    assert_eq!(zone.skipped(), 3, "{zone:?}");
    for name in ["by-ip", "by-ip-dot", "by-ip6"] {
        let fqdn = format!("{name}.default.svc.cluster.local");
        for qtype in [Type::A, Type::AAAA, Type::CNAME, Type::ANY] {
            let r = ask(&zone, &fqdn, qtype);
            assert_negative(&r, Rcode::NXDOMAIN, SOA);
        }
    }
    let listing = zone.to_string();
    assert!(!listing.contains("by-ip"), "{listing}");
    let r = ask(&zone, "numeric-host.default.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &["numeric-host.default.svc.cluster.local. 5 CNAME 192.0.2.1.nip.io."],
    );
}

/// A zone of the seed cluster plus `extra` Services with their slices.
fn zone_with(extra: &[(Service, Vec<EndpointSlice>)]) -> Zone {
    let catalog = seed_catalog();
    let mut b = Zone::builder(ZoneConfig::default()).unwrap();
    b.add_reverse_zones(&catalog.config().service_cidrs);
    b.add_reverse_zones(&catalog.config().cluster_cidrs);
    for s in catalog.services() {
        b.add_service(s, catalog.endpoints(&s.id).unwrap_or_default());
    }
    for (s, slices) in extra {
        b.add_service(s, slices);
    }
    b.build()
}

fn external(ns: &str, name: &str, target: &str) -> (Service, Vec<EndpointSlice>) {
    let s = Service {
        service_type: ServiceType::ExternalName,
        external_name: Some(target.into()),
        ..Service::new(ns, name)
    };
    (s, vec![])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn headless(
    ns: &str,
    name: &str,
    endpoints: Vec<Endpoint>,
    publish: bool,
) -> (Service, Vec<EndpointSlice>) {
    let s = Service {
        cluster_ips: ClusterIps::Headless,
        ports: vec![ServicePort::tcp(80).named("http")],
        publish_not_ready_addresses: publish,
        ..Service::new(ns, name)
    };
    let (v4, v6): (Vec<_>, Vec<_>) = endpoints.into_iter().partition(|e| e.address.is_ipv4());
    let mut slices = Vec::new();
    for (family, endpoints) in [(IpFamily::V4, v4), (IpFamily::V6, v6)] {
        if !endpoints.is_empty() {
            slices.push(EndpointSlice {
                name: format!("{name}-{family}"),
                family,
                ports: vec![EndpointPort::new("http", Protocol::Tcp, 8080)],
                endpoints,
            });
        }
    }
    (s, slices)
}

#[test]
fn cname_targets_inside_the_zone_are_followed() {
    let zone = zone_with(&[
        external(
            "default",
            "alias",
            "redis-0.redis.production.svc.cluster.local.",
        ),
        external("default", "alias2", "alias.default.svc.cluster.local"),
        external("default", "dangling", "nothing.default.svc.cluster.local"),
        external("default", "loop-a", "loop-b.default.svc.cluster.local"),
        external("default", "loop-b", "loop-a.default.svc.cluster.local"),
        external("default", "self", "self.default.svc.cluster.local"),
    ]);
    let r = ask(&zone, "alias2.default.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &[
            "alias2.default.svc.cluster.local. 5 CNAME alias.default.svc.cluster.local.",
            "alias.default.svc.cluster.local. 5 CNAME redis-0.redis.production.svc.cluster.local.",
            "redis-0.redis.production.svc.cluster.local. 5 A 10.244.1.50",
        ],
    );
    // The chain ends at a missing name: NXDOMAIN (RFC 6604), with the CNAME.
    let r = ask(&zone, "dangling.default.svc.cluster.local", Type::A);
    assert_eq!(r.rcode, Rcode::NXDOMAIN);
    assert_eq!(r.answer.len(), 1);
    assert_eq!(r.authority, [SOA]);
    // A loop is answered once round, each CNAME once (RFC 2181 §5: no duplicates), without an
    // error, as an authoritative server answers a loop in its own data.
    let r = ask(&zone, "loop-a.default.svc.cluster.local", Type::A);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert_answer(
        &r,
        &[
            "loop-a.default.svc.cluster.local. 5 CNAME loop-b.default.svc.cluster.local.",
            "loop-b.default.svc.cluster.local. 5 CNAME loop-a.default.svc.cluster.local.",
        ],
    );
    let r = ask(&zone, "self.default.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &["self.default.svc.cluster.local. 5 CNAME self.default.svc.cluster.local."],
    );
}

#[test]
fn headless_readiness_dashed_names_and_ipv6() {
    let not_ready = Conditions::from_api(Some(false), Some(false), Some(false));
    let zone = zone_with(&[
        headless(
            "default",
            "nobody-ready",
            vec![Endpoint::new(ip("10.244.1.70")).with_conditions(not_ready)],
            false,
        ),
        headless(
            "default",
            "publish",
            vec![
                Endpoint::new(ip("10.244.1.71")).with_conditions(not_ready),
                Endpoint::new(ip("fd00:10:244:1::71")),
            ],
            true,
        ),
        headless(
            "default",
            "mixed",
            vec![
                Endpoint::new(ip("10.244.1.80")),
                Endpoint::new(ip("10.244.1.81")).with_conditions(not_ready),
                Endpoint::new(ip("10.244.2.82")).with_hostname("named"),
            ],
            false,
        ),
    ]);
    // No ready endpoint: the name does not exist (specification §2.4.1), nor its SRV.
    let r = ask(&zone, "nobody-ready.default.svc.cluster.local", Type::A);
    assert_negative(&r, Rcode::NXDOMAIN, SOA);
    let r = ask(
        &zone,
        "_http._tcp.nobody-ready.default.svc.cluster.local",
        Type::SRV,
    );
    assert_negative(&r, Rcode::NXDOMAIN, SOA);
    // publishNotReadyAddresses: every endpoint counts, both families.
    let r = ask(&zone, "publish.default.svc.cluster.local", Type::A);
    assert_answer(&r, &["publish.default.svc.cluster.local. 5 A 10.244.1.71"]);
    let r = ask(&zone, "publish.default.svc.cluster.local", Type::AAAA);
    assert_answer(
        &r,
        &["publish.default.svc.cluster.local. 5 AAAA fd00:10:244:1::71"],
    );
    let r = ask(
        &zone,
        "fd00-10-244-1--71.publish.default.svc.cluster.local",
        Type::AAAA,
    );
    assert_answer(
        &r,
        &["fd00-10-244-1--71.publish.default.svc.cluster.local. 5 AAAA fd00:10:244:1::71"],
    );
    // Only the ready ones; dashed names for endpoints without a hostname.
    let r = ask(&zone, "mixed.default.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &[
            "mixed.default.svc.cluster.local. 5 A 10.244.1.80",
            "mixed.default.svc.cluster.local. 5 A 10.244.2.82",
        ],
    );
    let r = ask(
        &zone,
        "10-244-1-80.mixed.default.svc.cluster.local",
        Type::A,
    );
    assert_answer(
        &r,
        &["10-244-1-80.mixed.default.svc.cluster.local. 5 A 10.244.1.80"],
    );
    let r = ask(
        &zone,
        "10-244-1-81.mixed.default.svc.cluster.local",
        Type::A,
    );
    assert_negative(&r, Rcode::NXDOMAIN, SOA);
    let r = ask(
        &zone,
        "_http._tcp.mixed.default.svc.cluster.local",
        Type::SRV,
    );
    assert_answer(
        &r,
        &[
            "_http._tcp.mixed.default.svc.cluster.local. 5 SRV 0 50 8080 named.mixed.default.svc.cluster.local.",
            "_http._tcp.mixed.default.svc.cluster.local. 5 SRV 0 50 8080 10-244-1-80.mixed.default.svc.cluster.local.",
        ],
    );
    // PTR to the endpoint's own name, dashed or hostname.
    let r = ask(&zone, "80.1.244.10.in-addr.arpa", Type::PTR);
    assert_answer(
        &r,
        &["80.1.244.10.in-addr.arpa. 5 PTR 10-244-1-80.mixed.default.svc.cluster.local."],
    );
    let r = ask(&zone, "82.2.244.10.in-addr.arpa", Type::PTR);
    assert_answer(
        &r,
        &["82.2.244.10.in-addr.arpa. 5 PTR named.mixed.default.svc.cluster.local."],
    );
}

#[test]
fn ptr_for_cluster_ips_and_headless_endpoints() {
    let zone = seed_zone();
    let r = ask(&zone, "182.47.96.10.in-addr.arpa", Type::PTR);
    assert_answer(
        &r,
        &["182.47.96.10.in-addr.arpa. 5 PTR pricing-engine-svc.production.svc.cluster.local."],
    );
    let r = ask(&zone, "50.1.244.10.in-addr.arpa", Type::PTR);
    assert_answer(
        &r,
        &["50.1.244.10.in-addr.arpa. 5 PTR redis-0.redis.production.svc.cluster.local."],
    );
    let v6 = reverse_name(ip("fd00:10:96::a")).to_string();
    assert_eq!(
        v6,
        "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa."
    );
    let r = ask(&zone, &v6, Type::PTR);
    assert_answer(
        &r,
        &[&format!(
            "{v6} 5 PTR kube-dns.kube-system.svc.cluster.local."
        )],
    );
    // Known address, other type: NODATA with the reverse zone's SOA.
    let r = ask(&zone, "182.47.96.10.in-addr.arpa", Type::A);
    assert_negative(
        &r,
        Rcode::NOERROR,
        "96.10.in-addr.arpa. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
    );
    // Inside the service CIDR (10.96.0.0/12 is 96–111.10.in-addr.arpa), no Service: NXDOMAIN.
    let r = ask(&zone, "1.0.99.10.in-addr.arpa", Type::PTR);
    assert_negative(
        &r,
        Rcode::NXDOMAIN,
        "99.10.in-addr.arpa. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
    );
    // A ClusterIP Service's endpoints have no PTR here (only headless ones do): NXDOMAIN in the
    // pod CIDR's zone.
    let r = ask(&zone, "8.1.244.10.in-addr.arpa", Type::PTR);
    assert_eq!(r.rcode, Rcode::NXDOMAIN);
    assert!(r.authority[0].starts_with("244.10.in-addr.arpa. 5 SOA"));
    // Partial reverse names above an existing one are empty non-terminals.
    let r = ask(&zone, "47.96.10.in-addr.arpa", Type::PTR);
    assert_eq!(r.rcode, Rcode::NOERROR);
    // Outside every reverse zone: not ours.
    for name in [
        "8.8.8.8.in-addr.arpa",
        "10.in-addr.arpa",
        "in-addr.arpa",
        "1.0.0.127.in-addr.arpa",
    ] {
        let r = ask(&zone, name, Type::PTR);
        assert_eq!(r.rcode, Rcode::REFUSED, "{name}");
        assert!(!r.header.aa && r.answer.is_empty() && r.authority.is_empty());
    }
}

/// PTR records of addresses outside every reverse zone (specification §2.3.3, §2.4.3; CoreDNS
/// answers them for any address): a ClusterIP outside the service CIDRs, a headless endpoint
/// outside the pod CIDRs (a hostNetwork pod). Each reverse name is a zone of its own: the PTR is
/// answered with AA, other types there are NODATA with that name's SOA, and the neighbouring
/// addresses stay outside every zone (REFUSED).
#[test]
fn ptr_outside_the_reverse_zones_is_a_zone_of_its_own() {
    let outside = Service {
        cluster_ips: ClusterIps::Assigned(vec![ip("192.0.2.10"), ip("2001:db8::10")]),
        ports: vec![ServicePort::tcp(80).named("http")],
        ..Service::new("shop", "outside")
    };
    let zone = zone_with(&[
        (outside, vec![]),
        headless(
            "shop",
            "host-net",
            vec![Endpoint::new(ip("172.16.5.7")).with_hostname("db-0")],
            false,
        ),
    ]);
    assert_eq!(zone.skipped(), 0, "{zone:?}");
    let r = ask(&zone, "10.2.0.192.in-addr.arpa", Type::PTR);
    assert_answer(
        &r,
        &["10.2.0.192.in-addr.arpa. 5 PTR outside.shop.svc.cluster.local."],
    );
    let v6 = reverse_name(ip("2001:db8::10")).to_string();
    let r = ask(&zone, &v6, Type::PTR);
    assert_answer(
        &r,
        &[&format!("{v6} 5 PTR outside.shop.svc.cluster.local.")],
    );
    let r = ask(&zone, "7.5.16.172.in-addr.arpa", Type::PTR);
    assert_answer(
        &r,
        &["7.5.16.172.in-addr.arpa. 5 PTR db-0.host-net.shop.svc.cluster.local."],
    );
    // Another type at the PTR name: NODATA, with the one-address zone's SOA.
    let r = ask(&zone, "10.2.0.192.in-addr.arpa", Type::A);
    assert_negative(
        &r,
        Rcode::NOERROR,
        "10.2.0.192.in-addr.arpa. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5",
    );
    let r = ask(&zone, "7.5.16.172.in-addr.arpa", Type::SOA);
    assert_answer(
        &r,
        &["7.5.16.172.in-addr.arpa. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"],
    );
    // The neighbours (same /24, no record) and the parents are in no zone: REFUSED.
    for name in [
        "11.2.0.192.in-addr.arpa",
        "8.5.16.172.in-addr.arpa",
        "2.0.192.in-addr.arpa",
        "5.16.172.in-addr.arpa",
    ] {
        let r = ask(&zone, name, Type::PTR);
        assert_eq!(r.rcode, Rcode::REFUSED, "{name}");
        assert!(!r.header.aa && r.answer.is_empty() && r.authority.is_empty());
    }
    // The same Service's name and the endpoint's own name are unchanged.
    let r = ask(&zone, "db-0.host-net.shop.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &["db-0.host-net.shop.svc.cluster.local. 5 A 172.16.5.7"],
    );
}

#[test]
fn reverse_zone_apexes_cover_the_prefix_exactly() {
    let apexes = |s: &str| -> Vec<String> {
        reverse_zone_apexes(&s.parse().unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let v = apexes("10.96.0.0/12");
    assert_eq!(v.len(), 16);
    assert_eq!(v[0], "96.10.in-addr.arpa.");
    assert_eq!(v[15], "111.10.in-addr.arpa.");
    assert_eq!(apexes("10.244.0.0/16"), ["244.10.in-addr.arpa."]);
    assert_eq!(apexes("192.168.1.128/25").len(), 128);
    assert_eq!(apexes("192.168.1.128/25")[0], "128.1.168.192.in-addr.arpa.");
    assert_eq!(apexes("0.0.0.0/0"), ["in-addr.arpa."]);
    assert_eq!(apexes("1.2.3.4/32"), ["4.3.2.1.in-addr.arpa."]);
    assert_eq!(
        apexes("fd00:10:96::/112"),
        ["0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa."]
    );
    let v = apexes("fd00:10:244::/55");
    assert_eq!(
        v,
        [
            "0.0.4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa.",
            "1.0.4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa."
        ]
    );
    assert_eq!(apexes("::/0"), ["ip6.arpa."]);
    assert_eq!(dashed_ip(ip("10.1.2.3")), "10-1-2-3");
    assert_eq!(dashed_ip(ip("::1")), "--1");
}

#[test]
fn matching_ignores_case_and_the_answer_echoes_it() {
    let zone = seed_zone();
    let asked = "Pricing-Engine-SVC.PRODUCTION.svc.Cluster.Local";
    let r = ask(&zone, asked, Type::A);
    assert_answer(&r, &[&format!("{asked}. 5 A 10.96.47.182")]);
    assert_eq!(r.question.as_deref(), Some(&*format!("{asked}. A IN")));
    let r = ask(
        &zone,
        "_HTTP._Tcp.pricing-engine-svc.production.svc.cluster.local",
        Type::SRV,
    );
    assert!(r.answer[0].starts_with("_HTTP._Tcp.pricing-engine-svc."));
    // The real dig query, byte for byte.
    let r = ask_raw(
        &zone,
        &wire::tests::DIG_A_MIXED_CASE_NOEDNS,
        Transport::Udp,
        512,
    );
    assert_answer(&r, &["My-Api.Default.SVC.cluster.local. 5 A 10.96.45.100"]);
    assert_eq!(r.opt, None, "no EDNS in the query, none in the response");
    assert!(
        !r.header.rd && !r.header.ad,
        "RD copied (clear), AD cleared"
    );
}

#[test]
fn response_bytes_for_a_dig_query() {
    let zone = seed_zone();
    let mut out = [0u8; 512];
    let r = zone
        .answer(&wire::tests::DIG_A_REDIS_0, Transport::Udp, &mut out)
        .unwrap();
    let mut expected = vec![0x07, 0x2c, 0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 1];
    expected.extend_from_slice(&wire::tests::DIG_A_REDIS_0[12..60]); // the question
                                                                     // Answer: pointer to the question, A, IN, TTL 5, 4 bytes.
    expected.extend([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 244, 1, 50]);
    // OPT: root, type 41, 1232 bytes, no extended rcode, version 0, no options.
    expected.extend([0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&out[..r.len], &expected[..]);
    assert_eq!(
        r,
        Response {
            len: expected.len(),
            rcode: Rcode::NOERROR,
            truncated: false,
            authoritative: true
        }
    );
}

#[test]
fn outside_the_zone_is_refused() {
    let zone = seed_zone();
    for name in [
        "example.com",
        "local",
        ".",
        "cluster.local.example.com",
        "xcluster.local",
    ] {
        let r = ask(&zone, name, Type::A);
        assert_eq!(r.rcode, Rcode::REFUSED, "{name}");
        assert!(!r.header.aa && r.answer.is_empty() && r.authority.is_empty());
        assert!(r.question.is_some());
    }
}

#[test]
fn apex_records_and_schema_version() {
    let config = ZoneConfig {
        nameservers: vec![ip("10.96.0.10"), ip("fd00:10:96::a")],
        ..ZoneConfig::default()
    };
    let zone = Zone::from_catalog(&seed_catalog(), config).unwrap();
    let r = ask(&zone, "cluster.local", Type::SOA);
    assert_answer(&r, &[SOA]);
    let r = ask(&zone, "cluster.local", Type::NS);
    assert_answer(&r, &["cluster.local. 5 NS ns.dns.cluster.local."]);
    assert_eq!(
        r.additional,
        [
            "ns.dns.cluster.local. 5 A 10.96.0.10",
            "ns.dns.cluster.local. 5 AAAA fd00:10:96::a"
        ]
    );
    let r = ask(&zone, "dns-version.cluster.local", Type::TXT);
    assert_answer(&r, &["dns-version.cluster.local. 5 TXT \"1.1.0\""]);
    let r = ask(&zone, "cluster.local", Type::A);
    assert_negative(&r, Rcode::NOERROR, SOA);
    let r = ask(&zone, "96.10.in-addr.arpa", Type::NS);
    assert_answer(&r, &["96.10.in-addr.arpa. 5 NS ns.dns.cluster.local."]);
    // Without name server addresses, the NS target has none.
    let r = ask(&seed_zone(), "cluster.local", Type::NS);
    assert!(r.additional.is_empty());
}

#[test]
fn custom_domain() {
    let config = ZoneConfig::new("Corp.Example.");
    let zone = Zone::from_catalog(&seed_catalog(), config).unwrap();
    let r = ask(&zone, "my-api.default.svc.corp.example", Type::A);
    assert_answer(&r, &["my-api.default.svc.corp.example. 5 A 10.96.45.100"]);
    let r = ask(&zone, "my-api.default.svc.cluster.local", Type::A);
    assert_eq!(r.rcode, Rcode::REFUSED);
    for bad in [
        "",
        ".",
        "a..b",
        &"x".repeat(64),
        &["abcdefghij"; 14].join("."),
    ] {
        assert!(
            matches!(
                Zone::builder(ZoneConfig::new(bad)),
                Err(ZoneError::InvalidDomain { .. })
            ),
            "{bad:?}"
        );
    }
}

fn big_headless(n: usize) -> (Service, Vec<EndpointSlice>) {
    let endpoints = (0..n)
        .map(|i| Endpoint::new(IpAddr::from([10, 244, 3, 100 + i as u8])))
        .collect();
    headless("default", "big", endpoints, false)
}

/// The answer records of `big.default.svc.cluster.local` from `10.244.3.100` on, `n` of them.
fn big_answer(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("big.default.svc.cluster.local. 5 A 10.244.3.{}", 100 + i))
        .collect()
}

/// A response that does not fit keeps the answer records that do, whole and in order (a part
/// of the RRset, RFC 2181 §9, as CoreDNS sends it), sets TC, and keeps the OPT of an EDNS
/// query; it parses and is within the limit.
#[test]
fn truncation_keeps_the_answer_records_that_fit() {
    let zone = zone_with(&[big_headless(60)]);
    let name = "big.default.svc.cluster.local";
    // Without EDNS: 512 bytes. 60 A records (16 bytes each) do not fit: TC, and the first 29
    // after the header and question (12 + 35 + 29 × 16 = 511 bytes).
    let q = query_with(name, Type::A, Class::IN, None);
    let r = ask_raw(&zone, &q, Transport::Udp, 4096);
    assert!(r.header.tc && r.header.aa, "{r:#?}");
    assert_eq!(r.answer, big_answer(29));
    assert!(r.authority.is_empty() && r.additional.is_empty() && r.opt.is_none());
    assert_eq!(r.len, 511);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert_eq!(r.question.as_deref(), Some(&*format!("{name}. A IN")));
    // With EDNS 4096, capped at 1232: fits (12 + 35 + 60 × 16 + 11 = 1018 bytes).
    let r = ask_raw(
        &zone,
        &query_with(name, Type::A, Class::IN, Some(4096)),
        Transport::Udp,
        4096,
    );
    assert!(!r.header.tc);
    assert_eq!(r.answer, big_answer(60));
    assert_eq!(r.len, 1018);
    // An EDNS size below 512 counts as 512; the OPT (11 bytes) is kept, so 28 records fit
    // (12 + 35 + 28 × 16 + 11 = 506 bytes).
    let r = ask_raw(
        &zone,
        &query_with(name, Type::A, Class::IN, Some(100)),
        Transport::Udp,
        4096,
    );
    assert!(r.header.tc);
    assert_eq!(r.answer, big_answer(28));
    assert_eq!(r.len, 506);
    assert_eq!(r.opt, Some((1232, 0)), "the OPT is kept when truncating");
    // The caller's buffer is a limit too, also over TCP: 34 records in 600 bytes.
    let r = ask_raw(&zone, &q, Transport::Tcp, 600);
    assert!(r.header.tc && r.len <= 600);
    assert_eq!(r.answer, big_answer(34));
    let r = ask_raw(&zone, &q, Transport::Tcp, 65_535);
    assert!(!r.header.tc && r.answer.len() == 60);

    // SRV: the answer fits in 1232 but its addresses do not all: additional records are left
    // out whole, without TC. 12 + 46 + 16 × 62 (targets uncompressed) + 11 = 1061 bytes; then
    // ten 16-byte A records fit in the 171 left.
    let zone = zone_with(&[big_headless(16)]);
    let q = query_with(
        "_http._tcp.big.default.svc.cluster.local",
        Type::SRV,
        Class::IN,
        Some(1232),
    );
    let r = ask_raw(&zone, &q, Transport::Udp, 4096);
    assert!(!r.header.tc, "{r:#?}");
    assert_eq!(r.answer.len(), 16);
    assert_eq!(r.additional.len(), 10);
    assert_eq!(r.len, 1061 + 160);
    let r = ask_raw(&zone, &q, Transport::Tcp, 65_535);
    assert_eq!(r.additional.len(), 16);
    // The same SRV answer in 512 bytes: the first 7 SRV records (12 + 46 + 7 × 62 = 492
    // bytes), TC, and no additional records after a truncated answer.
    let q = query_with(
        "_http._tcp.big.default.svc.cluster.local",
        Type::SRV,
        Class::IN,
        None,
    );
    let whole = ask_raw(&zone, &q, Transport::Tcp, 65_535);
    let r = ask_raw(&zone, &q, Transport::Udp, 4096);
    assert!(r.header.tc);
    assert_eq!(r.answer, whole.answer[..7]);
    assert!(r.additional.is_empty());
    assert_eq!(r.len, 492);
    // ANY: the RRsets that fit are kept, then the records of the next that fit, and TC:
    // 12 + 35 + 20 × 16 = 367 bytes of A records, then 5 AAAA records of 28 bytes (507).
    let zone = zone_with(&[
        big_headless(20),
        headless(
            "default",
            "big",
            (0..40)
                .map(|i| Endpoint::new(IpAddr::from([0xfd00, 0x10, 0x244, 3, 0, 0, 0, i])))
                .collect(),
            false,
        ),
    ]);
    let q = query_with("big.default.svc.cluster.local", Type::ANY, Class::IN, None);
    let r = ask_raw(&zone, &q, Transport::Udp, 4096);
    assert!(r.header.tc);
    assert_eq!(r.answer.len(), 25, "{r:#?}");
    assert_eq!(r.answer[..20], big_answer(20));
    assert_eq!(
        r.answer[20..],
        (0..5)
            .map(|i| {
                let a = IpAddr::from([0xfd00, 0x10, 0x244, 3, 0, 0, 0, i]);
                format!("big.default.svc.cluster.local. 5 AAAA {a}")
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(r.len, 507);
}

#[test]
fn tiny_output_buffers() {
    let zone = seed_zone();
    let q = query("pricing-engine-svc.production.svc.cluster.local", Type::A);
    let mut out = [0u8; 11];
    assert_eq!(
        zone.answer(&q, Transport::Udp, &mut out),
        Err(NoAnswer::BufferTooSmall)
    );
    // Room for the header only: TC, no question.
    for len in [12, 30, 60] {
        let r = ask_raw(&zone, &q, Transport::Udp, len);
        assert!(
            r.header.tc && r.question.is_none() && r.len == 12,
            "{len}: {r:#?}"
        );
    }
    // Room for the question but not the OPT: TC, no OPT.
    let r = ask_raw(&zone, &q, Transport::Udp, 12 + 53 + 5);
    assert!(r.header.tc && r.question.is_some() && r.opt.is_none());
}

#[test]
fn malformed_queries() {
    let zone = seed_zone();
    let good = query("my-api.default.svc.cluster.local", Type::A);
    let mut out = [0u8; 512];
    // Too short to answer, or a response: nothing.
    for len in 0..12 {
        assert_eq!(
            zone.answer(&good[..len], Transport::Udp, &mut out),
            Err(NoAnswer::TooShort)
        );
    }
    let mut response = good.clone();
    response[2] |= 0x80;
    assert_eq!(
        zone.answer(&response, Transport::Udp, &mut out),
        Err(NoAnswer::NotAQuery)
    );
    // Header only (QDCOUNT 0): FORMERR, ID echoed.
    let mut header_only = good[..12].to_vec();
    header_only[5] = 0;
    header_only[11] = 0;
    let r = ask_raw(&zone, &header_only, Transport::Udp, 512);
    assert_eq!(r.rcode, Rcode::FORMERR);
    assert!(r.question.is_none() && !r.header.aa);
    // Every truncation of the query after the header: FORMERR (the question echoed when it is
    // whole).
    for len in 12..good.len() {
        let r = ask_raw(&zone, &good[..len], Transport::Udp, 512);
        assert_eq!(r.rcode, Rcode::FORMERR, "{len}");
        assert_eq!(r.question.is_some(), len >= 12 + 34 + 4, "{len}");
    }
    // Two questions: FORMERR, no question.
    let mut two = good.clone();
    two[5] = 2;
    let r = ask_raw(&zone, &two, Transport::Udp, 512);
    assert_eq!(r.rcode, Rcode::FORMERR);
    assert!(r.question.is_none());
    assert_eq!(
        r.opt, None,
        "the OPT's bytes were read as the second question: no OPT record was read, none is sent"
    );
    // A good OPT, then a record cut short (ARCOUNT 2): FORMERR with the question and an OPT,
    // the query's OPT having been read before the error (RFC 6891 §7).
    let mut opt_then_broken = good.clone();
    opt_then_broken[11] = 2;
    opt_then_broken.extend([0, 0, 1]); // the root owner, then half a type
    let r = ask_raw(&zone, &opt_then_broken, Transport::Udp, 512);
    assert_eq!(r.rcode, Rcode::FORMERR);
    assert!(r.question.is_some());
    assert_eq!(r.opt, Some((1232, 0)), "the OPT read before the error");
    // The same query with opcode STATUS: NOTIMP, with the OPT too.
    let mut status_broken = opt_then_broken.clone();
    status_broken[2] |= Opcode::STATUS.0 << 3;
    let r = ask_raw(&zone, &status_broken, Transport::Udp, 512);
    assert_eq!((r.rcode, r.opt), (Rcode::NOTIMP, Some((1232, 0))));
    // A malformed record (a forward pointer as its owner) before the OPT: the OPT was never
    // read, so none is sent.
    let mut broken_then_opt = good[..good.len() - 11].to_vec();
    broken_then_opt[11] = 2;
    broken_then_opt.extend([0xc0, 0xff, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    broken_then_opt.extend_from_slice(&good[good.len() - 11..]);
    let r = ask_raw(&zone, &broken_then_opt, Transport::Udp, 512);
    assert_eq!((r.rcode, r.opt), (Rcode::FORMERR, None));
    // Two OPTs read before the error: the query's EDNS is invalid, no OPT is sent.
    let mut two_opts_then_broken = good.clone();
    two_opts_then_broken.extend_from_slice(&good[good.len() - 11..]);
    two_opts_then_broken[11] = 3;
    two_opts_then_broken.extend([0, 0, 1]);
    let r = ask_raw(&zone, &two_opts_then_broken, Transport::Udp, 512);
    assert_eq!((r.rcode, r.opt), (Rcode::FORMERR, None));
    // No question, a good OPT: FORMERR with an OPT.
    let mut none = good[..12].to_vec();
    none[5] = 0;
    none.extend_from_slice(&good[good.len() - 11..]);
    let r = ask_raw(&zone, &none, Transport::Udp, 512);
    assert_eq!((r.rcode, r.opt), (Rcode::FORMERR, Some((1232, 0))));
    // A forward pointer as the name.
    let mut fwd = good[..12].to_vec();
    fwd[11] = 0;
    fwd.extend([0xc0, 18, 0, 1, 0, 1, 0]);
    let r = ask_raw(&zone, &fwd, Transport::Udp, 512);
    assert_eq!(r.rcode, Rcode::FORMERR);
    // Opcode STATUS: NOTIMP, question echoed, opcode copied.
    let mut status = good.clone();
    status[2] |= Opcode::STATUS.0 << 3;
    let r = ask_raw(&zone, &status, Transport::Udp, 512);
    assert_eq!(r.rcode, Rcode::NOTIMP);
    assert_eq!(r.header.opcode, Opcode::STATUS);
    assert!(r.question.is_some());
    assert_eq!(r.opt, Some((1232, 0)), "the query's OPT was readable");
    // EDNS version 1: BADVERS (extended), with an OPT.
    let mut v1 = good.clone();
    let opt_ttl = v1.len() - 6;
    v1[opt_ttl + 1] = 1;
    let r = ask_raw(&zone, &v1, Transport::Udp, 512);
    assert_eq!(r.rcode, Rcode::BADVERS);
    assert_eq!(r.header.rcode, 0);
    assert_eq!(r.opt, Some((1232, 1 << 24)));
    assert!(r.answer.is_empty());
    // Two OPT records; an OPT in the answer section; an OPT not owned by the root.
    let mut two_opts = good.clone();
    two_opts.extend_from_slice(&good[good.len() - 11..]);
    two_opts[11] = 2;
    assert_eq!(
        ask_raw(&zone, &two_opts, Transport::Udp, 512).rcode,
        Rcode::FORMERR
    );
    let mut in_answer = good.clone();
    in_answer[7] = 1;
    in_answer[11] = 0;
    let r = ask_raw(&zone, &in_answer, Transport::Udp, 512);
    assert_eq!(r.rcode, Rcode::FORMERR);
    assert!(r.opt.is_none());
    let mut owned = good[..good.len() - 11].to_vec();
    owned.extend([1, b'x', 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        ask_raw(&zone, &owned, Transport::Udp, 512).rcode,
        Rcode::FORMERR
    );
    // BADVERS into a buffer without room for the OPT: TC, and the RCODE the header can carry.
    let mut out = vec![0u8; v1.len() - 11 + 5];
    let r = zone.answer(&v1, Transport::Udp, &mut out).unwrap();
    assert_eq!((r.rcode, r.truncated), (Rcode::NOERROR, true));
    let reply = parse_reply(&out, r.len);
    assert_eq!((reply.rcode, reply.opt), (Rcode::NOERROR, None));
    // The DO bit is copied.
    let mut dnssec = good.clone();
    dnssec[opt_ttl + 2] = 0x80;
    let r = ask_raw(&zone, &dnssec, Transport::Udp, 512);
    assert_eq!(r.opt, Some((1232, 0x8000)));
    // CD copied.
    let mut cd = good.clone();
    cd[3] |= 0x10;
    assert!(ask_raw(&zone, &cd, Transport::Udp, 512).header.cd);
    // Trailing bytes are ignored.
    let mut trailing = good.clone();
    trailing.extend([0xde, 0xad]);
    assert_answer(
        &ask_raw(&zone, &trailing, Transport::Udp, 512),
        &["my-api.default.svc.cluster.local. 5 A 10.96.45.100"],
    );
}

#[test]
fn classes_and_special_types() {
    let zone = seed_zone();
    let name = "my-api.default.svc.cluster.local";
    let r = ask_raw(
        &zone,
        &query_with(name, Type::A, Class::CH, None),
        Transport::Udp,
        512,
    );
    assert_eq!(r.rcode, Rcode::REFUSED);
    let r = ask_raw(
        &zone,
        &query_with(name, Type::A, Class::ANY, None),
        Transport::Udp,
        512,
    );
    assert_answer(&r, &["my-api.default.svc.cluster.local. 5 A 10.96.45.100"]);
    for t in [
        Type::AXFR,
        Type::IXFR,
        Type::MAILA,
        Type::MAILB,
        Type::TSIG,
        Type::TKEY,
    ] {
        assert_eq!(ask(&zone, "cluster.local", t).rcode, Rcode::NOTIMP, "{t}");
    }
    assert_eq!(ask(&zone, "cluster.local", Type::OPT).rcode, Rcode::FORMERR);
    // Unknown types at existing names: NODATA.
    assert_negative(&ask(&zone, name, Type(65)), Rcode::NOERROR, SOA);
}

#[test]
fn zone_listing_and_sizes() {
    let zone = seed_zone();
    let listing = zone.to_string();
    assert!(
        listing.starts_with("cluster.local.\t5\tIN\tNS\tns.dns.cluster.local.\n"),
        "{listing}"
    );
    for line in [
        "redis-0.redis.production.svc.cluster.local.\t5\tIN\tA\t10.244.1.50",
        "_redis._tcp.redis.production.svc.cluster.local.\t5\tIN\tSRV\t0 50 6379 redis-0.redis.production.svc.cluster.local.",
        "external-db.default.svc.cluster.local.\t5\tIN\tCNAME\tdb.example.com.",
        "dns-version.cluster.local.\t5\tIN\tTXT\t\"1.1.0\"",
        "182.47.96.10.in-addr.arpa.\t5\tIN\tPTR\tpricing-engine-svc.production.svc.cluster.local.",
    ] {
        assert!(listing.lines().any(|l| l == line), "{line}\n{listing}");
    }
    assert_eq!(zone.skipped(), 0);
    assert!(zone.len() > 40 && zone.record_count() > 40);
    // Every name the listing shows answers, from the zone's own lookup.
    for line in listing.lines() {
        let mut fields = line.split('\t');
        let (name, rtype) = (fields.next().unwrap(), fields.nth(2).unwrap());
        let qtype = match rtype {
            "A" => Type::A,
            "AAAA" => Type::AAAA,
            "NS" => Type::NS,
            "SOA" => Type::SOA,
            "SRV" => Type::SRV,
            "PTR" => Type::PTR,
            "CNAME" => Type::CNAME,
            "TXT" => Type::TXT,
            other => panic!("{other}"),
        };
        let r = ask_raw(
            &zone,
            &query_with(name, qtype, Class::IN, None),
            Transport::Tcp,
            65_535,
        );
        assert_eq!(r.rcode, Rcode::NOERROR, "{line}");
        assert!(!r.answer.is_empty(), "{line}");
    }
}

#[test]
fn names_over_dns_limits_are_skipped() {
    let long = "x".repeat(60);
    let mut b = Zone::builder(ZoneConfig::new(["d"; 60].join("."))).unwrap();
    // 60 + 60 + 4 + 120 bytes of domain: a headless endpoint's name would exceed 255.
    let (s, slices) = headless(
        &long,
        &long,
        vec![Endpoint::new(ip("10.244.1.1")).with_hostname(long.clone())],
        false,
    );
    b.add_service(&s, &slices);
    b.add_service(&external("ns", "e", &"y".repeat(64)).0, &[]);
    let zone = b.build();
    assert_eq!(zone.skipped(), 2, "{zone:?}");
    let svc = format!("{long}.{long}.svc.{}", ["d"; 60].join("."));
    let r = ask(&zone, &svc, Type::A);
    assert_answer(&r, &[&format!("{svc}. 5 A 10.244.1.1")]);
}

/// A Service another proxy programs (`service-proxy-name` label) still has its DNS records:
/// the label is about packet rules, and CoreDNS answers for every Service.
#[test]
fn services_of_another_proxy_still_answer() {
    let s = Service {
        cluster_ips: ClusterIps::Assigned(vec![ip("10.96.7.7")]),
        ports: vec![ServicePort::tcp(80).named("http")],
        service_proxy_name: Some("cilium".into()),
        ..Service::new("shop", "elsewhere")
    };
    let zone = zone_with(&[(s, vec![])]);
    let r = ask(&zone, "elsewhere.shop.svc.cluster.local", Type::A);
    assert_eq!(r.rcode, Rcode::NOERROR);
    assert_eq!(r.answer.len(), 1);
    assert!(r.answer[0].ends_with("10.96.7.7"), "{:?}", r.answer);
}

/// A headless endpoint that two slices list under different port numbers for the same port
/// name (the slices of a rolling change of targetPort) has two SRV records; its addresses are
/// additional records once, not once per SRV record.
#[test]
fn srv_targets_listed_twice_get_their_addresses_once() {
    let (s, mut slices) = headless(
        "default",
        "dup",
        vec![Endpoint::new(ip("10.244.1.90"))],
        false,
    );
    slices.push(EndpointSlice {
        name: "dup-second".into(),
        family: IpFamily::V4,
        ports: vec![EndpointPort::new("http", Protocol::Tcp, 9090)],
        endpoints: vec![
            Endpoint::new(ip("10.244.1.90")),
            Endpoint::new(ip("10.244.1.9")),
        ],
    });
    let zone = zone_with(&[(s, slices)]);
    let r = ask(&zone, "_http._tcp.dup.default.svc.cluster.local", Type::SRV);
    assert_eq!(r.answer.len(), 3, "{:?}", r.answer);
    let mut additional = r.additional.clone();
    additional.sort();
    assert_eq!(
        additional,
        [
            "10-244-1-9.dup.default.svc.cluster.local. 5 A 10.244.1.9",
            "10-244-1-90.dup.default.svc.cluster.local. 5 A 10.244.1.90",
        ]
    );
}

/// The zone of the seed cluster plus `extra`, built with `config`.
fn zone_with_config(config: ZoneConfig, extra: &[(Service, Vec<EndpointSlice>)]) -> Zone {
    let catalog = seed_catalog();
    let mut b = Zone::builder(config).unwrap();
    b.add_reverse_zones(&catalog.config().service_cidrs);
    b.add_reverse_zones(&catalog.config().cluster_cidrs);
    for s in catalog.services() {
        b.add_service(s, catalog.endpoints(&s.id).unwrap_or_default());
    }
    for (s, slices) in extra {
        b.add_service(s, slices);
    }
    b.build()
}

fn pod_config(pod_records: PodRecords) -> ZoneConfig {
    ZoneConfig {
        pod_records,
        ..ZoneConfig::default()
    }
}

/// Specification §2.6 under `PodRecords::Insecure` (the default): any address under any
/// namespace name, read as CoreDNS's `pods insecure` reads it.
#[test]
fn pod_records_insecure() {
    assert_eq!(ZoneConfig::default().pod_records, PodRecords::Insecure);
    let zone = seed_zone();
    for (name, record) in [
        ("10-244-1-5.default.pod.cluster.local", "A 10.244.1.5"),
        // No such Pod, no such namespace in the catalog: answered all the same.
        ("1-2-3-4.no-such-ns.pod.cluster.local", "A 1.2.3.4"),
        ("0-0-0-0.default.pod.cluster.local", "A 0.0.0.0"),
        ("255-255-255-255.a.pod.cluster.local", "A 255.255.255.255"),
        // IPv6, `:` written `-`, as CoreDNS reads it.
        (
            "fd00-10-244-1--5.default.pod.cluster.local",
            "AAAA fd00:10:244:1::5",
        ),
        ("--1.default.pod.cluster.local", "AAAA ::1"),
        ("1--.default.pod.cluster.local", "AAAA 1::"),
        ("1-2-3--4.default.pod.cluster.local", "AAAA 1:2:3::4"),
        (
            "fd00-0-0-0-0-0-0-0001.default.pod.cluster.local",
            "AAAA fd00::1",
        ),
        // IPv4-mapped: the IPv4 address's A record, as CoreDNS answers it.
        ("--ffff-a00-1.default.pod.cluster.local", "A 10.0.0.1"),
    ] {
        let rtype = address_type(record);
        let r = ask(&zone, name, rtype);
        assert_answer(&r, &[&format!("{name}. 5 {record}")]);
        let r = ask(&zone, name, Type::ANY);
        assert_answer(&r, &[&format!("{name}. 5 {record}")]);
        // The other address type, and any other type: NODATA with the cluster domain's SOA.
        let other = if rtype == Type::A {
            Type::AAAA
        } else {
            Type::A
        };
        for qtype in [other, Type::MX, Type::TXT, Type::CNAME] {
            assert_negative(&ask(&zone, name, qtype), Rcode::NOERROR, SOA);
        }
    }
    // The zone's TTL.
    let config = ZoneConfig {
        ttl: 30,
        ..ZoneConfig::default()
    };
    let zone30 = Zone::from_catalog(&seed_catalog(), config).unwrap();
    let r = ask(&zone30, "10-244-1-5.default.pod.cluster.local", Type::A);
    assert_answer(
        &r,
        &["10-244-1-5.default.pod.cluster.local. 30 A 10.244.1.5"],
    );
    // Case: matched without it, echoed as asked (0x20), hex digits too.
    for (name, record) in [
        ("10-244-1-5.DeFault.PoD.Cluster.Local", "A 10.244.1.5"),
        ("FD00--A.Kube-System.POD.cluster.local", "AAAA fd00::a"),
    ] {
        let rtype = address_type(record);
        let r = ask(&zone, name, rtype);
        assert_answer(&r, &[&format!("{name}. 5 {record}")]);
        assert_eq!(r.question.as_deref(), Some(&*format!("{name}. {rtype} IN")));
    }
    // Above the records: empty non-terminals (RFC 8020), NODATA for every type.
    for name in [
        "pod.cluster.local",
        "default.pod.cluster.local",
        "Any-Namespace.POD.cluster.local",
        "x.pod.cluster.local",
    ] {
        for qtype in [Type::A, Type::AAAA, Type::ANY] {
            assert_negative(&ask(&zone, name, qtype), Rcode::NOERROR, SOA);
        }
    }
    // Names that hold no address, namespaces that are no namespace names, names deeper down:
    // NXDOMAIN.
    for name in [
        // Leading zeros, refused by Go's net.ParseIP (CoreDNS) and by Rust alike.
        "010-0-0-1.default.pod.cluster.local",
        "10-244-01-5.default.pod.cluster.local",
        "00-0-0-0.default.pod.cluster.local",
        // Out of range, too few or too many parts, empty parts.
        "1-2-3-256.default.pod.cluster.local",
        "256-0-0-1.default.pod.cluster.local",
        "1-2-3.default.pod.cluster.local",
        "10-244-1.default.pod.cluster.local",
        "1-2-3-4-5.default.pod.cluster.local",
        "1-2-3-.default.pod.cluster.local",
        "-1-2-3.default.pod.cluster.local",
        "1---2.default.pod.cluster.local",
        "1--2--3.default.pod.cluster.local",
        "1-2-3-4-5-6-7-8-9.default.pod.cluster.local",
        "00001--.default.pod.cluster.local",
        // Not numbers.
        "a-b-c-d.default.pod.cluster.local",
        "my-pod.default.pod.cluster.local",
        "10-244-1-5x.default.pod.cluster.local",
        "10_244_1_5.default.pod.cluster.local",
        "-.default.pod.cluster.local",
        // Namespace labels Kubernetes would not accept.
        "10-244-1-5.-default.pod.cluster.local",
        "10-244-1-5.default-.pod.cluster.local",
        "10-244-1-5.de_fault.pod.cluster.local",
        "_http.pod.cluster.local",
        // Deeper than `<address>.<ns>.pod.<zone>`.
        "x.10-244-1-5.default.pod.cluster.local",
        "_http._tcp.10-244-1-5.default.pod.cluster.local",
    ] {
        for qtype in [Type::A, Type::AAAA] {
            assert_negative(&ask(&zone, name, qtype), Rcode::NXDOMAIN, SOA);
        }
    }
    // An ExternalName pointing at a pod name is followed there.
    let zone = zone_with(&[external(
        "default",
        "to-pod",
        "10-244-1-5.default.pod.cluster.local",
    )]);
    let r = ask(&zone, "to-pod.default.svc.cluster.local", Type::A);
    assert_answer(
        &r,
        &[
            "to-pod.default.svc.cluster.local. 5 CNAME 10-244-1-5.default.pod.cluster.local.",
            "10-244-1-5.default.pod.cluster.local. 5 A 10.244.1.5",
        ],
    );
    // Nothing is stored for them: no name of the zone listing is a pod name.
    let listing = zone.to_string();
    assert!(
        !listing.lines().any(|l| l
            .split('\t')
            .next()
            .unwrap()
            .ends_with("pod.cluster.local.")),
        "{listing}"
    );
}

#[test]
fn pod_records_disabled() {
    let zone = Zone::from_catalog(&seed_catalog(), pod_config(PodRecords::Disabled)).unwrap();
    for name in [
        "10-244-1-5.default.pod.cluster.local",
        "10-244-1-8.production.pod.cluster.local",
        "fd00-10-244-1--2.kube-system.pod.cluster.local",
        "default.pod.cluster.local",
        "pod.cluster.local",
    ] {
        for qtype in [Type::A, Type::AAAA, Type::ANY] {
            assert_negative(&ask(&zone, name, qtype), Rcode::NXDOMAIN, SOA);
        }
    }
    // Service names are unchanged.
    let r = ask(&zone, "my-api.default.svc.cluster.local", Type::A);
    assert_answer(&r, &["my-api.default.svc.cluster.local. 5 A 10.96.45.100"]);
}

/// `PodRecords::Verified`: only addresses of EndpointSlice endpoints (not terminating) of that
/// namespace, named by their canonical dashed form.
#[test]
fn pod_records_verified() {
    let not_ready = Conditions::from_api(Some(false), Some(false), Some(false));
    let terminating = Conditions::from_api(Some(false), Some(true), Some(true));
    let zone = zone_with_config(
        pod_config(PodRecords::Verified),
        &[headless(
            "shop",
            "db",
            vec![
                Endpoint::new(ip("10.244.5.1")).with_hostname("db-0"),
                Endpoint::new(ip("10.244.5.2")).with_conditions(not_ready),
                Endpoint::new(ip("10.244.5.3")).with_conditions(terminating),
                Endpoint::new(ip("fd00:10:244:5::7")),
            ],
            false,
        )],
    );
    for (name, record) in [
        // An endpoint of a ClusterIP Service, and of a headless one (with a hostname).
        ("10-244-1-8.production.pod.cluster.local", "A 10.244.1.8"),
        ("10-244-5-1.shop.pod.cluster.local", "A 10.244.5.1"),
        // Not ready (seed: billing/payments; here too): the Pod exists.
        ("10-244-3-40.billing.pod.cluster.local", "A 10.244.3.40"),
        ("10-244-5-2.shop.pod.cluster.local", "A 10.244.5.2"),
        // IPv6 endpoints of kube-dns, and of the headless Service.
        (
            "fd00-10-244-1--2.kube-system.pod.cluster.local",
            "AAAA fd00:10:244:1::2",
        ),
        (
            "fd00-10-244-5--7.shop.pod.cluster.local",
            "AAAA fd00:10:244:5::7",
        ),
        // Case echoed.
        ("10-244-1-8.Production.POD.cluster.LOCAL", "A 10.244.1.8"),
    ] {
        let rtype = address_type(record);
        let r = ask(&zone, name, rtype);
        assert_answer(&r, &[&format!("{name}. 5 {record}")]);
        let other = if rtype == Type::A {
            Type::AAAA
        } else {
            Type::A
        };
        assert_negative(&ask(&zone, name, other), Rcode::NOERROR, SOA);
    }
    for name in [
        // Terminating: the seed's order-api pod 10.244.2.22, and 10.244.5.3 here.
        "10-244-2-22.production.pod.cluster.local",
        "10-244-5-3.shop.pod.cluster.local",
        // An existing address in another namespace.
        "10-244-1-8.default.pod.cluster.local",
        "10-244-5-1.production.pod.cluster.local",
        // No endpoint has it.
        "10-244-1-99.production.pod.cluster.local",
        "1-2-3-4.default.pod.cluster.local",
        // Another spelling of an existing IPv6 address (CoreDNS compares the text).
        "fd00-10-244-1-0-0-0-2.kube-system.pod.cluster.local",
        // A namespace without endpoints, and bad names.
        "nobody.pod.cluster.local",
        "010-244-1-8.production.pod.cluster.local",
        "x.10-244-1-8.production.pod.cluster.local",
    ] {
        for qtype in [Type::A, Type::AAAA] {
            assert_negative(&ask(&zone, name, qtype), Rcode::NXDOMAIN, SOA);
        }
    }
    // Above existing records: empty non-terminals.
    for name in [
        "pod.cluster.local",
        "production.pod.cluster.local",
        "shop.pod.cluster.local",
    ] {
        assert_negative(&ask(&zone, name, Type::A), Rcode::NOERROR, SOA);
    }
    // Stored, so listed.
    assert!(zone
        .to_string()
        .contains("10-244-5-1.shop.pod.cluster.local.\t5\tIN\tA\t10.244.5.1\n"));
    // No endpoint at all: nothing under `pod.<zone>`, which is then NXDOMAIN too.
    let mut b = Zone::builder(pod_config(PodRecords::Verified)).unwrap();
    let (external, _) = external("default", "x", "example.com");
    b.add_service(&external, &[]);
    let empty = b.build();
    assert_negative(
        &ask(&empty, "pod.cluster.local", Type::A),
        Rcode::NXDOMAIN,
        SOA,
    );
}

/// RFC 8020 across nested reverse zones: the names between an enclosing zone's apex and a
/// nested zone's apex exist (empty non-terminals of the enclosing zone), so NXDOMAIN there
/// cannot deny the records below.
#[test]
fn nested_reverse_zones_keep_the_names_between_them() {
    let soa = |apex: &str| {
        format!("{apex}. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5")
    };
    for (cidrs, gaps) in [
        (
            &["10.0.0.0/8", "10.244.1.0/24"][..],
            &["244.10.in-addr.arpa"][..],
        ),
        // A one-address zone two labels below the enclosing one.
        (
            &["10.0.0.0/8", "10.244.1.50/32"][..],
            &["244.10.in-addr.arpa", "1.244.10.in-addr.arpa"][..],
        ),
    ] {
        let config = ZoneConfig {
            reverse_zones: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            ..ZoneConfig::default()
        };
        let mut b = Zone::builder(config).unwrap();
        let (service, slices) = headless(
            "production",
            "redis",
            vec![Endpoint::new(ip("10.244.1.50")).with_hostname("redis-0")],
            false,
        );
        b.add_service(&service, &slices);
        let zone = b.build();
        let r = ask(&zone, "50.1.244.10.in-addr.arpa", Type::PTR);
        assert_answer(
            &r,
            &["50.1.244.10.in-addr.arpa. 5 PTR redis-0.redis.production.svc.cluster.local."],
        );
        for gap in gaps {
            for qtype in [Type::PTR, Type::A, Type::ANY] {
                let r = ask(&zone, gap, qtype);
                assert_negative(&r, Rcode::NOERROR, &soa("10.in-addr.arpa"));
            }
        }
        // The enclosing zone still denies what is not there, beside the gap.
        let r = ask(&zone, "245.10.in-addr.arpa", Type::PTR);
        assert_negative(&r, Rcode::NXDOMAIN, &soa("10.in-addr.arpa"));
        let r = ask(&zone, "9.244.10.in-addr.arpa", Type::PTR);
        assert_negative(&r, Rcode::NXDOMAIN, &soa("10.in-addr.arpa"));
        // Above the enclosing zone: outside.
        let r = ask(&zone, "in-addr.arpa", Type::PTR);
        assert_eq!(r.rcode, Rcode::REFUSED);
    }
    // The /24 case: the nested zone's own apex and its misses are its own.
    let config = ZoneConfig {
        reverse_zones: vec![
            "10.0.0.0/8".parse().unwrap(),
            "10.244.1.0/24".parse().unwrap(),
        ],
        ..ZoneConfig::default()
    };
    let zone = Zone::builder(config).unwrap().build();
    let r = ask(&zone, "1.244.10.in-addr.arpa", Type::SOA);
    assert_answer(&r, &[&soa("1.244.10.in-addr.arpa")]);
    let r = ask(&zone, "51.1.244.10.in-addr.arpa", Type::PTR);
    assert_negative(&r, Rcode::NXDOMAIN, &soa("1.244.10.in-addr.arpa"));
    // No record anywhere: the gap still exists, as a nested zone's apex sits below it.
    let r = ask(&zone, "244.10.in-addr.arpa", Type::PTR);
    assert_negative(&r, Rcode::NOERROR, &soa("10.in-addr.arpa"));
}

/// The type of an expected address record written `"A ..."` or `"AAAA ..."`.
fn address_type(record: &str) -> Type {
    if record.starts_with("AAAA") {
        Type::AAAA
    } else {
        Type::A
    }
}
