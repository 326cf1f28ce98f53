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
    MAX_AFFINITY_TIMEOUT_SECONDS, MAX_MAGLEV_TABLE_SIZE, MAX_SLICE_ENDPOINTS, MAX_SLICE_PORTS,
    MAX_ZONE_HINTS,
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

/// Addresses Kubernetes refuses as endpoints and externalIPs (and IPv4-mapped IPv6 anywhere).
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
    /// `::ffff:0:0/96`: write the IPv4 address instead.
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
        let has_node_ports = matches!(
            self.service_type,
            ServiceType::NodePort | ServiceType::LoadBalancer
        );
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
                if !has_node_ports {
                    return Err(cx.err(
                        field,
                        ErrorKind::Forbidden(
                            "may be used only when type is NodePort or LoadBalancer",
                        ),
                    ));
                }
                if !range.contains(node_port) {
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
            if e.zone_hints.len() > MAX_ZONE_HINTS {
                return Err(cx.err(
                    format!("endpoints[{i}].hints.forZones"),
                    ErrorKind::TooMany {
                        max: MAX_ZONE_HINTS,
                    },
                ));
            }
            for (j, zone) in e.zone_hints.iter().enumerate() {
                let field = format!("endpoints[{i}].hints.forZones[{j}].name");
                if e.zone_hints[..j].contains(zone) {
                    return Err(cx.err(field, ErrorKind::Duplicate));
                }
                if !is_label_value(zone) {
                    return Err(cx.err(field, ErrorKind::InvalidName(NameFormat::LabelValue)));
                }
            }
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
