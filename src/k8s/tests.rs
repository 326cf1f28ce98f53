use serde_json::{json, Value};

use super::*;
use crate::model::{seed, SpecialAddress};
use crate::snapshot::FrontendKind;

const SEED_JSON: &[u8] = include_bytes!("../../testdata/seed-cluster.json");

fn catalog() -> Catalog {
    Catalog::new(seed::node(0)).unwrap()
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

fn load(loader: &mut Loader, catalog: &mut Catalog, v: &Value) -> Result<Applied, LoadError> {
    loader.apply_json(catalog, &bytes(v))
}

/// Everything observable about a catalog's objects, for "nothing changed" checks.
fn state(c: &Catalog, ids: &[ObjectRef]) -> Vec<(Option<Service>, Option<Vec<EndpointSlice>>)> {
    ids.iter()
        .map(|id| {
            (
                c.service(id).cloned(),
                c.endpoints(id).map(<[EndpointSlice]>::to_vec),
            )
        })
        .collect()
}

fn service(ns: &str, name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
            "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 8443}
            ]
        }
    })
}

/// [`service`] as a LoadBalancer, its two ports on nodePorts 31500 and 31501.
fn load_balancer(ns: &str, name: &str, ip: &str) -> Value {
    let mut lb = service(ns, name, ip);
    lb["spec"]["type"] = json!("LoadBalancer");
    lb["spec"]["ports"][0]["nodePort"] = json!(31500);
    lb["spec"]["ports"][1]["nodePort"] = json!(31501);
    lb
}

fn slice(ns: &str, name: &str, svc: &str, addrs: &[&str]) -> Value {
    let endpoints: Vec<Value> = addrs
        .iter()
        .map(|a| json!({"addresses": [a], "conditions": {"ready": true}, "nodeName": "node-eu-west-1b"}))
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "protocol": "TCP", "port": 8080},
                  {"name": "https", "protocol": "TCP", "port": 8443}],
        "endpoints": endpoints
    })
}

fn list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items})
}

fn addresses(c: &Catalog, id: &ObjectRef) -> Vec<String> {
    let mut out: Vec<String> = c
        .endpoints(id)
        .unwrap_or(&[])
        .iter()
        .flat_map(|s| s.endpoints.iter().map(|e| e.address.to_string()))
        .collect();
    out.sort();
    out
}

#[test]
fn seed_json_loads_exactly_the_hand_built_seed() {
    let mut c = catalog();
    let mut loader = Loader::new();
    let applied = loader.apply_json(&mut c, SEED_JSON).unwrap();
    let seeds = seed::cluster();
    assert_eq!(
        applied,
        Applied {
            services: 12,
            endpoint_slices: 10,
            deleted: 0,
            ignored: 0
        }
    );
    assert_eq!(c.len(), seeds.len());
    let mut hand = catalog();
    for s in &seeds {
        let id = &s.service.id;
        assert_eq!(c.service(id), Some(&s.service), "Service {id}");
        assert_eq!(
            c.endpoints(id).unwrap_or(&[]),
            &s.slices[..],
            "slices of {id}"
        );
        hand.upsert_service(s.service.clone()).unwrap();
        hand.replace_endpoints(id, s.slices.clone()).unwrap();
    }
    // The compiled snapshots agree too, on every node.
    assert_eq!(c.compile().to_string(), hand.compile().to_string());
    for i in 1..3 {
        let mut c = Catalog::new(seed::node(i)).unwrap();
        Loader::new().apply_json(&mut c, SEED_JSON).unwrap();
        let mut hand = Catalog::new(seed::node(i)).unwrap();
        for s in &seeds {
            hand.upsert_service(s.service.clone()).unwrap();
            hand.replace_endpoints(&s.service.id, s.slices.clone())
                .unwrap();
        }
        assert_eq!(c.compile().to_string(), hand.compile().to_string());
    }
    // Loading it again changes nothing.
    c.compile();
    loader.apply_json(&mut c, SEED_JSON).unwrap();
    assert!(!c.has_changes());
}

