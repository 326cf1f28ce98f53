//! The Kubernetes JSON loader (feature `k8s-json`): Services and EndpointSlices as the API
//! server returns them, applied to a [`Catalog`].
//!
//! A [`Loader`] takes JSON documents ([`Loader::apply_json`]) holding
//!
//! - a `v1 Service`,
//! - a `discovery.k8s.io/v1 EndpointSlice`,
//! - a `v1 List` of those (`kubectl get svc,endpointslices -A -o json`), or a typed list
//!   (`ServiceList`, `EndpointSliceList`, as the API server returns them: items without `kind`),
//! - or a watch event (`{"type": "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK", "object": ...}`),
//!
//! deletions by kind, namespace and name ([`Loader::delete`]), and relists: a List that is the
//! complete set of one kind, after a watch fails with `410 Gone` ([`Loader::replace_json`],
//! which deletes what the List lacks). Unknown fields are ignored, as
//! Kubernetes clients ignore them; objects of other kinds or API versions (a Pod in a List, a
//! `discovery.k8s.io/v1beta1` slice) are skipped and counted in [`Applied::ignored`].
//!
//! # EndpointSlices
//!
//! A slice belongs to the Service its `kubernetes.io/service-name` label names, in the slice's
//! namespace. The loader keeps the slices of every Service and hands them all, ordered by name, to
//! [`Catalog::replace_endpoints`] whenever one of them changes, so several slices of a Service
//! merge and deleting one re-merges the others. A slice without that label, or with
//! `addressType: FQDN`, carries nothing for the packet path: it is skipped (and, if it was
//! known, removed from its former Service).
//!
//! # Addresses
//!
//! IP addresses and CIDRs are read as kube-proxy reads them (`netutils.ParseIPSloppy`): an IPv4
//! address whose parts have leading zeros (`10.96.0.010`, accepted by API servers before strict
//! IP validation and still found in stored objects) is read as decimal, 10.96.0.10.
//!
//! An IPv4-mapped IPv6 address (`::ffff:203.0.113.9`), which the API server accepts with a
//! warning and kube-proxy treats as IPv4, is read as the IPv4 address (203.0.113.9) in every
//! field that holds one: `spec.clusterIP`/`clusterIPs` (so the family checks against
//! `spec.ipFamilies` see IPv4), `spec.externalIPs`, `status.loadBalancer.ingress[].ip` and
//! EndpointSlice addresses. The checks for special addresses then apply to the IPv4 address,
//! as Go's do (`::ffff:127.0.0.1` is loopback). A `loadBalancerSourceRanges` entry
//! `::ffff:a.b.c.d/p` with `p` ≥ 96 is the IPv4 range `a.b.c.d/(p - 96)`, as kube-proxy
//! reads it; with `p` < 96 it is neither an IPv4 range nor a meaningful IPv6 one (kube-proxy
//! would filter it out of the IPv4 ranges, leaving the IPv4 load-balancer IPs unrestricted
//! if it is the only one), so it is refused, naming the entry. The typed model
//! ([`crate::model`]) keeps refusing IPv4-mapped addresses: this normalisation is the
//! loader's.
//!
//! An IPv4-mapped address in an `addressType: IPv6` slice is refused
//! (`endpoints[i].addresses[0]`: must be an IPv6 address), as the API server refuses it
//! (`IsValidIPv6Address`), so no stored slice carries one; kube-proxy's IPv6 proxier would
//! skip the endpoint as of the wrong family. Read as IPv4 inside an IPv6 slice it could only
//! be misrouted; read as IPv6 it would never match a packet.
//!
//! # Errors and atomicity
//!
//! A [`LoadError`] names the object (kind, `namespace/name`, and its index in a List) and the
//! field as an API path (`spec.ports[1].targetPort`). A rejected document changes nothing: every
//! object is converted and validated first; a document with several objects is then applied to
//! a copy of the catalog, kept only when every object was accepted (so conflicts between
//! objects, such as two Services claiming one cluster IP, are caught too).
//!
//! The entry point takes one byte buffer and returns plain data, so a C ABI can expose it as one
//! call.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::catalog::{self, Catalog};
use crate::model::{
    Cidr, ClusterIps, Conditions, Endpoint, EndpointPort, EndpointSlice, ErrorKind, IpFamily,
    IpFamilyPolicy, IpMode, LoadBalancerIngress, NodeConfig, ObjectKind, ObjectRef, Protocol,
    Service, ServicePort, ServiceType, SessionAffinity, TargetPort, TrafficPolicy, ValidationError,
    DEFAULT_AFFINITY_TIMEOUT_SECONDS, MAX_AFFINITY_TIMEOUT_SECONDS,
};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The label naming the proxy that owns a Service's packet rules
/// ([`Service::service_proxy_name`]); kube-proxy programs only Services without it.
pub const SERVICE_PROXY_NAME_LABEL: &str = "service.kubernetes.io/service-proxy-name";

/// The label kube-proxy's informers exclude (`v1.IsHeadlessService`, selector "does not
/// exist"): a Service carrying it, with any value, gets no packet rules
/// ([`Service::headless_label`](crate::model::Service::headless_label)).
pub const HEADLESS_LABEL: &str = "service.kubernetes.io/headless";

/// The namespace of an object whose `metadata.namespace` is absent, as `kubectl` assumes.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The kinds of object the loader applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `v1 Service`.
    Service,
    /// `discovery.k8s.io/v1 EndpointSlice`.
    EndpointSlice,
}

