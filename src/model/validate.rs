//! Validation: the API server's rules for Services and EndpointSlices
//! (`pkg/apis/core/validation`, `pkg/apis/discovery/validation`, and the allocator rules a
//! stored object always satisfies), as SEMANTICS.md §2, §6 and §8 state them.
//!
//! Each check returns the first violation found, as a [`ValidationError`] naming the object and
//! the field by its API path (`spec.ports[1].nodePort`).

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::string::String;
use core::fmt;
use core::net::IpAddr;

use super::names::{
    is_dns1035_label, is_dns1123_label, is_dns1123_subdomain, is_iana_service_name, is_label_value,
};
use super::{
    ClusterIps, EndpointSlice, IpFamily, IpFamilyPolicy, NodeConfig, ObjectKind, ObjectRef,
    PortRange, Service, ServiceType, SessionAffinity, TargetPort, TrafficPolicy,
    MAX_AFFINITY_TIMEOUT_SECONDS, MAX_MAGLEV_TABLE_SIZE, MAX_NODE_HINTS, MAX_SLICE_ENDPOINTS,
    MAX_SLICE_PORTS, MAX_ZONE_HINTS,
};

/// Why an object was rejected: which object, which field, what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// The kind of object.
    pub object_kind: ObjectKind,
    /// The object.
    pub object: ObjectRef,
    /// The field, as an API path: `spec.ports[1].nodePort`, `endpoints[0].addresses[0]`.
    pub field: String,
    /// What is wrong with it.
    pub kind: ErrorKind,
}

/// What is wrong with a field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A required value is missing.
    Required,
    /// The value repeats one that must be unique.
    Duplicate,
    /// The field may not be set here; the text says when it may.
    Forbidden(&'static str),
    /// A port number is 0.
    InvalidPort,
    /// A number is outside `min..=max`.
    OutOfRange {
        /// The smallest allowed value.
        min: u32,
        /// The largest allowed value.
        max: u32,
    },
    /// A name does not have the required format.
    InvalidName(NameFormat),
    /// A list is longer than allowed.
    TooMany {
        /// The most entries allowed.
        max: usize,
    },
    /// An address is of the wrong family.
    WrongFamily {
        /// The family required here.
        expected: IpFamily,
    },
    /// Two cluster IPs of the same family.
    OneIpPerFamily,
    /// The number of cluster IPs or IP families contradicts `spec.ipFamilyPolicy`.
    FamilyPolicy(IpFamilyPolicy),
    /// An address of a kind that may not be used here.
    SpecialAddress(SpecialAddress),
    /// A Maglev table size that is not prime.
    NotPrime,
    /// The value (a nodePort, a cluster IP) is already held by another Service.
    AlreadyAllocated {
        /// The Service holding it (boxed to keep errors small).
        owner: Box<ObjectRef>,
    },
}

/// The name formats of the Kubernetes API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NameFormat {
    /// [`is_dns1123_label`](super::is_dns1123_label).
    Dns1123Label,
    /// [`is_dns1123_subdomain`](super::is_dns1123_subdomain).
    Dns1123Subdomain,
    /// [`is_dns1035_label`](super::is_dns1035_label).
    Dns1035Label,
    /// [`is_iana_service_name`](super::is_iana_service_name).
    IanaServiceName,
    /// [`is_label_value`](super::is_label_value).
    LabelValue,
}

/// Addresses Kubernetes refuses as endpoints and externalIPs, and IPv4-mapped IPv6 anywhere (a
/// rule of the typed model only: the JSON loader reads those as IPv4, as Kubernetes does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpecialAddress {
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// `224.0.0.0/24`, `ff02::/16` (and the other link-local-scope multicast prefixes).
    LinkLocalMulticast,
    /// `::ffff:0:0/96`: write the IPv4 address instead. The model stays strict here (its
    /// families and flow keys tell IPv4 by the address type); the JSON loader (`k8s`) reads
    /// such addresses, and `::ffff:a.b.c.d/p` ranges with `p` ≥ 96, as IPv4, as the API
    /// server and kube-proxy do, so only Rust callers meet this error.
    Ipv4Mapped,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}: {}",
            self.object_kind, self.object, self.field, self.kind
        )
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ValidationError {}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Required => f.write_str("required value"),
            Self::Duplicate => f.write_str("duplicate value"),
            Self::Forbidden(when) => write!(f, "forbidden: {when}"),
            Self::InvalidPort => f.write_str("must be between 1 and 65535, inclusive"),
            Self::OutOfRange { min, max } => {
                write!(f, "must be between {min} and {max}, inclusive")
            }
            Self::InvalidName(format) => write!(f, "must be {format}"),
            Self::TooMany { max } => write!(f, "must have at most {max} items"),
            Self::WrongFamily { expected } => write!(f, "must be an {expected} address"),
            Self::OneIpPerFamily => f.write_str("may hold no more than one IP for each IP family"),
            Self::FamilyPolicy(policy) => write!(f, "contradicts ipFamilyPolicy {policy}"),
            Self::SpecialAddress(special) => write!(f, "may not be {special}"),
            Self::NotPrime => f.write_str("must be a prime number"),
            Self::AlreadyAllocated { owner } => write!(f, "already allocated to Service {owner}"),
        }
    }
}

impl fmt::Display for NameFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dns1123Label => {
                "a DNS-1123 label (at most 63 lowercase letters, digits and '-', \
                 starting and ending with a letter or digit)"
            }
            Self::Dns1123Subdomain => {
                "a DNS-1123 subdomain (at most 253 characters: DNS-1123 labels joined by '.')"
            }
            Self::Dns1035Label => {
                "a DNS-1035 label (at most 63 lowercase letters, digits and '-', \
                 starting with a letter and ending with a letter or digit)"
            }
            Self::IanaServiceName => {
                "an IANA service name (at most 15 lowercase letters, digits and '-', \
                 at least one letter, no '-' at either end, no '--')"
            }
            Self::LabelValue => {
                "a label value (at most 63 letters, digits, '-', '_' and '.', \
                 starting and ending with a letter or digit)"
            }
        })
    }
}

impl fmt::Display for SpecialAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unspecified => "unspecified (0.0.0.0, ::)",
            Self::Loopback => "in the loopback range (127.0.0.0/8, ::1/128)",
            Self::LinkLocal => "in the link-local range (169.254.0.0/16, fe80::/10)",
            Self::LinkLocalMulticast => {
                "in the link-local multicast range (224.0.0.0/24, ff02::/16)"
            }
            Self::Ipv4Mapped => "an IPv4-mapped IPv6 address (use the IPv4 address)",
        })
    }
}

/// Builds errors about one object.
struct Ctx<'a> {
    kind: ObjectKind,
    object: &'a ObjectRef,
}