#[test]
fn unknown_fields_are_ignored() {
    let mut svc = service("default", "web", "10.96.1.1");
    svc["metadata"]["managedFields"] = json!([{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]);
    svc["metadata"]["uid"] = json!("0b2c");
    svc["metadata"]["annotations"] = json!({"a": "b"});
    svc["spec"]["selector"] = json!({"app": "web"});
    svc["spec"]["futureField"] = json!({"nested": [1, 2, 3]});
    svc["spec"]["ports"][0]["appProtocol"] = json!("http");
    svc["spec"]["allocateLoadBalancerNodePorts"] = json!(true);
    svc["status"] = json!({"conditions": [], "loadBalancer": {}});
    let mut sl = slice("default", "web-1", "web", &["10.244.2.7"]);
    sl["endpoints"][0]["targetRef"] = json!({"kind": "Pod", "name": "web-1"});
    sl["endpoints"][0]["deprecatedTopology"] = json!({"x": "y"});
    sl["ports"][0]["appProtocol"] = json!("http");
    sl["metadata"]["generation"] = json!(4);
    sl["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] = json!("x");
    sl["metadata"]["ownerReferences"] = json!([]);
    sl["extra"] = Value::Null;
    let mut c = catalog();
    let mut loader = Loader::new();
    let applied = load(&mut loader, &mut c, &list(vec![svc, sl])).unwrap();
    assert_eq!((applied.services, applied.endpoint_slices), (1, 1));
    let id = ObjectRef::new("default", "web");
    let s = c.service(&id).unwrap();
    assert_eq!(s.ports[0].target_port, TargetPort::Number(8080));
    assert_eq!(addresses(&c, &id), ["10.244.2.7"]);
}

/// A document that must be refused: the error, and a catalog that did not change.
fn refused(doc: &Value) -> LoadError {
    let mut c = catalog();
    let mut loader = Loader::new();
    loader.apply_json(&mut c, SEED_JSON).unwrap();
    c.compile();
    let ids: Vec<ObjectRef> = seed::cluster()
        .into_iter()
        .map(|s| s.service.id)
        .chain([
            ObjectRef::new("default", "web"),
            ObjectRef::new("default", "other"),
        ])
        .collect();
    let before = state(&c, &ids);
    let len = c.len();
    let err = load(&mut loader, &mut c, doc).unwrap_err();
    assert_eq!(state(&c, &ids), before, "{err}");
    assert_eq!(c.len(), len);
    assert!(!c.has_changes(), "{err}");
    // The loader did not change either: the seed still reloads to no change.
    loader.apply_json(&mut c, SEED_JSON).unwrap();
    assert!(!c.has_changes());
    err
}

#[test]
fn bad_documents_are_refused_naming_object_and_field() {
    let id = ObjectRef::new("default", "web");
    // targetPort out of range, after a good item in the same List.
    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["ports"][1]["targetPort"] = json!(70000);
    let good = service("default", "other", "10.96.1.2");
    let err = refused(&list(vec![good.clone(), bad]));
    assert_eq!(err.item, Some(1));
    assert_eq!(err.kind, "Service");
    assert_eq!(*err.object, id);
    assert_eq!(err.field, "spec.ports[1].targetPort");
    assert_eq!(
        err.reason,
        Reason::Invalid(ErrorKind::OutOfRange { min: 1, max: 65535 })
    );
    assert_eq!(
        err.to_string(),
        "items[1]: Service default/web: spec.ports[1].targetPort: \
         must be between 1 and 65535, inclusive"
    );

    // Duplicate port names (the model's validation).
    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["ports"][1]["name"] = json!("http");
    let err = refused(&bad);
    assert_eq!((err.item, err.kind), (None, "Service"));
    assert_eq!(*err.object, id);
    assert_eq!(err.field, "spec.ports[1].name");
    assert_eq!(err.reason, Reason::Invalid(ErrorKind::Duplicate));

    // Wrong JSON types.
    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["ports"][0]["port"] = json!("80");
    let err = refused(&bad);
    assert_eq!(err.field, "spec.ports[0].port");
    assert_eq!(
        err.reason,
        Reason::WrongType {
            expected: "an integer"
        }
    );
    let mut bad = slice("default", "web-1", "web", &["10.244.2.7"]);
    bad["endpoints"][0]["conditions"]["ready"] = json!("yes");
    let err = refused(&list(vec![good.clone(), bad]));
    assert_eq!((err.item, err.kind), (Some(1), "EndpointSlice"));
    assert_eq!(*err.object, ObjectRef::new("default", "web-1"));
    assert_eq!(err.field, "endpoints[0].conditions.ready");

    // Unsupported enum value, malformed IP, wrong-family endpoint.
    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["type"] = json!("Ingress");
    let err = refused(&bad);
    assert_eq!(err.field, "spec.type");
    assert!(matches!(err.reason, Reason::Unsupported { .. }), "{err}");
    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["clusterIPs"] = json!(["10.96.1.300"]);
    bad["spec"]["clusterIP"] = json!("10.96.1.300");
    assert_eq!(refused(&bad).field, "spec.clusterIPs[0]");
    let bad = slice("default", "web-1", "web", &["10.244.2.7", "fd00::7"]);
    let err = refused(&bad);
    assert_eq!(err.field, "endpoints[1].addresses[0]");
    assert_eq!(
        err.reason,
        Reason::Invalid(ErrorKind::WrongFamily {
            expected: IpFamily::V4
        })
    );

    // A conflict between two objects of one document: the first is not kept either.
    let err = refused(&list(vec![
        service("default", "web", "10.96.1.1"),
        service("default", "other", "10.96.1.1"),
    ]));
    assert_eq!(err.item, Some(1));
    assert_eq!(*err.object, ObjectRef::new("default", "other"));
    assert_eq!(err.field, "spec.clusterIPs[0]");
    assert!(matches!(err.reason, Reason::Conflict(_)), "{err}");
    // ... and with the seed: order-api-svc's nodePort.
    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["type"] = json!("NodePort");
    bad["spec"]["ports"][0]["nodePort"] = json!(30080);
    let err = refused(&bad);
    assert_eq!(err.field, "spec.ports[0].nodePort");
    assert!(matches!(err.reason, Reason::Conflict(_)), "{err}");

    // Not JSON, not an object, no kind, no name.
    let mut c = catalog();
    let err = Loader::new()
        .apply_json(&mut c, b"{\"kind\": ")
        .unwrap_err();
    assert!(matches!(err.reason, Reason::Syntax(_)), "{err}");
    assert_eq!(refused(&json!([1, 2])).field, "");
    assert_eq!(refused(&json!({"items": []})).field, "kind");
    let err = refused(&json!({"kind": "Service", "apiVersion": "v1", "metadata": {}}));
    assert_eq!(
        (err.field.as_str(), err.reason),
        ("metadata.name", Reason::Invalid(ErrorKind::Required))
    );
    let err = refused(&list(vec![good, json!("x")]));
    assert_eq!((err.item, err.field.as_str()), (Some(1), "items[1]"));
    assert_eq!(
        err.to_string(),
        "items[1]: List: items[1]: must be an object"
    );
}

#[test]
fn slices_of_one_service_merge_and_deleting_one_remerges() {
    let mut c = catalog();
    let mut loader = Loader::new();
    let id = ObjectRef::new("default", "web");
    load(
        &mut loader,
        &mut c,
        &list(vec![
            slice("default", "web-b", "web", &["10.244.2.2", "10.244.2.3"]),
            service("default", "web", "10.96.1.1"),
            slice("default", "web-a", "web", &["10.244.1.1"]),
        ]),
    )
    .unwrap();
    assert_eq!(
        addresses(&c, &id),
        ["10.244.1.1", "10.244.2.2", "10.244.2.3"]
    );
    let names: Vec<&str> = c
        .endpoints(&id)
        .unwrap()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["web-a", "web-b"], "ordered by name");
    let snapshot = c.compile();
    assert!(snapshot.to_string().contains("10.244.2.3"));

    // An update of one slice replaces only that slice.
    load(
        &mut loader,
        &mut c,
        &slice("default", "web-b", "web", &["10.244.2.4"]),
    )
    .unwrap();
    assert_eq!(addresses(&c, &id), ["10.244.1.1", "10.244.2.4"]);

    // Deleting one re-merges the rest; deleting the last drops the endpoints.
    assert!(loader
        .delete(&mut c, Kind::EndpointSlice, "default", "web-a")
        .unwrap());
    assert_eq!(addresses(&c, &id), ["10.244.2.4"]);
    assert!(!loader
        .delete(&mut c, Kind::EndpointSlice, "default", "web-a")
        .unwrap());
    assert!(loader
        .delete(&mut c, Kind::EndpointSlice, "default", "web-b")
        .unwrap());
    assert_eq!(c.endpoints(&id), None);
    assert_eq!(loader.slices(&id).count(), 0);

    // Deleting the Service; a second time is a no-op.
    assert!(loader
        .delete(&mut c, Kind::Service, "default", "web")
        .unwrap());
    assert!(c.service(&id).is_none());
    assert!(!loader
        .delete(&mut c, Kind::Service, "default", "web")
        .unwrap());
}

#[test]
fn a_relabelled_slice_moves_and_an_unlabelled_one_is_dropped() {
    let mut c = catalog();
    let mut loader = Loader::new();
    let (web, other) = (
        ObjectRef::new("default", "web"),
        ObjectRef::new("default", "other"),
    );
    load(
        &mut loader,
        &mut c,
        &slice("default", "s1", "web", &["10.244.1.1"]),
    )
    .unwrap();
    load(
        &mut loader,
        &mut c,
        &slice("default", "s1", "other", &["10.244.1.1"]),
    )
    .unwrap();
    assert_eq!(c.endpoints(&web), None);
    assert_eq!(addresses(&c, &other), ["10.244.1.1"]);
    let mut unlabelled = slice("default", "s1", "other", &["10.244.1.1"]);
    unlabelled["metadata"]["labels"] = json!({});
    let applied = load(&mut loader, &mut c, &unlabelled).unwrap();
    assert_eq!(applied.ignored, 1);
    assert_eq!(c.endpoints(&other), None);
    let mut fqdn = slice("default", "s2", "other", &[]);
    fqdn["addressType"] = json!("FQDN");
    fqdn["endpoints"] = json!([{"addresses": ["example.com"]}]);
    assert_eq!(load(&mut loader, &mut c, &fqdn).unwrap().ignored, 1);
}

#[test]
fn a_list_with_mixed_kinds() {
    let mut c = catalog();
    let mut loader = Loader::new();
    let doc = list(vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {}}),
        service("default", "web", "10.96.1.1"),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": 7}),
        slice("default", "web-a", "web", &["10.244.1.1"]),
        // A Service of another API version and a v1beta1 slice are not ours.
        json!({"apiVersion": "v2", "kind": "Service", "metadata": {"name": "x"}}),
        json!({"apiVersion": "discovery.k8s.io/v1beta1", "kind": "EndpointSlice",
               "metadata": {"name": "y"}}),
        service("kube-system", "other", "10.96.1.2"),
    ]);
    let applied = load(&mut loader, &mut c, &doc).unwrap();
    assert_eq!(
        applied,
        Applied {
            services: 2,
            endpoint_slices: 1,
            deleted: 0,
            ignored: 4
        }
    );
    assert_eq!(c.len(), 2);
    assert_eq!(
        addresses(&c, &ObjectRef::new("default", "web")),
        ["10.244.1.1"]
    );

    // Typed lists as the API server returns them: items without kind or apiVersion.
    let mut item = service("default", "typed", "10.96.1.3");
    let m = item.as_object_mut().unwrap();
    m.remove("kind");
    m.remove("apiVersion");
    let typed = json!({"apiVersion": "v1", "kind": "ServiceList", "items": [item]});
    assert_eq!(load(&mut loader, &mut c, &typed).unwrap().services, 1);
    assert!(c.service(&ObjectRef::new("default", "typed")).is_some());
}