impl Kind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "Service",
            Self::EndpointSlice => "EndpointSlice",
        }
    }

    /// The `apiVersion` of this kind.
    pub fn api_version(self) -> &'static str {
        match self {
            Self::Service => "v1",
            Self::EndpointSlice => "discovery.k8s.io/v1",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one accepted document did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Applied {
    /// Services upserted.
    pub services: usize,
    /// EndpointSlices applied (each one re-merges its Service's endpoints).
    pub endpoint_slices: usize,
    /// Objects deleted (watch `DELETED` events, and objects a relist lacks:
    /// [`Loader::replace_json`]) that the catalog or loader held.
    pub deleted: usize,
    /// Objects skipped: other kinds or API versions, FQDN slices, slices without the
    /// `kubernetes.io/service-name` label, `BOOKMARK` events, deletions of unknown objects.
    pub ignored: usize,
}

/// Why a document was rejected. Nothing changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadError {
    /// The index of the offending object in the document's `items`, for a List.
    pub item: Option<usize>,
    /// The kind of the offending object (`Service`, `EndpointSlice`), or of the document when
    /// the object could not be told apart; empty when the buffer is not JSON.
    pub kind: &'static str,
    /// The object's namespace and name, as far as they are known (boxed to keep errors small).
    pub object: Box<ObjectRef>,
    /// The field, as an API path relative to the object (`spec.ports[1].targetPort`); for a
    /// document-level problem, relative to the document (`items[2].kind`).
    pub field: String,
    /// What is wrong.
    pub reason: Reason,
}

/// What is wrong with a field of a rejected document.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// The buffer is not JSON; the text says where (line and column).
    Syntax(String),
    /// The value has the wrong JSON type.
    WrongType {
        /// The type required here.
        expected: &'static str,
    },
    /// The value is not one the API knows.
    Unsupported {
        /// The value found.
        value: String,
        /// The values allowed.
        supported: &'static [&'static str],
    },
    /// A string that is not what the field holds (an IP address, a CIDR).
    Malformed {
        /// What the field holds.
        expected: &'static str,
    },
    /// The object breaks a Kubernetes API rule (see [`Service::validate`],
    /// [`EndpointSlice::validate`]).
    Invalid(ErrorKind),
    /// The object claims a cluster IP, nodePort or frontend another Service holds
    /// ([`ErrorKind::AlreadyAllocated`]).
    Conflict(ErrorKind),
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(text) => write!(f, "not JSON: {text}"),
            Self::WrongType { expected } => write!(f, "must be {expected}"),
            Self::Unsupported { value, supported } => {
                write!(f, "unsupported value {value:?}; supported: ")?;
                for (i, s) in supported.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{s:?}")?;
                }
                Ok(())
            }
            Self::Malformed { expected } => write!(f, "must be {expected}"),
            Self::Invalid(kind) => write!(f, "{kind}"),
            Self::Conflict(kind) => write!(f, "conflict: {kind}"),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(item) = self.item {
            write!(f, "items[{item}]: ")?;
        }
        let object = (!self.object.name.is_empty()).then_some(&self.object);
        match (self.kind, object) {
            ("", None) => {}
            (kind, None) => write!(f, "{kind}: ")?,
            ("", Some(object)) => write!(f, "{object}: ")?,
            (kind, Some(object)) => write!(f, "{kind} {object}: ")?,
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.reason)
    }
}

impl std::error::Error for LoadError {}

impl LoadError {
    fn from_validation(e: ValidationError, conflict: bool) -> Self {
        Self {
            item: None,
            kind: match e.object_kind {
                ObjectKind::Service => "Service",
                ObjectKind::EndpointSlice => "EndpointSlice",
                ObjectKind::Node => "Node",
            },
            object: Box::new(e.object),
            field: e.field,
            reason: if conflict {
                Reason::Conflict(e.kind)
            } else {
                Reason::Invalid(e.kind)
            },
        }
    }

    fn from_catalog(e: catalog::Error) -> Self {
        match e {
            catalog::Error::Conflict(v) => Self::from_validation(v, true),
            catalog::Error::Invalid(v) | catalog::Error::InvalidConfig(v) => {
                Self::from_validation(v, false)
            }
        }
    }

    fn at_item(mut self, item: Option<usize>) -> Self {
        if self.item.is_none() {
            self.item = item;
        }
        self
    }
}

/// One change a document asks for, converted and validated.
#[derive(Debug)]
enum Op {
    Service(Service),
    /// An EndpointSlice `id`; `owner` and `slice` are `None` when it is skipped.
    Slice {
        id: ObjectRef,
        owner: Option<ObjectRef>,
        slice: Option<EndpointSlice>,
    },
    Delete(Kind, ObjectRef),
    Ignore,
}

/// Applies Kubernetes JSON documents to a catalog, keeping the EndpointSlices of every Service
/// so that they merge. See the [module documentation](self).
///
/// Use one loader per catalog, and change that catalog's endpoints only through it.
#[derive(Clone, Debug, Default)]
pub struct Loader {
    /// The slices of each Service, by slice name.
    slices: BTreeMap<ObjectRef, BTreeMap<String, EndpointSlice>>,
    /// The Service each known slice belongs to, by the slice's namespace/name.
    owners: BTreeMap<ObjectRef, ObjectRef>,
}

impl Loader {
    /// A loader that knows no slice yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one JSON document (see the [module documentation](self) for what it may hold)
    /// to `catalog`. On error nothing changed, in the catalog or the loader.
    pub fn apply_json(&mut self, catalog: &mut Catalog, json: &[u8]) -> Result<Applied, LoadError> {
        let doc = parse_json(json)?;
        let ops = convert_document(&doc, catalog.config())?;
        let mut applied = Applied::default();
        if ops.len() <= 1 {
            // One operation is atomic by itself (see `apply_op`).
            for (item, op) in ops {
                self.apply_op(catalog, op, &mut applied)
                    .map_err(|e| e.at_item(item))?;
            }
            return Ok(applied);
        }
        let mut staged_catalog = catalog.clone();
        let mut staged = self.clone();
        for (item, op) in ops {
            staged
                .apply_op(&mut staged_catalog, op, &mut applied)
                .map_err(|e| e.at_item(item))?;
        }
        *catalog = staged_catalog;
        *self = staged;
        Ok(applied)
    }

