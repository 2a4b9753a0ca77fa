//! Typed host functions: Rust closures whose argument and result types are
//! the wasm types, checked against an import once, when an instance is
//! made, and called without any conversion through [`Val`] or allocation.
//!
//! ```
//! use lucet_runtime::{Caller, Error, Linker};
//! let mut linker = Linker::new();
//! linker.func_wrap("env", "add", |a: i32, b: i32| a.wrapping_add(b));
//! linker.func_wrap("env", "peek", |caller: &mut Caller<'_>, ptr: u32| -> Result<u32, Error> {
//!     caller.read_u32(ptr).ok_or(Error::Host("pointer out of bounds".into()))
//! });
//! ```
//!
//! Each closure gets a dispatcher of its own, monomorphized for its
//! types: the host trampoline of the importing module calls it directly
//! with the raw argument slots.

use crate::caller::Caller;
use crate::domain_id::DomainId;
use crate::error::Error;
use crate::externs::Func;
use crate::hostcall::{finish_hostcall, HostFuncRecord, HostKind};
use crate::val::FuncRef;
use crate::val::Val;
use crate::vm::instance_state::InstanceState;
use lucet_module::{FuncType, ValType};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// An opaque host reference, the typed form of `externref` (a number of the
/// host's choosing; see [`Val::ExternRef`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExternRef(pub u64);

mod sealed {
    use super::*;

    /// How a Rust type sits in a 16-byte value slot.
    pub trait Raw: Sized {
        const TYPE: ValType;
        fn from_raw(raw: u128, domain: DomainId) -> Self;
        fn into_raw(self, domain: DomainId) -> Result<u128, Error>;
    }

    /// How a closure's return value is stored into result slots.
    pub trait Results {
        fn types() -> Vec<ValType>;
        /// # Safety
        /// `values` has a slot per result type.
        unsafe fn store(self, values: *mut u128, domain: DomainId) -> Result<(), Error>;
    }
}

/// A Rust type that stands for a wasm value type in a typed host function:
/// `i32`, `u32` (as `i32`), `i64`, `u64` (as `i64`), `f32`, `f64`, `u128`
/// (as `v128`), `Option<FuncRef>` (`funcref`) and `Option<ExternRef>`
/// (`externref`).
pub trait WasmTy: sealed::Raw + Send + 'static {}

/// What a typed host function may return: nothing, one [`WasmTy`], a tuple
/// of them, or any of those in a `Result<_, Error>` (an error ends the run).
pub trait WasmResults: sealed::Results {}

macro_rules! wasm_ty {
    ($t:ty, $vt:ident, |$r:ident| $from:expr, |$v:ident| $into:expr) => {
        impl sealed::Raw for $t {
            const TYPE: ValType = ValType::$vt;
            fn from_raw($r: u128, _domain: DomainId) -> Self {
                $from
            }
            fn into_raw(self, _domain: DomainId) -> Result<u128, Error> {
                let $v = self;
                Ok($into)
            }
        }
        impl WasmTy for $t {}
        impl sealed::Results for $t {
            fn types() -> Vec<ValType> {
                vec![ValType::$vt]
            }
            unsafe fn store(self, values: *mut u128, domain: DomainId) -> Result<(), Error> {
                let raw = sealed::Raw::into_raw(self, domain)?;
                // SAFETY: one slot, as the caller promises.
                unsafe { values.write_unaligned(raw) };
                Ok(())
            }
        }
        impl WasmResults for $t {}
    };
}

wasm_ty!(i32, I32, |r| r as u32 as i32, |v| v as u32 as u128);
wasm_ty!(u32, I32, |r| r as u32, |v| v as u128);
wasm_ty!(i64, I64, |r| r as u64 as i64, |v| v as u64 as u128);
wasm_ty!(u64, I64, |r| r as u64, |v| v as u128);
wasm_ty!(f32, F32, |r| f32::from_bits(r as u32), |v| v.to_bits()
    as u128);
wasm_ty!(f64, F64, |r| f64::from_bits(r as u64), |v| v.to_bits()
    as u128);
wasm_ty!(u128, V128, |r| r, |v| v);

impl sealed::Raw for Option<FuncRef> {
    const TYPE: ValType = ValType::FuncRef;
    fn from_raw(raw: u128, domain: DomainId) -> Self {
        match Val::from_raw(ValType::FuncRef, raw, domain) {
            Val::FuncRef(r) => r,
            _ => None,
        }
    }
    fn into_raw(self, domain: DomainId) -> Result<u128, Error> {
        Ok(Val::FuncRef(self).to_raw(domain)?)
    }
}
impl WasmTy for Option<FuncRef> {}

