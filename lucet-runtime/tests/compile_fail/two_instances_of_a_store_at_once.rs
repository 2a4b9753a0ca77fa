// Hazard 3: two instances of one store cannot be borrowed at once, so two
// linked guests never run at the same time.
use lucet_runtime::{InstanceId, Store};

fn both(store: &mut Store, a: InstanceId, b: InstanceId) {
    let mut ia = store.instance(a).unwrap();
    let mut ib = store.instance(b).unwrap();
    let _ = ia.run("f", &[]);
    let _ = ib.run("f", &[]);
}

fn main() {}