    /// Applies a relist: `json` is a List (`List`, or the typed list of `kind`: `ServiceList`,
    /// `EndpointSliceList`) holding the complete current set of `kind` objects, cluster-wide
    /// (`namespace` `None`) or in one namespace, as a list request returns it. This is what a
    /// watcher does after its watch fails with `410 Gone` (or on any reconnect): objects deleted
    /// while it was away have no `DELETED` event to replay. Every object of `kind` that the
    /// catalog (Services) or the loader (EndpointSlices) holds in scope and the list lacks is
    /// deleted, first, as [`delete`](Self::delete) does; then the list's objects are applied as
    /// [`apply_json`](Self::apply_json) applies them (so a Service created while the watcher
    /// was away may take the cluster IP or nodePort of one deleted meanwhile). Objects of the
    /// other kind in a `List` are applied too, and nothing of that kind is deleted; objects of
    /// `kind` outside `namespace` are applied, as in `apply_json`.
    ///
    /// All or nothing, like a multi-object document: on error nothing changed, in the catalog
    /// or the loader. A watch event or a single object is refused (field `kind`): neither says
    /// what no longer exists.
    pub fn replace_json(
        &mut self,
        catalog: &mut Catalog,
        kind: Kind,
        namespace: Option<&str>,
        json: &[u8],
    ) -> Result<Applied, LoadError> {
        let doc = parse_json(json)?;
        let typed = match kind {
            Kind::Service => "ServiceList",
            Kind::EndpointSlice => "EndpointSliceList",
        };
        let top_kind = doc.get("kind").and_then(Value::as_str).unwrap_or_default();
        if top_kind != "List" && top_kind != typed {
            return Err(LoadError {
                item: None,
                kind: "",
                object: Box::default(),
                field: "kind".into(),
                reason: Reason::Unsupported {
                    value: top_kind.into(),
                    supported: match kind {
                        Kind::Service => &["List", "ServiceList"],
                        Kind::EndpointSlice => &["List", "EndpointSliceList"],
                    },
                },
            });
        }
        let ops = convert_document(&doc, catalog.config())?;
        let listed: BTreeSet<&ObjectRef> = ops
            .iter()
            .filter_map(|(_, op)| match (op, kind) {
                (Op::Service(s), Kind::Service) => Some(&s.id),
                (Op::Slice { id, .. }, Kind::EndpointSlice) => Some(id),
                _ => None,
            })
            .collect();
        let in_scope = |id: &ObjectRef| namespace.map_or(true, |ns| id.namespace == ns);
        let gone: Vec<ObjectRef> = match kind {
            Kind::Service => catalog
                .services()
                .map(|s| &s.id)
                .filter(|id| in_scope(id) && !listed.contains(id))
                .cloned()
                .collect(),
            Kind::EndpointSlice => self
                .owners
                .keys()
                .filter(|id| in_scope(id) && !listed.contains(id))
                .cloned()
                .collect(),
        };
        let mut applied = Applied::default();
        let mut staged_catalog = catalog.clone();
        let mut staged = self.clone();
        for id in gone {
            staged.apply_op(&mut staged_catalog, Op::Delete(kind, id), &mut applied)?;
        }
        for (item, op) in ops {
            staged
                .apply_op(&mut staged_catalog, op, &mut applied)
                .map_err(|e| e.at_item(item))?;
        }
        *catalog = staged_catalog;
        *self = staged;
        Ok(applied)
    }

    /// Deletes the Service or EndpointSlice `namespace/name` from `catalog`. Deleting a slice
    /// re-merges the remaining slices of its Service; deleting a Service keeps its endpoints, as
    /// the catalog does. Returns whether the object was known.
    pub fn delete(
        &mut self,
        catalog: &mut Catalog,
        kind: Kind,
        namespace: &str,
        name: &str,
    ) -> Result<bool, LoadError> {
        let mut applied = Applied::default();
        let id = ObjectRef::new(namespace, name);
        self.apply_op(catalog, Op::Delete(kind, id), &mut applied)?;
        Ok(applied.deleted > 0)
    }

