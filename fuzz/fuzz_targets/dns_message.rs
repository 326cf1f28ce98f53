//! Arbitrary bytes as a DNS query to the seed cluster's zone, and through the wire parser and
//! writer.
//!
//! Asserts: no panic. Fewer than 12 bytes, or QR set: no response. Otherwise `Zone::answer`
//! writes a response (over UDP with a full buffer, over TCP, and over UDP into a buffer of a
//! size the input picks) that fits in the buffer and the transport's limit (UDP: 512 bytes, or
//! the query's EDNS size up to 1232), parses with svcplane's own parser with nothing left over,
//! has QR set and the query's ID and opcode, agrees with the returned `Response` (RCODE, TC,
//! AA), carries at most one question — the query's, byte for byte — and at most one OPT.
//! Bytes that parse as a message survive parse → write (names recompressed) → parse with the
//! same header, questions and records.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use svcplane::catalog::Catalog;
use svcplane::dns::wire::{Message, Section, Type, Writer, HEADER_LEN};
use svcplane::dns::{NoAnswer, Transport, Zone, ZoneConfig};
use svcplane::k8s::Loader;
use svcplane::model::seed;

const SEED: &[u8] = include_bytes!("../../testdata/seed-cluster.json");

fn zone() -> Option<&'static Zone> {
    static ZONE: OnceLock<Option<Zone>> = OnceLock::new();
    ZONE.get_or_init(|| {
        let mut catalog = Catalog::new(seed::node(0)).ok()?;
        Loader::new().apply_json(&mut catalog, SEED).ok()?;
        let config = ZoneConfig {
            nameservers: vec!["10.96.0.10".parse().ok()?],
            ..ZoneConfig::default()
        };
        Zone::from_catalog(&catalog, config).ok()
    })
    .as_ref()
}

const SECTIONS: [Section; 3] = [Section::Answer, Section::Authority, Section::Additional];

fn check_answer(zone: &Zone, query: &[u8], transport: Transport, size: usize) {
    let mut out = vec![0u8; size];
    let result = zone.answer(query, transport, &mut out);
    let r = match result {
        Err(NoAnswer::TooShort) => return assert!(query.len() < HEADER_LEN),
        Err(NoAnswer::NotAQuery) => return assert!(query[2] & 0x80 != 0),
        Err(NoAnswer::BufferTooSmall) => return assert!(size < HEADER_LEN),
        Ok(r) => r,
    };
    assert!(query.len() >= HEADER_LEN && query[2] & 0x80 == 0 && size >= HEADER_LEN);
    assert!(r.len >= HEADER_LEN && r.len <= size, "{} bytes in {size}", r.len);
    let parsed_query = Message::parse(query).ok();
    if transport == Transport::Udp {
        let edns = parsed_query.as_ref().is_some_and(|m| {
            m.records(Section::Additional)
                .any(|rec| rec.rtype == Type::OPT)
        });
        assert!(r.len <= if edns { 1232 } else { 512 }, "{} bytes", r.len);
    }
    let response = Message::parse(&out[..r.len]).expect("the response parses");
    assert_eq!(response.trailing(), 0);
    let h = response.header();
    assert!(h.qr && !h.ra && !h.ad && !h.z);
    assert_eq!(h.id, u16::from_be_bytes([query[0], query[1]]));
    assert_eq!(h.opcode.0, (query[2] >> 3) & 0xf);
    assert_eq!(h.rcode, r.rcode.header_bits());
    assert_eq!((h.tc, h.aa), (r.truncated, r.authoritative));
    assert!(h.qdcount <= 1);
    if let Some(q) = response.questions().next() {
        let asked = svcplane::dns::wire::Question::parse(query, HEADER_LEN)
            .expect("a question was echoed, so the query had one")
            .0;
        assert_eq!(q, asked);
    }
    let opts = response
        .records(Section::Additional)
        .filter(|rec| rec.rtype == Type::OPT)
        .count();
    assert!(opts <= 1);
    if r.rcode.0 > 15 {
        assert_eq!(opts, 1, "an extended RCODE needs an OPT");
    }
}

fn check_round_trip(data: &[u8]) {
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let mut buf = vec![0u8; 65_535];
    let mut w = Writer::new(&mut buf);
    let mut written = w.header(msg.header()).is_ok();
    for q in msg.questions() {
        written &= w
            .question(q.name.to_buf().as_wire(), q.qtype, q.qclass)
            .is_ok();
    }
    for section in SECTIONS {
        for record in msg.records(section) {
            written &= w.record(&record).is_ok();
        }
    }
    if !written {
        // Decompressed names can make a message larger than 65,535 bytes.
        return;
    }
    let len = w.finish();
    let again = Message::parse(&buf[..len]).expect("a written message parses");
    assert_eq!(again.header(), msg.header());
    assert!(again.questions().eq(msg.questions()));
    for section in SECTIONS {
        assert!(again.records(section).eq(msg.records(section)), "{section:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(zone) = zone() else {
        return;
    };
    check_answer(zone, data, Transport::Udp, 65_535);
    check_answer(zone, data, Transport::Tcp, 65_535);
    // A buffer size the input picks: its last byte, scaled (0..=1020).
    let size = data.last().map_or(0, |b| usize::from(*b) * 4);
    check_answer(zone, data, Transport::Udp, size);
    check_round_trip(data);
});
