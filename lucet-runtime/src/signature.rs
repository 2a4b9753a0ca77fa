//! Process-wide signature ids, so `call_indirect` can compare signatures
//! across modules with one integer comparison.

use lucet_module::FuncType;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

fn registry() -> &'static Mutex<HashMap<FuncType, u32>> {
    static REGISTRY: OnceLock<Mutex<HashMap<FuncType, u32>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The id of `ty`, the same for equal signatures in every module. Ids are
/// never freed: there are few distinct signatures in any process.
pub fn intern(ty: &FuncType) -> u32 {
    let mut map = registry().lock().unwrap_or_else(|e| e.into_inner());
    let next = map.len() as u32 + 1;
    *map.entry(ty.clone()).or_insert(next)
}