    /// The EndpointSlices the loader holds for Service `service`, ordered by name.
    pub fn slices(&self, service: &ObjectRef) -> impl Iterator<Item = &EndpointSlice> + '_ {
        self.slices
            .get(service)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// The slices of `owner` with `name` replaced by `slice` (or removed when `None`).
    fn merged(
        &self,
        owner: &ObjectRef,
        name: &str,
        slice: Option<&EndpointSlice>,
    ) -> Vec<EndpointSlice> {
        let mut out: Vec<EndpointSlice> = self
            .slices
            .get(owner)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, s)| s.clone())
            .collect();
        if let Some(slice) = slice {
            let at = out.partition_point(|s| s.name.as_str() < name);
            out.insert(at, slice.clone());
        }
        out
    }

    /// Removes slice `id` from its former owner and re-merges that owner's slices. The remaining
    /// slices were all accepted before and are fewer now, so the catalog cannot refuse them.
    fn forget_slice(&mut self, catalog: &mut Catalog, id: &ObjectRef) -> Result<bool, LoadError> {
        let Some(owner) = self.owners.get(id).cloned() else {
            return Ok(false);
        };
        let rest = self.merged(&owner, &id.name, None);
        catalog
            .replace_endpoints(&owner, rest)
            .map_err(LoadError::from_catalog)?;
        self.owners.remove(id);
        if let Some(map) = self.slices.get_mut(&owner) {
            map.remove(&id.name);
            if map.is_empty() {
                self.slices.remove(&owner);
            }
        }
        Ok(true)
    }

    /// Applies one operation. Each is atomic: either it fails at its first catalog call and
    /// nothing changed, or the calls after the first cannot fail (see `forget_slice`).
    fn apply_op(
        &mut self,
        catalog: &mut Catalog,
        op: Op,
        applied: &mut Applied,
    ) -> Result<(), LoadError> {
        match op {
            Op::Service(service) => {
                catalog
                    .upsert_service(service)
                    .map_err(LoadError::from_catalog)?;
                applied.services += 1;
            }
            Op::Slice {
                id,
                owner: Some(owner),
                slice: Some(slice),
            } => {
                let merged = self.merged(&owner, &id.name, Some(&slice));
                catalog
                    .replace_endpoints(&owner, merged)
                    .map_err(LoadError::from_catalog)?;
                if self.owners.get(&id).is_some_and(|o| *o != owner) {
                    // The slice moved to another Service (its label changed).
                    self.forget_slice(catalog, &id)?;
                }
                self.slices
                    .entry(owner.clone())
                    .or_default()
                    .insert(id.name.clone(), slice);
                self.owners.insert(id, owner);
                applied.endpoint_slices += 1;
            }
            Op::Slice { id, .. } => {
                self.forget_slice(catalog, &id)?;
                applied.ignored += 1;
            }
            Op::Delete(Kind::Service, id) => {
                if catalog.remove_service(&id) {
                    applied.deleted += 1;
                } else {
                    applied.ignored += 1;
                }
            }
            Op::Delete(Kind::EndpointSlice, id) => {
                if self.forget_slice(catalog, &id)? {
                    applied.deleted += 1;
                } else {
                    applied.ignored += 1;
                }
            }
            Op::Ignore => applied.ignored += 1,
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Conversion from JSON.

/// The JSON value in `json`, or the syntax error (with line and column).
fn parse_json(json: &[u8]) -> Result<Value, LoadError> {
    serde_json::from_slice(json).map_err(|e| LoadError {
        item: None,
        kind: "",
        object: Box::default(),
        field: String::new(),
        reason: Reason::Syntax(e.to_string()),
    })
}

const SERVICE_TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const FAMILIES: &[&str] = &["IPv4", "IPv6"];
const ADDRESS_TYPES: &[&str] = &["IPv4", "IPv6", "FQDN"];
const FAMILY_POLICIES: &[&str] = &["SingleStack", "PreferDualStack", "RequireDualStack"];
const AFFINITIES: &[&str] = &["None", "ClientIP"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];
const IP_MODES: &[&str] = &["VIP", "Proxy"];
const WATCH_TYPES: &[&str] = &["ADDED", "MODIFIED", "DELETED", "BOOKMARK"];

/// `m[key]`, with `null` read as absent (as Kubernetes clients read it).
fn get<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// [`get`] of a field the API server defaults when it is empty: `""` counts as unset
/// (`SetDefaults_Service`: type, sessionAffinity, externalTrafficPolicy, a port's protocol
/// and targetPort). Fields held by pointers in the Go types (`internalTrafficPolicy`,
/// `ipFamilyPolicy`, `ipMode`) are defaulted only when absent: `""` there is refused, as the
/// API server's validation refuses it.
fn get_defaulted<'v>(m: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    get(m, key).filter(|v| !matches!(v, Value::String(s) if s.is_empty()))
}

/// The path of `key` inside `path`.
fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Builds errors about one object and reads its fields.
struct Cx {
    kind: &'static str,
    object: ObjectRef,
}

impl Cx {
    fn new(kind: &'static str) -> Self {
        Self {
            kind,
            object: ObjectRef::default(),
        }
    }

    fn err(&self, field: impl Into<String>, reason: Reason) -> LoadError {
        LoadError {
            item: None,
            kind: self.kind,
            object: Box::new(self.object.clone()),
            field: field.into(),
            reason,
        }
    }

    fn obj<'v>(&self, v: &'v Value, path: &str) -> Result<&'v Map<String, Value>, LoadError> {
        v.as_object().ok_or_else(|| {
            self.err(
                path,
                Reason::WrongType {
                    expected: "an object",
                },
            )
        })
    }

    fn arr<'v>(&self, v: &'v Value, path: &str) -> Result<&'v [Value], LoadError> {
        v.as_array().map(Vec::as_slice).ok_or_else(|| {
            self.err(
                path,
                Reason::WrongType {
                    expected: "an array",
                },
            )
        })
    }

    fn str<'v>(&self, v: &'v Value, path: &str) -> Result<&'v str, LoadError> {
        v.as_str().ok_or_else(|| {
            self.err(
                path,
                Reason::WrongType {
                    expected: "a string",
                },
            )
        })
    }

    fn bool(&self, v: &Value, path: &str) -> Result<bool, LoadError> {
        v.as_bool().ok_or_else(|| {
            self.err(
                path,
                Reason::WrongType {
                    expected: "a boolean",
                },
            )
        })
    }

    /// An integer; one beyond `i64` reads as `i64::MAX` (out of every range here).
    fn int(&self, v: &Value, path: &str) -> Result<i64, LoadError> {
        match v.as_i64() {
            Some(i) => Ok(i),
            None if v.is_u64() => Ok(i64::MAX),
            None => Err(self.err(
                path,
                Reason::WrongType {
                    expected: "an integer",
                },
            )),
        }
    }

    /// A port number, 0–65535 (validation decides whether 0 is allowed).
    fn port(&self, v: &Value, path: &str) -> Result<u16, LoadError> {
        let i = self.int(v, path)?;
        u16::try_from(i).map_err(|_| {
            self.err(
                path,
                Reason::Invalid(ErrorKind::OutOfRange { min: 1, max: 65535 }),
            )
        })
    }

    /// An IP address; an IPv4-mapped one is read as its IPv4 address (see the
    /// [module documentation](self)).
    fn ip(&self, v: &Value, path: &str) -> Result<IpAddr, LoadError> {
        parse_ip_sloppy(self.str(v, path)?)
            .map(|ip| ip.to_canonical())
            .ok_or_else(|| {
                self.err(
                    path,
                    Reason::Malformed {
                        expected: "an IP address",
                    },
                )
            })
    }

    /// The index of the string `v` in `names`.
    fn choice(
        &self,
        v: &Value,
        path: &str,
        names: &'static [&'static str],
    ) -> Result<usize, LoadError> {
        let s = self.str(v, path)?;
        names.iter().position(|n| *n == s).ok_or_else(|| {
            self.err(
                path,
                Reason::Unsupported {
                    value: s.to_string(),
                    supported: names,
                },
            )
        })
    }

    fn opt_str(&self, m: &Map<String, Value>, key: &str, path: &str) -> Result<String, LoadError> {
        match get(m, key) {
            Some(v) => Ok(self.str(v, &at(path, key))?.to_string()),
            None => Ok(String::new()),
        }
    }

    fn protocol(&self, m: &Map<String, Value>, path: &str) -> Result<Protocol, LoadError> {
        Ok(match get_defaulted(m, "protocol") {
            None => Protocol::Tcp,
            Some(v) => match self.choice(v, &at(path, "protocol"), PROTOCOLS)? {
                0 => Protocol::Tcp,
                1 => Protocol::Udp,
                _ => Protocol::Sctp,
            },
        })
    }

    /// Reads `metadata.name` and `metadata.namespace` into `self.object`.
    fn metadata(&mut self, m: &Map<String, Value>) -> Result<(), LoadError> {
        let Some(meta) = get(m, "metadata") else {
            return Err(self.err("metadata.name", Reason::Invalid(ErrorKind::Required)));
        };
        let meta = self.obj(meta, "metadata")?;
        let name = self.opt_str(meta, "name", "metadata")?;
        let namespace = self.opt_str(meta, "namespace", "metadata")?;
        self.object = ObjectRef::new(
            if namespace.is_empty() {
                DEFAULT_NAMESPACE.to_string()
            } else {
                namespace
            },
            name,
        );
        if self.object.name.is_empty() {
            return Err(self.err("metadata.name", Reason::Invalid(ErrorKind::Required)));
        }
        Ok(())
    }
}

