use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

use super::*;

/// `dig @127.0.0.1 +norecurse redis-0.redis.production.svc.cluster.local A` (BIND 9.18),
/// captured from the socket: EDNS(0) with a 1232-byte buffer and a client cookie; AD set.
pub(crate) const DIG_A_REDIS_0: [u8; 83] = [
    0x07, 0x2c, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x72, 0x65, 0x64,
    0x69, 0x73, 0x2d, 0x30, 0x05, 0x72, 0x65, 0x64, 0x69, 0x73, 0x0a, 0x70, 0x72, 0x6f, 0x64, 0x75,
    0x63, 0x74, 0x69, 0x6f, 0x6e, 0x03, 0x73, 0x76, 0x63, 0x07, 0x63, 0x6c, 0x75, 0x73, 0x74, 0x65,
    0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04,
    0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0xcc, 0x70, 0x98, 0x0a, 0x38,
    0x48, 0xaa, 0xd1,
];

/// `dig @127.0.0.1 +norecurse +noedns My-Api.Default.SVC.cluster.local A`: no EDNS, mixed case.
pub(crate) const DIG_A_MIXED_CASE_NOEDNS: [u8; 50] = [
    0xcb, 0x6f, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x4d, 0x79, 0x2d,
    0x41, 0x70, 0x69, 0x07, 0x44, 0x65, 0x66, 0x61, 0x75, 0x6c, 0x74, 0x03, 0x53, 0x56, 0x43, 0x07,
    0x63, 0x6c, 0x75, 0x73, 0x74, 0x65, 0x72, 0x05, 0x6c, 0x6f, 0x63, 0x61, 0x6c, 0x00, 0x00, 0x01,
    0x00, 0x01,
];

/// `dig @127.0.0.1 +norecurse -x 10.96.47.182`.
pub(crate) const DIG_PTR: [u8; 66] = [
    0x66, 0x29, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x31, 0x38, 0x32,
    0x02, 0x34, 0x37, 0x02, 0x39, 0x36, 0x02, 0x31, 0x30, 0x07, 0x69, 0x6e, 0x2d, 0x61, 0x64, 0x64,
    0x72, 0x04, 0x61, 0x72, 0x70, 0x61, 0x00, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x29, 0x04, 0xd0,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x08, 0x54, 0x6b, 0xac, 0x4c, 0xbe, 0x2a,
    0x3d, 0x91,
];

fn name(s: &str) -> NameBuf {
    NameBuf::from_dotted(s).unwrap()
}

/// `labels` as an uncompressed wire name.
fn wire(labels: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for l in labels {
        v.push(l.len() as u8);
        v.extend_from_slice(l);
    }
    v.push(0);
    v
}

