//! The zone: every name the cluster domain (and the reverse zones) hold, compiled once on the
//! control path into an immutable map from lowercase names to their records.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::wire::{NameBuf, NameError, Type, WireName};
use crate::catalog::Catalog;
use crate::model::{
    is_dns1123_label, Cidr, EndpointSlice, IpFamily, Protocol, Service, ServiceType,
};

/// The TTL of every answer unless configured: 5 s, CoreDNS's default.
pub const DEFAULT_TTL: u32 = 5;
/// The largest UDP response sent to an EDNS client unless configured: 1232 bytes, which fits
/// an IPv6 packet in a 1280-byte MTU (the DNS flag day 2020 value).
pub const DEFAULT_UDP_PAYLOAD: u16 = 1232;
/// The schema version of the Kubernetes DNS specification this zone implements, served as TXT
/// at `dns-version.<domain>`. (With [`PodRecords::Disabled`] the zone leaves out the pod
/// records the specification requires, §2.6, and still serves this version, as CoreDNS does.)
pub const SCHEMA_VERSION: &str = "1.1.0";
/// SOA REFRESH, RETRY and EXPIRE of the synthesized zones, seconds (CoreDNS's values).
const SOA_TIMERS: [u32; 3] = [7200, 1800, 86400];

/// What a [`Zone`] is built with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZoneConfig {
    /// The cluster domain, `cluster.local` by default (a trailing dot is allowed).
    pub domain: String,
    /// The TTL of every record, seconds. Default [`DEFAULT_TTL`].
    pub ttl: u32,
    /// The negative-caching TTL (RFC 2308): the SOA MINIMUM, and at most the TTL of the SOA
    /// sent with NXDOMAIN and NODATA answers. Default [`DEFAULT_TTL`].
    pub negative_ttl: u32,
    /// The SOA serial. Bump it when the zone is rebuilt with different content (the catalog's
    /// snapshot generation is a good value). Default 1.
    pub serial: u32,
    /// The largest UDP response sent to a client that advertises a larger EDNS buffer; also
    /// advertised in the OPT record of responses. Values below 512 count as 512. Default
    /// [`DEFAULT_UDP_PAYLOAD`].
    pub udp_payload_size: u16,
    /// Address prefixes whose reverse names (`in-addr.arpa`, `ip6.arpa`) the zone answers for:
    /// PTR records of cluster IPs and headless endpoints inside them, NXDOMAIN for the other
    /// addresses inside them. [`Zone::from_catalog`] adds the node's service and pod CIDRs.
    /// A cluster IP or headless endpoint outside all of them still gets its PTR: its reverse
    /// name becomes a zone of its own, holding that one address (see [`ZoneBuilder::build`]).
    pub reverse_zones: Vec<Cidr>,
    /// The addresses of this DNS server, published as A/AAAA of `ns.dns.<domain>` (the name in
    /// the zones' NS and SOA records). Empty by default: the name then has no address records.
    pub nameservers: Vec<IpAddr>,
    /// Which deprecated pod records `<a>-<b>-<c>-<d>.<ns>.pod.<domain>` the zone answers
    /// (specification §2.6). Default [`PodRecords::Insecure`], the specification's behaviour
    /// (and that of kubeadm's default Corefile, `pods insecure`).
    pub pod_records: PodRecords,
}

