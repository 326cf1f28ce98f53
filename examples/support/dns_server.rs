//! The UDP serve loop of the DNS responder example, shared with `tests/dns_dig.rs` (which
//! includes this file with `#[path]`, so the test runs exactly the example's code).
//!
//! svcplane owns no sockets: the socket, the thread and the loop are the caller's, here. The
//! library's part is `Zone::answer`, which writes each response into the same reusable buffer.

use std::io;
use std::net::{IpAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use svcplane::catalog::Catalog;
use svcplane::dns::wire::Message;
use svcplane::dns::{Transport, Zone, ZoneConfig};
use svcplane::k8s::Loader;
use svcplane::model::seed;

/// The seed cluster, as `kubectl get svc,endpointslices -A -o json` would print it.
pub const SEED_JSON: &[u8] = include_bytes!("../../testdata/seed-cluster.json");

/// How often the loop looks at its stop flag while no query arrives.
const POLL: Duration = Duration::from_millis(100);

/// Loads Kubernetes JSON (a List, a Service, an EndpointSlice…) into a catalog for the seed
/// cluster's first node, as the quickstart does.
pub fn load_catalog(json: &[u8]) -> Result<Catalog, String> {
    let mut catalog = Catalog::new(seed::node(0)).map_err(|e| e.to_string())?;
    Loader::new()
        .apply_json(&mut catalog, json)
        .map_err(|e| e.to_string())?;
    Ok(catalog)
}

/// The zone of `catalog` for `cluster.local`; `nameserver`, if given, becomes the address of
/// `ns.dns.cluster.local`.
pub fn zone_for(catalog: &Catalog, nameserver: Option<IpAddr>) -> Result<Zone, String> {
    let config = ZoneConfig {
        nameservers: nameserver.into_iter().collect(),
        ..ZoneConfig::default()
    };
    Zone::from_catalog(catalog, config).map_err(|e| e.to_string())
}

/// What a serve loop did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Datagrams received.
    pub received: u64,
    /// Responses sent.
    pub answered: u64,
    /// Of those, with TC set.
    pub truncated: u64,
    /// Datagrams not answered (shorter than a header, or responses).
    pub ignored: u64,
}

/// Answers queries for `zone` on `socket` until `stop` is set. Two buffers serve the whole
/// loop; nothing is allocated per query (unless `verbose`, which prints one line per query).
pub fn serve(
    socket: &UdpSocket,
    zone: &Zone,
    stop: &AtomicBool,
    verbose: bool,
) -> io::Result<Counts> {
    socket.set_read_timeout(Some(POLL))?;
    let mut query = vec![0u8; 65_535];
    let mut response = vec![0u8; 65_535];
    let mut counts = Counts::default();
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut query) {
            Ok(received) => received,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        counts.received += 1;
        let query = query.get(..len).unwrap_or_default();
        match zone.answer(query, Transport::Udp, &mut response) {
            Ok(r) => {
                let bytes = response.get(..r.len).unwrap_or_default();
                socket.send_to(bytes, peer)?;
                counts.answered += 1;
                counts.truncated += u64::from(r.truncated);
                if verbose {
                    let asked = Message::parse(query).ok().and_then(|m| {
                        m.questions()
                            .next()
                            .map(|q| format!("{} {}", q.name, q.qtype))
                    });
                    println!(
                        "{peer} {} -> {}{} ({} bytes)",
                        asked.as_deref().unwrap_or("(no question)"),
                        r.rcode,
                        if r.truncated { " TC" } else { "" },
                        r.len
                    );
                }
            }
            Err(why) => {
                counts.ignored += 1;
                if verbose {
                    println!("{peer} ignored: {why}");
                }
            }
        }
    }
    Ok(counts)
}
