//! The DNS responder example, asked by `dig` (Debian `dnsutils`) for every kind of record.
//!
//! The example's own serve loop (`examples/support/dns_server.rs`) runs on a thread over an
//! ephemeral UDP port on 127.0.0.1, with the seed cluster loaded from
//! `testdata/seed-cluster.json` plus a few Services only this test adds (a headless Service
//! too big for 512 bytes, one without ready endpoints, one with an IPv6 endpoint and no
//! hostnames, an ExternalName pointing inside the zone). Each case runs `dig +norecurse +notcp`
//! (UDP only, as the responder serves) and compares its status, flags and records exactly;
//! the cases cover the pod records (`<a>-<b>-<c>-<d>.<ns>.pod.<zone>`) too.
//!
//! Without `dig` on PATH the test is skipped with a message, unless `SVCPLANE_REQUIRE_DIG=1`
//! (CI sets it), which makes it fail.

#[allow(dead_code)] // the example uses every item; this test not all of them
#[path = "../examples/support/dns_server.rs"]
mod dns_server;

use std::net::{IpAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use svcplane::catalog::Catalog;
use svcplane::model::{
    ClusterIps, Conditions, Endpoint, EndpointPort, EndpointSlice, IpFamily, IpFamilyPolicy,
    Protocol, Service, ServicePort, ServiceType,
};

/// What dig printed, with `+noall +comments +answer +authority +additional`.
#[derive(Debug, Default)]
struct Dig {
    opcode: String,
    status: String,
    flags: Vec<String>,
    edns: bool,
    answer: Vec<String>,
    authority: Vec<String>,
    additional: Vec<String>,
    output: String,
}

fn parse_dig(output: &str) -> Dig {
    let mut dig = Dig {
        output: output.to_string(),
        ..Dig::default()
    };
    let mut section: Option<&str> = None;
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<- ") {
            // opcode: QUERY, status: NOERROR, id: 46560
            for field in rest.split(", ") {
                if let Some(v) = field.strip_prefix("opcode: ") {
                    dig.opcode = v.to_string();
                } else if let Some(v) = field.strip_prefix("status: ") {
                    dig.status = v.to_string();
                }
            }
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            // qr aa; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 3
            let flags = rest.split(';').next().unwrap_or_default();
            dig.flags = flags.split_whitespace().map(str::to_string).collect();
        } else if line.starts_with("; EDNS:") {
            dig.edns = true;
        } else if let Some(name) = line
            .strip_prefix(";; ")
            .and_then(|l| l.strip_suffix(" SECTION:"))
        {
            section = Some(match name {
                "ANSWER" => "answer",
                "AUTHORITY" => "authority",
                "ADDITIONAL" => "additional",
                _ => "other",
            });
        } else if line.trim().is_empty() {
            section = None;
        } else if !line.starts_with(';') {
            let record = line.split_whitespace().collect::<Vec<_>>().join(" ");
            match section {
                Some("answer") => dig.answer.push(record),
                Some("authority") => dig.authority.push(record),
                Some("additional") => dig.additional.push(record),
                _ => panic!("record outside a section: {line}\n{output}"),
            }
        }
    }
    dig
}