/// Which pod records `<a>-<b>-<c>-<d>.<ns>.pod.<domain>` a [`Zone`] answers: the deprecated
/// records of the Kubernetes DNS specification 1.1.0 (§2.6), which kube-dns answered "for any
/// values of a, b, c and d between 0 and 255" and which the specification still requires.
/// CoreDNS's `pods disabled | insecure | verified`.
///
/// The first label is an address written as [`dashed_ip`] writes it, read as CoreDNS reads it:
/// with exactly three `-` and no `--` it is an IPv4 address (`10-244-1-5`: four decimal
/// numbers 0–255 without leading zeros), otherwise an IPv6 address with each `:` written `-`
/// (`fd00-10-244-1--5` is `fd00:10:244:1::5`, `--1` is `::1`; one to four hex digits a group,
/// any case). An IPv6 address gets AAAA, an IPv4 address A; an IPv4-mapped IPv6 address
/// (`--ffff-a00-1`) gets the A record of its IPv4 address, as in CoreDNS. The other type is
/// NODATA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PodRecords {
    /// No pod records: names under `pod.<domain>` are NXDOMAIN.
    Disabled,
    /// The default, and the specification's behaviour: any address under any namespace,
    /// without checking that such a Pod exists (CoreDNS's `pods insecure`, kubeadm's default).
    /// `<address>.<ns>.pod.<domain>` has the address for every `<ns>` that is a valid
    /// namespace name (an RFC 1123 label: letters, digits and `-`, starting and ending with a
    /// letter or digit; CoreDNS also requires that the Namespace exist, which svcplane, holding
    /// no Namespace objects, cannot check). `pod.<domain>` and `<ns>.pod.<domain>` are empty
    /// non-terminals (NODATA); a first label that is no address, a namespace label that is no
    /// namespace name, and any name deeper down are NXDOMAIN. Nothing is stored per name: the
    /// records are read from the query name when it is answered.
    #[default]
    Insecure,
    /// Only addresses of Pods that exist in that namespace (CoreDNS's `pods verified`).
    /// svcplane holds no Pod objects: a Pod is taken to exist when an endpoint of an
    /// EndpointSlice of a Service in that namespace has its address (endpoints of Pods not
    /// ready included; those marked terminating left out, as CoreDNS leaves out Pods being
    /// deleted). So Pods behind no Service get no record here, and an EndpointSlice endpoint
    /// that is no Pod (a manually managed slice) gets one. Each is stored as a name
    /// `<dashed address>.<ns>.pod.<domain>` in [`dashed_ip`]'s canonical form; other spellings
    /// of the same IPv6 address are NXDOMAIN, as in CoreDNS, which compares the text. Other
    /// names under `pod.<domain>` are NXDOMAIN, but for the empty non-terminals above existing
    /// records.
    Verified,
}

impl Default for ZoneConfig {
    fn default() -> Self {
        Self {
            domain: String::from("cluster.local"),
            ttl: DEFAULT_TTL,
            negative_ttl: DEFAULT_TTL,
            serial: 1,
            udp_payload_size: DEFAULT_UDP_PAYLOAD,
            reverse_zones: Vec::new(),
            nameservers: Vec::new(),
            pod_records: PodRecords::default(),
        }
    }
}

impl ZoneConfig {
    /// The configuration for cluster domain `domain`, every other field at its default.
    pub fn new(domain: impl Into<String>) -> Self {
        Self {
            domain: domain.into(),
            ..Self::default()
        }
    }
}

/// Why a zone cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ZoneError {
    /// The cluster domain is not a name (empty label, label over 63 bytes) or leaves no room
    /// for Service names under it (over 150 bytes); or it is the root.
    InvalidDomain {
        /// The domain given.
        domain: String,
    },
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidDomain { domain } => write!(f, "invalid cluster domain {domain:?}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ZoneError {}

/// The data of one record. Names are uncompressed wire bytes in the case they were given.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Data {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Ns(Box<[u8]>),
    Cname(Box<[u8]>),
    Ptr(Box<[u8]>),
    Txt(Box<[u8]>),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: Box<[u8]>,
    },
    /// The zone's SOA, synthesized from the configuration when written.
    Soa,
}

impl Data {
    pub(crate) fn rtype(&self) -> Type {
        match self {
            Self::A(_) => Type::A,
            Self::Aaaa(_) => Type::AAAA,
            Self::Ns(_) => Type::NS,
            Self::Cname(_) => Type::CNAME,
            Self::Ptr(_) => Type::PTR,
            Self::Txt(_) => Type::TXT,
            Self::Srv { .. } => Type::SRV,
            Self::Soa => Type::SOA,
        }
    }

    /// The name this record points at, if any (for additional records).
    pub(crate) fn target(&self) -> Option<&[u8]> {
        match self {
            Self::Ns(n) | Self::Srv { target: n, .. } => Some(n),
            _ => None,
        }
    }
}

/// One name of the zone: which zone (apex) it belongs to and its records, grouped by type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) zone: u32,
    pub(crate) first: u32,
    pub(crate) count: u32,
}

/// The result of looking a lowercase name up.
pub(crate) enum Lookup<'z> {
    /// The name exists (with records, or as an empty non-terminal).
    Found(&'z Node),
    /// A pod name of [`PodRecords::Insecure`], read from the name: the address it holds.
    Pod(IpAddr),
    /// A name that exists without records and is not stored: `pod.<domain>` and
    /// `<ns>.pod.<domain>` under [`PodRecords::Insecure`], in zone `zone`.
    Empty(u32),
    /// The name does not exist, inside zone `zone`.
    NxDomain(u32),
    /// The name is in none of the zones.
    Outside,
}