#[test]
fn watch_events() {
    let mut c = catalog();
    let mut loader = Loader::new();
    let id = ObjectRef::new("default", "web");
    let svc = service("default", "web", "10.96.1.1");
    let sl = slice("default", "web-a", "web", &["10.244.1.1"]);
    load(
        &mut loader,
        &mut c,
        &json!({"type": "ADDED", "object": svc}),
    )
    .unwrap();
    load(
        &mut loader,
        &mut c,
        &json!({"type": "MODIFIED", "object": sl}),
    )
    .unwrap();
    assert_eq!(addresses(&c, &id), ["10.244.1.1"]);
    let applied = load(
        &mut loader,
        &mut c,
        &json!({"type": "DELETED", "object": sl}),
    )
    .unwrap();
    assert_eq!(applied.deleted, 1);
    assert_eq!(c.endpoints(&id), None);
    load(
        &mut loader,
        &mut c,
        &json!({"type": "DELETED", "object": svc}),
    )
    .unwrap();
    assert!(c.is_empty());
    let bookmark = json!({"type": "BOOKMARK", "object": {"kind": "Service", "metadata": {}}});
    assert_eq!(load(&mut loader, &mut c, &bookmark).unwrap().ignored, 1);
    let err = load(&mut loader, &mut c, &json!({"type": "ERROR", "object": {}})).unwrap_err();
    assert_eq!(err.field, "type");
}

#[test]
fn defaults_follow_the_api() {
    let mut c = catalog();
    let doc = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "bare"},
        "spec": {"clusterIP": "10.96.1.9", "ports": [{"port": 80, "targetPort": 0}],
                 "sessionAffinity": "ClientIP"}
    });
    Loader::new().apply_json(&mut c, &bytes(&doc)).unwrap();
    let s = c.service(&ObjectRef::new("default", "bare")).unwrap();
    assert_eq!(s.ports, [ServicePort::tcp(80)]);
    assert_eq!(
        s.cluster_ips,
        ClusterIps::Assigned(vec!["10.96.1.9".parse().unwrap()])
    );
    assert_eq!(s.session_affinity, SessionAffinity::client_ip());
}

#[test]
fn empty_strings_the_api_server_defaults_load_as_the_defaults() {
    // SetDefaults_Service: type "" is ClusterIP, sessionAffinity "" is None, a port's protocol
    // "" is TCP, targetPort "" is the port. Each loads exactly like the field left out.
    let base = service("default", "web", "10.96.1.9");
    let mut plain = catalog();
    Loader::new().apply_json(&mut plain, &bytes(&base)).unwrap();
    let id = ObjectRef::new("default", "web");
    let want = plain.service(&id).cloned().unwrap();
    let edits: [&dyn Fn(&mut Value); 4] = [
        &|d| d["spec"]["type"] = json!(""),
        &|d| d["spec"]["sessionAffinity"] = json!(""),
        &|d| d["spec"]["ports"][0]["protocol"] = json!(""),
        &|d| d["spec"]["ports"][0]["targetPort"] = json!(""),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut doc = base.clone();
        edit(&mut doc);
        let mut c = catalog();
        Loader::new()
            .apply_json(&mut c, &bytes(&doc))
            .unwrap_or_else(|e| panic!("edit {i}: {e}"));
        let mut expect = want.clone();
        if i == 3 {
            expect.ports[0].target_port = TargetPort::Number(80);
        }
        assert_eq!(c.service(&id), Some(&expect), "edit {i}");
    }
}

#[test]
fn session_affinity_config_without_client_ip_affinity_is_ignored() {
    // defaults.go, SetDefaults_Service: with sessionAffinity None (or "", defaulted to None)
    // the API server drops sessionAffinityConfig before validation, so a manifest that sets it
    // is accepted (found by review: it used to be refused).
    for affinity in [json!("None"), json!(""), Value::Null] {
        let mut doc = service("default", "web", "10.96.1.9");
        doc["spec"]["sessionAffinity"] = affinity.clone();
        doc["spec"]["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 100}});
        let mut c = catalog();
        Loader::new().apply_json(&mut c, &bytes(&doc)).unwrap();
        let svc = c.service(&ObjectRef::new("default", "web")).unwrap();
        assert_eq!(svc.session_affinity, SessionAffinity::None, "{affinity}");
    }
    let mut doc = service("default", "web", "10.96.1.9");
    doc["spec"]["sessionAffinity"] = json!("ClientIP");
    doc["spec"]["sessionAffinityConfig"] = json!({"clientIP": {"timeoutSeconds": 100}});
    let mut c = catalog();
    Loader::new().apply_json(&mut c, &bytes(&doc)).unwrap();
    assert_eq!(
        c.service(&ObjectRef::new("default", "web"))
            .unwrap()
            .session_affinity,
        SessionAffinity::ClientIp {
            timeout_seconds: 100
        }
    );
}

/// Stored objects from before strict IP validation: IPv4 parts with leading zeros are read as
/// decimal, as kube-proxy's `ParseIPSloppy` / `ParseCIDRSloppy` read them (found by a review).
#[test]
fn legacy_ipv4_with_leading_zeros_loads_as_decimal() {
    let mut c = catalog();
    let mut l = Loader::new();
    let mut svc = service("shop", "legacy", "10.96.5.010");
    svc["spec"]["type"] = json!("LoadBalancer");
    svc["spec"]["externalIPs"] = json!(["203.0.113.007"]);
    svc["spec"]["loadBalancerSourceRanges"] = json!(["198.051.100.0/24"]);
    svc["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.000.2.10"}]}});
    svc["spec"]["ports"][0]["nodePort"] = json!(30080);
    svc["spec"]["ports"][1]["nodePort"] = json!(30443);
    let sl = slice("shop", "legacy-abc", "legacy", &["10.244.2.050"]);
    load(
        &mut l,
        &mut c,
        &json!({"apiVersion": "v1", "kind": "List", "items": [svc, sl]}),
    )
    .expect("a stored legacy Service loads");
    let id = ObjectRef::new("shop", "legacy");
    let s = c.service(&id).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(s.cluster_ip_list(), [ip("10.96.5.10")]);
    assert_eq!(s.external_ips, [ip("203.0.113.7")]);
    assert_eq!(
        s.load_balancer_source_ranges,
        ["198.51.100.0/24".parse::<Cidr>().unwrap()]
    );
    assert_eq!(s.load_balancer_ingress[0].ip, ip("192.0.2.10"));
    assert_eq!(
        c.endpoints(&id).unwrap()[0].endpoints[0].address,
        ip("10.244.2.50")
    );
    let snap = c.compile();
    assert!(snap.frontend(Protocol::Tcp, ip("10.96.5.10"), 80).is_some());

    // Still refused: out of range, too few or too many parts, signs, hex, empty parts.
    for bad in [
        "10.96.5.256",
        "10.96.5.0256",
        "10.96.5",
        "10.96.5.1.1",
        "10.96.5.+1",
        "10.96.5.0x1",
        "10.96..1",
        "10.96.5.1 ",
    ] {
        let err = load(&mut l, &mut c, &service("shop", "bad", bad)).unwrap_err();
        assert!(err.field.starts_with("spec.clusterIP"), "{bad}: {err}");
        assert!(
            matches!(err.reason, Reason::Malformed { .. }),
            "{bad}: {err}"
        );
    }
}