impl Ctx<'_> {
    fn err(&self, field: impl Into<String>, kind: ErrorKind) -> ValidationError {
        ValidationError {
            object_kind: self.kind,
            object: self.object.clone(),
            field: field.into(),
            kind,
        }
    }

    /// Required and of `format`.
    /// `<hints>.<key>`: at most `max` names, none repeated, each accepted by `check` (given
    /// the entry's field path).
    fn hints(
        &self,
        hints: &str,
        key: &str,
        names: &[String],
        max: usize,
        check: impl Fn(&str, &str) -> Result<(), ValidationError>,
    ) -> Result<(), ValidationError> {
        if names.len() > max {
            return Err(self.err(format!("{hints}.{key}"), ErrorKind::TooMany { max }));
        }
        for (j, name) in names.iter().enumerate() {
            let field = format!("{hints}.{key}[{j}].name");
            if names[..j].contains(name) {
                return Err(self.err(field, ErrorKind::Duplicate));
            }
            check(&field, name)?;
        }
        Ok(())
    }

    fn name(&self, field: &str, value: &str, format: NameFormat) -> Result<(), ValidationError> {
        if value.is_empty() {
            Err(self.err(field, ErrorKind::Required))
        } else if !matches_format(value, format) {
            Err(self.err(field, ErrorKind::InvalidName(format)))
        } else {
            Ok(())
        }
    }
}

fn matches_format(value: &str, format: NameFormat) -> bool {
    match format {
        NameFormat::Dns1123Label => is_dns1123_label(value),
        NameFormat::Dns1123Subdomain => is_dns1123_subdomain(value),
        NameFormat::Dns1035Label => is_dns1035_label(value),
        NameFormat::IanaServiceName => is_iana_service_name(value),
        NameFormat::LabelValue => is_label_value(value),
    }
}

/// Kubernetes' `ValidateNonSpecialIP` / `ValidateEndpointIP`, plus IPv4-mapped IPv6.
fn special_address(ip: IpAddr) -> Option<SpecialAddress> {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_unspecified() {
                Some(SpecialAddress::Unspecified)
            } else if a.is_loopback() {
                Some(SpecialAddress::Loopback)
            } else if a.is_link_local() {
                Some(SpecialAddress::LinkLocal)
            } else if o[..3] == [224, 0, 0] {
                Some(SpecialAddress::LinkLocalMulticast)
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            let first = a.segments()[0];
            if a.to_ipv4_mapped().is_some() {
                Some(SpecialAddress::Ipv4Mapped)
            } else if a.is_unspecified() {
                Some(SpecialAddress::Unspecified)
            } else if a.is_loopback() {
                Some(SpecialAddress::Loopback)
            } else if first & 0xffc0 == 0xfe80 {
                Some(SpecialAddress::LinkLocal)
            } else if first & 0xff0f == 0xff02 {
                Some(SpecialAddress::LinkLocalMulticast)
            } else {
                None
            }
        }
    }
}

/// Only IPv4-mapped IPv6 is refused (cluster IPs, LB ingress IPs).
fn mapped_address(ip: IpAddr) -> Option<SpecialAddress> {
    match ip {
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => Some(SpecialAddress::Ipv4Mapped),
        _ => None,
    }
}

fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2u32;
    while d.saturating_mul(d) <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

fn out_of_range(range: PortRange) -> ErrorKind {
    ErrorKind::OutOfRange {
        min: range.first.into(),
        max: range.last.into(),
    }
}

impl Service {
    /// Checks the Service against the Kubernetes API rules and `config`'s NodePort range.
    ///
    /// Returns the first violation. Nothing is changed either way.
    pub fn validate(&self, config: &NodeConfig) -> Result<(), ValidationError> {
        let cx = Ctx {
            kind: ObjectKind::Service,
            object: &self.id,
        };
        cx.name(
            "metadata.namespace",
            &self.id.namespace,
            NameFormat::Dns1123Label,
        )?;
        cx.name("metadata.name", &self.id.name, NameFormat::Dns1035Label)?;
        self.validate_type(&cx)?;
        self.validate_ports(&cx, config.node_port_range)?;
        self.validate_affinity(&cx)?;
        self.validate_families(&cx)?;
        self.validate_external(&cx, config.node_port_range)?;
        self.validate_load_balancer(&cx)?;
        self.validate_maglev(&cx)
    }

    /// Rules that depend on `spec.type`: headless, ExternalName, ports required.
    fn validate_type(&self, cx: &Ctx<'_>) -> Result<(), ValidationError> {
        match self.service_type {
            ServiceType::NodePort | ServiceType::LoadBalancer => match self.cluster_ips {
                ClusterIps::Headless => {
                    return Err(cx.err(
                        "spec.clusterIPs[0]",
                        ErrorKind::Forbidden(
                            "may not be 'None' for NodePort and LoadBalancer Services",
                        ),
                    ))
                }
                _ if self.cluster_ip_list().is_empty() => {
                    return Err(cx.err("spec.clusterIPs", ErrorKind::Required))
                }
                _ => {}
            },
            ServiceType::ExternalName => {
                let forbidden = ErrorKind::Forbidden("may not be set for ExternalName Services");
                if self.cluster_ips != ClusterIps::Unset {
                    return Err(cx.err("spec.clusterIPs", forbidden));
                }
                if !self.ip_families.is_empty() {
                    return Err(cx.err("spec.ipFamilies", forbidden));
                }
                if self.ip_family_policy.is_some() {
                    return Err(cx.err("spec.ipFamilyPolicy", forbidden));
                }
                // The name may end with a dot, marking it fully qualified.
                let name = self.external_name.as_deref().unwrap_or_default();
                let name = name.strip_suffix('.').unwrap_or(name);
                cx.name("spec.externalName", name, NameFormat::Dns1123Subdomain)?;
            }
            ServiceType::ClusterIp => {}
        }
        if self.ports.is_empty() && self.is_proxied() {
            return Err(cx.err("spec.ports", ErrorKind::Required));
        }
        Ok(())
    }

    fn validate_ports(&self, cx: &Ctx<'_>, range: PortRange) -> Result<(), ValidationError> {
        // An ExternalName Service's nodePort is stored as given (ValidateService forbids one
        // only for ClusterIP); it is no NodePort, so the range does not apply to it.
        let has_node_ports = self.uses_node_ports();
        let mut names = BTreeSet::new();
        let mut ports = BTreeSet::new();
        let mut node_ports = BTreeSet::new();
        for (i, p) in self.ports.iter().enumerate() {
            if p.name.is_empty() {
                if self.ports.len() > 1 {
                    return Err(cx.err(format!("spec.ports[{i}].name"), ErrorKind::Required));
                }
            } else {
                cx.name(
                    &format!("spec.ports[{i}].name"),
                    &p.name,
                    NameFormat::Dns1123Label,
                )?;
                if !names.insert(p.name.as_str()) {
                    return Err(cx.err(format!("spec.ports[{i}].name"), ErrorKind::Duplicate));
                }
            }
            if p.port == 0 {
                return Err(cx.err(format!("spec.ports[{i}].port"), ErrorKind::InvalidPort));
            }
            match &p.target_port {
                TargetPort::Number(0) => {
                    return Err(cx.err(
                        format!("spec.ports[{i}].targetPort"),
                        ErrorKind::InvalidPort,
                    ))
                }
                TargetPort::Number(_) => {}
                TargetPort::Name(name) => {
                    if !is_iana_service_name(name) {
                        return Err(cx.err(
                            format!("spec.ports[{i}].targetPort"),
                            ErrorKind::InvalidName(NameFormat::IanaServiceName),
                        ));
                    }
                }
            }
            if let Some(node_port) = p.node_port {
                let field = format!("spec.ports[{i}].nodePort");
                if self.service_type == ServiceType::ClusterIp {
                    return Err(cx.err(
                        field,
                        ErrorKind::Forbidden("may not be used when type is ClusterIP"),
                    ));
                }
                if has_node_ports && !range.contains(node_port) {
                    return Err(cx.err(field, out_of_range(range)));
                }
                // The same number may serve several protocols; (protocol, nodePort) is unique.
                if !node_ports.insert((p.protocol, node_port)) {
                    return Err(cx.err(field, ErrorKind::Duplicate));
                }
            }
            if !ports.insert((p.protocol, p.port)) {
                return Err(cx.err(format!("spec.ports[{i}]"), ErrorKind::Duplicate));
            }
        }
        Ok(())
    }

