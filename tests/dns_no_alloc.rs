//! `Zone::answer` allocates nothing: a counting global allocator records every allocation made
//! by this test's thread while counting is on, and every kind of answer runs under it — A,
//! AAAA, headless, SRV with additional records, CNAME chains, PTR, pod records, NXDOMAIN,
//! NODATA, REFUSED, ANY, truncation, EDNS, TCP, and malformed queries.

mod counting;

use counting::allocations;
use svcplane::catalog::Catalog;
use svcplane::dns::wire::{Class, Header, NameBuf, Type, Writer};
use svcplane::dns::{Transport, Zone, ZoneConfig};
use svcplane::model::seed;

fn query(name: &str, qtype: Type, edns: Option<u16>) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut w = Writer::new(&mut buf);
    let header = Header {
        id: 7,
        qdcount: 1,
        arcount: u16::from(edns.is_some()),
        ..Header::default()
    };
    w.header(&header).unwrap();
    w.question(
        NameBuf::from_dotted(name).unwrap().as_wire(),
        qtype,
        Class::IN,
    )
    .unwrap();
    if let Some(size) = edns {
        let at = w.begin_record(&[0], Type::OPT, Class(size), 0).unwrap();
        w.end_record(at).unwrap();
    }
    let len = w.finish();
    buf[..len].to_vec()
}

#[test]
fn answering_allocates_nothing() {
    let mut catalog = Catalog::new(seed::node(0)).unwrap();
    for s in seed::cluster() {
        catalog.upsert_service(s.service.clone()).unwrap();
        catalog.replace_endpoints(&s.service.id, s.slices).unwrap();
    }
    let config = ZoneConfig {
        nameservers: vec!["10.96.0.10".parse().unwrap()],
        ..ZoneConfig::default()
    };
    let zone = Zone::from_catalog(&catalog, config).unwrap();
    let mut queries = Vec::new();
    for (name, qtype) in [
        ("pricing-engine-svc.production.svc.cluster.local", Type::A),
        ("kube-dns.kube-system.svc.cluster.local", Type::AAAA),
        ("kube-dns.kube-system.svc.cluster.local", Type::ANY),
        ("redis.production.svc.cluster.local", Type::A),
        ("REDIS-0.redis.production.svc.cluster.local", Type::A),
        ("_redis._tcp.redis.production.svc.cluster.local", Type::SRV),
        (
            "_dns._udp.kube-dns.kube-system.svc.cluster.local",
            Type::SRV,
        ),
        ("external-db.default.svc.cluster.local", Type::A),
        ("182.47.96.10.in-addr.arpa", Type::PTR),
        (
            "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa",
            Type::PTR,
        ),
        ("nope.production.svc.cluster.local", Type::A),
        ("production.svc.cluster.local", Type::A),
        ("example.com", Type::A),
        ("cluster.local", Type::NS),
        ("cluster.local", Type::AXFR),
        ("dns-version.cluster.local", Type::TXT),
        // Pod records (insecure by default): read from the name, answered from the stack.
        ("10-244-1-5.Default.pod.cluster.local", Type::A),
        ("10-244-1-5.default.pod.cluster.local", Type::AAAA),
        ("fd00-10-244-1--5.default.pod.cluster.local", Type::AAAA),
        ("--ffff-a00-1.default.pod.cluster.local", Type::ANY),
        ("010-244-1-5.default.pod.cluster.local", Type::A),
        ("default.pod.cluster.local", Type::A),
    ] {
        queries.push(query(name, qtype, None));
        queries.push(query(name, qtype, Some(1232)));
    }
    let good = queries[1].clone();
    let mut malformed = vec![good[..5].to_vec(), good[..30].to_vec()];
    let mut response = good.clone();
    response[2] |= 0x80;
    malformed.push(response);
    let mut two_questions = good.clone();
    two_questions[5] = 2;
    malformed.push(two_questions);
    let mut badvers = good.clone();
    let at = badvers.len() - 5;
    badvers[at] = 1;
    malformed.push(badvers);
    let mut out = vec![0u8; 65_535];
    let mut tiny = [0u8; 40];
    let mut answered = 0;
    let n = allocations(|| {
        for q in queries.iter().chain(&malformed) {
            for transport in [Transport::Udp, Transport::Tcp] {
                if zone.answer(q, transport, &mut out).is_ok() {
                    answered += 1;
                }
            }
            // Truncated into a small buffer.
            let _ = zone.answer(q, Transport::Udp, &mut tiny);
        }
    });
    assert_eq!(n, 0, "allocations while answering");
    assert_eq!(answered, 2 * (queries.len() + malformed.len() - 2));
}