/// The operations of a document, each with its index in `items` for a List.
fn convert_document(
    doc: &Value,
    config: &NodeConfig,
) -> Result<Vec<(Option<usize>, Op)>, LoadError> {
    let cx = Cx::new("");
    let top = cx.obj(doc, "")?;
    // A watch event: {"type": ..., "object": ...}.
    if get(top, "kind").is_none() {
        if let (Some(t), Some(object)) = (get(top, "type"), get(top, "object")) {
            let object = cx.obj(object, "object")?;
            let op = match cx.choice(t, "type", WATCH_TYPES)? {
                0 | 1 => convert_object(object, None, config)?,
                2 => deletion(object, None)?,
                _ => Op::Ignore,
            };
            return Ok(vec![(None, op)]);
        }
    }
    let kind = match get(top, "kind") {
        Some(v) => cx.str(v, "kind")?,
        None => return Err(cx.err("kind", Reason::Invalid(ErrorKind::Required))),
    };
    let (kind, item_kind) = match kind {
        "List" => ("List", None),
        "ServiceList" => ("ServiceList", Some(Kind::Service)),
        "EndpointSliceList" => ("EndpointSliceList", Some(Kind::EndpointSlice)),
        _ => return Ok(vec![(None, convert_object(top, None, config)?)]),
    };
    let cx = Cx::new(kind);
    let items = match get(top, "items") {
        Some(v) => cx.arr(v, "items")?,
        None => &[],
    };
    let mut ops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_cx = Cx::new(kind);
        let op = item_cx
            .obj(item, &format!("items[{i}]"))
            .and_then(|object| convert_object(object, item_kind, config))
            .map_err(|e| e.at_item(Some(i)))?;
        ops.push((Some(i), op));
    }
    Ok(ops)
}

/// Which kind an object is, or `None` for one the loader skips. `default` is the item kind of a
/// typed list, whose items carry neither `kind` nor `apiVersion`.
fn kind_of(m: &Map<String, Value>, default: Option<Kind>) -> Result<Option<Kind>, LoadError> {
    let cx = Cx::new("");
    let kind = match get(m, "kind") {
        Some(v) => cx.str(v, "kind")?,
        None => {
            return match default {
                Some(k) => Ok(Some(k)),
                None => Err(cx.err("kind", Reason::Invalid(ErrorKind::Required))),
            }
        }
    };
    let api_version = match get(m, "apiVersion") {
        Some(v) => Some(cx.str(v, "apiVersion")?),
        None => None,
    };
    let kind = match kind {
        "Service" => Kind::Service,
        "EndpointSlice" => Kind::EndpointSlice,
        _ => return Ok(None),
    };
    Ok(match api_version {
        Some(v) if v != kind.api_version() => None,
        _ => Some(kind),
    })
}

fn convert_object(
    m: &Map<String, Value>,
    default: Option<Kind>,
    config: &NodeConfig,
) -> Result<Op, LoadError> {
    match kind_of(m, default)? {
        Some(Kind::Service) => {
            let service = service_from(m)?;
            service
                .validate(config)
                .map_err(|e| LoadError::from_validation(e, false))?;
            Ok(Op::Service(service))
        }
        Some(Kind::EndpointSlice) => slice_from(m),
        None => Ok(Op::Ignore),
    }
}

/// A watch `DELETED` event: only the object's kind and metadata matter.
fn deletion(m: &Map<String, Value>, default: Option<Kind>) -> Result<Op, LoadError> {
    let Some(kind) = kind_of(m, default)? else {
        return Ok(Op::Ignore);
    };
    let mut cx = Cx::new(kind.as_str());
    cx.metadata(m)?;
    Ok(Op::Delete(kind, cx.object))
}

/// An IP address as kube-proxy parses the API's (`netutils.ParseIPSloppy`): also an IPv4
/// address whose parts have leading zeros, read as decimal (`10.96.0.010` is 10.96.0.10). API
/// servers accepted those before strict IP validation and keep them in stored objects; the
/// standard parser refuses them (they would be octal to some parsers).
fn parse_ip_sloppy(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    // An IPv6 address ending in dotted IPv4 (`::ffff:10.96.0.010`): the tail read the same way.
    if let Some((head, tail)) = s.rsplit_once(':') {
        let IpAddr::V4(v4) = parse_ip_sloppy(tail)? else {
            return None;
        };
        return format!("{head}:{v4}").parse().ok();
    }
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Any number of leading zeros; the value must fit an octet.
        let digits = part.trim_start_matches('0');
        *o = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
    }
    parts.next().is_none().then(|| IpAddr::from(octets))
}