/// A query header with one question, then `body`.
fn message(counts: [u16; 4], body: &[u8]) -> Vec<u8> {
    let h = Header {
        id: 0x1234,
        qdcount: counts[0],
        ancount: counts[1],
        nscount: counts[2],
        arcount: counts[3],
        ..Header::default()
    };
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

#[test]
fn test_parse_dig_query() {
    let msg = Message::parse(&DIG_A_REDIS_0).unwrap();
    let h = msg.header();
    assert_eq!(h.id, 0x072c);
    assert!(!h.qr && !h.rd && h.ad && !h.cd && !h.tc && !h.aa);
    assert_eq!(h.opcode, Opcode::QUERY);
    assert_eq!((h.qdcount, h.ancount, h.nscount, h.arcount), (1, 0, 0, 1));
    let q: Vec<_> = msg.questions().collect();
    assert_eq!(q.len(), 1);
    assert_eq!(
        q[0].name.to_string(),
        "redis-0.redis.production.svc.cluster.local."
    );
    assert_eq!(q[0].name.wire_len(), 44);
    assert_eq!((q[0].qtype, q[0].qclass), (Type::A, Class::IN));
    let opt: Vec<_> = msg.records(Section::Additional).collect();
    assert_eq!(opt.len(), 1);
    assert!(opt[0].name.is_root());
    assert_eq!(opt[0].rtype, Type::OPT);
    assert_eq!(opt[0].class, Class(1232));
    assert_eq!(opt[0].ttl, 0);
    // One option: COOKIE (10), 8 bytes of client cookie.
    let RData::Opt(options) = opt[0].data else {
        panic!("{:?}", opt[0].data)
    };
    assert_eq!(&options[..4], &[0, 10, 0, 8]);
    assert_eq!(msg.len(), DIG_A_REDIS_0.len());
    assert_eq!(msg.trailing(), 0);
}

#[test]
fn test_parse_other_dig_queries() {
    let msg = Message::parse(&DIG_A_MIXED_CASE_NOEDNS).unwrap();
    assert_eq!(msg.header().arcount, 0);
    let q = msg.questions().next().unwrap();
    assert_eq!(q.name.to_string(), "My-Api.Default.SVC.cluster.local.");
    assert!(q.name.eq_ignore_ascii_case(
        &Name::parse(&wire_message_with("my-api.default.svc.cluster.local"), 12)
            .unwrap()
            .0
    ));
    let msg = Message::parse(&DIG_PTR).unwrap();
    let q = msg.questions().next().unwrap();
    assert_eq!(q.name.to_string(), "182.47.96.10.in-addr.arpa.");
    assert_eq!(q.qtype, Type::PTR);
}

fn wire_message_with(dotted: &str) -> Vec<u8> {
    message([1, 0, 0, 0], name(dotted).as_wire())
}

#[test]
fn test_header_round_trip_every_bit() {
    for bit in 0..16 {
        let flags = 1u16 << bit;
        let mut bytes = [0u8; 12];
        bytes[0] = 0xab;
        bytes[1] = 0xcd;
        bytes[2..4].copy_from_slice(&flags.to_be_bytes());
        bytes[4..12].copy_from_slice(&[0, 1, 0, 2, 0, 3, 0, 4]);
        let h = Header::parse(&bytes).unwrap();
        assert_eq!(h.to_bytes(), bytes, "flag bit {bit}");
    }
    let h = Header::parse(&[0x12, 0x34, 0xa9, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
    assert!(h.qr && h.opcode == Opcode::UPDATE && h.rd && h.ra);
    assert_eq!(h.rcode, 3);
    assert_eq!(Header::parse(&[0; 11]), Err(ParseError::Truncated));
}

/// `msg`'s header, questions and the records of `section`, written anew by [`Writer`].
fn copy_message(msg: &Message<'_>, section: Section) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let mut w = Writer::new(&mut buf);
    w.header(msg.header()).unwrap();
    for q in msg.questions() {
        w.question(q.name.to_buf().as_wire(), q.qtype, q.qclass)
            .unwrap();
    }
    for r in msg.records(section) {
        w.record(&r).unwrap();
    }
    let len = w.finish();
    buf[..len].to_vec()
}

#[test]
fn test_emit_round_trip_of_a_dig_query() {
    for query in [&DIG_A_REDIS_0[..], &DIG_A_MIXED_CASE_NOEDNS, &DIG_PTR] {
        let msg = Message::parse(query).unwrap();
        // Nothing to compress in a one-question query: the bytes come back exactly.
        assert_eq!(copy_message(&msg, Section::Additional), query);
    }
}

#[test]
fn test_emit_compresses_against_earlier_names() {
    let mut buf = [0u8; 512];
    let mut w = Writer::new(&mut buf);
    w.header(&Header::default()).unwrap();
    let www = name("www.example.com");
    w.question(www.as_wire(), Type::A, Class::IN).unwrap();
    // Answer: owner = the question (pointer to 12), CNAME to example.com (pointer to 16).
    let at = w
        .begin_record(www.as_wire(), Type::CNAME, Class::IN, 300)
        .unwrap();
    w.name(name("example.com").as_wire(), true).unwrap();
    w.end_record(at).unwrap();
    // SRV target is never compressed, though its suffix is in the message.
    let at = w
        .begin_record(
            name("_x._tcp.example.com").as_wire(),
            Type::SRV,
            Class::IN,
            5,
        )
        .unwrap();
    w.bytes(&[0, 0, 0, 100, 0, 80]).unwrap();
    w.name(name("a.example.com").as_wire(), false).unwrap();
    w.end_record(at).unwrap();
    let len = w.finish();
    let mut expected = Header::default().to_bytes().to_vec();
    expected.extend(wire(&[b"www", b"example", b"com"]));
    expected.extend([0, 1, 0, 1]);
    expected.extend([0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 44, 0, 2, 0xc0, 16]);
    expected.extend([2, b'_', b'x', 4, b'_', b't', b'c', b'p', 0xc0, 16]);
    expected.extend([0, 33, 0, 1, 0, 0, 0, 5, 0, 21, 0, 0, 0, 100, 0, 80]);
    expected.extend(wire(&[b"a", b"example", b"com"]));
    assert_eq!(&buf[..len], &expected[..]);

    // And it parses back to the same names.
    let mut patched = expected.clone();
    patched[4..6].copy_from_slice(&1u16.to_be_bytes()); // QDCOUNT = 1
    patched[6..8].copy_from_slice(&2u16.to_be_bytes()); // ANCOUNT = 2
    let msg = Message::parse(&patched).unwrap();
    let answers: Vec<_> = msg.records(Section::Answer).collect();
    assert_eq!(answers[0].name.to_string(), "www.example.com.");
    assert!(matches!(answers[0].data, RData::Cname(n) if n.to_string() == "example.com."));
    assert_eq!(answers[1].name.to_string(), "_x._tcp.example.com.");
    assert!(matches!(
        answers[1].data,
        RData::Srv { priority: 0, weight: 100, port: 80, target } if target.to_string() == "a.example.com."
    ));
}

#[test]
fn test_compression_is_case_exact() {
    let mut buf = [0u8; 512];
    let mut w = Writer::new(&mut buf);
    w.header(&Header::default()).unwrap();
    w.name(name("WWW.Example.com").as_wire(), true).unwrap();
    let second = w.len();
    w.name(name("www.example.com").as_wire(), true).unwrap();
    let len = w.finish();
    // Only "com" is shared byte for byte: "www", "example", then a pointer to "com" (at 24).
    assert_eq!(
        &buf[second..len],
        &[3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0xc0, 24]
    );
}

#[test]
fn test_writer_full_and_rollback() {
    let mut buf = [0u8; 20];
    let mut w = Writer::new(&mut buf);
    w.header(&Header::default()).unwrap();
    let mark = w.mark();
    assert_eq!(w.name(name("example.com").as_wire(), true), Err(Full));
    w.rollback(mark);
    assert_eq!(w.len(), 12);
    w.reserve(8).unwrap();
    assert_eq!(w.bytes(&[1]), Err(Full));
    assert_eq!(w.reserve(1), Err(Full));
    w.unreserve(8);
    w.bytes(&[1; 8]).unwrap();
    assert_eq!(w.remaining(), 0);
    // The suffixes offered by a rolled-back name are forgotten.
    let mut buf = [0u8; 64];
    let mut w = Writer::new(&mut buf);
    w.header(&Header::default()).unwrap();
    let mark = w.mark();
    w.name(name("a.b").as_wire(), true).unwrap();
    w.rollback(mark);
    w.bytes(&[0xff; 5]).unwrap();
    let at = w.len();
    w.name(name("a.b").as_wire(), true).unwrap();
    assert_eq!(&w.as_bytes()[at..], &[1, b'a', 1, b'b', 0]);
}

#[test]
fn test_forward_pointer_rejected() {
    // The question's name is a pointer to offset 20, after it.
    let mut body = vec![0xc0, 20, 0, 1, 0, 1];
    body.extend(wire(&[b"x"]));
    let msg = message([1, 0, 0, 0], &body);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::BadPointer);
}

#[test]
fn test_pointer_loops_rejected() {
    // A pointer to itself.
    let msg = message([1, 0, 0, 0], &[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::BadPointer);
    // A label, then a pointer back to that label.
    let msg = message([1, 0, 0, 0], &[1, b'a', 0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::BadPointer);
    // Two names pointing at each other: question 2 (at 18) points to 12, whose name points
    // forward to 18.
    let msg = message(
        [2, 0, 0, 0],
        &[0xc0, 18, 0, 1, 0, 1, 1, b'b', 0xc0, 12, 0, 1, 0, 1],
    );
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::BadPointer);
    // Into the header.
    let msg = message([1, 0, 0, 0], &[1, b'a', 0xc0, 4, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::BadPointer);
}

#[test]
fn test_backward_pointers_accepted_and_bounded() {
    // Question 1: "a.b."; question 2: "c" + pointer to "b." (offset 14).
    let mut body = wire(&[b"a", b"b"]);
    body.extend([0, 1, 0, 1, 1, b'c', 0xc0, 14, 0, 1, 0, 1]);
    let msg = message([2, 0, 0, 0], &body);
    let parsed = Message::parse(&msg).unwrap();
    let names: Vec<_> = parsed.questions().map(|q| q.name.to_string()).collect();
    assert_eq!(names, ["a.b.", "c.b."]);
    // A chain of pointers, each to the previous one: MAX_POINTERS of them are fine, one more
    // is not.
    for (hops, ok) in [(MAX_POINTERS, true), (MAX_POINTERS + 1, false)] {
        let mut body = vec![0u8];
        body.extend([0, 1, 0, 1]);
        let mut prev = 12u16;
        let mut qs = 1u16;
        for _ in 0..hops {
            let here = 12 + body.len() as u16;
            body.extend((0xc000 | prev).to_be_bytes());
            body.extend([0, 1, 0, 1]);
            prev = here;
            qs += 1;
        }
        let msg = message([qs, 0, 0, 0], &body);
        // The last question's name follows `hops` pointers... through names that are single
        // pointers, each of which is validated on its own first.
        let result = Message::parse(&msg);
        assert_eq!(result.is_ok(), ok, "{hops} pointers: {result:?}");
        if !ok {
            assert_eq!(result.unwrap_err(), ParseError::TooManyPointers);
        }
    }
}

#[test]
fn test_label_and_name_length_limits() {
    let l63 = [b'a'; 63];
    let l62 = [b'b'; 62];
    let l61 = [b'c'; 61];
    // 3 × (1 + 63) + (1 + 61) + 1 = 255: the longest name.
    let longest = wire(&[&l63, &l63, &l63, &l61]);
    assert_eq!(longest.len(), 255);
    let mut body = longest.clone();
    body.extend([0, 1, 0, 1]);
    let msg = message([1, 0, 0, 0], &body);
    let parsed = Message::parse(&msg).unwrap();
    assert_eq!(parsed.questions().next().unwrap().name.wire_len(), 255);
    assert_eq!(
        NameBuf::from_wire(&longest).unwrap().as_wire(),
        &longest[..]
    );
    // 256 bytes: too long.
    let too_long = wire(&[&l63, &l63, &l63, &l62]);
    let mut body = too_long.clone();
    body.extend([0, 1, 0, 1]);
    let msg = message([1, 0, 0, 0], &body);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::NameTooLong);
    assert_eq!(NameBuf::from_wire(&too_long), Err(NameError::TooLong));
    // Too long only once the pointer is followed: 2 × 64 + 62 = 190 bytes of labels before a
    // pointer to the 255-byte name.
    let mut body = longest.clone();
    body.extend([0, 1, 0, 1]);
    body.extend(&wire(&[&l63, &l63, &l61])[..190]);
    body.extend([0xc0, 12, 0, 1, 0, 1]);
    let msg = message([2, 0, 0, 0], &body);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::NameTooLong);
    // A 64-byte "label" has the top bits 01: an extended label type.
    let msg = message([1, 0, 0, 0], &[64, b'x', 0, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::BadLabelType);
    let msg = message([1, 0, 0, 0], &[0x80, 0, 0, 1, 0, 1]);
    assert_eq!(Message::parse(&msg).unwrap_err(), ParseError::BadLabelType);
    // From text.
    let s63 = core::str::from_utf8(&l63).unwrap();
    assert!(NameBuf::from_dotted(&[s63, "x"].join(".")).is_ok());
    let s64 = [s63, "a"].concat();
    assert_eq!(NameBuf::from_dotted(&s64), Err(NameError::LabelTooLong));
    assert_eq!(NameBuf::from_dotted("a..b"), Err(NameError::EmptyLabel));
    assert_eq!(NameBuf::from_dotted(".a"), Err(NameError::EmptyLabel));
    let s = [s63; 4].join(".");
    assert_eq!(NameBuf::from_dotted(&s), Err(NameError::TooLong));
}

#[test]
fn test_every_truncation_of_a_valid_message_fails_cleanly() {
    for cut in 0..DIG_A_REDIS_0.len() {
        let err = Message::parse(&DIG_A_REDIS_0[..cut]).unwrap_err();
        assert_eq!(err, ParseError::Truncated, "cut at {cut}");
    }
    // Bytes after the last record are counted, not an error.
    let mut longer = DIG_A_REDIS_0.to_vec();
    longer.extend([1, 2, 3]);
    assert_eq!(Message::parse(&longer).unwrap().trailing(), 3);
}

#[test]
fn test_rdata_must_match_its_type() {
    let owner = wire(&[b"x"]);
    let record = |rtype: u16, class: u16, rdata: &[u8]| {
        let mut body = owner.clone();
        body.extend(rtype.to_be_bytes());
        body.extend(class.to_be_bytes());
        body.extend([0, 0, 0, 5]);
        body.extend((rdata.len() as u16).to_be_bytes());
        body.extend(rdata);
        Message::parse(&message([0, 1, 0, 0], &body)).map(|m| {
            let r = m.records(Section::Answer).next().unwrap();
            alloc::format!("{:?}", r.data)
        })
    };
    assert_eq!(record(1, 1, &[10, 0, 0, 1]).unwrap(), "A(10.0.0.1)");
    assert_eq!(record(1, 1, &[10, 0, 0]), Err(ParseError::BadRdata));
    assert_eq!(record(28, 1, &[0; 15]), Err(ParseError::BadRdata));
    // A in class CH is not an IPv4 address: raw bytes.
    assert_eq!(record(1, 3, &[1, 2, 3]).unwrap(), "Other([1, 2, 3])");
    // CNAME with a byte after the name, and a name running past RDLENGTH.
    let mut cname = wire(&[b"t"]);
    assert!(record(5, 1, &cname).is_ok());
    cname.push(0);
    assert_eq!(record(5, 1, &cname), Err(ParseError::BadRdata));
    let body = [1, b'x', 0, 0, 5, 0, 1, 0, 0, 0, 5, 0, 2, 1, b't', 0];
    assert_eq!(
        Message::parse(&message([0, 1, 0, 0], &body)).unwrap_err(),
        ParseError::BadRdata
    );
    // TXT: strings must fill RDLENGTH exactly, and there must be one.
    assert!(record(16, 1, &[2, b'h', b'i', 0]).is_ok());
    assert_eq!(record(16, 1, &[3, b'h', b'i']), Err(ParseError::BadRdata));
    assert_eq!(record(16, 1, &[]), Err(ParseError::BadRdata));
    // OPT options: code, length, data.
    assert!(record(41, 512, &[0, 10, 0, 2, 1, 2]).is_ok());
    assert_eq!(
        record(41, 512, &[0, 10, 0, 3, 1, 2]),
        Err(ParseError::BadRdata)
    );
    assert_eq!(record(41, 512, &[0, 10, 0]), Err(ParseError::BadRdata));
    // SOA: two names and exactly 20 bytes.
    let mut soa = wire(&[b"ns"]);
    soa.extend(wire(&[b"hm"]));
    soa.extend([0; 20]);
    assert!(record(6, 1, &soa).is_ok());
    soa.push(0);
    assert_eq!(record(6, 1, &soa), Err(ParseError::BadRdata));
    // SRV: three fields and a name.
    let mut srv = vec![0, 1, 0, 2, 0, 3];
    srv.extend(wire(&[b"t"]));
    assert!(record(33, 1, &srv).unwrap().contains("port: 3"));
    assert_eq!(record(33, 1, &[0, 1, 0]), Err(ParseError::BadRdata));
}

#[test]
fn test_name_buf_text_and_case() {
    let mut n = name("Redis-0.Redis.Production.svc.cluster.local.");
    assert_eq!(n.label_count(), 6);
    assert_eq!(n.to_string(), "Redis-0.Redis.Production.svc.cluster.local.");
    let lower = name("redis-0.redis.production.svc.cluster.local");
    assert_ne!(n, lower);
    assert!(n.eq_ignore_ascii_case(&lower));
    n.make_ascii_lowercase();
    assert_eq!(n, lower);
    assert_eq!(NameBuf::from_dotted(".").unwrap(), NameBuf::ROOT);
    assert_eq!(NameBuf::from_dotted("").unwrap().to_string(), ".");
    // Presentation escapes: a dot inside a label, a space, a backslash.
    let mut odd = NameBuf::ROOT;
    odd.push_label(b"a.b c\\").unwrap();
    assert_eq!(odd.to_string(), "a\\.b\\032c\\\\.");
    assert_eq!(Type(65).to_string(), "TYPE65");
    assert_eq!(Type::SRV.to_string(), "SRV");
    assert_eq!(Class(42).to_string(), "CLASS42");
    assert_eq!(Rcode::BADVERS.header_bits(), 0);
    assert_eq!(Rcode::BADVERS.extended_bits(), 1);
}

/// The names inside MB, MINFO, AFSDB and PX data may be compressed by the sender (RFC 3597
/// §4): copied into another message, they must name the same domains, not whatever the old
/// offsets point at there. (Copied as raw bytes, an MB's `bar.example.com` became the root.)
#[test]
fn test_copied_records_keep_the_names_inside_their_data() {
    let ex: &[u8] = b"\x07example\x03com\x00";
    let mut m = vec![0xbe, 0xef, 0x84, 0x00, 0, 1, 0, 4, 0, 0, 0, 0];
    m.extend_from_slice(ex);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(ex);
    m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 1, 2, 3, 4]);
    // The MB record's owner, bar.example.com, written whole: the records' data point at it.
    let bar = m.len();
    let ptr = [0xc0 | (bar >> 8) as u8, bar as u8];
    // MB: one name; MINFO: two; AFSDB: a preference and a name; PX: a preference and two.
    for (i, (rtype, data)) in [
        (7u16, [&ptr[..]].concat()),
        (14, [&ptr[..], &[0xc0, 12]].concat()),
        (18, [&[0, 1][..], &ptr].concat()),
        (26, [&[0, 10][..], &ptr, &[0xc0, 12]].concat()),
    ]
    .into_iter()
    .enumerate()
    {
        if i == 0 {
            m.extend_from_slice(b"\x03bar");
            m.extend_from_slice(ex);
        } else {
            m.extend_from_slice(&[0xc0, 12]);
        }
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 5]);
        m.extend_from_slice(&(data.len() as u16).to_be_bytes());
        m.extend_from_slice(&data);
    }
    m[7] = 5;
    let msg = Message::parse(&m).unwrap();
    let copied = copy_message(&msg, Section::Answer);
    let copy = Message::parse(&copied).unwrap();
    let names = |m: &Message<'_>| -> Vec<String> {
        m.records(Section::Answer)
            .map(|r| match r.data {
                RData::Names {
                    preference,
                    first,
                    second,
                } => alloc::format!("{preference:?} {first} {second:?}"),
                other => alloc::format!("{other:?}"),
            })
            .collect()
    };
    let want = names(&msg);
    assert_eq!(want[1], "None bar.example.com. None");
    assert!(want[2].contains("bar.example.com.") && want[2].contains("example.com."));
    assert_eq!(names(&copy), want);
}