/// Service DNS for one cluster: an immutable map from names to records, answering queries with
/// [`Zone::answer`]. See the [module documentation](super).
#[derive(Clone)]
pub struct Zone {
    pub(crate) config: ZoneConfig,
    /// The apex of every zone (index = `Node::zone`); 0 is the cluster domain.
    pub(crate) apexes: Vec<Box<[u8]>>,
    apex_index: BTreeMap<Box<[u8]>, u32>,
    pub(crate) names: BTreeMap<Box<[u8]>, Node>,
    pub(crate) records: Vec<Data>,
    /// SOA MNAME (`ns.dns.<domain>`) and RNAME (`hostmaster.<domain>`).
    pub(crate) mname: NameBuf,
    pub(crate) rname: NameBuf,
    pub(crate) udp_payload_size: u16,
    /// `pod.<domain>`, lowercase wire, under which [`PodRecords::Insecure`] reads names.
    pod_suffix: Box<[u8]>,
    skipped: usize,
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("domain", &self.config.domain)
            .field("zones", &self.apexes.len())
            .field("names", &self.names.len())
            .field("records", &self.records.len())
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Zone`] Service by Service (see [`Zone::builder`]).
#[derive(Clone, Debug)]
pub struct ZoneBuilder {
    config: ZoneConfig,
    domain: NameBuf,
    apexes: BTreeSet<Vec<u8>>,
    records: BTreeMap<Vec<u8>, Vec<Data>>,
    /// The owners of PTR records (lowercase wire), for the one-address zones of those outside
    /// every reverse zone.
    ptr_owners: BTreeSet<Vec<u8>>,
    skipped: usize,
}

/// The reverse name of `ip`: `d.c.b.a.in-addr.arpa` or 32 nibbles and `ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> NameBuf {
    let mut name = NameBuf::ROOT;
    let mut digits = [0u8; 3];
    // Pushing at most 32 one-byte labels and two short ones always fits in 255 bytes.
    match ip {
        IpAddr::V4(v4) => {
            for octet in v4.octets().iter().rev() {
                let _ = name.push_label(decimal(*octet, &mut digits));
            }
            let _ = name.push_label(b"in-addr");
        }
        IpAddr::V6(v6) => {
            for byte in v6.octets().iter().rev() {
                let _ = name.push_label(&[hex_digit(byte & 0xf)]);
                let _ = name.push_label(&[hex_digit(byte >> 4)]);
            }
            let _ = name.push_label(b"ip6");
        }
    }
    let _ = name.push_label(b"arpa");
    name
}

fn decimal(v: u8, digits: &mut [u8; 3]) -> &[u8] {
    let (h, t, o) = (v / 100, (v / 10) % 10, v % 10);
    *digits = [b'0' + h, b'0' + t, b'0' + o];
    let skip = if h > 0 {
        0
    } else if t > 0 {
        1
    } else {
        2
    };
    digits.get(skip..).unwrap_or_default()
}

fn hex_digit(n: u8) -> u8 {
    b"0123456789abcdef"
        .get(usize::from(n & 0xf))
        .copied()
        .unwrap_or(b'0')
}

/// The apexes of the reverse zones covering `cidr`: its prefix length rounded up to whole
/// labels (octets for IPv4, nibbles for IPv6), so `10.96.0.0/12` is the sixteen zones
/// `96.10.in-addr.arpa` … `111.10.in-addr.arpa` and the zones claim no address outside it.
pub fn reverse_zone_apexes(cidr: &Cidr) -> Vec<NameBuf> {
    let (unit, bits) = match cidr.family() {
        IpFamily::V4 => (8u32, 32u32),
        IpFamily::V6 => (4, 128),
    };
    let prefix = u32::from(cidr.prefix_len());
    let rounded = prefix.div_ceil(unit) * unit;
    let extra = rounded - prefix; // < unit: at most 128 zones for IPv4, 8 for IPv6
    let base = match cidr.addr() {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    };
    let labels = (rounded / unit) as usize;
    let mut out = Vec::new();
    for k in 0..(1u128 << extra) {
        // The k-th sub-prefix of length `rounded` (as a 128-bit left-aligned value).
        let addr = if rounded == 0 {
            base
        } else {
            base | (k << (128 - rounded))
        };
        let mut name = NameBuf::ROOT;
        let mut digits = [0u8; 3];
        for i in (0..labels).rev() {
            let shift = 128 - unit as usize * (i + 1);
            let v = ((addr >> shift) & ((1 << unit) - 1)) as u8;
            let label: &[u8] = if unit == 8 {
                decimal(v, &mut digits)
            } else {
                digits[0] = hex_digit(v);
                digits.get(..1).unwrap_or_default()
            };
            let _ = name.push_label(label);
        }
        let _ = name.push_label(if bits == 32 { b"in-addr" } else { b"ip6" });
        let _ = name.push_label(b"arpa");
        out.push(name);
    }
    out
}

/// The dashed form of an endpoint address kube-dns and CoreDNS use as its name when it has no
/// hostname: `10-244-1-5`, and for IPv6 the RFC 5952 text with `:` replaced by `-`
/// (`fd00-10-244-1--2`).
pub fn dashed_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
    }
}