    fn validate_affinity(&self, cx: &Ctx<'_>) -> Result<(), ValidationError> {
        // Affinity None with a config is unrepresentable: SessionAffinity::None holds none.
        if let SessionAffinity::ClientIp { timeout_seconds } = self.session_affinity {
            if timeout_seconds == 0 || timeout_seconds > MAX_AFFINITY_TIMEOUT_SECONDS {
                return Err(cx.err(
                    "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                    ErrorKind::OutOfRange {
                        min: 1,
                        max: MAX_AFFINITY_TIMEOUT_SECONDS,
                    },
                ));
            }
        }
        Ok(())
    }

    /// Dual stack: cluster IPs, IP families and the family policy agree.
    fn validate_families(&self, cx: &Ctx<'_>) -> Result<(), ValidationError> {
        if self.ip_families.len() > 2 {
            return Err(cx.err("spec.ipFamilies", ErrorKind::TooMany { max: 2 }));
        }
        if self.ip_families.len() == 2 && self.ip_families[0] == self.ip_families[1] {
            return Err(cx.err("spec.ipFamilies[1]", ErrorKind::Duplicate));
        }
        let ips = self.cluster_ip_list();
        if ips.len() > 2 {
            return Err(cx.err("spec.clusterIPs", ErrorKind::TooMany { max: 2 }));
        }
        for (i, ip) in ips.iter().enumerate() {
            if let Some(special) = mapped_address(*ip) {
                return Err(cx.err(
                    format!("spec.clusterIPs[{i}]"),
                    ErrorKind::SpecialAddress(special),
                ));
            }
        }
        if ips.len() == 2 && IpFamily::of(ips[0]) == IpFamily::of(ips[1]) {
            return Err(cx.err("spec.clusterIPs", ErrorKind::OneIpPerFamily));
        }
        for (i, (ip, family)) in ips.iter().zip(&self.ip_families).enumerate() {
            if IpFamily::of(*ip) != *family {
                return Err(cx.err(
                    format!("spec.clusterIPs[{i}]"),
                    ErrorKind::WrongFamily { expected: *family },
                ));
            }
        }
        match self.ip_family_policy {
            Some(policy @ IpFamilyPolicy::SingleStack) => {
                if ips.len() > 1 {
                    return Err(cx.err("spec.clusterIPs", ErrorKind::FamilyPolicy(policy)));
                }
                if self.ip_families.len() > 1 {
                    return Err(cx.err("spec.ipFamilies", ErrorKind::FamilyPolicy(policy)));
                }
            }
            Some(policy @ IpFamilyPolicy::RequireDualStack) => {
                if self.is_proxied() && ips.len() < 2 {
                    return Err(cx.err("spec.clusterIPs", ErrorKind::FamilyPolicy(policy)));
                }
                if self.ip_families.len() == 1 {
                    return Err(cx.err("spec.ipFamilies", ErrorKind::FamilyPolicy(policy)));
                }
            }
            Some(IpFamilyPolicy::PreferDualStack) | None => {}
        }
        Ok(())
    }

    /// externalIPs, externalTrafficPolicy and healthCheckNodePort.
    fn validate_external(&self, cx: &Ctx<'_>, range: PortRange) -> Result<(), ValidationError> {
        for (i, ip) in self.external_ips.iter().enumerate() {
            if let Some(special) = special_address(*ip) {
                return Err(cx.err(
                    format!("spec.externalIPs[{i}]"),
                    ErrorKind::SpecialAddress(special),
                ));
            }
        }
        // The API's notion (by type), which decides whether the field may be set at all.
        let externally_accessible = match self.service_type {
            ServiceType::NodePort | ServiceType::LoadBalancer => true,
            ServiceType::ClusterIp => !self.external_ips.is_empty(),
            ServiceType::ExternalName => false,
        };
        if self.external_traffic_policy == TrafficPolicy::Local && !externally_accessible {
            return Err(cx.err(
                "spec.externalTrafficPolicy",
                ErrorKind::Forbidden("may be Local only for externally-accessible Services"),
            ));
        }
        let field = "spec.healthCheckNodePort";
        match (self.needs_health_check(), self.health_check_node_port) {
            (true, None) => Err(cx.err(field, ErrorKind::Required)),
            (true, Some(port)) if !range.contains(port) => Err(cx.err(field, out_of_range(range))),
            (true, Some(port)) if self.ports.iter().any(|p| p.node_port == Some(port)) => {
                Err(cx.err(field, ErrorKind::Duplicate))
            }
            (false, Some(_)) => Err(cx.err(
                field,
                ErrorKind::Forbidden(
                    "may be set only when type is LoadBalancer and externalTrafficPolicy is Local",
                ),
            )),
            _ => Ok(()),
        }
    }

    fn validate_load_balancer(&self, cx: &Ctx<'_>) -> Result<(), ValidationError> {
        let only_lb = ErrorKind::Forbidden("may be used only when type is LoadBalancer");
        let is_lb = self.service_type == ServiceType::LoadBalancer;
        if !is_lb && !self.load_balancer_source_ranges.is_empty() {
            return Err(cx.err("spec.loadBalancerSourceRanges", only_lb));
        }
        if !is_lb && !self.load_balancer_ingress.is_empty() {
            return Err(cx.err("status.loadBalancer.ingress", only_lb));
        }
        // An IPv4-mapped range (`::ffff:203.0.113.0/120`) would restrict no IPv4 client: the
        // IPv4 frontends' plans take only IPv4 ranges, and the LB would be open to all.
        for (i, range) in self.load_balancer_source_ranges.iter().enumerate() {
            if range.prefix_len() >= 96 && mapped_address(range.addr()).is_some() {
                return Err(cx.err(
                    format!("spec.loadBalancerSourceRanges[{i}]"),
                    ErrorKind::SpecialAddress(SpecialAddress::Ipv4Mapped),
                ));
            }
        }
        for (i, ingress) in self.load_balancer_ingress.iter().enumerate() {
            if let Some(special) = mapped_address(ingress.ip) {
                return Err(cx.err(
                    format!("status.loadBalancer.ingress[{i}].ip"),
                    ErrorKind::SpecialAddress(special),
                ));
            }
        }
        Ok(())
    }

    fn validate_maglev(&self, cx: &Ctx<'_>) -> Result<(), ValidationError> {
        let field = "spec.maglevTableSize";
        match self.maglev_table_size {
            Some(size) if size > MAX_MAGLEV_TABLE_SIZE => Err(cx.err(
                field,
                ErrorKind::OutOfRange {
                    min: 2,
                    max: MAX_MAGLEV_TABLE_SIZE,
                },
            )),
            Some(size) if !is_prime(size) => Err(cx.err(field, ErrorKind::NotPrime)),
            _ => Ok(()),
        }
    }
}

