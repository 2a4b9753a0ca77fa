//! Value and function types as the runtime sees them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A WebAssembly value type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValType {
    /// 32-bit integer.
    I32,
    /// 64-bit integer.
    I64,
    /// 32-bit IEEE float.
    F32,
    /// 64-bit IEEE float.
    F64,
    /// 128-bit SIMD vector.
    V128,
    /// Nullable function reference.
    FuncRef,
    /// Nullable opaque host reference.
    ExternRef,
    /// Nullable reference to a caught exception (the exceptions proposal).
    ExnRef,
}

impl ValType {
    /// Whether this is a reference type.
    pub fn is_ref(self) -> bool {
        matches!(
            self,
            ValType::FuncRef | ValType::ExternRef | ValType::ExnRef
        )
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
            ValType::ExnRef => "exnref",
        };
        f.write_str(s)
    }
}

/// A function signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct FuncType {
    /// Parameter types, in order.
    pub params: Vec<ValType>,
    /// Result types, in order.
    pub results: Vec<ValType>,
}

impl FuncType {
    /// Builds a signature from parameter and result lists.
    pub fn new(params: impl Into<Vec<ValType>>, results: impl Into<Vec<ValType>>) -> Self {
        FuncType {
            params: params.into(),
            results: results.into(),
        }
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        write!(
            f,
            "(func (param {}) (result {}))",
            list(&self.params),
            list(&self.results)
        )
    }
}

/// The type of a global variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GlobalType {
    /// Value type.
    pub ty: ValType,
    /// Whether `global.set` is allowed.
    pub mutable: bool,
    /// For a reference, its exact type where it is not the nullable
    /// abstract one `ty` names (`None`: `(ref null func)` for a funcref).
    pub ref_type: Option<RefType>,
}

impl GlobalType {
    /// A global of `ty`, mutable or not (a reference of the nullable
    /// abstract type).
    pub fn new(ty: ValType, mutable: bool) -> GlobalType {
        GlobalType {
            ty,
            mutable,
            ref_type: None,
        }
    }
}

/// A reference type, as exactly as linking needs it: typed function
/// references (WebAssembly 3.0) say whether they may be null and which
/// function type they refer to, and an import must match its export's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RefType {
    /// Whether null is a value of the type.
    pub nullable: bool,
    /// What it refers to.
    pub heap: HeapType,
}

/// What a reference refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HeapType {
    /// Any function.
    Func,
    /// No function (only null).
    NoFunc,
    /// Any host reference.
    Extern,
    /// No host reference.
    NoExtern,
    /// Any exception.
    Exn,
    /// No exception.
    NoExn,
    /// A function of one type: in module data, a type index of the
    /// module; compared across modules by the runtime's signature ids.
    Concrete(u32),
}

impl RefType {
    /// The nullable abstract type of reference type `ty`, what `None`
    /// stands for in [`GlobalType::ref_type`] and
    /// [`TableType::ref_type`](crate::TableType::ref_type).
    pub fn of(ty: ValType) -> Option<RefType> {
        let heap = match ty {
            ValType::FuncRef => HeapType::Func,
            ValType::ExternRef => HeapType::Extern,
            ValType::ExnRef => HeapType::Exn,
            _ => return None,
        };
        Some(RefType {
            nullable: true,
            heap,
        })
    }

    /// Whether a value of `self` is always a value of `other` (both with
    /// concrete types in one numbering).
    pub fn is_subtype_of(self, other: RefType) -> bool {
        use HeapType::*;
        let heap = self.heap == other.heap
            || matches!(
                (self.heap, other.heap),
                (NoFunc, Func | Concrete(_))
                    | (Concrete(_), Func)
                    | (NoExtern, Extern)
                    | (NoExn, Exn)
            );
        heap && (other.nullable || !self.nullable)
    }
}