/// The address a pod name's first label holds, read as CoreDNS reads it (`findPods` in its
/// kubernetes plugin): with exactly three `-` and no `--` an IPv4 address (`-` for `.`),
/// otherwise an IPv6 address (`-` for `:`). Both parse as Go's `net.ParseIP` does: IPv4
/// numbers 0–255 without leading zeros, IPv6 groups of one to four hex digits with at most one
/// `::`. Only hex digits and `-` are accepted (no `.` for an embedded IPv4 tail, no zone). An
/// IPv4-mapped IPv6 address is its IPv4 address, as CoreDNS answers it (A, not AAAA).
/// `label` is lowercase. No allocation.
fn pod_address(label: &[u8]) -> Option<IpAddr> {
    if label.is_empty()
        || label.len() > super::wire::MAX_LABEL_LEN
        || !label.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-')
    {
        return None;
    }
    let dashes = label.iter().filter(|b| **b == b'-').count();
    let v4 = dashes == 3 && !label.windows(2).any(|w| w == b"--");
    let separator = if v4 { b'.' } else { b':' };
    let mut text = [0u8; super::wire::MAX_LABEL_LEN];
    let text = text.get_mut(..label.len())?;
    for (t, b) in text.iter_mut().zip(label) {
        *t = if *b == b'-' { separator } else { *b };
    }
    let text = core::str::from_utf8(text).ok()?;
    if v4 {
        text.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
    } else {
        let v6 = text.parse::<Ipv6Addr>().ok()?;
        Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
    }
}

/// Whether `label` (lowercase) is a valid namespace name: a DNS-1123 label, as Kubernetes
/// requires of namespace names ([`is_dns1123_label`]).
fn is_namespace_label(label: &[u8]) -> bool {
    core::str::from_utf8(label).is_ok_and(is_dns1123_label)
}

fn proto_label(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "_tcp",
        Protocol::Udp => "_udp",
        Protocol::Sctp => "_sctp",
    }
}

fn lowercase(name: &NameBuf) -> Vec<u8> {
    let mut n = *name;
    n.make_ascii_lowercase();
    n.as_wire().to_vec()
}

/// `labels` (leftmost first) followed by `suffix`.
fn name_of(labels: &[&str], suffix: &NameBuf) -> Result<NameBuf, NameError> {
    let mut name = NameBuf::ROOT;
    for label in labels {
        name.push_label(label.as_bytes())?;
    }
    name.append(suffix)?;
    Ok(name)
}

/// Whether an ExternalName target is an IP address rather than a host name (a trailing dot
/// allowed, as for host names).
fn is_ip_literal(target: &str) -> bool {
    target
        .strip_suffix('.')
        .unwrap_or(target)
        .parse::<IpAddr>()
        .is_ok()
}

/// Where `name` (uncompressed wire) starts its suffixes: the offsets of its labels, then the
/// root label's.
fn suffix_offsets(name: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut pos = Some(0usize);
    core::iter::from_fn(move || {
        let at = pos?;
        let n = usize::from(*name.get(at)?);
        pos = if n == 0 { None } else { Some(at + 1 + n) };
        Some(at)
    })
}

impl ZoneBuilder {
    fn new(config: ZoneConfig) -> Result<Self, ZoneError> {
        let invalid = || ZoneError::InvalidDomain {
            domain: config.domain.clone(),
        };
        let mut domain = NameBuf::from_dotted(&config.domain).map_err(|_| invalid())?;
        // The longest Service names (`<63>.<63>.<63>.svc.` = 197 bytes) must fit within 255.
        if domain.is_root() || domain.as_wire().len() > 150 {
            return Err(invalid());
        }
        domain.make_ascii_lowercase();
        let mut builder = Self {
            config,
            domain,
            apexes: BTreeSet::new(),
            records: BTreeMap::new(),
            ptr_owners: BTreeSet::new(),
            skipped: 0,
        };
        builder.add_reverse_zones(&builder.config.reverse_zones.clone());
        Ok(builder)
    }

    /// Adds reverse zones for `cidrs` (see [`ZoneConfig::reverse_zones`]).
    pub fn add_reverse_zones(&mut self, cidrs: &[Cidr]) {
        for cidr in cidrs {
            for apex in reverse_zone_apexes(cidr) {
                self.apexes.insert(apex.as_wire().to_vec());
            }
        }
    }

    fn add(&mut self, owner: &NameBuf, data: Data) {
        self.records.entry(lowercase(owner)).or_default().push(data);
    }