/// A Service labelled `service.kubernetes.io/service-proxy-name` belongs to another proxy:
/// kube-proxy's informers skip it (`!service.kubernetes.io/service-proxy-name`), so no packet
/// rules, and packets to its cluster IP pass untouched (neither rejected nor dropped as an
/// unallocated service IP). A node configured with that proxy name programs it, and only the
/// Services labelled so (found by a review).
#[test]
fn services_of_another_proxy_get_no_packet_rules() {
    use crate::snapshot::Lookup;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut svc = service("shop", "other-proxy", "10.96.5.5");
    svc["metadata"]["labels"] = json!({"service.kubernetes.io/service-proxy-name": "cilium"});
    let sl = slice("shop", "other-proxy-abc", "other-proxy", &["10.244.2.50"]);
    let plain = service("shop", "mine", "10.96.5.6");
    let plain_sl = slice("shop", "mine-abc", "mine", &["10.244.2.51"]);
    let doc = json!({"apiVersion": "v1", "kind": "List",
                     "items": [svc, sl, plain, plain_sl]});

    // The default node: kube-proxy's rule.
    let mut c = catalog();
    load(&mut Loader::new(), &mut c, &doc).unwrap();
    let id = ObjectRef::new("shop", "other-proxy");
    assert_eq!(
        c.service(&id).unwrap().service_proxy_name.as_deref(),
        Some("cilium")
    );
    let snap = c.compile();
    assert!(snap.frontend(Protocol::Tcp, ip("10.96.5.5"), 80).is_none());
    assert!(matches!(
        snap.lookup(Protocol::Tcp, ip("10.96.5.5"), 80),
        Lookup::NotService
    ));
    assert!(matches!(
        snap.lookup(Protocol::Tcp, ip("10.96.5.5"), 9999),
        Lookup::NotService
    ));
    let plan = snap.service(&id).unwrap();
    assert!(!plan.is_proxied() && plan.is_foreign());
    assert!(snap.frontend(Protocol::Tcp, ip("10.96.5.6"), 80).is_some());
    // Its cluster IP is still allocated: another Service cannot take it.
    let mut thief = service("shop", "thief", "10.96.5.5");
    thief["metadata"]["name"] = json!("thief");
    let err = load(&mut Loader::new(), &mut c, &thief).unwrap_err();
    assert!(err.field.starts_with("spec.clusterIP"), "{err}");

    // A node that is the "cilium" proxy: the labelled Service only.
    let mut config = seed::node(0);
    config.service_proxy_name = Some("cilium".into());
    let mut c = Catalog::new(config).unwrap();
    load(&mut Loader::new(), &mut c, &doc).unwrap();
    let snap = c.compile();
    let f = snap.frontend(Protocol::Tcp, ip("10.96.5.5"), 80).unwrap();
    assert_eq!(f.plan().backends()[0].address, ip("10.244.2.50"));
    assert!(snap.frontend(Protocol::Tcp, ip("10.96.5.6"), 80).is_none());
    assert!(snap
        .service(&ObjectRef::new("shop", "mine"))
        .unwrap()
        .is_foreign());
}

/// The dotted tail of an IPv6 address is read the same sloppy way (found by a review).
#[test]
fn ipv6_with_a_dotted_tail_with_leading_zeros_loads() {
    let mut c = catalog();
    let mut l = Loader::new();
    let mut svc = service("shop", "legacy6", "10.96.5.11");
    svc["spec"]["externalIPs"] = json!(["64:ff9b::192.000.2.1"]);
    load(&mut l, &mut c, &svc).expect("loads");
    let s = c.service(&ObjectRef::new("shop", "legacy6")).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert_eq!(s.external_ips, [ip("64:ff9b::192.0.2.1")]);
    // An IPv4-mapped address with such a tail parses, and is read as the IPv4 address.
    svc["spec"]["externalIPs"] = json!(["::ffff:203.0.113.007"]);
    load(&mut l, &mut c, &svc).expect("loads");
    let s = c.service(&ObjectRef::new("shop", "legacy6")).unwrap();
    assert_eq!(s.external_ips, [ip("203.0.113.7")]);
    let mut bad = service("shop", "bad6", "10.96.5.12");
    bad["spec"]["externalIPs"] = json!(["::ffff:203.0.113.256"]);
    assert!(load(&mut l, &mut c, &bad).is_err());
}

/// SEMANTICS §8: `clusterIP` must equal `clusterIPs[0]` (compared as the API server compares
/// them, as strings), and `"None"` may only stand alone.
#[test]
fn cluster_ip_must_match_cluster_ips_and_none_stands_alone() {
    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["clusterIP"] = json!("10.96.1.2");
    let err = refused(&bad);
    // validation.go reports it on clusterIPs: "first value must match `clusterIP`".
    assert_eq!(err.field, "spec.clusterIPs");
    assert!(
        matches!(err.reason, Reason::Invalid(ErrorKind::Forbidden(_))),
        "{err}"
    );

    let mut bad = service("default", "web", "10.96.1.1");
    bad["spec"]["clusterIP"] = json!("None");
    bad["spec"]["clusterIPs"] = json!(["None", "10.96.1.1"]);
    let err = refused(&bad);
    assert_eq!(err.field, "spec.clusterIPs");
    assert!(
        matches!(err.reason, Reason::Invalid(ErrorKind::Forbidden(_))),
        "{err}"
    );

    // Alone, "None" is headless; and clusterIP alone (no clusterIPs) is the list.
    let mut c = catalog();
    let mut ok = service("default", "web", "10.96.1.1");
    ok["spec"]["clusterIP"] = json!("None");
    ok["spec"]["clusterIPs"] = json!(["None"]);
    load(&mut Loader::new(), &mut c, &ok).unwrap();
    let id = ObjectRef::new("default", "web");
    assert_eq!(c.service(&id).unwrap().cluster_ips, ClusterIps::Headless);
    let mut ok = service("default", "web", "10.96.1.1");
    ok["spec"].as_object_mut().unwrap().remove("clusterIPs");
    load(&mut Loader::new(), &mut c, &ok).unwrap();
    assert_eq!(
        c.service(&id).unwrap().cluster_ips,
        ClusterIps::Assigned(vec!["10.96.1.1".parse().unwrap()])
    );
}

/// SEMANTICS §2: the protocol is TCP, UDP or SCTP, spelled as the API spells it (an empty
/// string is the API's default, TCP: `empty_strings_the_api_server_defaults_load_as_the_defaults`).
#[test]
fn only_tcp_udp_and_sctp_are_protocols() {
    for p in ["ICMP", "tcp", "Udp", "HTTP"] {
        let mut bad = service("default", "web", "10.96.1.1");
        bad["spec"]["ports"][1]["protocol"] = json!(p);
        let err = refused(&bad);
        assert_eq!(err.field, "spec.ports[1].protocol", "{p}");
        assert!(
            matches!(err.reason, Reason::Unsupported { .. }),
            "{p}: {err}"
        );
    }
}

