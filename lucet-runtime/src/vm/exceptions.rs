//! Exceptions at run time: the records an instance holds, and the unwinder
//! that carries a thrown exception to the nearest landing pad (see
//! [`lucet_module::exceptions`] for the contract with compiled code).
//!
//! The unwinder never runs Rust destructors and never crosses host frames:
//! every entry into guest code is an entry trampoline whose call has a
//! catch-all landing pad, so the walk up the frame-pointer chain from the
//! thrower always ends in guest code, at the latest in that trampoline,
//! which returns the exception to the host.

use crate::vm::code_registry;
use lucet_module::exceptions::{record, MAX_LIVE_EXCEPTIONS};

/// The exceptions an instance has allocated. Each record is a boxed
/// slice of 16-byte words (aligned for any payload value), so its address
/// stays put while the vector grows. While a call runs, an `exnref` may
/// be anywhere on its stack, so records live at least until the call is
/// over; then a standalone instance keeps only those its exnref globals
/// and tables hold (`call::reclaim_exceptions`), and reset frees all.
#[derive(Default)]
pub(crate) struct ExceptionStore {
    /// How many times records were freed: a record made before belongs to
    /// an earlier generation.
    generation: u64,
    /// Allocated on the first throw, so an instance that never throws
    /// pays one word for all this.
    held: Option<Box<Held>>,
}