    fn add_address(&mut self, owner: &NameBuf, ip: IpAddr) {
        self.add(
            owner,
            match ip {
                IpAddr::V4(a) => Data::A(a),
                IpAddr::V6(a) => Data::Aaaa(a),
            },
        );
    }

    /// The pod records of [`PodRecords::Verified`]: `<dashed address>.<namespace>.pod.<domain>`
    /// for every endpoint of `slices` not marked terminating (ready or not).
    fn add_pods(&mut self, namespace: &str, slices: &[EndpointSlice]) {
        for endpoint in slices.iter().flat_map(|s| &s.endpoints) {
            if endpoint.conditions.is_terminating() {
                continue;
            }
            let ip = endpoint.address.to_canonical();
            match name_of(&[&dashed_ip(ip), namespace, "pod"], &self.domain) {
                Ok(owner) => self.add_address(&owner, ip),
                Err(_) => self.skipped += 1,
            }
        }
    }

    fn add_ptr(&mut self, ip: IpAddr, target: &NameBuf) {
        let owner = reverse_name(ip);
        self.ptr_owners.insert(lowercase(&owner));
        self.add(&owner, Data::Ptr(target.as_wire().into()));
    }

    /// Adds the records of one Service with its EndpointSlices (SEMANTICS.md §9):
    ///
    /// - ExternalName: CNAME `<svc>.<ns>.svc.<domain>` → `externalName` (trailing dot allowed);
    ///   nothing when `externalName` is an IP address (`192.0.2.1`, `2001:db8::1`, with or
    ///   without a trailing dot), which API validation accepts but is no host name: CoreDNS
    ///   serves no record for the form without the dot either, so the name is NXDOMAIN
    ///   (counted in [`Zone::skipped`]). CoreDNS tests the value as written, so for
    ///   `192.0.2.1.` it serves a CNAME to a host name that does not exist; svcplane reads the
    ///   dotted form as the address it is, as its validation strips the dot of host names;
    /// - with cluster IPs: A/AAAA of every cluster IP, PTR of each, SRV
    ///   `_<port>._<proto>.<svc>…` (priority 0, weight 100, the Service port, target the
    ///   Service name) for every named port;
    /// - headless: for every ready endpoint (every endpoint with `publishNotReadyAddresses`),
    ///   its address under the Service name and under its own name `<host>.<svc>…`, where
    ///   `<host>` is its `hostname` or else [`dashed_ip`]; PTR of its address to its own name;
    ///   SRV per named port it serves (its port from its slice, priority 0, weights splitting
    ///   100 evenly) with its own name as target. No ready endpoint: no name (NXDOMAIN);
    /// - with [`PodRecords::Verified`], whatever the type: A/AAAA of
    ///   `<dashed address>.<ns>.pod.<domain>` for every endpoint of `slices` not marked
    ///   terminating, ready or not.
    ///
    /// Records whose names do not fit DNS limits (a label over 63 bytes, a name over 255) are
    /// left out and counted ([`Zone::skipped`]).
    pub fn add_service(&mut self, service: &Service, slices: &[EndpointSlice]) {
        let id = &service.id;
        if self.config.pod_records == PodRecords::Verified {
            self.add_pods(&id.namespace, slices);
        }
        let Ok(base) = name_of(&[&id.name, &id.namespace, "svc"], &self.domain) else {
            self.skipped += 1;
            return;
        };
        if service.service_type == ServiceType::ExternalName {
            let target = service.external_name.as_deref().unwrap_or_default();
            if is_ip_literal(target) {
                // Not a host name: no CNAME to `192.0.2.1.` (CoreDNS adds the Service only when
                // its externalName is a host name), so the name is NXDOMAIN.
                self.skipped += 1;
                return;
            }
            match NameBuf::from_dotted(target) {
                Ok(t) if !t.is_root() => self.add(&base, Data::Cname(t.as_wire().into())),
                _ => self.skipped += 1,
            }
            return;
        }
        let named = || service.ports.iter().filter(|p| !p.name.is_empty());
        if service.is_proxied() {
            for ip in service.cluster_ip_list() {
                self.add_address(&base, *ip);
                self.add_ptr(*ip, &base);
            }
            for port in named() {
                match name_of(
                    &[&["_", &port.name].concat(), proto_label(port.protocol)],
                    &base,
                ) {
                    Ok(owner) => self.add(
                        &owner,
                        Data::Srv {
                            priority: 0,
                            weight: 100,
                            port: port.port,
                            target: base.as_wire().into(),
                        },
                    ),
                    Err(_) => self.skipped += 1,
                }
            }
            return;
        }
        // Headless: every ready endpoint address, with its own name when that fits.
        let mut addresses: BTreeMap<IpAddr, Option<NameBuf>> = BTreeMap::new();
        // (service port index, target, port) for SRV.
        let mut srv: BTreeSet<(usize, Vec<u8>, u16)> = BTreeSet::new();
        for slice in slices {
            for endpoint in &slice.endpoints {
                if !(service.publish_not_ready_addresses || endpoint.conditions.is_ready()) {
                    continue;
                }
                let label = match &endpoint.hostname {
                    Some(h) => h.clone(),
                    None => dashed_ip(endpoint.address),
                };
                let host = *addresses
                    .entry(endpoint.address)
                    .or_insert_with(|| name_of(&[&label], &base).ok());
                let Some(host) = host else {
                    continue;
                };
                for (i, port) in service.ports.iter().enumerate() {
                    if port.name.is_empty() {
                        continue;
                    }
                    if let Some(p) = slice.port_for(port) {
                        srv.insert((i, host.as_wire().to_vec(), p));
                    }
                }
            }
        }
        for (ip, host) in &addresses {
            self.add_address(&base, *ip);
            match host {
                Some(host) => {
                    self.add_address(host, *ip);
                    self.add_ptr(*ip, host);
                }
                None => self.skipped += 1,
            }
        }
        for (i, port) in service.ports.iter().enumerate() {
            let targets: Vec<_> = srv.iter().filter(|(j, _, _)| *j == i).collect();
            if targets.is_empty() {
                continue;
            }
            let Ok(owner) = name_of(
                &[&["_", &port.name].concat(), proto_label(port.protocol)],
                &base,
            ) else {
                self.skipped += 1;
                continue;
            };
            let weight = u16::try_from((100 / targets.len()).max(1)).unwrap_or(1);
            for (_, target, p) in targets {
                self.add(
                    &owner,
                    Data::Srv {
                        priority: 0,
                        weight,
                        port: *p,
                        target: target.as_slice().into(),
                    },
                );
            }
        }
    }

