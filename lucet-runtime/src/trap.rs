//! Traps: why guest code stopped, where.

use lucet_module::TrapCode;
use std::fmt;

/// A trap raised by guest code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trap {
    /// Why it trapped.
    pub code: TrapCode,
    /// The wasm function index it trapped in, if known.
    pub func_index: Option<u32>,
    /// That function's name from the name section, if any.
    pub func_name: Option<String>,
    /// Offset in the function's machine code, if known.
    pub code_offset: Option<u32>,
}

impl Trap {
    /// A trap with no location.
    pub fn new(code: TrapCode) -> Trap {
        Trap {
            code,
            func_index: None,
            func_name: None,
            code_offset: None,
        }
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(i) = self.func_index {
            write!(f, " in function {i}")?;
            if let Some(n) = &self.func_name {
                write!(f, " ({n})")?;
            }
        }
        if let Some(o) = self.code_offset {
            write!(f, " at code offset {o:#x}")?;
        }
        Ok(())
    }
}