/// A CIDR as kube-proxy parses the API's (`netutils.ParseCIDRSloppy`): its address as
/// [`parse_ip_sloppy`] reads it, its length as Go's `dtoi` (`/0024` is /24). An IPv4-mapped
/// range `::ffff:a.b.c.d/p` is the IPv4 range `a.b.c.d/(p - 96)` for `p` ≥ 96 (what
/// kube-proxy's family split and Go's `IPNet.String` make of it) and refused below 96. On
/// error, what the field must be ([`Reason::Malformed`]).
fn parse_cidr_sloppy(s: &str) -> Result<Cidr, &'static str> {
    const MALFORMED: &str = "a CIDR (address/prefix length)";
    const MAPPED_SHORT: &str = "an IPv4 or IPv6 range: an IPv4-mapped address (::ffff:a.b.c.d) \
                                with a prefix length under 96 is neither";
    let (addr, len) = s.trim().split_once('/').ok_or(MALFORMED)?;
    let addr = parse_ip_sloppy(addr).ok_or(MALFORMED)?;
    if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(MALFORMED);
    }
    let digits = len.trim_start_matches('0');
    let len: u8 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| MALFORMED)?
    };
    let (addr, len) = match addr {
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) if len >= 96 => (IpAddr::V4(v4), len - 96),
            Some(_) => return Err(MAPPED_SHORT),
            None => (addr, len),
        },
        IpAddr::V4(_) => (addr, len),
    };
    Cidr::new(addr, len).map_err(|_| MALFORMED)
}

fn service_from(m: &Map<String, Value>) -> Result<Service, LoadError> {
    let mut cx = Cx::new("Service");
    cx.metadata(m)?;
    let mut service = Service {
        id: cx.object.clone(),
        ..Service::default()
    };
    if let Some(labels) =
        get(m, "metadata").and_then(|v| get(cx.obj(v, "metadata").ok()?, "labels"))
    {
        let labels = cx.obj(labels, "metadata.labels")?;
        if let Some(v) = get(labels, SERVICE_PROXY_NAME_LABEL) {
            let path = format!("metadata.labels[\"{SERVICE_PROXY_NAME_LABEL}\"]");
            service.service_proxy_name = Some(cx.str(v, &path)?.to_string());
        }
        service.headless_label = get(labels, HEADLESS_LABEL).is_some();
    }
    let empty = Map::new();
    let spec = match get(m, "spec") {
        Some(v) => cx.obj(v, "spec")?,
        None => &empty,
    };
    if let Some(v) = get_defaulted(spec, "type") {
        service.service_type = match cx.choice(v, "spec.type", SERVICE_TYPES)? {
            0 => ServiceType::ClusterIp,
            1 => ServiceType::NodePort,
            2 => ServiceType::LoadBalancer,
            _ => ServiceType::ExternalName,
        };
    }
    service.cluster_ips = cluster_ips(&cx, spec)?;
    if let Some(v) = get(spec, "ipFamilies") {
        for (i, f) in cx.arr(v, "spec.ipFamilies")?.iter().enumerate() {
            let family = match cx.choice(f, &format!("spec.ipFamilies[{i}]"), FAMILIES)? {
                0 => IpFamily::V4,
                _ => IpFamily::V6,
            };
            service.ip_families.push(family);
        }
    }
    if let Some(v) = get(spec, "ipFamilyPolicy") {
        service.ip_family_policy = Some(
            match cx.choice(v, "spec.ipFamilyPolicy", FAMILY_POLICIES)? {
                0 => IpFamilyPolicy::SingleStack,
                1 => IpFamilyPolicy::PreferDualStack,
                _ => IpFamilyPolicy::RequireDualStack,
            },
        );
    }
    if let Some(v) = get(spec, "ports") {
        for (i, p) in cx.arr(v, "spec.ports")?.iter().enumerate() {
            service
                .ports
                .push(service_port(&cx, p, &format!("spec.ports[{i}]"))?);
        }
    }
    if let Some(v) = get(spec, "externalIPs") {
        for (i, ip) in cx.arr(v, "spec.externalIPs")?.iter().enumerate() {
            service
                .external_ips
                .push(cx.ip(ip, &format!("spec.externalIPs[{i}]"))?);
        }
    }
    if let Some(v) = get(spec, "loadBalancerSourceRanges") {
        for (i, r) in cx
            .arr(v, "spec.loadBalancerSourceRanges")?
            .iter()
            .enumerate()
        {
            let path = format!("spec.loadBalancerSourceRanges[{i}]");
            let cidr = parse_cidr_sloppy(cx.str(r, &path)?)
                .map_err(|expected| cx.err(&path, Reason::Malformed { expected }))?;
            service.load_balancer_source_ranges.push(cidr);
        }
    }
    let client_ip = match get_defaulted(spec, "sessionAffinity") {
        Some(v) => cx.choice(v, "spec.sessionAffinity", AFFINITIES)? == 1,
        None => false,
    };
    if client_ip {
        service.session_affinity = SessionAffinity::ClientIp {
            timeout_seconds: affinity_timeout(&cx, spec)?,
        };
    }
    // Without ClientIP affinity a sessionAffinityConfig is ignored: the API server's defaulting
    // (SetDefaults_Service) drops it before validation, so stored objects never carry one and
    // `kubectl apply` accepts manifests that have one.
    //
    // externalTrafficPolicy "" is unset: SetDefaults_Service makes it Cluster for externally
    // accessible Services, and validation requires "" for the others. internalTrafficPolicy is
    // a pointer in the Go type, defaulted only when absent: "" is refused by validation.
    for (key, field, defaulted) in [
        (
            "externalTrafficPolicy",
            &mut service.external_traffic_policy,
            true,
        ),
        (
            "internalTrafficPolicy",
            &mut service.internal_traffic_policy,
            false,
        ),
    ] {
        let value = if defaulted {
            get_defaulted(spec, key)
        } else {
            get(spec, key)
        };
        if let Some(v) = value {
            *field = match cx.choice(v, &at("spec", key), TRAFFIC_POLICIES)? {
                0 => TrafficPolicy::Cluster,
                _ => TrafficPolicy::Local,
            };
        }
    }
    if let Some(v) = get(spec, "healthCheckNodePort") {
        let port = cx.port(v, "spec.healthCheckNodePort")?;
        service.health_check_node_port = (port != 0).then_some(port);
    }
    if let Some(v) = get(spec, "externalName") {
        let name = cx.str(v, "spec.externalName")?;
        service.external_name = (!name.is_empty()).then(|| name.to_string());
    }
    if let Some(v) = get(spec, "publishNotReadyAddresses") {
        service.publish_not_ready_addresses = cx.bool(v, "spec.publishNotReadyAddresses")?;
    }
    service.load_balancer_ingress = ingress(&cx, m)?;
    Ok(service)
}