/// SEMANTICS §1: load-balancer ingress entries with only a hostname are ignored, and entries
/// with `ipMode: Proxy` are kept in the model but get no frontend; SEMANTICS §3: only an
/// endpoint's first address is used.
#[test]
fn ingress_hostnames_and_proxy_mode_and_extra_endpoint_addresses() {
    let mut lb = load_balancer("default", "web", "10.96.1.1");
    lb["status"] = json!({"loadBalancer": {"ingress": [
        {"hostname": "lb-1.example.com"},
        {"ip": "198.51.100.9", "ipMode": "Proxy"},
        {"ip": "198.51.100.10", "hostname": "lb-2.example.com", "ipMode": "VIP"},
        {"ip": "198.51.100.11"}
    ]}});
    let mut eps = slice("default", "web-1", "web", &["10.244.2.7"]);
    eps["endpoints"][0]["addresses"] = json!(["10.244.2.7", "10.244.2.8", "10.244.2.9"]);
    let mut c = catalog();
    load(&mut Loader::new(), &mut c, &list(vec![lb, eps])).unwrap();
    let id = ObjectRef::new("default", "web");
    let ingress: Vec<(String, IpMode)> = c
        .service(&id)
        .unwrap()
        .load_balancer_ingress
        .iter()
        .map(|i| (i.ip.to_string(), i.ip_mode))
        .collect();
    assert_eq!(
        ingress,
        [
            ("198.51.100.9".to_string(), IpMode::Proxy),
            ("198.51.100.10".to_string(), IpMode::Vip),
            ("198.51.100.11".to_string(), IpMode::Vip),
        ]
    );
    assert_eq!(addresses(&c, &id), ["10.244.2.7"]);
    let snap = c.compile();
    let at = |a: &str| {
        snap.frontend(Protocol::Tcp, a.parse().unwrap(), 80)
            .is_some()
    };
    assert!(!at("198.51.100.9"), "ipMode Proxy: no frontend");
    assert!(at("198.51.100.10") && at("198.51.100.11"));
    let f = snap
        .frontend(Protocol::Tcp, "10.96.1.1".parse().unwrap(), 80)
        .unwrap();
    let backends: Vec<String> = f
        .plan()
        .backends()
        .iter()
        .map(|b| b.address.to_string())
        .collect();
    assert_eq!(backends, ["10.244.2.7"]);
}