    /// The zone: apex records (SOA, NS), `dns-version` TXT, the name server's addresses, and
    /// every name's ancestors up to its zone's apex as empty non-terminals (NODATA, not
    /// NXDOMAIN); so are the names between a zone's apex and the apex of a zone nested in it
    /// (`244.10.in-addr.arpa` between `10.in-addr.arpa` and `1.244.10.in-addr.arpa`), in the
    /// enclosing zone.
    ///
    /// A PTR record whose address is outside every reverse zone (a cluster IP outside the
    /// service CIDRs, a hostNetwork pod's or another CNI's endpoint outside the pod CIDRs) is
    /// kept: its owner becomes the apex of a zone of that one address, as an RFC 2317 classless
    /// delegation of a /32 or /128 would make it, with its own SOA and NS. The PTR is answered
    /// authoritatively, other types at that name are NODATA with that SOA, and other reverse
    /// names outside every zone (the neighbouring addresses, the parents) stay REFUSED.
    pub fn build(mut self) -> Zone {
        let domain = self.domain;
        let outside: Vec<Vec<u8>> = self
            .ptr_owners
            .iter()
            .filter(|owner| {
                !suffix_offsets(owner)
                    .filter_map(|at| owner.get(at..))
                    .any(|suffix| self.apexes.contains(suffix))
            })
            .cloned()
            .collect();
        self.apexes.extend(outside);
        let ns = name_of(&["ns", "dns"], &domain).unwrap_or(domain);
        let hostmaster = name_of(&["hostmaster"], &domain).unwrap_or(domain);
        // The cluster domain is zone 0; reverse zones follow in name order.
        let mut apexes: Vec<Box<[u8]>> = alloc::vec![domain.as_wire().into()];
        apexes.extend(
            self.apexes
                .iter()
                .filter(|a| a.as_slice() != domain.as_wire())
                .map(|a| a.as_slice().into()),
        );
        for apex in &apexes {
            let entry = self.records.entry(apex.to_vec()).or_default();
            entry.push(Data::Soa);
            entry.push(Data::Ns(ns.as_wire().into()));
        }
        for ip in self.config.nameservers.clone() {
            self.add_address(&ns, ip);
        }
        if let Ok(version) = name_of(&["dns-version"], &domain) {
            let mut txt = Vec::with_capacity(1 + SCHEMA_VERSION.len());
            txt.push(SCHEMA_VERSION.len() as u8);
            txt.extend_from_slice(SCHEMA_VERSION.as_bytes());
            self.add(&version, Data::Txt(txt.into()));
        }
        let apex_index: BTreeMap<Box<[u8]>, u32> = apexes
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), i as u32))
            .collect();
        let zone_of = |name: &[u8]| {
            suffix_offsets(name)
                .filter_map(|at| name.get(at..))
                .find_map(|suffix| apex_index.get(suffix).copied())
        };
        // Every name with its zone; then the empty non-terminals between it and the apex.
        let mut names: BTreeMap<Box<[u8]>, (u32, Vec<Data>)> = BTreeMap::new();
        let mut skipped = self.skipped;
        for (name, records) in core::mem::take(&mut self.records) {
            match zone_of(&name) {
                Some(zone) => {
                    names.insert(name.into(), (zone, records));
                }
                None => skipped += records.len(),
            }
        }
        let mut ents: Vec<(Box<[u8]>, u32)> = Vec::new();
        for (name, (zone, _)) in &names {
            let apex_len = apexes.get(*zone as usize).map_or(0, |a| a.len());
            for at in suffix_offsets(name).skip(1) {
                let Some(ancestor) = name.get(at..) else {
                    break;
                };
                if ancestor.len() <= apex_len {
                    break;
                }
                ents.push((ancestor.into(), *zone));
            }
        }
        // A zone nested in another (`1.244.10.in-addr.arpa` in `10.in-addr.arpa`): the names
        // between the two apexes (`244.10.in-addr.arpa`) are empty non-terminals of the
        // enclosing zone (RFC 8020), up to its apex or the next nested apex. Above a zone in no
        // other (the cluster domain, a one-address zone outside every reverse zone) nothing is
        // added: those names stay outside the zones.
        for apex in &apexes {
            for at in suffix_offsets(apex).skip(1) {
                let Some(ancestor) = apex.get(at..) else {
                    break;
                };
                if apex_index.contains_key(ancestor) {
                    break;
                }
                let Some(zone) = zone_of(ancestor) else {
                    break;
                };
                ents.push((ancestor.into(), zone));
            }
        }
        for (name, zone) in ents {
            names.entry(name).or_insert((zone, Vec::new()));
        }
        let mut records = Vec::new();
        let nodes = names
            .into_iter()
            .map(|(name, (zone, mut data))| {
                // One variant per type: sorting groups each type's RRset together.
                data.sort();
                data.dedup();
                let first = records.len() as u32;
                let count = data.len() as u32;
                records.extend(data);
                (name, Node { zone, first, count })
            })
            .collect();
        let udp_payload_size = self.config.udp_payload_size.max(512);
        let pod_suffix = name_of(&["pod"], &domain)
            .map_or_else(|_| Box::default(), |pod| Box::from(pod.as_wire()));
        Zone {
            config: self.config,
            apexes,
            apex_index,
            names: nodes,
            records,
            mname: ns,
            rname: hostmaster,
            udp_payload_size,
            pod_suffix,
            skipped,
        }
    }
}