/// `spec.clusterIPs`, else `spec.clusterIP`: `"None"` is headless, absent or `""` unset.
fn cluster_ips(cx: &Cx, spec: &Map<String, Value>) -> Result<ClusterIps, LoadError> {
    let single = match get(spec, "clusterIP") {
        Some(v) => cx.str(v, "spec.clusterIP")?,
        None => "",
    };
    let list = match get(spec, "clusterIPs") {
        Some(v) => cx.arr(v, "spec.clusterIPs")?,
        None => &[],
    };
    if list.is_empty() {
        return Ok(match single {
            "" => ClusterIps::Unset,
            "None" => ClusterIps::Headless,
            _ => ClusterIps::Assigned(vec![cx.ip(&spec["clusterIP"], "spec.clusterIP")?]),
        });
    }
    let first = cx.str(&list[0], "spec.clusterIPs[0]")?;
    if !single.is_empty() && single != first {
        return Err(cx.err(
            "spec.clusterIPs",
            Reason::Invalid(ErrorKind::Forbidden(
                "first value must match spec.clusterIP",
            )),
        ));
    }
    if first == "None" {
        if list.len() > 1 {
            return Err(cx.err(
                "spec.clusterIPs",
                Reason::Invalid(ErrorKind::Forbidden(
                    "\"None\" must be the only entry when given",
                )),
            ));
        }
        return Ok(ClusterIps::Headless);
    }
    let mut ips = Vec::with_capacity(list.len());
    for (i, ip) in list.iter().enumerate() {
        ips.push(cx.ip(ip, &format!("spec.clusterIPs[{i}]"))?);
    }
    Ok(ClusterIps::Assigned(ips))
}

fn service_port(cx: &Cx, v: &Value, path: &str) -> Result<ServicePort, LoadError> {
    let m = cx.obj(v, path)?;
    let name = cx.opt_str(m, "name", path)?;
    let protocol = cx.protocol(m, path)?;
    let port = match get(m, "port") {
        Some(v) => cx.port(v, &at(path, "port"))?,
        None => {
            return Err(cx.err(at(path, "port"), Reason::Invalid(ErrorKind::Required)));
        }
    };
    // Absent, 0 or "", targetPort defaults to port (the API server's defaulting).
    let target_port = match get_defaulted(m, "targetPort") {
        None => TargetPort::Number(port),
        Some(Value::String(s)) => TargetPort::Name(s.clone()),
        Some(v) => match cx.port(v, &at(path, "targetPort")) {
            Ok(0) => TargetPort::Number(port),
            Ok(n) => TargetPort::Number(n),
            Err(LoadError {
                reason: Reason::WrongType { .. },
                ..
            }) => {
                return Err(cx.err(
                    at(path, "targetPort"),
                    Reason::WrongType {
                        expected: "an integer or a string",
                    },
                ))
            }
            Err(e) => return Err(e),
        },
    };
    let node_port = match get(m, "nodePort") {
        Some(v) => Some(cx.port(v, &at(path, "nodePort"))?).filter(|n| *n != 0),
        None => None,
    };
    Ok(ServicePort {
        name,
        protocol,
        port,
        target_port,
        node_port,
    })
}

fn affinity_timeout(cx: &Cx, spec: &Map<String, Value>) -> Result<u32, LoadError> {
    let mut path = String::from("spec.sessionAffinityConfig");
    let Some(config) = get(spec, "sessionAffinityConfig") else {
        return Ok(DEFAULT_AFFINITY_TIMEOUT_SECONDS);
    };
    let config = cx.obj(config, &path)?;
    path.push_str(".clientIP");
    let Some(client_ip) = get(config, "clientIP") else {
        return Ok(DEFAULT_AFFINITY_TIMEOUT_SECONDS);
    };
    let client_ip = cx.obj(client_ip, &path)?;
    path.push_str(".timeoutSeconds");
    let Some(timeout) = get(client_ip, "timeoutSeconds") else {
        return Ok(DEFAULT_AFFINITY_TIMEOUT_SECONDS);
    };
    let timeout = cx.int(timeout, &path)?;
    u32::try_from(timeout).map_err(|_| {
        cx.err(
            &path,
            Reason::Invalid(ErrorKind::OutOfRange {
                min: 1,
                max: MAX_AFFINITY_TIMEOUT_SECONDS,
            }),
        )
    })
}

/// `status.loadBalancer.ingress[]` entries with an IP.
fn ingress(cx: &Cx, m: &Map<String, Value>) -> Result<Vec<LoadBalancerIngress>, LoadError> {
    let mut out = Vec::new();
    let Some(status) = get(m, "status") else {
        return Ok(out);
    };
    let status = cx.obj(status, "status")?;
    let Some(lb) = get(status, "loadBalancer") else {
        return Ok(out);
    };
    let lb = cx.obj(lb, "status.loadBalancer")?;
    let Some(list) = get(lb, "ingress") else {
        return Ok(out);
    };
    for (i, entry) in cx
        .arr(list, "status.loadBalancer.ingress")?
        .iter()
        .enumerate()
    {
        let path = format!("status.loadBalancer.ingress[{i}]");
        let entry = cx.obj(entry, &path)?;
        let Some(ip) = get(entry, "ip") else {
            continue; // hostname only: nothing for the packet path
        };
        let ip = cx.ip(ip, &at(&path, "ip"))?;
        let ip_mode = match get(entry, "ipMode") {
            Some(v) if cx.choice(v, &at(&path, "ipMode"), IP_MODES)? == 1 => IpMode::Proxy,
            _ => IpMode::Vip,
        };
        out.push(LoadBalancerIngress { ip, ip_mode });
    }
    Ok(out)
}