/// Runs `dig @127.0.0.1 -p port +norecurse … args` and parses what it prints.
fn dig(port: u16, args: &[&str]) -> Dig {
    let out = Command::new("dig")
        .arg("@127.0.0.1")
        .args(["-p", &port.to_string()])
        .args(["+norecurse", "+notcp", "+tries=1", "+time=5"])
        .args([
            "+noall",
            "+comments",
            "+answer",
            "+authority",
            "+additional",
        ])
        .args(args)
        .output()
        .expect("dig runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dig {args:?}: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    parse_dig(&stdout)
}

const SOA: &str =
    "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5";

/// Checks status, flags and every section of one dig run.
#[track_caller]
fn expect(
    d: &Dig,
    status: &str,
    flags: &[&str],
    answer: &[&str],
    authority: &[&str],
    additional: &[&str],
) {
    let context = &d.output;
    assert_eq!(d.status, status, "{context}");
    assert_eq!(d.flags, flags, "{context}");
    assert_eq!(d.answer, answer, "{context}");
    assert_eq!(d.authority, authority, "{context}");
    assert_eq!(d.additional, additional, "{context}");
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn headless(catalog: &mut Catalog, name: &str, family: IpFamily, endpoints: Vec<Endpoint>) {
    let service = Service {
        cluster_ips: ClusterIps::Headless,
        ip_families: vec![family],
        ip_family_policy: Some(IpFamilyPolicy::SingleStack),
        ports: vec![ServicePort::tcp(80).named("http")],
        ..Service::new("default", name)
    };
    let id = service.id.clone();
    catalog.upsert_service(service).unwrap();
    let slice = EndpointSlice {
        name: format!("{name}-x1y2z"),
        family,
        ports: vec![EndpointPort::new("http", Protocol::Tcp, 8080)],
        endpoints,
    };
    catalog.replace_endpoints(&id, vec![slice]).unwrap();
}

/// The seed cluster and this test's own Services.
fn catalog() -> Catalog {
    let mut c = dns_server::load_catalog(dns_server::SEED_JSON).expect("seed cluster loads");
    assert_eq!(c.len(), 12, "the seed cluster's Services");
    // 60 A records: 960 bytes of answer, more than 512, less than 1232.
    let big = (0..60u8)
        .map(|i| Endpoint::new(IpAddr::from([10, 244, 3, 100 + i])))
        .collect();
    headless(&mut c, "big", IpFamily::V4, big);
    let not_ready = Conditions::from_api(Some(false), Some(false), Some(false));
    headless(
        &mut c,
        "nobody-ready",
        IpFamily::V4,
        vec![Endpoint::new(ip("10.244.1.77")).with_conditions(not_ready)],
    );
    headless(
        &mut c,
        "six",
        IpFamily::V6,
        vec![Endpoint::new(ip("fd00:10:244:3::5"))],
    );
    let alias = Service {
        service_type: ServiceType::ExternalName,
        external_name: Some("redis-0.redis.production.svc.cluster.local.".into()),
        ..Service::new("default", "redis-alias")
    };
    c.upsert_service(alias).unwrap();
    c
}

fn dig_available() -> bool {
    match Command::new("dig").arg("-v").output() {
        Ok(_) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => panic!("running dig: {e}"),
    }
}

#[test]
fn dig_gets_every_record_kind() {
    if !dig_available() {
        if std::env::var("SVCPLANE_REQUIRE_DIG").as_deref() == Ok("1") {
            panic!("dig not found: apt-get install dnsutils");
        }
        // Straight to stderr: the test harness captures eprintln! and drops it for a passing
        // test, so a skip would go unseen.
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"SKIPPED dns_dig: dig not found (apt-get install dnsutils; CI sets SVCPLANE_REQUIRE_DIG=1)\n",
        );
        return;
    }
    let catalog = catalog();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let zone = dns_server::zone_for(&catalog, Some(ip("127.0.0.1"))).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        thread::spawn(move || dns_server::serve(&socket, &zone, &stop, false))
    };
    let mut queries = 0u64;
    let mut ask = |args: &[&str]| {
        queries += 1;
        dig(port, args)
    };
    let aa = &["qr", "aa"][..];

    // A of a ClusterIP Service.
    let d = ask(&["pricing-engine-svc.production.svc.cluster.local", "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["pricing-engine-svc.production.svc.cluster.local. 5 IN A 10.96.47.182"],
        &[],
        &[],
    );
    assert!(d.edns, "the OPT is echoed: {}", d.output);

    // AAAA of the dual-stack Service, and its A.
    let kube_dns = "kube-dns.kube-system.svc.cluster.local";
    let d = ask(&[kube_dns, "AAAA"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[&format!("{kube_dns}. 5 IN AAAA fd00:10:96::a")],
        &[],
        &[],
    );
    let d = ask(&[kube_dns, "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[&format!("{kube_dns}. 5 IN A 10.96.0.10")],
        &[],
        &[],
    );
    let d = ask(&[kube_dns, "ANY"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[
            &format!("{kube_dns}. 5 IN A 10.96.0.10"),
            &format!("{kube_dns}. 5 IN AAAA fd00:10:96::a"),
        ],
        &[],
        &[],
    );

    // Headless: every ready endpoint, and each endpoint's hostname.
    let d = ask(&["redis.production.svc.cluster.local", "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[
            "redis.production.svc.cluster.local. 5 IN A 10.244.1.50",
            "redis.production.svc.cluster.local. 5 IN A 10.244.2.51",
        ],
        &[],
        &[],
    );
    let d = ask(&["redis-0.redis.production.svc.cluster.local", "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["redis-0.redis.production.svc.cluster.local. 5 IN A 10.244.1.50"],
        &[],
        &[],
    );

    // Endpoints without a hostname are named by their dashed address.
    let d = ask(&["10-244-3-101.big.default.svc.cluster.local", "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["10-244-3-101.big.default.svc.cluster.local. 5 IN A 10.244.3.101"],
        &[],
        &[],
    );
    let d = ask(&["fd00-10-244-3--5.six.default.svc.cluster.local", "AAAA"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["fd00-10-244-3--5.six.default.svc.cluster.local. 5 IN AAAA fd00:10:244:3::5"],
        &[],
        &[],
    );

    // SRV of a ClusterIP Service's named port, target's address in the additional section.
    let name = "_http._tcp.pricing-engine-svc.production.svc.cluster.local";
    let d = ask(&[name, "SRV"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[&format!(
            "{name}. 5 IN SRV 0 100 80 pricing-engine-svc.production.svc.cluster.local."
        )],
        &[],
        &["pricing-engine-svc.production.svc.cluster.local. 5 IN A 10.96.47.182"],
    );
    let name = "_dns._udp.kube-dns.kube-system.svc.cluster.local";
    let d = ask(&[name, "SRV"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[&format!("{name}. 5 IN SRV 0 100 53 {kube_dns}.")],
        &[],
        &[
            &format!("{kube_dns}. 5 IN A 10.96.0.10"),
            &format!("{kube_dns}. 5 IN AAAA fd00:10:96::a"),
        ],
    );

    // SRV of a headless Service: one per ready endpoint, its own name and port.
    let name = "_redis._tcp.redis.production.svc.cluster.local";
    let d = ask(&[name, "SRV"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[
            &format!("{name}. 5 IN SRV 0 50 6379 redis-0.redis.production.svc.cluster.local."),
            &format!("{name}. 5 IN SRV 0 50 6379 redis-1.redis.production.svc.cluster.local."),
        ],
        &[],
        &[
            "redis-0.redis.production.svc.cluster.local. 5 IN A 10.244.1.50",
            "redis-1.redis.production.svc.cluster.local. 5 IN A 10.244.2.51",
        ],
    );

    // ExternalName: a CNAME (not followed outside the zone; followed inside it).
    let d = ask(&["external-db.default.svc.cluster.local", "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["external-db.default.svc.cluster.local. 5 IN CNAME db.example.com."],
        &[],
        &[],
    );
    let d = ask(&["redis-alias.default.svc.cluster.local", "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[
            "redis-alias.default.svc.cluster.local. 5 IN CNAME redis-0.redis.production.svc.cluster.local.",
            "redis-0.redis.production.svc.cluster.local. 5 IN A 10.244.1.50",
        ],
        &[],
        &[],
    );

    // PTR: a cluster IP (both families) and a headless endpoint.
    let d = ask(&["-x", "10.96.47.182"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["182.47.96.10.in-addr.arpa. 5 IN PTR pricing-engine-svc.production.svc.cluster.local."],
        &[],
        &[],
    );
    let d = ask(&["-x", "fd00:10:96::a"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[&format!(
            "a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 5 IN PTR {kube_dns}."
        )],
        &[],
        &[],
    );
    let d = ask(&["-x", "10.244.2.51"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["51.2.244.10.in-addr.arpa. 5 IN PTR redis-1.redis.production.svc.cluster.local."],
        &[],
        &[],
    );

    // NXDOMAIN: no such Service; a headless Service without ready endpoints; an address of
    // the service CIDR no Service holds.
    for name in [
        "nope.production.svc.cluster.local",
        "nobody-ready.default.svc.cluster.local",
    ] {
        let d = ask(&[name, "A"]);
        expect(&d, "NXDOMAIN", aa, &[], &[SOA], &[]);
    }
    let d = ask(&["-x", "10.99.0.1"]);
    expect(
        &d,
        "NXDOMAIN",
        aa,
        &[],
        &["99.10.in-addr.arpa. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"],
        &[],
    );

    // NODATA: an existing name without the type; an empty non-terminal.
    let d = ask(&["pricing-engine-svc.production.svc.cluster.local", "AAAA"]);
    expect(&d, "NOERROR", aa, &[], &[SOA], &[]);
    let d = ask(&["production.svc.cluster.local", "A"]);
    expect(&d, "NOERROR", aa, &[], &[SOA], &[]);

    // Pod records (specification §2.6, insecure by default): A of the dashed address, AAAA of
    // the IPv6 form; the other type NODATA; a name that is no address NXDOMAIN; the namespace
    // above them NODATA.
    let pod = "10-244-1-5.Default.pod.cluster.local";
    let d = ask(&[pod, "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[&format!("{pod}. 5 IN A 10.244.1.5")],
        &[],
        &[],
    );
    let d = ask(&[pod, "AAAA"]);
    expect(&d, "NOERROR", aa, &[], &[SOA], &[]);
    let pod6 = "fd00-10-244-1--5.default.pod.cluster.local";
    let d = ask(&[pod6, "AAAA"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &[&format!("{pod6}. 5 IN AAAA fd00:10:244:1::5")],
        &[],
        &[],
    );
    let d = ask(&["010-244-1-5.default.pod.cluster.local", "A"]);
    expect(&d, "NXDOMAIN", aa, &[], &[SOA], &[]);
    let d = ask(&["default.pod.cluster.local", "A"]);
    expect(&d, "NOERROR", aa, &[], &[SOA], &[]);

    // Case does not matter, and the answer keeps the question's.
    let d = ask(&["PRICING-Engine-SVC.Production.svc.CLUSTER.local", "A"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["PRICING-Engine-SVC.Production.svc.CLUSTER.local. 5 IN A 10.96.47.182"],
        &[],
        &[],
    );

    // The zone apex, the name server and the schema version.
    let d = ask(&["cluster.local", "SOA"]);
    expect(&d, "NOERROR", aa, &[SOA], &[], &[]);
    let d = ask(&["cluster.local", "NS"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["cluster.local. 5 IN NS ns.dns.cluster.local."],
        &[],
        &["ns.dns.cluster.local. 5 IN A 127.0.0.1"],
    );
    let d = ask(&["dns-version.cluster.local", "TXT"]);
    expect(
        &d,
        "NOERROR",
        aa,
        &["dns-version.cluster.local. 5 IN TXT \"1.1.0\""],
        &[],
        &[],
    );

    // Outside the zone: REFUSED, not authoritative.
    let d = ask(&["example.com", "A"]);
    expect(&d, "REFUSED", &["qr"], &[], &[], &[]);

    // Too big for 512 bytes without EDNS: TC, and the 29 records that fit, in order (what a
    // client without a TCP fallback uses); with EDNS the 60 records fit.
    let big = "big.default.svc.cluster.local";
    let d = ask(&["+noedns", "+ignore", big, "A"]);
    let first: Vec<String> = (0..29)
        .map(|i| format!("{big}. 5 IN A 10.244.3.{}", 100 + i))
        .collect();
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    expect(&d, "NOERROR", &["qr", "aa", "tc"], &first, &[], &[]);
    assert!(!d.edns);
    let d = ask(&["+bufsize=1232", big, "A"]);
    assert_eq!(d.status, "NOERROR", "{}", d.output);
    assert_eq!(d.flags, aa, "{}", d.output);
    assert_eq!(d.answer.len(), 60, "{}", d.output);
    assert_eq!(d.answer[0], format!("{big}. 5 IN A 10.244.3.100"));
    assert_eq!(d.answer[59], format!("{big}. 5 IN A 10.244.3.159"));

    // What a responder must refuse to do, done right: an unknown opcode, no question, an
    // EDNS version it does not speak.
    let d = ask(&["+opcode=status", "cluster.local"]);
    assert_eq!(
        (d.opcode.as_str(), d.status.as_str()),
        ("STATUS", "NOTIMP"),
        "{}",
        d.output
    );
    let d = ask(&["+header-only"]);
    assert_eq!(d.status, "FORMERR", "{}", d.output);
    let d = ask(&["+edns=1", "+noednsnegotiation", "cluster.local", "SOA"]);
    assert_eq!(d.status, "BADVERS", "{}", d.output);
    assert!(d.edns && d.answer.is_empty());

    stop.store(true, Ordering::Relaxed);
    let counts = server.join().unwrap().unwrap();
    assert_eq!(counts.received, queries, "one datagram per dig run");
    assert_eq!(counts.answered, queries);
    assert_eq!(counts.truncated, 1);
    assert_eq!(counts.ignored, 0);
}