impl EndpointSlice {
    /// Checks the slice, which lives in `namespace`, against the Kubernetes API rules, and that
    /// every endpoint's address is of the slice's family.
    ///
    /// Returns the first violation. Nothing is changed either way.
    pub fn validate(&self, namespace: &str) -> Result<(), ValidationError> {
        let id = ObjectRef::new(namespace, self.name.as_str());
        let cx = Ctx {
            kind: ObjectKind::EndpointSlice,
            object: &id,
        };
        cx.name("metadata.namespace", namespace, NameFormat::Dns1123Label)?;
        if !self.name.is_empty() {
            cx.name("metadata.name", &self.name, NameFormat::Dns1123Subdomain)?;
        }
        if self.endpoints.len() > MAX_SLICE_ENDPOINTS {
            return Err(cx.err(
                "endpoints",
                ErrorKind::TooMany {
                    max: MAX_SLICE_ENDPOINTS,
                },
            ));
        }
        for (i, e) in self.endpoints.iter().enumerate() {
            let address = format!("endpoints[{i}].addresses[0]");
            if e.family() != self.family {
                return Err(cx.err(
                    address,
                    ErrorKind::WrongFamily {
                        expected: self.family,
                    },
                ));
            }
            if let Some(special) = special_address(e.address) {
                return Err(cx.err(address, ErrorKind::SpecialAddress(special)));
            }
            if let Some(node) = &e.node_name {
                cx.name(
                    &format!("endpoints[{i}].nodeName"),
                    node,
                    NameFormat::Dns1123Subdomain,
                )?;
            }
            if let Some(hostname) = &e.hostname {
                cx.name(
                    &format!("endpoints[{i}].hostname"),
                    hostname,
                    NameFormat::Dns1123Label,
                )?;
            }
            let hints = format!("endpoints[{i}].hints");
            cx.hints(
                &hints,
                "forZones",
                &e.zone_hints,
                MAX_ZONE_HINTS,
                |field, zone| {
                    if is_label_value(zone) {
                        Ok(())
                    } else {
                        Err(cx.err(field, ErrorKind::InvalidName(NameFormat::LabelValue)))
                    }
                },
            )?;
            cx.hints(
                &hints,
                "forNodes",
                &e.node_hints,
                MAX_NODE_HINTS,
                |field, node| cx.name(field, node, NameFormat::Dns1123Subdomain),
            )?;
        }
        if self.ports.len() > MAX_SLICE_PORTS {
            return Err(cx.err(
                "ports",
                ErrorKind::TooMany {
                    max: MAX_SLICE_PORTS,
                },
            ));
        }
        let mut names = BTreeSet::new();
        for (i, p) in self.ports.iter().enumerate() {
            let field = format!("ports[{i}].name");
            if !p.name.is_empty() && !is_dns1123_label(&p.name) {
                return Err(cx.err(field, ErrorKind::InvalidName(NameFormat::Dns1123Label)));
            }
            if !names.insert(p.name.as_str()) {
                return Err(cx.err(field, ErrorKind::Duplicate));
            }
        }
        Ok(())
    }
}

/// Checks every slice of a Service in `namespace` ([`EndpointSlice::validate`]) and that no
/// two non-empty slice names repeat.
pub fn validate_slices(namespace: &str, slices: &[EndpointSlice]) -> Result<(), ValidationError> {
    let mut names = BTreeSet::new();
    for slice in slices {
        slice.validate(namespace)?;
        if !slice.name.is_empty() && !names.insert(slice.name.as_str()) {
            return Err(ValidationError {
                object_kind: ObjectKind::EndpointSlice,
                object: ObjectRef::new(namespace, slice.name.as_str()),
                field: "metadata.name".into(),
                kind: ErrorKind::Duplicate,
            });
        }
    }
    Ok(())
}