impl Zone {
    /// A builder for a zone with `config`; add Services with [`ZoneBuilder::add_service`].
    pub fn builder(config: ZoneConfig) -> Result<ZoneBuilder, ZoneError> {
        ZoneBuilder::new(config)
    }

    /// The zone of every Service in `catalog` with its EndpointSlices. The reverse zones are
    /// `config.reverse_zones` plus the node's service and pod (cluster) CIDRs.
    pub fn from_catalog(catalog: &Catalog, config: ZoneConfig) -> Result<Self, ZoneError> {
        let mut builder = ZoneBuilder::new(config)?;
        let node = catalog.config();
        builder.add_reverse_zones(&node.service_cidrs);
        builder.add_reverse_zones(&node.cluster_cidrs);
        for service in catalog.services() {
            let slices = catalog.endpoints(&service.id).unwrap_or_default();
            builder.add_service(service, slices);
        }
        Ok(builder.build())
    }

    /// The configuration the zone was built with.
    pub fn config(&self) -> &ZoneConfig {
        &self.config
    }

    /// The number of names (empty non-terminals included).
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Never true: a zone has at least its apex.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The number of records.
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// How many records were left out while building: those whose names, or an ExternalName
    /// Service's target, are over DNS limits (a label over 63 bytes, a name over 255), and the
    /// CNAMEs of ExternalName Services whose `externalName` is empty or an IP address. PTR
    /// records outside every reverse zone are not left out: each gets a zone of its own (see
    /// [`ZoneBuilder::build`]).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The records of `node`.
    pub(crate) fn records_of(&self, node: &Node) -> &[Data] {
        let first = node.first as usize;
        self.records
            .get(first..first + node.count as usize)
            .unwrap_or_default()
    }

    /// The apex of zone `zone`.
    pub(crate) fn apex(&self, zone: u32) -> &[u8] {
        self.apexes.get(zone as usize).map_or(&[0], |a| a)
    }