fn slice_from(m: &Map<String, Value>) -> Result<Op, LoadError> {
    let mut cx = Cx::new("EndpointSlice");
    cx.metadata(m)?;
    let id = cx.object.clone();
    let skip = Ok(Op::Slice {
        id: id.clone(),
        owner: None,
        slice: None,
    });
    let mut service_name = None;
    if let Some(meta) = get(m, "metadata") {
        let meta = cx.obj(meta, "metadata")?;
        if let Some(labels) = get(meta, "labels") {
            let labels = cx.obj(labels, "metadata.labels")?;
            if let Some(v) = get(labels, SERVICE_NAME_LABEL) {
                let path = format!("metadata.labels[\"{SERVICE_NAME_LABEL}\"]");
                service_name = Some(cx.str(v, &path)?.to_string());
            }
        }
    }
    let family = match get(m, "addressType") {
        Some(v) => match cx.choice(v, "addressType", ADDRESS_TYPES)? {
            0 => IpFamily::V4,
            1 => IpFamily::V6,
            _ => return skip,
        },
        None => return Err(cx.err("addressType", Reason::Invalid(ErrorKind::Required))),
    };
    let Some(service_name) = service_name.filter(|n| !n.is_empty()) else {
        return skip;
    };
    let mut slice = EndpointSlice::new(id.name.as_str(), family);
    if let Some(v) = get(m, "ports") {
        for (i, p) in cx.arr(v, "ports")?.iter().enumerate() {
            let path = format!("ports[{i}]");
            let pm = cx.obj(p, &path)?;
            let name = cx.opt_str(pm, "name", &path)?;
            let protocol = cx.protocol(pm, &path)?;
            // API validation never checks an EndpointSlice port's number, and kube-proxy
            // ignores a port without one: a number outside 1..=65535 is stored as none (the
            // port is then ignored, SEMANTICS §2) rather than refusing the document.
            let port = match get(pm, "port") {
                Some(v) => u16::try_from(cx.int(v, &at(&path, "port"))?).ok(),
                None => None,
            };
            slice.ports.push(EndpointPort {
                name,
                protocol,
                port,
            });
        }
    }
    if let Some(v) = get(m, "endpoints") {
        for (i, e) in cx.arr(v, "endpoints")?.iter().enumerate() {
            slice
                .endpoints
                .push(endpoint(&cx, e, &format!("endpoints[{i}]"))?);
        }
    }
    slice
        .validate(&id.namespace)
        .map_err(|e| LoadError::from_validation(e, false))?;
    let owner = ObjectRef::new(id.namespace.as_str(), service_name);
    Ok(Op::Slice {
        id,
        owner: Some(owner),
        slice: Some(slice),
    })
}

fn endpoint(cx: &Cx, v: &Value, path: &str) -> Result<Endpoint, LoadError> {
    let m = cx.obj(v, path)?;
    let addresses_path = at(path, "addresses");
    let addresses = match get(m, "addresses") {
        Some(v) => cx.arr(v, &addresses_path)?,
        None => &[],
    };
    let Some(first) = addresses.first() else {
        return Err(cx.err(addresses_path, Reason::Invalid(ErrorKind::Required)));
    };
    let mut endpoint = Endpoint::new(cx.ip(first, &format!("{addresses_path}[0]"))?);
    if let Some(c) = get(m, "conditions") {
        let c_path = at(path, "conditions");
        let c = cx.obj(c, &c_path)?;
        let flag = |key: &str| -> Result<Option<bool>, LoadError> {
            get(c, key)
                .map(|v| cx.bool(v, &at(&c_path, key)))
                .transpose()
        };
        endpoint.conditions =
            Conditions::from_api(flag("ready")?, flag("serving")?, flag("terminating")?);
    }
    let text = |key: &str| -> Result<Option<String>, LoadError> {
        get(m, key)
            .map(|v| cx.str(v, &at(path, key)).map(str::to_string))
            .transpose()
    };
    endpoint.node_name = text("nodeName")?;
    endpoint.zone = text("zone")?;
    endpoint.hostname = text("hostname")?;
    if let Some(hints) = get(m, "hints") {
        let h_path = at(path, "hints");
        let hints = cx.obj(hints, &h_path)?;
        endpoint.zone_hints = hint_names(cx, hints, &h_path, "forZones")?;
        endpoint.node_hints = hint_names(cx, hints, &h_path, "forNodes")?;
    }
    Ok(endpoint)
}

/// The `name`s of `hints.<key>` (`forZones` or `forNodes`: lists of `{"name": ...}`).
fn hint_names(
    cx: &Cx,
    hints: &Map<String, Value>,
    h_path: &str,
    key: &str,
) -> Result<Vec<String>, LoadError> {
    let Some(list) = get(hints, key) else {
        return Ok(Vec::new());
    };
    let l_path = at(h_path, key);
    let mut names = Vec::new();
    for (j, h) in cx.arr(list, &l_path)?.iter().enumerate() {
        let hp = format!("{l_path}[{j}]");
        let h = cx.obj(h, &hp)?;
        let name = match get(h, "name") {
            Some(v) => cx.str(v, &at(&hp, "name"))?,
            None => return Err(cx.err(at(&hp, "name"), Reason::Invalid(ErrorKind::Required))),
        };
        names.push(name.to_string());
    }
    Ok(names)
}

#[cfg(test)]
mod tests;
