//! Writing compiled code and module data into one relocatable object.

use crate::codegen::CompiledFunction;
use crate::Error;

use cranelift_codegen::isa::TargetIsa;
use cranelift_module::{DataDescription, Linkage, Module, ModuleReloc};
use cranelift_object::{ObjectBuilder, ObjectModule};
use lucet_module::{symbols, ModuleData};
use std::sync::Arc;

/// Functions in the order of the function table: defined functions, then an
/// entry trampoline per type, then a host trampoline per type.
pub struct ObjectContents<'a> {
    /// Defined functions.
    pub functions: &'a [CompiledFunction],
    /// Entry trampolines, indexed by type.
    pub entry_trampolines: &'a [CompiledFunction],
    /// Host trampolines, indexed by type.
    pub host_trampolines: &'a [CompiledFunction],
    /// The module description (with code lengths and trap sites filled in).
    pub data: &'a ModuleData,
}

fn obj_err(e: impl std::fmt::Display) -> Error {
    Error::Object(e.to_string())
}

/// Emit the relocatable object.
///
/// Functions get local symbols (so the linker binds calls between them
/// directly); the runtime reaches them through the exported
/// [`symbols::FUNCTION_TABLE`], whose entries the dynamic loader relocates.
pub fn emit(isa: Arc<dyn TargetIsa>, contents: &ObjectContents<'_>) -> Result<Vec<u8>, Error> {
    let builder = ObjectBuilder::new(
        isa,
        "lucet_module",
        cranelift_module::default_libcall_names(),
    )
    .map_err(obj_err)?;
    let mut module = ObjectModule::new(builder);
    let all: Vec<(String, &CompiledFunction)> = contents
        .functions
        .iter()
        .enumerate()
        .map(|(i, f)| (symbols::guest_func(i as u32), f))
        .chain(
            contents
                .entry_trampolines
                .iter()
                .enumerate()
                .map(|(t, f)| (symbols::entry_trampoline(t as u32), f)),
        )
        .chain(
            contents
                .host_trampolines
                .iter()
                .enumerate()
                .map(|(t, f)| (symbols::host_trampoline(t as u32), f)),
        )
        .collect();
    let mut ids = Vec::with_capacity(all.len());
    for (name, f) in &all {
        ids.push(
            module
                .declare_function(name, Linkage::Local, &f.func.signature)
                .map_err(obj_err)?,
        );
    }
    for ((_, f), id) in all.iter().zip(&ids) {
        let relocs: Vec<ModuleReloc> = f
            .relocs
            .iter()
            .map(|r| ModuleReloc::from_mach_reloc(r, &f.func, *id))
            .collect();
        module
            .define_function_bytes(*id, f.alignment, &f.code, &relocs)
            .map_err(obj_err)?;
    }
    // The loader only needs the addresses: one pointer per function.
    let mut table = DataDescription::new();
    table.define(vec![0u8; ids.len() * 8].into_boxed_slice());
    for (i, id) in ids.iter().enumerate() {
        let fref = module.declare_func_in_data(*id, &mut table);
        table.write_function_addr((i * 8) as u32, fref);
    }
    let table_id = module
        .declare_data(symbols::FUNCTION_TABLE, Linkage::Export, false, false)
        .map_err(obj_err)?;
    module.define_data(table_id, &table).map_err(obj_err)?;

    let mut desc = DataDescription::new();
    desc.define(contents.data.serialize().into_boxed_slice());
    desc.set_align(16);
    let data_id = module
        .declare_data(symbols::MODULE_DATA, Linkage::Export, false, false)
        .map_err(obj_err)?;
    module.define_data(data_id, &desc).map_err(obj_err)?;
    module.finish().emit().map_err(obj_err)
}
