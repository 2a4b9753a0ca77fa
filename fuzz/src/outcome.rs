//! What a call produced, in terms both engines can be compared in.

use std::fmt;

/// A value as compared between engines. NaNs are canonicalised;
/// references are compared by nullness only (a function reference's
/// identity is an address in one engine and a handle in the other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Value {
    /// `i32` bits.
    I32(u32),
    /// `i64` bits.
    I64(u64),
    /// `f32` bits, NaN canonical.
    F32(u32),
    /// `f64` bits, NaN canonical.
    F64(u64),
    /// `v128` bits.
    V128(u128),
    /// A function reference: whether it is null.
    FuncRef { null: bool },
    /// An external reference: whether it is null.
    ExternRef { null: bool },
    /// An exception reference: whether it is null.
    ExnRef { null: bool },
}

impl Value {
    /// `f32` bits with every NaN made the canonical one.
    pub fn f32(bits: u32) -> Value {
        Value::F32(if f32::from_bits(bits).is_nan() {
            0x7fc0_0000
        } else {
            bits
        })
    }

    /// `f64` bits with every NaN made the canonical one.
    pub fn f64(bits: u64) -> Value {
        Value::F64(if f64::from_bits(bits).is_nan() {
            0x7ff8_0000_0000_0000
        } else {
            bits
        })
    }

    /// Feed the value into a state hash.
    pub fn hash_into(&self, h: &mut StateHash) {
        match *self {
            Value::I32(v) | Value::F32(v) => h.write(&v.to_le_bytes()),
            Value::I64(v) | Value::F64(v) => h.write(&v.to_le_bytes()),
            Value::V128(v) => h.write(&v.to_le_bytes()),
            Value::FuncRef { null } | Value::ExternRef { null } | Value::ExnRef { null } => {
                h.write(&[null as u8])
            }
        }
    }
}

/// Why a call trapped, as both engines name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// `unreachable` (also the fuel of the termination pass running out).
    Unreachable,
    /// Out-of-bounds memory access (including bulk operations and segments).
    MemoryOutOfBounds,
    /// Out-of-bounds table access.
    TableOutOfBounds,
    /// `call_indirect` to a null entry.
    IndirectCallToNull,
    /// `call_indirect` signature mismatch.
    BadSignature,
    /// Integer division by zero.
    IntegerDivisionByZero,
    /// Integer overflow.
    IntegerOverflow,
    /// Invalid float-to-int conversion.
    BadConversionToInteger,
    /// Stack exhaustion: compared as its own category, never as a pass.
    StackOverflow,
    /// Null reference.
    NullReference,
    /// Anything else, by the engine's own name.
    Other(String),
}

/// The result of instantiating or of one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Returned these values.
    Returned(Vec<Value>),
    /// Trapped.
    Trap(TrapKind),
    /// An exception left the called function (its tag and payload are
    /// each engine's to describe).
    Exception,
    /// Failed otherwise (an engine error that is not a trap).
    Error(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Returned(v) => write!(f, "returned {v:?}"),
            Outcome::Trap(t) => write!(f, "trap {t:?}"),
            Outcome::Exception => write!(f, "uncaught exception"),
            Outcome::Error(e) => write!(f, "error {e}"),
        }
    }
}

/// FNV-1a over memory and globals: cheap, deterministic, good enough to
/// tell two states apart.
#[derive(Clone, Copy, Debug)]
pub struct StateHash(pub u64);

impl Default for StateHash {
    fn default() -> Self {
        StateHash(0xcbf2_9ce4_8422_2325)
    }
}

impl StateHash {
    /// Add bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}