impl NodeConfig {
    /// Checks the node configuration: a node name (a DNS-1123 subdomain), a zone that is a
    /// label value, a NodePort range that is not empty and does not hold port 0.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let id = ObjectRef::new("", self.node_name.as_str());
        let cx = Ctx {
            kind: ObjectKind::Node,
            object: &id,
        };
        cx.name("nodeName", &self.node_name, NameFormat::Dns1123Subdomain)?;
        if let Some(zone) = &self.zone {
            if !is_label_value(zone) {
                return Err(cx.err("zone", ErrorKind::InvalidName(NameFormat::LabelValue)));
            }
        }
        let range = self.node_port_range;
        if range.first == 0 || range.first > range.last {
            return Err(cx.err("nodePortRange", ErrorKind::InvalidPort));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use crate::model::{Cidr, Endpoint, EndpointPort, LoadBalancerIngress, Protocol, ServicePort};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn config() -> NodeConfig {
        NodeConfig::new("node-a")
    }

    /// A valid ClusterIP Service with one named port.
    fn cluster_ip() -> Service {
        Service {
            cluster_ips: ClusterIps::Assigned(vec![ip("10.96.0.1")]),
            ports: vec![ServicePort::tcp(80).named("http").target(8080)],
            ..Service::new("default", "web")
        }
    }

    /// A valid LoadBalancer Service with externalTrafficPolicy Local.
    fn load_balancer() -> Service {
        Service {
            service_type: ServiceType::LoadBalancer,
            ports: vec![
                ServicePort::tcp(80).named("http").node_port(30080),
                ServicePort::tcp(443).named("https").node_port(30443),
            ],
            external_traffic_policy: TrafficPolicy::Local,
            health_check_node_port: Some(32000),
            load_balancer_source_ranges: vec!["203.0.113.0/24".parse().unwrap()],
            load_balancer_ingress: vec![LoadBalancerIngress::vip(ip("198.51.100.7"))],
            ..cluster_ip()
        }
    }

    fn external_name() -> Service {
        Service {
            service_type: ServiceType::ExternalName,
            external_name: Some("db.example.com".into()),
            ..Service::new("default", "db")
        }
    }

    #[track_caller]
    fn ok(svc: &Service) {
        if let Err(e) = svc.validate(&config()) {
            panic!("unexpected error: {e}");
        }
    }

    #[track_caller]
    fn rejects(svc: &Service, field: &str, kind: ErrorKind) {
        let e = svc.validate(&config()).unwrap_err();
        assert_eq!(e.object_kind, ObjectKind::Service);
        assert_eq!(e.object, svc.id);
        assert_eq!((e.field.as_str(), e.kind), (field, kind));
    }

    fn forbidden(e: &ValidationError) -> bool {
        matches!(e.kind, ErrorKind::Forbidden(_))
    }

    #[track_caller]
    fn rejects_forbidden(svc: &Service, field: &str) {
        let e = svc.validate(&config()).unwrap_err();
        assert_eq!(e.field, field);
        assert!(forbidden(&e), "{e}");
    }

    #[test]
    fn fixtures_are_valid() {
        ok(&cluster_ip());
        ok(&load_balancer());
        ok(&external_name());
    }

    #[test]
    fn namespace_is_a_dns_label() {
        let mut svc = cluster_ip();
        svc.id.namespace = "kube-system".into();
        ok(&svc);
        svc.id.namespace = "Kube_System".into();
        rejects(
            &svc,
            "metadata.namespace",
            ErrorKind::InvalidName(NameFormat::Dns1123Label),
        );
        svc.id.namespace = String::new();
        rejects(&svc, "metadata.namespace", ErrorKind::Required);
    }

    #[test]
    fn name_is_a_dns1035_label() {
        let mut svc = cluster_ip();
        svc.id.name = "pricing-engine-svc".into();
        ok(&svc);
        svc.id.name = "1pricing".into();
        rejects(
            &svc,
            "metadata.name",
            ErrorKind::InvalidName(NameFormat::Dns1035Label),
        );
        svc.id.name = String::new();
        rejects(&svc, "metadata.name", ErrorKind::Required);
    }

    #[test]
    fn ports_are_required_unless_headless_or_external_name() {
        let mut svc = cluster_ip();
        svc.ports.clear();
        rejects(&svc, "spec.ports", ErrorKind::Required);
        svc.cluster_ips = ClusterIps::Headless;
        ok(&svc);
        ok(&external_name());
    }

    #[test]
    fn port_name_required_when_more_than_one_port() {
        let mut svc = cluster_ip();
        svc.ports = vec![ServicePort::tcp(80)];
        ok(&svc);
        svc.ports.push(ServicePort::tcp(81));
        rejects(&svc, "spec.ports[0].name", ErrorKind::Required);
        svc.ports[0].name = "a".into();
        rejects(&svc, "spec.ports[1].name", ErrorKind::Required);
        svc.ports[1].name = "b".into();
        ok(&svc);
    }

    #[test]
    fn port_name_is_a_dns_label() {
        let mut svc = cluster_ip();
        svc.ports[0].name = "dns-tcp".into();
        ok(&svc);
        svc.ports[0].name = "HTTP".into();
        rejects(
            &svc,
            "spec.ports[0].name",
            ErrorKind::InvalidName(NameFormat::Dns1123Label),
        );
    }

    #[test]
    fn port_names_are_unique() {
        let mut svc = cluster_ip();
        svc.ports.push(ServicePort::tcp(81).named("http"));
        rejects(&svc, "spec.ports[1].name", ErrorKind::Duplicate);
        svc.ports[1].name = "http-alt".into();
        ok(&svc);
    }

    #[test]
    fn port_is_1_to_65535() {
        let mut svc = cluster_ip();
        svc.ports[0].port = 65535;
        ok(&svc);
        svc.ports[0].port = 1;
        ok(&svc);
        svc.ports[0].port = 0;
        rejects(&svc, "spec.ports[0].port", ErrorKind::InvalidPort);
    }

    #[test]
    fn target_port_number_is_not_zero() {
        let mut svc = cluster_ip();
        svc.ports[0].target_port = TargetPort::Number(0);
        rejects(&svc, "spec.ports[0].targetPort", ErrorKind::InvalidPort);
    }

    #[test]
    fn target_port_name_is_an_iana_service_name() {
        let mut svc = cluster_ip();
        for good in ["http", "metrics", "h2c", "grpc-web"] {
            svc.ports[0].target_port = good.into();
            ok(&svc);
        }
        for bad in [
            "",
            "8080",
            "-http",
            "http-",
            "grpc--web",
            "Http",
            "a-very-long-name",
        ] {
            svc.ports[0].target_port = bad.into();
            rejects(
                &svc,
                "spec.ports[0].targetPort",
                ErrorKind::InvalidName(NameFormat::IanaServiceName),
            );
        }
    }

    #[test]
    fn protocol_and_port_are_unique() {
        let mut svc = cluster_ip();
        svc.ports = vec![
            ServicePort::udp(53).named("dns"),
            ServicePort::tcp(53).named("dns-tcp"),
        ];
        ok(&svc);
        svc.ports[1].protocol = Protocol::Udp;
        rejects(&svc, "spec.ports[1]", ErrorKind::Duplicate);
    }

    #[test]
    fn node_port_forbidden_on_cluster_ip_only() {
        let mut svc = cluster_ip();
        svc.ports[0].node_port = Some(30080);
        rejects_forbidden(&svc, "spec.ports[0].nodePort");
        svc.service_type = ServiceType::NodePort;
        ok(&svc);
    }

    /// ValidateService forbids a nodePort only for ClusterIP: an ExternalName Service stores
    /// one as given. It is no NodePort, so the range does not apply; (protocol, nodePort)
    /// stays unique, as API validation checks that for every type.
    #[test]
    fn external_name_may_carry_a_node_port_outside_the_range() {
        let mut svc = external_name();
        svc.ports = vec![
            ServicePort::tcp(80).named("http").node_port(30080),
            ServicePort::tcp(81).named("alt").node_port(80),
        ];
        ok(&svc);
        assert!(!svc.uses_node_ports());
        assert_eq!(svc.allocated_node_ports().count(), 0);
        svc.ports[1].node_port = Some(30080);
        rejects(&svc, "spec.ports[1].nodePort", ErrorKind::Duplicate);
    }

    #[test]
    fn node_port_within_range() {
        let mut svc = load_balancer();
        for good in [30000, 32767] {
            svc.ports[0].node_port = Some(good);
            ok(&svc);
        }
        let range = ErrorKind::OutOfRange {
            min: 30000,
            max: 32767,
        };
        for bad in [29999, 32768, 80] {
            svc.ports[0].node_port = Some(bad);
            rejects(&svc, "spec.ports[0].nodePort", range.clone());
        }
        let config = NodeConfig {
            node_port_range: PortRange::new(20000, 20100),
            ..config()
        };
        svc.ports[0].node_port = Some(20000);
        svc.ports[1].node_port = Some(20001);
        svc.health_check_node_port = Some(20002);
        assert_eq!(svc.validate(&config), Ok(()));
    }

    #[test]
    fn protocol_and_node_port_are_unique() {
        let mut svc = load_balancer();
        svc.ports[1].node_port = Some(30080);
        rejects(&svc, "spec.ports[1].nodePort", ErrorKind::Duplicate);
        // The same port number over two protocols shares one nodePort.
        svc.ports = vec![
            ServicePort::udp(53).named("dns").node_port(30053),
            ServicePort::tcp(53).named("dns-tcp").node_port(30053),
        ];
        ok(&svc);
        // So may two numbers over two protocols, as an update can store (README).
        svc.ports[1] = ServicePort::tcp(54).named("dns-tcp").node_port(30053);
        ok(&svc);
        svc.ports[1].protocol = Protocol::Udp;
        rejects(&svc, "spec.ports[1].nodePort", ErrorKind::Duplicate);
    }

    #[test]
    fn health_check_node_port_only_and_always_for_lb_local() {
        let mut svc = load_balancer();
        svc.health_check_node_port = None;
        rejects(&svc, "spec.healthCheckNodePort", ErrorKind::Required);
        svc.health_check_node_port = Some(32000);
        svc.external_traffic_policy = TrafficPolicy::Cluster;
        rejects_forbidden(&svc, "spec.healthCheckNodePort");
        svc.health_check_node_port = None;
        ok(&svc);
        // NodePort with Local has no health check.
        svc.service_type = ServiceType::NodePort;
        svc.load_balancer_source_ranges.clear();
        svc.load_balancer_ingress.clear();
        svc.external_traffic_policy = TrafficPolicy::Local;
        ok(&svc);
        svc.health_check_node_port = Some(32000);
        rejects_forbidden(&svc, "spec.healthCheckNodePort");
    }

    #[test]
    fn health_check_node_port_within_range_and_not_a_node_port() {
        let mut svc = load_balancer();
        svc.health_check_node_port = Some(10256);
        rejects(
            &svc,
            "spec.healthCheckNodePort",
            ErrorKind::OutOfRange {
                min: 30000,
                max: 32767,
            },
        );
        svc.health_check_node_port = Some(30443);
        rejects(&svc, "spec.healthCheckNodePort", ErrorKind::Duplicate);
    }

    #[test]
    fn external_traffic_policy_local_needs_external_access() {
        let mut svc = cluster_ip();
        svc.external_traffic_policy = TrafficPolicy::Local;
        rejects_forbidden(&svc, "spec.externalTrafficPolicy");
        svc.external_ips = vec![ip("203.0.113.10")];
        ok(&svc);
        svc.external_ips.clear();
        svc.service_type = ServiceType::NodePort;
        ok(&svc);
    }

    #[test]
    fn affinity_timeout_between_1_and_86400() {
        let mut svc = cluster_ip();
        svc.session_affinity = SessionAffinity::client_ip();
        assert_eq!(svc.session_affinity.timeout_seconds(), Some(10_800));
        ok(&svc);
        for good in [1, 86_400] {
            svc.session_affinity = SessionAffinity::ClientIp {
                timeout_seconds: good,
            };
            ok(&svc);
        }
        for bad in [0, 86_401] {
            svc.session_affinity = SessionAffinity::ClientIp {
                timeout_seconds: bad,
            };
            rejects(
                &svc,
                "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                ErrorKind::OutOfRange {
                    min: 1,
                    max: 86_400,
                },
            );
        }
    }