/// SEMANTICS §1: loadBalancerSourceRanges values are trimmed (kube-proxy's TestLoadBalancer
/// gives one with a leading space).
#[test]
fn source_ranges_are_trimmed() {
    let mut lb = load_balancer("default", "web", "10.96.1.1");
    lb["spec"]["loadBalancerSourceRanges"] = json!([" 203.0.113.0/25", "198.51.100.0/24 \t"]);
    let mut c = catalog();
    load(&mut Loader::new(), &mut c, &lb).unwrap();
    let ranges = &c
        .service(&ObjectRef::new("default", "web"))
        .unwrap()
        .load_balancer_source_ranges;
    let want: Vec<Cidr> = ["203.0.113.0/25", "198.51.100.0/24"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(*ranges, want);
}

/// An IPv4-mapped loadBalancerSourceRanges entry `::ffff:a.b.c.d/p` with `p` >= 96 is the IPv4
/// range `a.b.c.d/(p - 96)`, as kube-proxy reads it (the API server stores it with a warning),
/// and restricts the IPv4 load-balancer IP. It used to be refused, losing the Service.
#[test]
fn ipv4_mapped_source_ranges_load_as_ipv4_ranges() {
    let mut c = catalog();
    let id = ObjectRef::new("default", "web");
    let mut lb = load_balancer("default", "web", "10.96.1.1");
    lb["spec"]["loadBalancerSourceRanges"] = json!([
        "::ffff:203.0.113.0/120",
        "::FFFF:198.51.100.7/128",
        "::ffff:192.0.2.0/0120"
    ]);
    lb["status"] = json!({"loadBalancer": {"ingress": [{"ip": "198.51.100.9"}]}});
    load(&mut Loader::new(), &mut c, &lb).unwrap();
    let want: Vec<Cidr> = ["203.0.113.0/24", "198.51.100.7/32", "192.0.2.0/24"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(c.service(&id).unwrap().load_balancer_source_ranges, want);
    // The IPv4 load-balancer frontend is restricted by them.
    let snap = c.compile();
    let f = snap
        .frontend(Protocol::Tcp, "198.51.100.9".parse().unwrap(), 80)
        .unwrap();
    assert_eq!(f.plan().source_ranges(), want.as_slice());

    // `::ffff:0:0/96` is every IPv4 address, as kube-proxy reads it.
    lb["spec"]["loadBalancerSourceRanges"] = json!(["::ffff:0:0/96"]);
    load(&mut Loader::new(), &mut c, &lb).unwrap();
    assert_eq!(
        c.service(&id).unwrap().load_balancer_source_ranges,
        ["0.0.0.0/0".parse::<Cidr>().unwrap()]
    );
}

/// A mapped address with a prefix length under 96 is no IPv4 range (kube-proxy would count it
/// as IPv6, leaving the IPv4 LB IP unrestricted when it is the only entry): refused, naming
/// the entry, and nothing changes.
#[test]
fn ipv4_mapped_source_ranges_shorter_than_96_are_refused() {
    let mut c = catalog();
    let id = ObjectRef::new("default", "web");
    load(
        &mut Loader::new(),
        &mut c,
        &load_balancer("default", "web", "10.96.1.1"),
    )
    .unwrap();
    for mapped in ["::ffff:203.0.113.0/80", "::ffff:0:0/95", "::ffff:1.2.3.4/0"] {
        let mut lb = load_balancer("default", "web", "10.96.1.1");
        lb["spec"]["loadBalancerSourceRanges"] = json!(["198.51.100.0/24", mapped]);
        let before = state(&c, std::slice::from_ref(&id));
        let err = load(&mut Loader::new(), &mut c, &lb).unwrap_err();
        assert_eq!(err.field, "spec.loadBalancerSourceRanges[1]", "{mapped}");
        assert!(matches!(err.reason, Reason::Malformed { .. }), "{err}");
        assert!(err.to_string().contains("IPv4-mapped"), "{err}");
        assert!(err.to_string().contains("under 96"), "{err}");
        assert_eq!(state(&c, std::slice::from_ref(&id)), before);
    }
    // Out of range once mapped: /129 is malformed, as for any IPv6 range.
    let mut lb = load_balancer("default", "web", "10.96.1.1");
    lb["spec"]["loadBalancerSourceRanges"] = json!(["::ffff:1.2.3.4/129"]);
    let err = load(&mut Loader::new(), &mut c, &lb).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::Malformed {
            expected: "a CIDR (address/prefix length)"
        }
    );
    // An IPv6 range that merely contains the mapped block is a real IPv6 range.
    let mut lb = load_balancer("default", "web", "10.96.1.1");
    lb["spec"]["loadBalancerSourceRanges"] = json!(["203.0.113.0/24", "::/0"]);
    load(&mut Loader::new(), &mut c, &lb).unwrap();
}

/// IPv4-mapped addresses (`::ffff:a.b.c.d`), which the API server stores with a warning, load
/// as their IPv4 addresses wherever the loader reads an address, as kube-proxy reads them
/// (`ParseIPSloppy(..).String()`, `MapIPsByIPFamily`): cluster IPs (checked against
/// `ipFamilies` as IPv4), externalIPs, load-balancer ingress IPs and the endpoints of an IPv4
/// slice. Each used to be refused, and a List holding one lost every object.
#[test]
fn ipv4_mapped_addresses_load_as_ipv4() {
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let mut lb = load_balancer("default", "web", "::ffff:10.96.1.1");
    assert_eq!(lb["spec"]["ipFamilies"], json!(["IPv4"]));
    lb["spec"]["externalIPs"] = json!(["::ffff:203.0.113.9"]);
    lb["status"] = json!({"loadBalancer": {"ingress": [{"ip": "::ffff:198.51.100.9"}]}});
    let mut eps = slice(
        "default",
        "web-1",
        "web",
        &["::ffff:10.244.2.7", "10.244.2.8"],
    );
    eps["endpoints"][1]["addresses"] = json!(["::FFFF:10.244.2.8"]);
    let mut c = catalog();
    let applied = load(&mut Loader::new(), &mut c, &list(vec![lb, eps])).unwrap();
    assert_eq!((applied.services, applied.endpoint_slices), (1, 1));
    let id = ObjectRef::new("default", "web");
    let s = c.service(&id).unwrap();
    assert_eq!(s.cluster_ips, ClusterIps::Assigned(vec![ip("10.96.1.1")]));
    assert_eq!(s.external_ips, [ip("203.0.113.9")]);
    assert_eq!(s.load_balancer_ingress[0].ip, ip("198.51.100.9"));
    assert_eq!(addresses(&c, &id), ["10.244.2.7", "10.244.2.8"]);
    // Programmed as IPv4: frontends at the IPv4 addresses, IPv4 backends.
    let snap = c.compile();
    for vip in ["10.96.1.1", "203.0.113.9", "198.51.100.9"] {
        let f = snap
            .frontend(Protocol::Tcp, ip(vip), 80)
            .unwrap_or_else(|| panic!("no frontend at {vip}"));
        let backends: Vec<IpAddr> = f.plan().backends().iter().map(|b| b.address).collect();
        assert_eq!(backends, [ip("10.244.2.7"), ip("10.244.2.8")], "{vip}");
    }
    assert!(snap
        .frontend(Protocol::Tcp, ip("::ffff:10.96.1.1"), 80)
        .is_none());

    // Dual stack: the mapped cluster IP is the IPv4 one, in either position.
    for (ips, families) in [
        (["::ffff:10.96.1.2", "fd00:10:96::2"], ["IPv4", "IPv6"]),
        (["fd00:10:96::2", "::ffff:10.96.1.2"], ["IPv6", "IPv4"]),
    ] {
        let mut svc = service("default", "dual", ips[0]);
        svc["spec"]["clusterIPs"] = json!(ips);
        svc["spec"]["ipFamilies"] = json!(families);
        svc["spec"]["ipFamilyPolicy"] = json!("RequireDualStack");
        let mut c = catalog();
        load(&mut Loader::new(), &mut c, &svc).unwrap_or_else(|e| panic!("{ips:?}: {e}"));
        let s = c.service(&ObjectRef::new("default", "dual")).unwrap();
        assert!(s.cluster_ip_list().contains(&ip("10.96.1.2")), "{ips:?}");
    }
    // ... so a mapped address and an IPv4 one are two IPv4 cluster IPs, as the API server
    // sees them; and a mapped cluster IP under ipFamilies [IPv6] is of the wrong family.
    let mut svc = service("default", "web", "10.96.1.1");
    svc["spec"]["clusterIPs"] = json!(["10.96.1.1", "::ffff:10.96.1.2"]);
    svc["spec"]["ipFamilies"] = json!(["IPv4"]);
    svc["spec"]["ipFamilyPolicy"] = json!("PreferDualStack");
    let err = refused(&svc);
    assert_eq!(
        (err.field.as_str(), err.reason),
        (
            "spec.clusterIPs",
            Reason::Invalid(ErrorKind::OneIpPerFamily)
        )
    );
    let mut svc = service("default", "web", "::ffff:10.96.1.1");
    svc["spec"]["ipFamilies"] = json!(["IPv6"]);
    let err = refused(&svc);
    assert_eq!(err.field, "spec.clusterIPs[0]");
    assert_eq!(
        err.reason,
        Reason::Invalid(ErrorKind::WrongFamily {
            expected: IpFamily::V6
        })
    );

    // The special-address rules see the IPv4 address, as Go's net.IP methods do.
    let mut svc = service("default", "web", "10.96.1.1");
    svc["spec"]["externalIPs"] = json!(["::ffff:127.0.0.1"]);
    let err = refused(&svc);
    assert_eq!(err.field, "spec.externalIPs[0]");
    assert_eq!(
        err.reason,
        Reason::Invalid(ErrorKind::SpecialAddress(SpecialAddress::Loopback))
    );
    let err = refused(&slice("default", "web-1", "web", &["::ffff:169.254.1.1"]));
    assert_eq!(err.field, "endpoints[0].addresses[0]");
    assert_eq!(
        err.reason,
        Reason::Invalid(ErrorKind::SpecialAddress(SpecialAddress::LinkLocal))
    );
}

/// An IPv4-mapped address in an `addressType: IPv6` slice is refused, naming it: the API
/// server refuses it too (`IsValidIPv6Address`), and read as IPv4 it would be a backend of the
/// wrong family for the slice (kube-proxy's IPv6 proxier skips it).
#[test]
fn ipv4_mapped_address_in_an_ipv6_slice_is_refused() {
    let mut bad = slice(
        "default",
        "web-1",
        "web",
        &["fd00:10:244::7", "::ffff:10.244.2.7"],
    );
    bad["addressType"] = json!("IPv6");
    let err = refused(&list(vec![service("default", "web", "10.96.1.1"), bad]));
    assert_eq!((err.item, err.kind), (Some(1), "EndpointSlice"));
    assert_eq!(err.field, "endpoints[1].addresses[0]");
    assert_eq!(
        err.reason,
        Reason::Invalid(ErrorKind::WrongFamily {
            expected: IpFamily::V6
        })
    );
    assert!(
        err.to_string().ends_with("must be an IPv6 address"),
        "{err}"
    );
    // Without it the slice loads.
    let mut good = slice("default", "web-1", "web", &["fd00:10:244::7"]);
    good["addressType"] = json!("IPv6");
    let mut c = catalog();
    load(&mut Loader::new(), &mut c, &good).unwrap();
    assert_eq!(
        addresses(&c, &ObjectRef::new("default", "web")),
        ["fd00:10:244::7"]
    );
}

/// `hints.forNodes` load (PreferSameNode, GA in Kubernetes 1.35): the cluster pool keeps the
/// endpoints hinted for this node, as kube-proxy's `topologyModeFromHints` decides.
#[test]
fn node_hints_load_and_select_this_nodes_endpoints() {
    let ep = |addr: &str, node: &str, zone: &str| {
        json!({
            "addresses": [addr], "conditions": {"ready": true}, "nodeName": node, "zone": zone,
            "hints": {"forZones": [{"name": zone}], "forNodes": [{"name": node}]}
        })
    };
    let mut svc = service("shop", "web", "10.96.7.7");
    svc["spec"]["trafficDistribution"] = json!("PreferSameNode");
    let mut sl = slice("shop", "web-abc", "web", &[]);
    sl["endpoints"] = json!([
        ep("10.244.1.10", "node-eu-west-1a", "eu-west-1a"),
        ep("10.244.9.10", "node-eu-west-1z", "eu-west-1a"),
        ep("10.244.2.10", "node-eu-west-1b", "eu-west-1b")
    ]);
    let mut c = catalog();
    load(&mut Loader::new(), &mut c, &list(vec![svc, sl.clone()])).unwrap();
    let web = ObjectRef::new("shop", "web");
    let hints: Vec<Vec<String>> = c.endpoints(&web).unwrap()[0]
        .endpoints
        .iter()
        .map(|e| e.node_hints.clone())
        .collect();
    assert_eq!(
        hints,
        [
            ["node-eu-west-1a"],
            ["node-eu-west-1z"],
            ["node-eu-west-1b"]
        ]
    );
    let snap = c.compile();
    let ip: IpAddr = "10.96.7.7".parse().unwrap();
    let plan = snap.frontend(Protocol::Tcp, ip, 80).unwrap().plan();
    let cluster: Vec<String> = plan
        .pool(crate::select::Pool::Cluster)
        .members()
        .iter()
        .map(|&i| plan.backends()[i as usize].address.to_string())
        .collect();
    assert_eq!(cluster, ["10.244.1.10"]);
    // A hint without a name is refused, naming the field.
    sl["endpoints"][0]["hints"]["forNodes"] = json!([{}]);
    let err = load(&mut Loader::new(), &mut catalog(), &sl).unwrap_err();
    assert!(
        err.to_string()
            .contains("endpoints[0].hints.forNodes[0].name"),
        "{err}"
    );
}

/// kube-proxy's informers select Services without the `service.kubernetes.io/headless` label
/// (server.go: `labels.NewRequirement(v1.IsHeadlessService, selection.DoesNotExist, nil)`), so
/// a Service carrying it, with any value, gets no packet rules even with a cluster IP.
#[test]
fn a_service_labelled_headless_gets_no_packet_rules() {
    let ip: IpAddr = "10.96.5.5".parse().unwrap();
    for value in [json!(""), json!("true")] {
        let mut svc = service("shop", "odd", "10.96.5.5");
        svc["metadata"]["labels"] = json!({"service.kubernetes.io/headless": value});
        let mut c = catalog();
        load(&mut Loader::new(), &mut c, &svc).unwrap();
        let snap = c.compile();
        assert!(snap.frontend(Protocol::Tcp, ip, 80).is_none());
        assert!(snap
            .service(&ObjectRef::new("shop", "odd"))
            .unwrap()
            .is_foreign());
    }
    // Without the label: programmed.
    let mut c = catalog();
    load(
        &mut Loader::new(),
        &mut c,
        &service("shop", "odd", "10.96.5.5"),
    )
    .unwrap();
    assert!(c.compile().frontend(Protocol::Tcp, ip, 80).is_some());
}

/// API validation never checks an EndpointSlice port's number, and kube-proxy ignores a port
/// without one: a number outside 1..=65535 makes that port ignored, not the document refused.
#[test]
fn slice_port_outside_u16_is_ignored_not_fatal() {
    for bad in [json!(70000), json!(-1)] {
        let mut sl = slice("default", "web-1", "web", &["10.244.2.7"]);
        sl["ports"][1]["port"] = bad.clone();
        let mut c = catalog();
        load(
            &mut Loader::new(),
            &mut c,
            &list(vec![service("default", "web", "10.96.1.9"), sl]),
        )
        .unwrap();
        let web = ObjectRef::new("default", "web");
        assert_eq!(c.endpoints(&web).unwrap()[0].ports[1].port, None, "{bad}");
        let snap = c.compile();
        let ip: IpAddr = "10.96.1.9".parse().unwrap();
        let https = snap.frontend(Protocol::Tcp, ip, 443).unwrap();
        assert!(https.plan().backends().is_empty(), "{bad}: port ignored");
        let http = snap.frontend(Protocol::Tcp, ip, 80).unwrap();
        assert_eq!(
            http.plan().backends().len(),
            1,
            "{bad}: the other port kept"
        );
    }
}

/// Go's ParseCIDR reads a prefix length of any number of digits: "/0024" is /24.
#[test]
fn source_range_prefix_with_leading_zeros_loads() {
    let mut lb = load_balancer("default", "web", "10.96.1.9");
    lb["spec"]["loadBalancerSourceRanges"] = json!(["203.0.113.0/0024", "198.51.100.0/00"]);
    let mut c = catalog();
    load(&mut Loader::new(), &mut c, &lb).unwrap();
    let ranges: Vec<String> = c
        .service(&ObjectRef::new("default", "web"))
        .unwrap()
        .load_balancer_source_ranges
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(ranges, ["203.0.113.0/24", "0.0.0.0/0"]);
}

/// ValidateService forbids a nodePort only when type is ClusterIP: an ExternalName Service
/// with one is stored as given. It loads; its nodePort is no NodePort frontend, claims no
/// number (30080 is the seed's order-api-svc's; 31999 stays free for another Service) and is
/// not held to the NodePort range (it used to be refused, losing the whole document).
#[test]
fn external_name_with_node_ports_loads_without_node_port_frontends() {
    let mut c = catalog();
    let mut l = Loader::new();
    l.apply_json(&mut c, SEED_JSON).unwrap();
    let before = c.compile();
    let ext = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ext", "namespace": "default"},
        "spec": {
            "type": "ExternalName", "externalName": "db.example.com",
            "ports": [
                {"name": "a", "port": 80, "nodePort": 30080},
                {"name": "b", "port": 81, "nodePort": 31999},
                {"name": "c", "port": 82, "protocol": "UDP", "nodePort": 8080}
            ]
        }
    });
    let applied = load(&mut l, &mut c, &ext).unwrap();
    assert_eq!(applied.services, 1);
    let id = ObjectRef::new("default", "ext");
    let s = c.service(&id).unwrap();
    assert_eq!(s.ports[1].node_port, Some(31999), "stored as given");
    let snap = c.compile();
    let plan = snap.service(&id).unwrap();
    assert!(!plan.is_proxied());
    assert!(plan.frontends().is_empty() && plan.ports().is_empty());
    assert!(snap.node_port(Protocol::Tcp, IpFamily::V4, 31999).is_none());
    assert!(snap.node_port(Protocol::Udp, IpFamily::V4, 8080).is_none());
    let held = snap.node_port(Protocol::Tcp, IpFamily::V4, 30080).unwrap();
    assert_eq!(
        held.plan().service(),
        &ObjectRef::new("production", "order-api-svc")
    );
    assert!(!snap
        .frontends()
        .iter()
        .any(|(f, owner)| f.kind == FrontendKind::NodePort && **owner == id));
    assert_eq!(snap.frontend_count(), before.frontend_count());
    // 31999 is free: a NodePort Service takes it.
    let mut np = service("default", "np", "10.96.1.1");
    np["spec"]["type"] = json!("NodePort");
    np["spec"]["ports"][0]["nodePort"] = json!(31999);
    load(&mut l, &mut c, &np).unwrap();
    assert!(c
        .compile()
        .node_port(Protocol::Tcp, IpFamily::V4, 31999)
        .is_some());
    // ClusterIP still may not have one.
    let mut bad = service("default", "web", "10.96.1.2");
    bad["spec"]["ports"][0]["nodePort"] = json!(31998);
    let err = refused(&bad);
    assert_eq!(err.field, "spec.ports[0].nodePort");
    assert!(
        matches!(err.reason, Reason::Invalid(ErrorKind::Forbidden(_))),
        "{err}"
    );
}