impl sealed::Raw for Option<ExternRef> {
    const TYPE: ValType = ValType::ExternRef;
    fn from_raw(raw: u128, domain: DomainId) -> Self {
        match Val::from_raw(ValType::ExternRef, raw, domain) {
            Val::ExternRef(r) => r.map(ExternRef),
            _ => None,
        }
    }
    fn into_raw(self, domain: DomainId) -> Result<u128, Error> {
        Ok(Val::ExternRef(self.map(|r| r.0)).to_raw(domain)?)
    }
}
impl WasmTy for Option<ExternRef> {}

macro_rules! ref_results {
    ($t:ty) => {
        impl sealed::Results for $t {
            fn types() -> Vec<ValType> {
                vec![<$t as sealed::Raw>::TYPE]
            }
            unsafe fn store(self, values: *mut u128, domain: DomainId) -> Result<(), Error> {
                let raw = sealed::Raw::into_raw(self, domain)?;
                // SAFETY: one slot, as the caller promises.
                unsafe { values.write_unaligned(raw) };
                Ok(())
            }
        }
        impl WasmResults for $t {}
    };
}
ref_results!(Option<FuncRef>);
ref_results!(Option<ExternRef>);

impl<R: WasmResults> sealed::Results for Result<R, Error> {
    fn types() -> Vec<ValType> {
        R::types()
    }
    unsafe fn store(self, values: *mut u128, domain: DomainId) -> Result<(), Error> {
        // SAFETY: as the caller promises.
        unsafe { self?.store(values, domain) }
    }
}
impl<R: WasmResults> WasmResults for Result<R, Error> {}

macro_rules! tuple_results {
    ($($t:ident $i:tt),*) => {
        impl<$($t: WasmTy),*> sealed::Results for ($($t,)*) {
            fn types() -> Vec<ValType> {
                vec![$(<$t as sealed::Raw>::TYPE),*]
            }
            #[allow(unused_variables)]
            unsafe fn store(self, values: *mut u128, domain: DomainId) -> Result<(), Error> {
                $(
                    let raw = sealed::Raw::into_raw(self.$i, domain)?;
                    // SAFETY: a slot per element, as the caller promises.
                    unsafe { values.add($i).write_unaligned(raw) };
                )*
                Ok(())
            }
        }
        impl<$($t: WasmTy),*> WasmResults for ($($t,)*) {}
    };
}
tuple_results!();
tuple_results!(A 0, B 1);
tuple_results!(A 0, B 1, C 2);
tuple_results!(A 0, B 1, C 2, D 3);

impl Func {
    /// A typed host function: a closure over wasm types (see
    /// [this module](crate::typed) for the types), with an optional `&mut Caller` first
    /// argument and an optional `Result` around its results. Its type is
    /// checked against imports at instantiation; calls convert nothing and
    /// allocate nothing.
    pub fn wrap_typed<Params, Results>(f: impl IntoFunc<Params, Results>) -> Func {
        f.into_func()
    }
}

/// Marks the closure form whose first argument is `&mut Caller`.
#[doc(hidden)]
pub struct WithCaller;

/// A closure that can be a typed host function. `Params` is the tuple of
/// its argument types (with [`WithCaller`] first when it takes a
/// `&mut Caller`), inferred; implemented for `Fn`s of up to eight wasm
/// arguments.
pub trait IntoFunc<Params, Results>: Send + Sync + 'static {
    #[doc(hidden)]
    fn into_func(self) -> Func;
}

/// The closure stored in a typed host function's record.
///
/// # Safety
/// `record` was made by `IntoFunc::into_func` for closure type `F`: its
/// dispatcher is the one monomorphized for `F`, which is the only caller.
unsafe fn closure<F: 'static>(record: &HostFuncRecord) -> Result<&F, Error> {
    match &record.func {
        // SAFETY: as the caller promises, the box holds an `F` (no
        // `type_id` call on this path: it is a virtual call per hostcall).
        HostKind::Typed(f) => {
            Ok(unsafe { &*(&**f as *const (dyn std::any::Any + Send + Sync) as *const F) })
        }
        _ => Err(Error::InvalidState("an untyped host function".into())),
    }
}