    #[test]
    fn at_most_two_cluster_ips_one_per_family() {
        let mut svc = cluster_ip();
        svc.ip_family_policy = Some(IpFamilyPolicy::PreferDualStack);
        svc.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.0.1"), ip("fd00:10:96::1")]);
        ok(&svc);
        svc.cluster_ips =
            ClusterIps::Assigned(vec![ip("10.96.0.1"), ip("fd00:10:96::1"), ip("10.96.0.2")]);
        rejects(&svc, "spec.clusterIPs", ErrorKind::TooMany { max: 2 });
        svc.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.0.1"), ip("10.96.0.2")]);
        rejects(&svc, "spec.clusterIPs", ErrorKind::OneIpPerFamily);
    }

    #[test]
    fn cluster_ip_is_not_ipv4_mapped() {
        let mut svc = cluster_ip();
        svc.cluster_ips = ClusterIps::Assigned(vec![ip("::ffff:10.96.0.1")]);
        rejects(
            &svc,
            "spec.clusterIPs[0]",
            ErrorKind::SpecialAddress(SpecialAddress::Ipv4Mapped),
        );
    }

    #[test]
    fn ip_families_at_most_two_and_distinct() {
        let mut svc = cluster_ip();
        svc.ip_families = vec![IpFamily::V4, IpFamily::V4];
        rejects(&svc, "spec.ipFamilies[1]", ErrorKind::Duplicate);
        svc.ip_families = vec![IpFamily::V4, IpFamily::V6, IpFamily::V4];
        rejects(&svc, "spec.ipFamilies", ErrorKind::TooMany { max: 2 });
        svc.ip_families = vec![IpFamily::V4, IpFamily::V6];
        ok(&svc);
    }

    #[test]
    fn cluster_ips_match_ip_families() {
        let mut svc = cluster_ip();
        svc.ip_family_policy = Some(IpFamilyPolicy::RequireDualStack);
        svc.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.0.1"), ip("fd00:10:96::1")]);
        svc.ip_families = vec![IpFamily::V4, IpFamily::V6];
        ok(&svc);
        svc.ip_families = vec![IpFamily::V6, IpFamily::V4];
        rejects(
            &svc,
            "spec.clusterIPs[0]",
            ErrorKind::WrongFamily {
                expected: IpFamily::V6,
            },
        );
    }

    #[test]
    fn ip_family_policy_agrees_with_cluster_ips() {
        let mut svc = cluster_ip();
        svc.ip_family_policy = Some(IpFamilyPolicy::SingleStack);
        ok(&svc);
        svc.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.0.1"), ip("fd00:10:96::1")]);
        rejects(
            &svc,
            "spec.clusterIPs",
            ErrorKind::FamilyPolicy(IpFamilyPolicy::SingleStack),
        );
        svc.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.0.1")]);
        svc.ip_families = vec![IpFamily::V4, IpFamily::V6];
        rejects(
            &svc,
            "spec.ipFamilies",
            ErrorKind::FamilyPolicy(IpFamilyPolicy::SingleStack),
        );
        svc.ip_families.clear();
        svc.ip_family_policy = Some(IpFamilyPolicy::PreferDualStack);
        ok(&svc);
        svc.ip_family_policy = Some(IpFamilyPolicy::RequireDualStack);
        rejects(
            &svc,
            "spec.clusterIPs",
            ErrorKind::FamilyPolicy(IpFamilyPolicy::RequireDualStack),
        );
        // A headless Service has no cluster IPs to count.
        svc.cluster_ips = ClusterIps::Headless;
        ok(&svc);
    }