#[derive(Default)]
struct Held {
    records: Vec<Box<[u128]>>,
    /// Host tags exceptions were thrown with: an identity must not be
    /// reused while an exception carries it.
    host_tags: Vec<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl ExceptionStore {
    /// A new record for tag `tag_index` (identity `identity`) of the
    /// instance at `vmctx`, holding `payload` (compiled code passes zeros
    /// and stores its values itself); `None` at the limit.
    pub fn alloc(
        &mut self,
        identity: u64,
        vmctx: u64,
        tag_index: u32,
        payload: impl ExactSizeIterator<Item = u128>,
    ) -> Option<u64> {
        let held = self.held.get_or_insert_with(Default::default);
        if held.records.len() >= MAX_LIVE_EXCEPTIONS {
            return None;
        }
        let header = (record::PAYLOAD / record::SLOT) as usize;
        let len = payload.len();
        let mut words: Box<[u128]> = std::iter::repeat_n(0, header).chain(payload).collect();
        let base = words.as_mut_ptr().cast::<u8>();
        // SAFETY: the header's fields lie within its first words, at the
        // contract's offsets, aligned for their types.
        unsafe {
            let at = |off: i32| base.add(off as usize);
            at(record::TAG).cast::<u64>().write(identity);
            at(record::VMCTX).cast::<u64>().write(vmctx);
            at(record::TAG_INDEX).cast::<u32>().write(tag_index);
            at(record::LEN).cast::<u32>().write(len as u32);
        }
        held.records.push(words);
        Some(base as u64)
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.held.as_ref().is_none_or(|h| h.records.is_empty())
    }

    /// Free every record but those at the addresses in `live`.
    pub fn sweep(&mut self, live: &std::collections::HashSet<u64>) {
        let Some(held) = self.held.as_mut() else {
            return;
        };
        let before = held.records.len();
        held.records.retain(|r| live.contains(&(r.as_ptr() as u64)));
        if held.records.len() != before {
            // A record of the past may be gone: `Thrown`s made before are
            // void.
            self.generation += 1;
        }
        if held.records.is_empty() {
            self.held = None;
        }
    }

    /// Free every record.
    pub fn clear(&mut self) {
        if self.held.take().is_some() {
            self.generation += 1;
        }
    }

    /// The current generation (see [`clear`](Self::clear)).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Keep a host tag alive as long as the records.
    pub fn keep_tag(&mut self, tag: std::sync::Arc<dyn std::any::Any + Send + Sync>) {
        let held = self.held.get_or_insert_with(Default::default);
        if !held
            .host_tags
            .iter()
            .any(|t| std::sync::Arc::ptr_eq(t, &tag))
        {
            held.host_tags.push(tag);
        }
    }
}

/// What the host learns of an exception: the tag's index in the module
/// of the instance that threw it, and its payload words.
pub(crate) struct ExceptionParts {
    pub identity: u64,
    pub vmctx: *mut u8,
    pub tag_index: u32,
    pub payload: Vec<u128>,
}

/// Read the record at `exn`.
///
/// # Safety
/// `exn` must be a record of an [`ExceptionStore`] that is still alive.
pub(crate) unsafe fn parts(exn: u64) -> ExceptionParts {
    let base = exn as *const u8;
    // SAFETY: the caller promises a live record: its header at the
    // contract's offsets, then `len` payload slots.
    unsafe {
        let at = |off: i32| base.add(off as usize);
        let len = at(record::LEN).cast::<u32>().read() as usize;
        let payload = std::slice::from_raw_parts(at(record::PAYLOAD).cast::<u128>(), len).to_vec();
        ExceptionParts {
            identity: at(record::TAG).cast::<u64>().read(),
            vmctx: at(record::VMCTX).cast::<u64>().read() as *mut u8,
            tag_index: at(record::TAG_INDEX).cast::<u32>().read(),
            payload,
        }
    }
}

// The two pieces of the unwinder that Rust cannot express: reading the
// thrower's frame pointer and return address on entry, and resuming at a
// landing pad with a given stack and frame pointer.
//
// `lucet_exn_throw(vmctx, exn)` is the `Throw` builtin, called (System V)
// by compiled code whose frames all keep a frame pointer: on entry `[rsp]`
// is the return address into the thrower and `rbp` the thrower's frame.
//
// `lucet_exn_resume(pc, sp, fp, exn)` switches to the landing pad's frame
// and jumps to it with the exception in `rax`, the first payload register
// of Cranelift's `tail` convention (`rdx`, the second, is unused).
core::arch::global_asm!(
    ".pushsection .text.lucet_exn,\"ax\",@progbits",
    ".p2align 4",
    ".globl lucet_exn_throw",
    ".hidden lucet_exn_throw",
    ".type lucet_exn_throw,@function",
    "lucet_exn_throw:",
    "mov rdx, [rsp]",
    "mov rcx, rbp",
    // Entered with rsp = 8 (mod 16): realign for the call.
    "sub rsp, 8",
    "call {unwind}",
    "ud2",
    ".size lucet_exn_throw, . - lucet_exn_throw",
    ".p2align 4",
    ".globl lucet_exn_resume",
    ".hidden lucet_exn_resume",
    ".type lucet_exn_resume,@function",
    "lucet_exn_resume:",
    "mov rsp, rsi",
    "mov rbp, rdx",
    "mov rax, rcx",
    "xor edx, edx",
    "jmp rdi",
    ".size lucet_exn_resume, . - lucet_exn_resume",
    ".popsection",
    unwind = sym unwind,
);

unsafe extern "C" {
    /// The `Throw` builtin (see above), for the builtins table; never
    /// returns.
    pub(crate) fn lucet_exn_throw(vmctx: *mut u8, exn: u64);
    /// Resume at a landing pad (see above).
    fn lucet_exn_resume(pc: usize, sp: usize, fp: usize, exn: u64) -> !;
}

/// Walk up from the thrower (return address `pc` in the frame `fp`) to the
/// first return address with a landing pad, and resume there.
///
/// # Safety
/// Called only by `lucet_exn_throw`, from compiled code on its own stack,
/// with a record of a live instance: every frame from `fp` up is a frame of
/// compiled code with a frame pointer, up to an entry trampoline's.
unsafe extern "C" fn unwind(_vmctx: *mut u8, exn: u64, mut pc: usize, mut fp: usize) -> ! {
    loop {
        match code_registry::landing_at(pc) {
            Some(Some((handler, frame_offset))) => {
                // SAFETY: the landing pad's frame is live (it is the frame
                // at `fp`, which called the frame we came from), and its
                // stack pointer at the pad is what the compiler recorded.
                unsafe { lucet_exn_resume(handler, fp - frame_offset as usize, fp, exn) }
            }
            Some(None) => {
                // SAFETY: compiled code keeps the frame chain: the caller's
                // frame pointer, then the return address into it.
                unsafe {
                    pc = *((fp + 8) as *const usize);
                    fp = *(fp as *const usize);
                }
            }
            None => {
                // Not compiled code: the frame chain is broken, which the
                // entry trampolines' landing pads rule out. Going on would
                // resume somewhere arbitrary.
                eprintln!(
                    "lucet-runtime: an exception reached code with no landing pad at {pc:#x}"
                );
                std::process::abort();
            }
        }
    }
}