/// `externalTrafficPolicy: ""` is the default: SetDefaults_Service makes it Cluster for
/// externally accessible Services, and validation requires "" for the others. It loads exactly
/// like the field left out, for every type (it used to be refused as unsupported).
#[test]
fn empty_external_traffic_policy_is_the_default() {
    let mut external_name = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}
    });
    let mut with_external_ip = service("default", "web", "10.96.1.9");
    with_external_ip["spec"]["externalIPs"] = json!(["203.0.113.9"]);
    let mut node_port = service("default", "web", "10.96.1.9");
    node_port["spec"]["type"] = json!("NodePort");
    let cases = [
        service("default", "web", "10.96.1.9"),
        with_external_ip,
        node_port,
        load_balancer("default", "web", "10.96.1.9"),
        external_name.take(),
    ];
    let id = ObjectRef::new("default", "web");
    for base in cases {
        let mut plain = catalog();
        load(&mut Loader::new(), &mut plain, &base).unwrap();
        let want = plain.service(&id).cloned().unwrap();
        assert_eq!(want.external_traffic_policy, TrafficPolicy::Cluster);
        let mut doc = base.clone();
        doc["spec"]["externalTrafficPolicy"] = json!("");
        let mut c = catalog();
        load(&mut Loader::new(), &mut c, &doc).unwrap_or_else(|e| panic!("{base}: {e}"));
        assert_eq!(c.service(&id), Some(&want), "{base}");
    }
}

