//! svcplane: the dataplane of Kubernetes Services, as an embeddable library.
//!
//! A control plane tells svcplane which Services and endpoints exist; a datapath (a DPDK loop,
//! a netfilter-queue reader, a TUN proxy) hands it packets and gets back a verdict and a
//! rewritten header. svcplane owns no threads, no clock, no sockets and no global state.
//!
//! The core is `#![no_std]` + `alloc`; the `std` feature (on by default) adds conveniences such
//! as `std::error::Error` implementations. Built without `std` for a target without an operating
//! system, the static library carries a minimal runtime (allocations through the C library's
//! `malloc`, `abort()` on panic) so C firmware can link it as it is; the `no-runtime` feature
//! leaves both to a Rust firmware that has its own.
//!
//! Modules:
//! - [`wire`]: zero-copy views of IPv4, IPv6 (with extension headers), TCP, UDP, SCTP,
//!   ICMPv4/ICMPv6, and the checksums they carry.
//! - [`nat`]: rewriting addresses and ports in place with incremental checksum updates,
//!   including the header quoted inside ICMP errors.
//! - [`model`]: Services and EndpointSlices as Kubernetes defines them, with the API server's
//!   validation rules.
//! - [`select`]: which endpoints serve cluster-wide and node-local traffic (readiness fallback,
//!   traffic policies, topology hints).
//! - [`hash`]: the fixed, documented hashes (XXH64) every node and core agrees on.
//! - [`maglev`]: weighted Maglev consistent hashing with a reproducible table.
//! - [`affinity`]: ClientIP session affinity, a fixed-capacity table of pinned backends.
//! - [`dataplane`]: the per-core [`dataplane::Worker`]: the packet pipeline, verdicts, counters.
//! - [`conntrack`]: the fixed-capacity flow table (both directions find one entry).
//! - [`catalog`]: the desired state (Services, EndpointSlices), validated, with cluster-wide
//!   conflict checks, compiled incrementally into snapshots.
//! - [`snapshot`]: the compiled, immutable service table: O(1) frontend and NodePort lookup and
//!   per-port plans (backends, pools, Maglev tables, policies) for the packet path.
//! - [`dns`]: Service DNS (A/AAAA, headless endpoints, SRV, ExternalName CNAME, PTR) compiled
//!   into an immutable zone that answers DNS wire-format queries into caller buffers.
//! - `k8s` (feature `k8s-json`, on by default; needs `std` and `serde_json`): Services,
//!   EndpointSlices and Lists as the Kubernetes API returns them in JSON, applied to a catalog;
//!   several EndpointSlices of a Service merge.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[allow(unused_extern_crates)]
extern crate alloc;

pub mod affinity;
#[cfg(all(
    target_os = "none",
    not(feature = "std"),
    not(feature = "no-runtime"),
    not(test)
))]
mod bare_metal;
pub mod catalog;
pub mod conntrack;
pub mod dataplane;
pub mod dns;
pub mod hash;
#[cfg(feature = "k8s-json")]
pub mod k8s;
pub mod maglev;
pub mod model;
pub mod nat;
mod prefetch;
pub mod select;
pub mod snapshot;
pub mod wire;

/// The integration tests' independent packet builder and checksum oracle (`tests/common`),
/// shared with the unit tests.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod oracle;
