//! Where compiled code lives, so the signal handler can turn a faulting
//! program counter into a trap, and the unwinder a return address into a
//! landing pad.

use lucet_module::{TrapCode, TrapSite};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, RwLock};

/// The code of one loaded module, as the signal handler needs it.
pub struct CodeMap {
    /// First byte of code.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Defined functions sorted by address: (address, length, index in the
    /// module's function index space, trap sites, name).
    pub functions: Vec<FunctionCode>,
    /// Calls with a landing pad, sorted by return address.
    pub landings: Vec<Landing>,
}

/// A call with a landing pad, at absolute addresses.
#[derive(Clone, Copy, Debug)]
pub struct Landing {
    /// The call's return address.
    pub ret_addr: usize,
    /// Where to resume when the callee throws.
    pub handler: usize,
    /// The stack pointer there is the frame pointer minus this.
    pub frame_offset: u32,
}

/// One compiled function.
pub struct FunctionCode {
    /// Code address.
    pub addr: usize,
    /// Code length.
    pub len: usize,
    /// Function index (imports included).
    pub index: u32,
    /// Trap sites sorted by offset.
    pub traps: Vec<TrapSite>,
    /// Name from the name section.
    pub name: Option<String>,
}

/// What the code map says about a program counter.
pub struct PcInfo<'a> {
    /// The function containing it.
    pub function: &'a FunctionCode,
    /// The trap declared at exactly that instruction, if any.
    pub trap: Option<TrapCode>,
}

impl CodeMap {
    /// Look up `pc`.
    pub fn lookup(&self, pc: usize) -> Option<PcInfo<'_>> {
        let i = match self.functions.binary_search_by_key(&pc, |f| f.addr) {
            Ok(i) => i,
            Err(0) => return None,
            Err(i) => i - 1,
        };
        let function = &self.functions[i];
        if pc >= function.addr + function.len {
            return None;
        }
        let offset = (pc - function.addr) as u32;
        let trap = function
            .traps
            .binary_search_by_key(&offset, |t| t.offset)
            .ok()
            .map(|t| function.traps[t].code);
        Some(PcInfo { function, trap })
    }
}

impl CodeMap {
    /// The landing pad of the call returning to `ret_addr`, if it has one:
    /// (handler address, frame offset).
    pub fn landing(&self, ret_addr: usize) -> Option<(usize, u32)> {
        self.landings
            .binary_search_by_key(&ret_addr, |l| l.ret_addr)
            .ok()
            .map(|i| (self.landings[i].handler, self.landings[i].frame_offset))
    }
}

/// For the unwinder: `None` if `pc` is in no loaded module's code, else
/// the landing pad of the call returning there, if any.
pub(crate) fn landing_at(pc: usize) -> Option<Option<(usize, u32)>> {
    with_code_at(pc, |map| map.landing(pc))
}

/// Code maps by start address, with how many loaded modules share each
/// (each load maps its own copy today, so the count is one; it keeps
/// registration correct should loads ever share a mapping).
type Registry = RwLock<BTreeMap<usize, (usize, Arc<CodeMap>)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

thread_local! {
    /// This thread holds the registry's lock (outside the signal handler).
    static HOLDING: Cell<bool> = const { Cell::new(false) };
}

/// Run `f` with [`HOLDING`] set, however it ends: a fault in it must not
/// send the signal handler after a lock this thread holds.
fn holding<R>(f: impl FnOnce() -> R) -> R {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            HOLDING.with(|h| h.set(false));
        }
    }
    HOLDING.with(|h| h.set(true));
    let _clear = Clear;
    f()
}

/// Make a module's code known to the trap handler.
pub fn register(map: Arc<CodeMap>) {
    holding(|| {
        let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
        reg.entry(map.start).or_insert((0, map)).0 += 1;
    })
}

/// Forget a module's code (before it is unmapped).
pub fn unregister(start: usize) {
    holding(|| {
        let mut reg = registry().write().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = reg.get_mut(&start) {
            entry.0 -= 1;
            if entry.0 == 0 {
                reg.remove(&start);
            }
        }
    })
}

/// Run `f` on the code map containing `pc`, if any.
pub fn with_code_at<R>(pc: usize, f: impl FnOnce(&CodeMap) -> R) -> Option<R> {
    holding(|| lookup(pc, f))
}

/// [`with_code_at`] for the signal handler: it takes only a read lock and
/// allocates nothing, and gives up (`None`: not guest code) when the
/// faulting thread itself holds the lock: it was in this module, not in
/// guest code, and waiting for the lock would deadlock.
pub(crate) fn with_code_at_in_handler<R>(pc: usize, f: impl FnOnce(&CodeMap) -> R) -> Option<R> {
    if HOLDING.with(|h| h.get()) {
        return None;
    }
    lookup(pc, f)
}

fn lookup<R>(pc: usize, f: impl FnOnce(&CodeMap) -> R) -> Option<R> {
    let reg = registry().read().ok()?;
    let (_, (_, map)) = reg.range(..=pc).next_back()?;
    if pc < map.end {
        Some(f(map))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn the_handler_never_waits_for_a_lock_its_own_thread_holds() {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            holding(|| {
                let _write = registry().write().unwrap_or_else(|e| e.into_inner());
                // What the signal handler does for a fault here.
                let found = with_code_at_in_handler(0x1000, |_| ());
                tx.send(found.is_none()).unwrap();
            })
        });
        let gave_up = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the handler's lookup deadlocked on its own thread's write lock");
        assert!(gave_up);
    }
}