    /// Looks up `name` (lowercase, uncompressed wire bytes): O(log n) for the name, and for a
    /// missing name O(labels × log n) to find its zone.
    pub(crate) fn lookup(&self, name: &[u8]) -> Lookup<'_> {
        if let Some(node) = self.names.get(name) {
            return Lookup::Found(node);
        }
        if self.config.pod_records == PodRecords::Insecure {
            if let Some(found) = self.insecure_pod(name) {
                return found;
            }
        }
        suffix_offsets(name)
            .filter_map(|at| name.get(at..))
            .find_map(|suffix| self.apex_index.get(suffix).copied())
            .map_or(Lookup::Outside, Lookup::NxDomain)
    }

    /// A name under `pod.<domain>` as [`PodRecords::Insecure`] reads it: `pod.<domain>` and
    /// `<ns>.pod.<domain>` exist empty, `<address>.<ns>.pod.<domain>` holds the address; `None`
    /// for any other name (NXDOMAIN under `pod.<domain>`). `name` is lowercase wire. No
    /// allocation.
    fn insecure_pod(&self, name: &[u8]) -> Option<Lookup<'_>> {
        let suffix = &*self.pod_suffix;
        let end = name.len().checked_sub(suffix.len())?;
        if suffix.is_empty() || name.get(end..)? != suffix {
            return None;
        }
        // The labels before `pod.<domain>`, leftmost first: at most the address and the
        // namespace.
        let mut labels: [&[u8]; 2] = [&[], &[]];
        let mut count = 0;
        let mut pos = 0;
        while pos < end {
            let len = usize::from(*name.get(pos)?);
            let label = name.get(pos + 1..pos + 1 + len)?;
            *labels.get_mut(count)? = label;
            count += 1;
            pos += 1 + len;
        }
        if pos != end {
            // `pod.<domain>` is not a suffix at a label boundary.
            return None;
        }
        match (count, labels) {
            (0, _) => Some(Lookup::Empty(0)),
            (1, [namespace, _]) => is_namespace_label(namespace).then_some(Lookup::Empty(0)),
            (_, [address, namespace]) if is_namespace_label(namespace) => {
                pod_address(address).map(Lookup::Pod)
            }
            _ => None,
        }
    }
}

/// Reverse-label order (RFC 4034 §6.1 without the case folding): parents before children.
fn canonical_cmp(a: &[u8], b: &[u8]) -> core::cmp::Ordering {
    let labels = |n: &[u8]| -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = suffix_offsets(n)
            .filter_map(|at| {
                let len = usize::from(*n.get(at)?);
                n.get(at + 1..at + 1 + len).map(<[u8]>::to_vec)
            })
            .filter(|l| !l.is_empty())
            .collect();
        v.reverse();
        v
    };
    labels(a).cmp(&labels(b))
}

impl fmt::Display for Zone {
    /// The zone in master-file format: the cluster domain, then the reverse zones, names in
    /// canonical order (parents before children). The pod records of
    /// [`PodRecords::Insecure`] are read from query names, not stored, so not listed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<(&Box<[u8]>, &Node)> = self.names.iter().collect();
        // The cluster domain first, then the reverse zones.
        names.sort_by(|a, b| {
            (a.1.zone != 0)
                .cmp(&(b.1.zone != 0))
                .then_with(|| canonical_cmp(a.0, b.0))
        });
        let ttl = self.config.ttl;
        for (name, node) in names {
            for data in self.records_of(node) {
                write!(f, "{}\t{ttl}\tIN\t{}\t", WireName(name), data.rtype())?;
                match data {
                    Data::A(a) => writeln!(f, "{a}")?,
                    Data::Aaaa(a) => writeln!(f, "{a}")?,
                    Data::Ns(n) | Data::Cname(n) | Data::Ptr(n) => writeln!(f, "{}", WireName(n))?,
                    Data::Txt(t) => {
                        let text = t.get(1..).unwrap_or_default();
                        writeln!(f, "\"{}\"", String::from_utf8_lossy(text))?
                    }
                    Data::Srv {
                        priority,
                        weight,
                        port,
                        target,
                    } => writeln!(f, "{priority} {weight} {port} {}", WireName(target))?,
                    Data::Soa => {
                        let [refresh, retry, expire] = SOA_TIMERS;
                        writeln!(
                            f,
                            "{} {} {} {refresh} {retry} {expire} {}",
                            self.mname, self.rname, self.config.serial, self.config.negative_ttl
                        )?
                    }
                }
            }
        }
        Ok(())
    }
}

/// SOA REFRESH, RETRY and EXPIRE.
pub(crate) fn soa_timers() -> [u32; 3] {
    SOA_TIMERS
}
