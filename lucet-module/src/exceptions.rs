//! The exception-handling contract: where a throw resumes, and what an
//! exception looks like in memory.
//!
//! Compiled code makes every call inside a `try` block a call with a
//! landing pad (Cranelift's `try_call`). Each such call is a [`CallSite`]:
//! when the callee throws, the runtime's unwinder walks the frame-pointer
//! chain from the thrower and, at the first return address that is a call
//! site, resumes at its landing pad with the exception in the first
//! return register. The landing pad itself compares the exception's tag
//! with its `catch` clauses, in its own frame, and throws on when none
//! matches. So the unwinder knows nothing of tags, and calls outside
//! `try` blocks cost nothing extra. Every entry trampoline's call is a
//! call site too: an exception no wasm handler catches lands there and is
//! returned to the host.
//!
//! An exception is a record the runtime allocates (builtin `ExnAlloc`)
//! and owns at least until the call that threw it is over; an `exnref`
//! is the address of its record, null for `ref.null exn`.

use serde::{Deserialize, Serialize};

/// A call with a landing pad.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallSite {
    /// Offset of the call's return address from the start of the
    /// function (or trampoline) containing it.
    pub ret_offset: u32,
    /// Offset of the landing pad from the same start.
    pub handler_offset: u32,
    /// The stack pointer at the landing pad is the frame pointer minus
    /// this many bytes.
    pub frame_offset: u32,
}

/// Byte offsets within an exception record.
pub mod record {
    /// `u64`: the identity of the exception's tag (the address of the
    /// tag's definition in the vmctx of the instance that defines it).
    pub const TAG: i32 = 0;
    /// `u64`: the vmctx of the instance that allocated it.
    pub const VMCTX: i32 = 8;
    /// `u32`: the tag's index in that instance's module.
    pub const TAG_INDEX: i32 = 16;
    /// `u32`: the number of payload values.
    pub const LEN: i32 = 20;
    /// First payload value; each takes a 16-byte slot, little-endian.
    pub const PAYLOAD: i32 = 32;
    /// Size of one payload slot.
    pub const SLOT: i32 = 16;
}

/// How many exceptions one instance may hold at once. Exceptions live at
/// least until the call that threw them is over (a throw allocates one,
/// and `exnref`s may keep it anywhere on the stack), so a guest throwing
/// in a loop must meet a limit: it then traps instead of growing without
/// bound.
pub const MAX_LIVE_EXCEPTIONS: usize = 1 << 20;
