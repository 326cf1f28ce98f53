//! Arbitrary bytes into the Kubernetes JSON loader, on a fresh catalog and on one holding the seed
//! cluster: no panic, and a refused document changes nothing.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use svcplane::catalog::Catalog;
use svcplane::k8s::Loader;
use svcplane::model::seed;

const SEED: &[u8] = include_bytes!("../../testdata/seed-cluster.json");

fuzz_target!(|data: &[u8]| {
    let Ok(mut catalog) = Catalog::new(seed::node(0)) else {
        return;
    };
    let mut loader = Loader::new();
    let _ = loader.apply_json(&mut catalog, data);
    let _ = catalog.compile();

    // On the seed cluster (loaded and compiled once, then cloned): a refused document leaves
    // the compiled snapshot as it was.
    static BASE: OnceLock<Option<(Catalog, Loader, String)>> = OnceLock::new();
    let Some((catalog, loader, before)) = BASE.get_or_init(|| {
        let mut catalog = Catalog::new(seed::node(0)).ok()?;
        let mut loader = Loader::new();
        loader.apply_json(&mut catalog, SEED).ok()?;
        let listing = catalog.compile().to_string();
        Some((catalog, loader, listing))
    }) else {
        return;
    };
    let (mut catalog, mut loader) = (catalog.clone(), loader.clone());
    if let Err(e) = loader.apply_json(&mut catalog, data) {
        let _ = e.to_string();
        assert!(
            !catalog.has_changes(),
            "refused document changed the catalog: {e}"
        );
        assert_eq!(&catalog.compile().to_string(), before);
    }
});