    #[test]
    fn headless_only_for_cluster_ip_services() {
        // "None" cannot be combined with addresses: ClusterIps::Headless holds none.
        let mut svc = cluster_ip();
        svc.cluster_ips = ClusterIps::Headless;
        ok(&svc);
        assert!(svc.is_headless());
        svc.service_type = ServiceType::NodePort;
        rejects_forbidden(&svc, "spec.clusterIPs[0]");
        svc.service_type = ServiceType::LoadBalancer;
        rejects_forbidden(&svc, "spec.clusterIPs[0]");
        svc.cluster_ips = ClusterIps::Unset;
        rejects(&svc, "spec.clusterIPs", ErrorKind::Required);
    }

    #[test]
    fn external_name_is_a_dns_subdomain() {
        let mut svc = external_name();
        svc.external_name = Some("mydb.rds.amazonaws.com.".into());
        ok(&svc);
        svc.external_name = Some("db_example.com".into());
        rejects(
            &svc,
            "spec.externalName",
            ErrorKind::InvalidName(NameFormat::Dns1123Subdomain),
        );
        svc.external_name = Some("db..example.com".into());
        rejects(
            &svc,
            "spec.externalName",
            ErrorKind::InvalidName(NameFormat::Dns1123Subdomain),
        );
        for missing in [None, Some(String::new()), Some(".".into())] {
            svc.external_name = missing;
            rejects(&svc, "spec.externalName", ErrorKind::Required);
        }
    }

    #[test]
    fn external_name_has_no_cluster_ips_families_or_policy() {
        let mut svc = external_name();
        svc.cluster_ips = ClusterIps::Assigned(vec![ip("10.96.0.9")]);
        rejects_forbidden(&svc, "spec.clusterIPs");
        svc.cluster_ips = ClusterIps::Headless;
        rejects_forbidden(&svc, "spec.clusterIPs");
        let mut svc = external_name();
        svc.ip_families = vec![IpFamily::V4];
        rejects_forbidden(&svc, "spec.ipFamilies");
        let mut svc = external_name();
        svc.ip_family_policy = Some(IpFamilyPolicy::SingleStack);
        rejects_forbidden(&svc, "spec.ipFamilyPolicy");
    }

    #[test]
    fn external_ips_are_not_special() {
        let mut svc = cluster_ip();
        svc.external_ips = vec![ip("203.0.113.10"), ip("2001:db8::10")];
        ok(&svc);
        let cases = [
            ("0.0.0.0", SpecialAddress::Unspecified),
            ("::", SpecialAddress::Unspecified),
            ("127.0.0.1", SpecialAddress::Loopback),
            ("::1", SpecialAddress::Loopback),
            ("169.254.169.254", SpecialAddress::LinkLocal),
            ("fe80::1", SpecialAddress::LinkLocal),
            ("224.0.0.251", SpecialAddress::LinkLocalMulticast),
            ("ff02::fb", SpecialAddress::LinkLocalMulticast),
            ("::ffff:203.0.113.10", SpecialAddress::Ipv4Mapped),
        ];
        for (addr, special) in cases {
            svc.external_ips = vec![ip("203.0.113.10"), ip(addr)];
            rejects(
                &svc,
                "spec.externalIPs[1]",
                ErrorKind::SpecialAddress(special),
            );
        }
    }

    #[test]
    fn source_ranges_only_for_load_balancers() {
        let mut svc = cluster_ip();
        svc.load_balancer_source_ranges = vec!["10.0.0.0/8".parse().unwrap()];
        rejects_forbidden(&svc, "spec.loadBalancerSourceRanges");
        ok(&load_balancer());
    }

    #[test]
    fn ingress_only_for_load_balancers_and_not_mapped() {
        let mut svc = cluster_ip();
        svc.load_balancer_ingress = vec![LoadBalancerIngress::vip(ip("198.51.100.7"))];
        rejects_forbidden(&svc, "status.loadBalancer.ingress");
        let mut svc = load_balancer();
        svc.load_balancer_ingress
            .push(LoadBalancerIngress::vip(ip("::ffff:198.51.100.8")));
        rejects(
            &svc,
            "status.loadBalancer.ingress[1].ip",
            ErrorKind::SpecialAddress(SpecialAddress::Ipv4Mapped),
        );
    }

    #[test]
    fn maglev_table_size_is_a_bounded_prime() {
        let mut svc = cluster_ip();
        for good in [251, 65_537, 131_071] {
            svc.maglev_table_size = Some(good);
            ok(&svc);
        }
        for bad in [0, 1, 65_536, 65_535] {
            svc.maglev_table_size = Some(bad);
            rejects(&svc, "spec.maglevTableSize", ErrorKind::NotPrime);
        }
        svc.maglev_table_size = Some(131_101);
        rejects(
            &svc,
            "spec.maglevTableSize",
            ErrorKind::OutOfRange {
                min: 2,
                max: MAX_MAGLEV_TABLE_SIZE,
            },
        );
    }

    #[test]
    fn error_display_names_object_and_field() {
        let mut svc = load_balancer();
        svc.ports[1].node_port = Some(30080);
        let e = svc.validate(&config()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Service default/web: spec.ports[1].nodePort: duplicate value"
        );
        let owner = ErrorKind::AlreadyAllocated {
            owner: Box::new(ObjectRef::new("prod", "api")),
        };
        assert_eq!(owner.to_string(), "already allocated to Service prod/api");
    }

    #[test]
    fn rejected_service_is_unchanged() {
        let mut svc = load_balancer();
        svc.ports[1].node_port = Some(30080);
        let before = svc.clone();
        assert!(svc.validate(&config()).is_err());
        assert_eq!(svc, before);
    }

    /// A valid IPv4 slice with one named port and one endpoint.
    fn slice() -> EndpointSlice {
        EndpointSlice {
            name: "web-abc12".into(),
            family: IpFamily::V4,
            ports: vec![EndpointPort::new("http", Protocol::Tcp, 8080)],
            endpoints: vec![Endpoint::new(ip("10.244.1.5"))
                .on_node("node-a")
                .in_zone("zone-a")
                .hinted_for(["zone-a"])
                .with_hostname("web-0")],
        }
    }

    #[track_caller]
    fn slice_rejects(slice: &EndpointSlice, field: &str, kind: ErrorKind) {
        let e = slice.validate("default").unwrap_err();
        assert_eq!(e.object_kind, ObjectKind::EndpointSlice);
        assert_eq!(e.object, ObjectRef::new("default", slice.name.as_str()));
        assert_eq!((e.field.as_str(), e.kind), (field, kind));
    }

    #[test]
    fn slice_fixture_is_valid() {
        assert_eq!(slice().validate("default"), Ok(()));
    }

    #[test]
    fn slice_namespace_and_name() {
        let e = slice().validate("Default").unwrap_err();
        assert_eq!(e.field, "metadata.namespace");
        let mut s = slice();
        s.name = String::new();
        assert_eq!(s.validate("default"), Ok(()));
        s.name = "web.abc-12".into();
        assert_eq!(s.validate("default"), Ok(()));
        s.name = "Web_abc".into();
        slice_rejects(
            &s,
            "metadata.name",
            ErrorKind::InvalidName(NameFormat::Dns1123Subdomain),
        );
    }

