//! Values passed between host and guest.

use crate::domain_id::DomainId;
use lucet_module::ValType;
use std::fmt;
use std::num::NonZeroUsize;

/// Why a value cannot enter a guest of a domain; the caller's
/// [`Error`](crate::error::Error) says so (`From`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ValError {
    /// A function reference of another domain: names what it was.
    WrongDomain(&'static str),
    /// `ExternRef(Some(u64::MAX))`, whose encoding is null's.
    ReservedExternRef,
    /// A non-null `ExnRef`: the host cannot pass exceptions in (yet).
    ExnRefIntoGuest,
}

/// A reference to an exception held by a guest, as the host sees it: it
/// can be told from null and compared, not passed back in (the exception
/// belongs to its instance, which may free it when reset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExnRef {
    domain: DomainId,
    record: NonZeroUsize,
}

/// A reference to a function of a domain (a [`Store`](crate::store::Store), or a
/// standalone [`Instance`](crate::instance::Instance)), as the host sees it.
///
/// It can only come from the guest (a result, a hostcall argument, a
/// global), never be made up, and it is only accepted back by the domain it
/// came from, which keeps the function alive as long as it lives: a
/// reference from another domain is
/// [`Error::WrongDomain`](crate::error::Error::WrongDomain), never a jump.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FuncRef {
    domain: DomainId,
    /// Address of the function's funcref record in its instance's vmctx
    /// area (or a store's), valid while the domain lives.
    record: NonZeroUsize,
}

impl FuncRef {
    /// The record address, if this reference belongs to `domain`.
    pub(crate) fn record_in(&self, domain: DomainId) -> Result<usize, ValError> {
        if self.domain == domain {
            Ok(self.record.get())
        } else {
            Err(ValError::WrongDomain("a function reference"))
        }
    }
}

impl fmt::Debug for FuncRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FuncRef({:?}, {:#x})", self.domain, self.record)
    }
}

/// A WebAssembly value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Val {
    /// `i32`.
    I32(i32),
    /// `i64`.
    I64(i64),
    /// `f32`, as raw bits (NaN payloads survive).
    F32(u32),
    /// `f64`, as raw bits.
    F64(u64),
    /// `v128`.
    V128(u128),
    /// A function reference, or `None` for null.
    FuncRef(Option<FuncRef>),
    /// A host reference: a number of the host's choosing (any but
    /// `u64::MAX`), or `None` for null. The runtime never interprets it: guest code can only store and
    /// pass it back, so a made-up number can do no harm here.
    ExternRef(Option<u64>),
    /// An exception reference, or `None` for null.
    ExnRef(Option<ExnRef>),
}

impl Val {
    /// This value's type.
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
            Val::ExnRef(_) => ValType::ExnRef,
        }
    }

    /// The zero (or null) value of a type.
    pub fn default_for(ty: ValType) -> Val {
        match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
            ValType::ExnRef => Val::ExnRef(None),
        }
    }

    /// Encode into a 16-byte value slot of domain `domain`: a function
    /// reference must belong to it.
    pub(crate) fn to_raw(self, domain: DomainId) -> Result<u128, ValError> {
        Ok(match self {
            Val::I32(v) => v as u32 as u128,
            Val::I64(v) => v as u64 as u128,
            Val::F32(v) => v as u128,
            Val::F64(v) => v as u128,
            Val::V128(v) => v,
            Val::FuncRef(None) => 0,
            Val::FuncRef(Some(r)) => r.record_in(domain)? as u128,
            // Null is 0, so host reference n is stored as n + 1 (and the
            // largest u64 has no encoding).
            Val::ExternRef(None) => 0,
            Val::ExternRef(Some(n)) => n.checked_add(1).ok_or(ValError::ReservedExternRef)? as u128,
            Val::ExnRef(None) => 0,
            Val::ExnRef(Some(_)) => return Err(ValError::ExnRefIntoGuest),
        })
    }

    /// Decode a 16-byte value slot of domain `domain` holding a value of
    /// type `ty`.
    pub(crate) fn from_raw(ty: ValType, raw: u128, domain: DomainId) -> Val {
        match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as u64 as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw as u64),
            ValType::V128 => Val::V128(raw),
            ValType::FuncRef => Val::FuncRef(
                NonZeroUsize::new(raw as u64 as usize).map(|record| FuncRef { domain, record }),
            ),
            ValType::ExternRef => Val::ExternRef(match raw as u64 {
                0 => None,
                n => Some(n - 1),
            }),
            ValType::ExnRef => Val::ExnRef(
                NonZeroUsize::new(raw as u64 as usize).map(|record| ExnRef { domain, record }),
            ),
        }
    }

    /// The `i32`, if it is one.
    pub fn as_i32(&self) -> Option<i32> {
        match *self {
            Val::I32(v) => Some(v),
            _ => None,
        }
    }

    /// The `i64`, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Val::I64(v) => Some(v),
            _ => None,
        }
    }

    /// The `f32`, if it is one.
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            Val::F32(v) => Some(f32::from_bits(v)),
            _ => None,
        }
    }

    /// The `f64`, if it is one.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Val::F64(v) => Some(f64::from_bits(v)),
            _ => None,
        }
    }
}

/// `Err` with the types given (`(i32 f64)`) unless `vals` are exactly
/// of the types `want`: what an argument or payload mismatch reports.
pub(crate) fn check_types(vals: &[Val], want: &[ValType]) -> Result<(), String> {
    if vals.len() == want.len() && vals.iter().zip(want).all(|(v, t)| v.ty() == *t) {
        return Ok(());
    }
    let given: Vec<String> = vals.iter().map(|v| v.ty().to_string()).collect();
    Err(format!("({})", given.join(" ")))
}

impl From<i32> for Val {
    fn from(v: i32) -> Val {
        Val::I32(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::I64(v)
    }
}
impl From<f32> for Val {
    fn from(v: f32) -> Val {
        Val::F32(v.to_bits())
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::F64(v.to_bits())
    }
}

impl fmt::Display for Val {
    /// Integers in signed decimal; floats so they read back to the same
    /// value (Rust's shortest round-trip form, `nan`, `inf`, `-inf`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Val::I32(v) => write!(f, "{v}"),
            Val::I64(v) => write!(f, "{v}"),
            Val::F32(b) => fmt_float(
                f,
                f32::from_bits(b) as f64,
                f32::from_bits(b).is_nan(),
                b >> 31 == 1,
                || format!("{:?}", f32::from_bits(b)),
            ),
            Val::F64(b) => fmt_float(
                f,
                f64::from_bits(b),
                f64::from_bits(b).is_nan(),
                b >> 63 == 1,
                || format!("{:?}", f64::from_bits(b)),
            ),
            Val::V128(v) => write!(f, "0x{v:032x}"),
            Val::FuncRef(None) | Val::ExternRef(None) | Val::ExnRef(None) => write!(f, "null"),
            Val::ExnRef(Some(r)) => write!(f, "exnref:{:#x}", r.record),
            Val::FuncRef(Some(r)) => write!(f, "funcref:{:#x}", r.record),
            Val::ExternRef(Some(n)) => write!(f, "externref:{n}"),
        }
    }
}

fn fmt_float(
    f: &mut fmt::Formatter<'_>,
    v: f64,
    nan: bool,
    negative: bool,
    shortest: impl Fn() -> String,
) -> fmt::Result {
    if nan {
        f.write_str(if negative { "-nan" } else { "nan" })
    } else if v.is_infinite() {
        f.write_str(if v < 0.0 { "-inf" } else { "inf" })
    } else {
        f.write_str(&shortest())
    }
}
