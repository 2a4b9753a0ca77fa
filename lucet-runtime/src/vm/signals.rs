//! The process-wide signal handler that turns faults in guest code into traps.
//!
//! Installed once per process; each thread that runs guest code gets an
//! alternate signal stack once (the guest stack may be exhausted when the
//! signal arrives). A fault is a trap only when this thread is running guest
//! code and the faulting instruction is in a loaded module's code; anything
//! else goes to the handler that was installed before ours.
//!
//! libc: rustix has no signal-handler installation for programs
//! (`sigaction`, `sigaltstack`; its `kernel_sigaction` is a hidden API for
//! libc implementations, without the restorer libc supplies), so those
//! calls are libc's; the alternate stack's mapping is rustix's.

use crate::vm::active_run::{self, ActiveRun, Outcome, TrapRecord};
use crate::vm::code_registry;
use lucet_module::TrapCode;
use rustix::mm;
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::sync::Once;

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];

static mut PREVIOUS: [MaybeUninit<libc::sigaction>; 4] = [MaybeUninit::uninit(); 4];
static INSTALL: Once = Once::new();

/// Bytes of alternate signal stack we give each thread.
const ALT_STACK_SIZE: usize = 64 << 10;

/// Install the handler (once per process) and an alternate signal stack
/// (once per thread).
pub(crate) fn ensure_installed() {
    INSTALL.call_once(|| {
        // libc: rustix has no sigaction (see the module docs).
        for (i, sig) in SIGNALS.iter().enumerate() {
            // SAFETY: plain sigaction calls; PREVIOUS is written once here,
            // before any handler can read it.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
                libc::sigemptyset(&mut action.sa_mask);
                let prev = &mut *std::ptr::addr_of_mut!(PREVIOUS[i]);
                if libc::sigaction(*sig, &action, prev.as_mut_ptr()) != 0 {
                    panic!("installing the {sig} handler failed");
                }
            }
        }
    });
    ALT_STACK.with(|s| {
        if !s.installed.get() {
            s.install();
        }
    });
}

struct AltStack {
    installed: Cell<bool>,
    mapping: Cell<*mut libc::c_void>,
}

impl AltStack {
    fn install(&self) {
        // libc: rustix has no sigaltstack (see the module docs).
        // SAFETY: querying and setting this thread's alternate stack with a
        // mapping we own for the thread's lifetime.
        unsafe {
            let mut old: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(std::ptr::null(), &mut old);
            if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= ALT_STACK_SIZE {
                self.installed.set(true);
                return;
            }
            let len = ALT_STACK_SIZE + crate::vm::page::PAGE_SIZE;
            let Ok(map) = mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                mm::ProtFlags::READ | mm::ProtFlags::WRITE,
                mm::MapFlags::PRIVATE,
            ) else {
                panic!("cannot allocate an alternate signal stack");
            };
            // A guard page below the signal stack.
            let _ = mm::mprotect(map, crate::vm::page::PAGE_SIZE, mm::MprotectFlags::empty());
            let stack = libc::stack_t {
                ss_sp: (map as *mut u8).add(crate::vm::page::PAGE_SIZE) as *mut libc::c_void,
                ss_flags: 0,
                ss_size: ALT_STACK_SIZE,
            };
            libc::sigaltstack(&stack, std::ptr::null_mut());
            self.mapping.set(map);
            self.installed.set(true);
        }
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let map = self.mapping.get();
        if !map.is_null() {
            // SAFETY: disable our stack before unmapping it; the thread is
            // exiting and runs no more guest code.
            unsafe {
                let disable = libc::stack_t {
                    ss_sp: std::ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&disable, std::ptr::null_mut());
                let _ = mm::munmap(map, ALT_STACK_SIZE + crate::vm::page::PAGE_SIZE);
            }
        }
    }
}

thread_local! {
    static ALT_STACK: AltStack = const {
        AltStack { installed: Cell::new(false), mapping: Cell::new(std::ptr::null_mut()) }
    };
}

/// Decide whether a fault at `pc` (touching `addr`) is a guest trap.
fn classify(signum: libc::c_int, pc: usize, addr: usize, run: &ActiveRun) -> Option<TrapCode> {
    let site =
        code_registry::with_code_at_in_handler(pc, |map| map.lookup(pc).map(|info| info.trap))?;
    let site = site?;
    if let Some(code) = site {
        return Some(code);
    }
    // A guest instruction with no declared trap: only a memory fault on
    // the stack guard (a large frame's probe) or the heap is ours.
    if signum == libc::SIGSEGV || signum == libc::SIGBUS {
        if addr >= run.stack_guard.0 && addr < run.stack_guard.1 {
            return Some(TrapCode::StackOverflow);
        }
        if addr >= run.heap.0 && addr < run.heap.1 {
            return Some(TrapCode::HeapOutOfBounds);
        }
    }
    None
}

extern "C" fn handler(signum: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let run = active_run::current();
    if !run.is_null() {
        // SAFETY: the kernel passes a valid ucontext and siginfo; `run` is
        // the ActiveRun of the resume in progress on this thread.
        unsafe {
            let uc = &mut *(ctx as *mut libc::ucontext_t);
            let gregs = &mut uc.uc_mcontext.gregs;
            let pc = gregs[libc::REG_RIP as usize] as usize;
            let sp = gregs[libc::REG_RSP as usize] as usize;
            let addr = (*info).si_addr() as usize;
            let run = &*run;
            // Only a fault the kernel raised for the instruction at `pc`
            // is a trap (a positive `si_code`); a signal another process or
            // thread sent (`kill`, `tgkill`, `sigqueue`: zero or negative)
            // says nothing about the guest and goes on to its handler.
            let from_kernel = (*info).si_code > 0;
            if from_kernel && run.handler.stack_ptr_in_bounds(sp) {
                if let Some(code) = classify(signum, pc, addr, run) {
                    run.trap.set(Some(TrapRecord { code, pc }));
                    let regs = run.handler.setup_trap_handler(|| Outcome::Trapped);
                    gregs[libc::REG_RIP as usize] = regs.rip as i64;
                    gregs[libc::REG_RSP as usize] = regs.rsp as i64;
                    gregs[libc::REG_RBP as usize] = regs.rbp as i64;
                    gregs[libc::REG_RDI as usize] = regs.rdi as i64;
                    gregs[libc::REG_RSI as usize] = regs.rsi as i64;
                    return;
                }
            }
        }
    }
    forward(signum, info, ctx);
}

/// Hand a signal that is not a guest trap to whoever handled it before us.
fn forward(signum: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(i) = SIGNALS.iter().position(|s| *s == signum) else {
        return;
    };
    // SAFETY: PREVIOUS[i] was initialised by ensure_installed before our
    // handler could run.
    unsafe {
        let prev = (*std::ptr::addr_of!(PREVIOUS[i])).assume_init_ref();
        if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
            // Restore the default and return: the instruction faults again
            // and the default action (a core dump) happens.
            libc::sigaction(signum, prev, std::ptr::null_mut());
        } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                std::mem::transmute(prev.sa_sigaction);
            f(signum, info, ctx);
        } else {
            let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
            f(signum);
        }
    }
}