/// The fields Go holds by pointer are defaulted only when absent (`internalTrafficPolicy`,
/// `ipFamilyPolicy`): the API server's validation refuses `""` there, and so does the loader,
/// naming the field; a value that is not one the API knows stays refused too.
#[test]
fn empty_strings_the_api_server_refuses_stay_refused() {
    for (key, value) in [
        ("internalTrafficPolicy", ""),
        ("ipFamilyPolicy", ""),
        ("externalTrafficPolicy", "Global"),
    ] {
        let mut bad = service("default", "web", "10.96.1.1");
        bad["spec"][key] = json!(value);
        let err = refused(&bad);
        assert_eq!(err.field, format!("spec.{key}"), "{key}");
        assert!(
            matches!(err.reason, Reason::Unsupported { .. }),
            "{key}: {err}"
        );
    }
}

/// The seed cluster's items of one kind, as `kubectl get <kind> -A -o json` returns them.
fn seed_items(kind: &str) -> Vec<Value> {
    let doc: Value = serde_json::from_slice(SEED_JSON).unwrap();
    doc["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == kind)
        .cloned()
        .collect()
}

fn ids_of(c: &Catalog) -> Vec<String> {
    c.services().map(|s| s.id.to_string()).collect()
}

/// A relist replaces the Services: those the list lacks are deleted (before the list is
/// applied, so a Service created meanwhile on a deleted one's cluster IP loads), the others
/// stay, and the slices are untouched.
#[test]
fn relist_deletes_the_services_it_lacks() {
    let mut c = catalog();
    let mut l = Loader::new();
    l.apply_json(&mut c, SEED_JSON).unwrap();
    load(&mut l, &mut c, &service("default", "web", "10.96.7.7")).unwrap();
    let n = c.len();
    // While the watch was down: web was deleted, and web2 created on web's cluster IP.
    let mut items = seed_items("Service");
    items.push(service("default", "web2", "10.96.7.7"));
    let relist = json!({"apiVersion": "v1", "kind": "ServiceList", "items": items});
    // Applied as a plain document, the List conflicts: web still holds the IP.
    let err = l.apply_json(&mut c.clone(), &bytes(&relist)).unwrap_err();
    assert!(matches!(err.reason, Reason::Conflict(_)), "{err}");
    let applied = l
        .replace_json(&mut c, Kind::Service, None, &bytes(&relist))
        .unwrap();
    assert_eq!(applied.deleted, 1);
    assert_eq!(applied.services, n);
    assert!(c.service(&ObjectRef::new("default", "web")).is_none());
    assert!(c.service(&ObjectRef::new("default", "web2")).is_some());
    assert_eq!(c.len(), n);
    // The slices were not part of it.
    let redis = ObjectRef::new("production", "redis");
    assert!(!addresses(&c, &redis).is_empty());
    assert_eq!(l.slices(&redis).count(), 1);
}

/// A relist of EndpointSlices forgets the slices it lacks and re-merges their Services.
#[test]
fn relist_forgets_the_slices_it_lacks() {
    let mut c = catalog();
    let mut l = Loader::new();
    l.apply_json(&mut c, SEED_JSON).unwrap();
    let dns = ObjectRef::new("kube-system", "kube-dns");
    assert_eq!(l.slices(&dns).count(), 2);
    let mut items: Vec<Value> = seed_items("EndpointSlice")
        .into_iter()
        .filter(|s| {
            s["metadata"]["name"] != "kube-dns-v6abc" && s["metadata"]["name"] != "redis-p0p1q"
        })
        .collect();
    for i in &mut items {
        // Typed-list items carry neither kind nor apiVersion.
        let m = i.as_object_mut().unwrap();
        m.remove("kind");
        m.remove("apiVersion");
    }
    let relist =
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "items": items});
    let applied = l
        .replace_json(&mut c, Kind::EndpointSlice, None, &bytes(&relist))
        .unwrap();
    assert_eq!(applied.deleted, 2);
    assert_eq!(l.slices(&dns).count(), 1);
    assert!(
        addresses(&c, &dns).iter().all(|a| !a.contains(':')),
        "v6 slice gone"
    );
    assert!(!addresses(&c, &dns).is_empty());
    let redis = ObjectRef::new("production", "redis");
    assert_eq!(l.slices(&redis).count(), 0);
    assert!(addresses(&c, &redis).is_empty());
    // The Services were not part of it.
    assert!(c.service(&redis).is_some());
}

/// A relist of one namespace deletes only there.
#[test]
fn relist_of_one_namespace_deletes_only_there() {
    let mut c = catalog();
    let mut l = Loader::new();
    l.apply_json(&mut c, SEED_JSON).unwrap();
    let before = ids_of(&c);
    let relist = list(vec![service("default", "web", "10.96.7.7")]);
    let applied = l
        .replace_json(&mut c, Kind::Service, Some("default"), &bytes(&relist))
        .unwrap();
    let default_before = before.iter().filter(|i| i.starts_with("default/")).count();
    assert!(default_before >= 3);
    assert_eq!(applied.deleted, default_before);
    let after = ids_of(&c);
    let mut want: Vec<String> = before
        .into_iter()
        .filter(|i| !i.starts_with("default/"))
        .chain(["default/web".to_string()])
        .collect();
    want.sort();
    let mut got = after;
    got.sort();
    assert_eq!(got, want);
}

/// A refused relist changes nothing, in the catalog or the loader; watch events and single
/// objects, which do not say what no longer exists, and a typed list of the other kind are
/// refused.
#[test]
fn refused_relist_changes_nothing() {
    let mut c = catalog();
    let mut l = Loader::new();
    l.apply_json(&mut c, SEED_JSON).unwrap();
    let ids: Vec<ObjectRef> = seed::cluster().into_iter().map(|s| s.service.id).collect();
    let before = state(&c, &ids);
    let slices_before = format!("{:?}", l);
    let mut bad = service("default", "web", "10.96.7.7");
    bad["spec"]["ports"][0]["port"] = json!(0);
    let cases = [
        (
            list(vec![service("default", "ok", "10.96.7.8"), bad]),
            Some(1),
        ),
        (
            json!({"type": "ADDED", "object": service("default", "w", "10.96.7.9")}),
            None,
        ),
        (service("default", "w", "10.96.7.9"), None),
        (
            json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList", "items": []}),
            None,
        ),
    ];
    for (doc, item) in cases {
        let err = l
            .replace_json(&mut c, Kind::Service, None, &bytes(&doc))
            .unwrap_err();
        assert_eq!(err.item, item, "{err}");
        if item.is_none() {
            assert_eq!(err.field, "kind", "{err}");
        }
        assert_eq!(state(&c, &ids), before);
        assert_eq!(format!("{:?}", l), slices_before);
        assert!(c.service(&ObjectRef::new("default", "ok")).is_none());
    }
    // An empty list is a valid relist: nothing of that kind exists any more.
    let empty = json!({"apiVersion": "v1", "kind": "ServiceList", "items": []});
    let applied = l
        .replace_json(&mut c, Kind::Service, None, &bytes(&empty))
        .unwrap();
    assert_eq!(applied.deleted, ids.len());
    assert_eq!(c.services().count(), 0);
}