macro_rules! into_func {
    ($($a:ident $i:tt),*) => {
        impl<F, R, $($a,)*> IntoFunc<($($a,)*), R> for F
        where
            F: Fn($($a),*) -> R + Send + Sync + 'static,
            R: WasmResults,
            $($a: WasmTy,)*
        {
            fn into_func(self) -> Func {
                /// Called by the host trampoline on the guest stack.
                ///
                /// # Safety
                /// `callee` is this function's record, `caller_vmctx` the
                /// vmctx of the instance importing it (running on this
                /// thread), `values` its argument and result slots.
                unsafe extern "C" fn dispatch<F, R, $($a,)*>(
                    callee: *mut u8,
                    caller_vmctx: *mut u8,
                    values: *mut u128,
                ) -> u64
                where
                    F: Fn($($a),*) -> R + 'static,
                    R: WasmResults,
                    $($a: WasmTy,)*
                {
                    // SAFETY: `callee` is this function's live record and
                    // `caller_vmctx` the live vmctx of the instance calling
                    // it, whose domain runs on this thread; `values` has a
                    // slot per parameter and result of the checked type.
                    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe {
                        let record = HostFuncRecord::from_vmctx(callee);
                        let domain = InstanceState::from_vmctx(caller_vmctx).domain;
                        let f = closure::<F>(record)?;
                        let r = f($(<$a as sealed::Raw>::from_raw(values.add($i).read_unaligned(), domain)),*);
                        r.store(values, domain)
                    }));
                    if matches!(outcome, Ok(Ok(()))) {
                        return 0;
                    }
                    // SAFETY: last in the hostcall, on the guest stack, of
                    // the instance at `caller_vmctx`.
                    unsafe { finish_hostcall(InstanceState::from_vmctx(caller_vmctx), outcome) }
                }
                let ty = FuncType::new(
                    [$(<$a as sealed::Raw>::TYPE),*],
                    R::types(),
                );
                Func::from_record(HostFuncRecord::with_dispatch(
                    ty,
                    HostKind::Typed(Box::new(self)),
                    dispatch::<F, R, $($a,)*>,
                ))
            }
        }

        impl<F, R, $($a,)*> IntoFunc<(WithCaller, $($a,)*), R> for F
        where
            F: Fn(&mut Caller<'_>, $($a),*) -> R + Send + Sync + 'static,
            R: WasmResults,
            $($a: WasmTy,)*
        {
            fn into_func(self) -> Func {
                /// Called by the host trampoline on the guest stack.
                ///
                /// # Safety
                /// `callee` is this function's record, `caller_vmctx` the
                /// vmctx of the instance importing it (running on this
                /// thread), `values` its argument and result slots.
                unsafe extern "C" fn dispatch<F, R, $($a,)*>(
                    callee: *mut u8,
                    caller_vmctx: *mut u8,
                    values: *mut u128,
                ) -> u64
                where
                    F: Fn(&mut Caller<'_>, $($a),*) -> R + 'static,
                    R: WasmResults,
                    $($a: WasmTy,)*
                {
                    // SAFETY: as in the form without a caller.
                    let outcome = catch_unwind(AssertUnwindSafe(|| unsafe {
                        let record = HostFuncRecord::from_vmctx(callee);
                        let state = InstanceState::from_vmctx(caller_vmctx);
                        let domain = state.domain;
                        let f = closure::<F>(record)?;
                        let mut caller = Caller { state };
                        let r = f(&mut caller, $(<$a as sealed::Raw>::from_raw(values.add($i).read_unaligned(), domain)),*);
                        r.store(values, domain)
                    }));
                    if matches!(outcome, Ok(Ok(()))) {
                        return 0;
                    }
                    // SAFETY: last in the hostcall, on the guest stack, of
                    // the instance at `caller_vmctx`.
                    unsafe { finish_hostcall(InstanceState::from_vmctx(caller_vmctx), outcome) }
                }
                let ty = FuncType::new(
                    [$(<$a as sealed::Raw>::TYPE),*],
                    R::types(),
                );
                Func::from_record(HostFuncRecord::with_dispatch(
                    ty,
                    HostKind::Typed(Box::new(self)),
                    dispatch::<F, R, $($a,)*>,
                ))
            }
        }
    };
}

into_func!();
into_func!(A1 0);
into_func!(A1 0, A2 1);
into_func!(A1 0, A2 1, A3 2);
into_func!(A1 0, A2 1, A3 2, A4 3);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6);
into_func!(A1 0, A2 1, A3 2, A4 3, A5 4, A6 5, A7 6, A8 7);
