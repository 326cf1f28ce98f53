//! A small DNS responder for the cluster domain: the seed cluster's Service DNS over UDP.
//!
//! Loads `testdata/seed-cluster.json` (or the Kubernetes JSON file given) with the JSON loader
//! into a catalog, builds the `svcplane::dns::Zone`, prints every record it serves and answers
//! queries on the address given (default `127.0.0.1:5353`) until interrupted.
//!
//! ```sh
//! cargo run --example dns_responder --features k8s-json -- 127.0.0.1:5353
//! dig @127.0.0.1 -p 5353 +norecurse redis.production.svc.cluster.local
//! dig @127.0.0.1 -p 5353 +norecurse _http._tcp.pricing-engine-svc.production.svc.cluster.local SRV
//! dig @127.0.0.1 -p 5353 +norecurse -x 10.96.47.182
//! ```
//!
//! Usage: `dns_responder [-v] [ADDRESS:PORT] [CLUSTER.json]`; `-v` prints one line per query.

#[path = "support/dns_server.rs"]
mod dns_server;

use std::net::{SocketAddr, UdpSocket};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

fn main() -> ExitCode {
    let mut verbose = false;
    let mut addr: SocketAddr = ([127, 0, 0, 1], 5353).into();
    let mut file = None;
    for arg in std::env::args().skip(1) {
        if arg == "-v" {
            verbose = true;
        } else if let Ok(a) = arg.parse() {
            addr = a;
        } else if arg.starts_with('-') {
            eprintln!("usage: dns_responder [-v] [ADDRESS:PORT] [CLUSTER.json]");
            return ExitCode::FAILURE;
        } else {
            file = Some(arg);
        }
    }
    let json = match &file {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => dns_server::SEED_JSON.to_vec(),
    };
    let source = file.as_deref().unwrap_or("testdata/seed-cluster.json");
    let catalog = match dns_server::load_catalog(&json) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{source}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let zone = match dns_server::zone_for(&catalog, Some(addr.ip())) {
        Ok(z) => z,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let socket = match UdpSocket::bind(addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = socket.local_addr().unwrap_or(addr);
    println!(
        "{source}: {} Services; zone {} with {} names, {} records",
        catalog.len(),
        zone.config().domain,
        zone.len(),
        zone.record_count()
    );
    print!("{zone}");
    println!("\nserving on {local} (UDP); try:");
    println!(
        "  dig @{} -p {} +norecurse redis.production.svc.cluster.local",
        local.ip(),
        local.port()
    );
    let stop = AtomicBool::new(false);
    match dns_server::serve(&socket, &zone, &stop, verbose) {
        Ok(counts) => {
            println!("{counts:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