    #[test]
    fn slice_endpoint_count_is_bounded() {
        let mut s = slice();
        let e = s.endpoints[0].clone();
        s.endpoints = vec![e; MAX_SLICE_ENDPOINTS];
        assert_eq!(s.validate("default"), Ok(()));
        s.endpoints.push(s.endpoints[0].clone());
        slice_rejects(&s, "endpoints", ErrorKind::TooMany { max: 1000 });
    }

    #[test]
    fn slice_addresses_match_family_and_are_not_special() {
        let mut s = slice();
        s.endpoints.push(Endpoint::new(ip("fd00:10:244::5")));
        slice_rejects(
            &s,
            "endpoints[1].addresses[0]",
            ErrorKind::WrongFamily {
                expected: IpFamily::V4,
            },
        );
        s.family = IpFamily::V6;
        slice_rejects(
            &s,
            "endpoints[0].addresses[0]",
            ErrorKind::WrongFamily {
                expected: IpFamily::V6,
            },
        );
        let mut s = slice();
        s.endpoints[0].address = ip("127.0.0.1");
        slice_rejects(
            &s,
            "endpoints[0].addresses[0]",
            ErrorKind::SpecialAddress(SpecialAddress::Loopback),
        );
    }

    #[test]
    fn slice_node_name_and_hostname() {
        let mut s = slice();
        s.endpoints[0].node_name = Some("Node_A".into());
        slice_rejects(
            &s,
            "endpoints[0].nodeName",
            ErrorKind::InvalidName(NameFormat::Dns1123Subdomain),
        );
        let mut s = slice();
        s.endpoints[0].hostname = Some("web.0".into());
        slice_rejects(
            &s,
            "endpoints[0].hostname",
            ErrorKind::InvalidName(NameFormat::Dns1123Label),
        );
    }

    #[test]
    fn slice_zone_hints() {
        let mut s = slice();
        let zones: Vec<String> = (0..8).map(|i| format!("zone-{i}")).collect();
        s.endpoints[0].zone_hints = zones.clone();
        assert_eq!(s.validate("default"), Ok(()));
        s.endpoints[0].zone_hints.push("zone-8".into());
        slice_rejects(
            &s,
            "endpoints[0].hints.forZones",
            ErrorKind::TooMany { max: 8 },
        );
        s.endpoints[0].zone_hints = vec!["zone-a".into(), "zone-a".into()];
        slice_rejects(
            &s,
            "endpoints[0].hints.forZones[1].name",
            ErrorKind::Duplicate,
        );
        s.endpoints[0].zone_hints = vec!["zone a".into()];
        slice_rejects(
            &s,
            "endpoints[0].hints.forZones[0].name",
            ErrorKind::InvalidName(NameFormat::LabelValue),
        );
    }

    #[test]
    fn slice_node_hints() {
        let mut s = slice();
        let nodes: Vec<String> = (0..8).map(|i| format!("node-{i}.example")).collect();
        s.endpoints[0].node_hints = nodes.clone();
        assert_eq!(s.validate("default"), Ok(()));
        s.endpoints[0].node_hints.push("node-8".into());
        slice_rejects(
            &s,
            "endpoints[0].hints.forNodes",
            ErrorKind::TooMany { max: 8 },
        );
        s.endpoints[0].node_hints = vec!["node-a".into(), "node-a".into()];
        slice_rejects(
            &s,
            "endpoints[0].hints.forNodes[1].name",
            ErrorKind::Duplicate,
        );
        s.endpoints[0].node_hints = vec!["Node_A".into()];
        slice_rejects(
            &s,
            "endpoints[0].hints.forNodes[0].name",
            ErrorKind::InvalidName(NameFormat::Dns1123Subdomain),
        );
        s.endpoints[0].node_hints = vec![String::new()];
        slice_rejects(
            &s,
            "endpoints[0].hints.forNodes[0].name",
            ErrorKind::Required,
        );
    }

    #[test]
    fn slice_port_names() {
        let mut s = slice();
        s.ports = vec![EndpointPort::new("", Protocol::Tcp, 80)];
        assert_eq!(s.validate("default"), Ok(()));
        s.ports = vec![EndpointPort::new("HTTP", Protocol::Tcp, 80)];
        slice_rejects(
            &s,
            "ports[0].name",
            ErrorKind::InvalidName(NameFormat::Dns1123Label),
        );
        // Names are unique within a slice, whatever the protocol.
        s.ports = vec![
            EndpointPort::new("dns", Protocol::Udp, 53),
            EndpointPort::new("dns", Protocol::Tcp, 53),
        ];
        slice_rejects(&s, "ports[1].name", ErrorKind::Duplicate);
    }

    #[test]
    fn slice_port_count_is_bounded() {
        let mut s = slice();
        s.ports = (0..=MAX_SLICE_PORTS)
            .map(|i| EndpointPort::new(format!("p{i}"), Protocol::Tcp, 80))
            .collect();
        slice_rejects(&s, "ports", ErrorKind::TooMany { max: 20_000 });
        s.ports.pop();
        assert_eq!(s.validate("default"), Ok(()));
    }

    #[test]
    fn slice_names_unique_within_a_service() {
        let mut other = slice();
        other.name = "web-def34".into();
        other.endpoints[0].address = ip("10.244.2.5");
        assert_eq!(
            validate_slices("default", &[slice(), other.clone()]),
            Ok(())
        );
        other.name = slice().name;
        let e = validate_slices("default", &[slice(), other]).unwrap_err();
        assert_eq!(e.field, "metadata.name");
        assert_eq!(e.kind, ErrorKind::Duplicate);
        let mut bad = slice();
        bad.endpoints[0].address = ip("0.0.0.0");
        let e = validate_slices("default", &[slice(), bad]).unwrap_err();
        assert_eq!(e.field, "endpoints[0].addresses[0]");
    }

    #[test]
    fn node_config_rules() {
        let mut c = NodeConfig {
            zone: Some("eu-west-1a".into()),
            node_ips: vec![ip("192.168.0.10")],
            cluster_cidrs: vec![Cidr::host(ip("10.244.0.0"))],
            ..NodeConfig::new("node-eu-west-1a")
        };
        assert_eq!(c.validate(), Ok(()));
        c.zone = Some("eu west".into());
        let e = c.validate().unwrap_err();
        assert_eq!(e.object_kind, ObjectKind::Node);
        assert_eq!(
            (e.field.as_str(), e.kind),
            ("zone", ErrorKind::InvalidName(NameFormat::LabelValue))
        );
        c.zone = None;
        c.node_port_range = PortRange::new(32767, 30000);
        assert_eq!(c.validate().unwrap_err().field, "nodePortRange");
        c.node_port_range = PortRange::new(0, 100);
        assert_eq!(c.validate().unwrap_err().field, "nodePortRange");
        c.node_port_range = PortRange::default();
        c.node_name = String::new();
        let e = c.validate().unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.kind),
            ("nodeName", ErrorKind::Required)
        );
    }
}
