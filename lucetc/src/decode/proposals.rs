//! Telling a module that uses a proposal we do not implement from one that
//! is invalid.
//!
//! Validation runs with only the features lucetc implements, so a module
//! using, say, exceptions fails it like an ill-typed one would. When it
//! fails, [`refine`] validates the module again with every proposal
//! enabled. If it is valid then, the failure was the proposal's: the error
//! names the proposal, the operator or section, and the offset of the
//! first use. Otherwise the module is invalid (or malformed), as reported.
//! This runs only on the error path; valid modules pay nothing.

use crate::Error;
use wasmparser::{Parser, Payload, Validator, WasmFeatures};

/// The proposals a module may use that lucetc refuses, by the names the
/// proposals go by, with the wasmparser features each needs.
const PROPOSALS: &[(&str, WasmFeatures)] = &[
    (
        "gc",
        WasmFeatures::GC.union(WasmFeatures::FUNCTION_REFERENCES),
    ),
    (
        "threads",
        WasmFeatures::THREADS.union(WasmFeatures::SHARED_EVERYTHING_THREADS),
    ),
    ("custom-page-sizes", WasmFeatures::CUSTOM_PAGE_SIZES),
    ("wide-arithmetic", WasmFeatures::WIDE_ARITHMETIC),
    (
        "stack-switching",
        WasmFeatures::STACK_SWITCHING
            .union(WasmFeatures::FUNCTION_REFERENCES)
            .union(WasmFeatures::EXCEPTIONS),
    ),
    ("compact-imports", WasmFeatures::COMPACT_IMPORTS),
    (
        "custom-descriptors",
        WasmFeatures::CUSTOM_DESCRIPTORS
            .union(WasmFeatures::GC)
            .union(WasmFeatures::FUNCTION_REFERENCES),
    ),
];

/// Where validation with `features` stops: `None` if the module is valid.
fn failure_offset(wasm: &[u8], features: WasmFeatures) -> Option<usize> {
    Validator::new_with_features(features)
        .validate_all(wasm)
        .err()
        .map(|e| e.offset())
}

/// Turn a validation error of `wasm` (under `ours`, the
/// features lucetc implements) into [`Error::Unsupported`] when the module
/// is valid with some proposal enabled; otherwise return it as it is.
pub(crate) fn refine(wasm: &[u8], ours: WasmFeatures, error: Error) -> Error {
    // Only a validation failure: bytes that break the binary format we
    // read (a non-zero memory index where 2.0 wants a zero byte, say) are
    // malformed whatever a later proposal made of them.
    let offset = match &error {
        Error::Invalid { offset, .. } => *offset,
        _ => return error,
    };
    let all = PROPOSALS
        .iter()
        .fold(ours, |acc, (_, features)| acc.union(*features));
    if failure_offset(wasm, all).is_some() {
        return error;
    }
    // The proposal whose features take validation furthest past the first
    // failure: the one used there (a module may use several).
    // On a tie the earlier entry wins: the proposal itself before one that
    // builds on it (exceptions before stack switching).
    let mut best: Option<(usize, &str)> = None;
    for (name, features) in PROPOSALS {
        let reach = failure_offset(wasm, ours.union(*features)).unwrap_or(usize::MAX);
        if reach > offset && best.is_none_or(|(r, _)| reach > r) {
            best = Some((reach, name));
        }
    }
    let name = best.map_or("a proposal this compiler does not implement", |(_, n)| n);
    let what = what_is_at(wasm, offset);
    // A tag with results is invalid in WebAssembly 3.0; only the stack
    // switching proposal allows one. Its operators are what name it.
    if name == "stack-switching" && matches!(what.as_str(), "tag section" | "import section") {
        return error;
    }
    Error::Unsupported(format!("{name} ({what}) at offset {offset}"))
}

/// The operator at `offset`, if it is in a function body, or else the
/// section holding it.
fn what_is_at(wasm: &[u8], offset: usize) -> String {
    for payload in Parser::new(0).parse_all(wasm) {
        let Ok(payload) = payload else { break };
        if let Payload::CodeSectionEntry(body) = &payload {
            if !body.range().contains(&offset) {
                continue;
            }
            if let Some(op) = operator_at(body, offset) {
                return op;
            }
        }
        // Function bodies follow as entries of their own.
        if matches!(payload, Payload::CodeSectionStart { .. }) {
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            if range.contains(&offset) || range.end == offset {
                return section_name(id).to_string();
            }
        }
    }
    "code section".to_string()
}

/// The name of the operator starting at (or last before) `offset`, in the
/// text format's spelling (`try_table`, `i32x4.relaxed_laneselect`).
fn operator_at(body: &wasmparser::FunctionBody<'_>, offset: usize) -> Option<String> {
    let mut reader = body.get_operators_reader().ok()?;
    let mut found = None;
    while !reader.eof() {
        let Ok((op, at)) = reader.read_with_offset() else {
            break;
        };
        if at > offset {
            break;
        }
        found = Some(text_name(&format!("{op:?}")));
    }
    found
}

/// `I32x4RelaxedLaneselect { .. }` → `i32x4.relaxed_laneselect`: words
/// split at capitals, the type prefix joined with a dot.
pub(super) fn text_name(debug: &str) -> String {
    let name = debug.split([' ', '{', '(']).next().unwrap_or(debug);
    let mut words: Vec<String> = Vec::new();
    for c in name.chars() {
        match words.last_mut() {
            Some(w) if !c.is_ascii_uppercase() => w.push(c),
            _ => words.push(c.to_ascii_lowercase().to_string()),
        }
    }
    let typed = |w: &str| {
        matches!(
            w,
            "i32"
                | "i64"
                | "f32"
                | "f64"
                | "v128"
                | "i8x16"
                | "i16x8"
                | "i32x4"
                | "i64x2"
                | "f32x4"
                | "f64x2"
        )
    };
    // Atomics nest one level deeper: `i32.atomic.rmw8.add_u`.
    let join_rest = |rest: &[String]| -> String {
        let mut out = String::new();
        for (i, w) in rest.iter().enumerate() {
            if i > 0 {
                let prev = rest[i - 1].as_str();
                let dotted = prev == "atomic" || prev.starts_with("rmw");
                out.push(if dotted { '.' } else { '_' });
            }
            out.push_str(w);
        }
        out
    };
    match words.split_first() {
        Some((first, rest))
            if (typed(first)
                || matches!(
                    first.as_str(),
                    "memory" | "table" | "ref" | "struct" | "array" | "i31" | "any" | "extern"
                ))
                && !rest.is_empty() =>
        {
            format!("{first}.{}", join_rest(rest))
        }
        _ => words.join("_"),
    }
}

fn section_name(id: u8) -> &'static str {
    match id {
        1 => "type section",
        2 => "import section",
        3 => "function section",
        4 => "table section",
        5 => "memory section",
        6 => "global section",
        7 => "export section",
        8 => "start section",
        9 => "element section",
        10 => "code section",
        11 => "data section",
        12 => "data count section",
        13 => "tag section",
        _ => "custom section",
    }
}

#[cfg(test)]
mod tests {
    use super::text_name;

    #[test]
    fn operator_names_read_as_in_the_text_format() {
        assert_eq!(text_name("TryTable { try_table: .. }"), "try_table");
        assert_eq!(text_name("Throw { tag_index: 0 }"), "throw");
        assert_eq!(
            text_name("I32x4RelaxedLaneselect"),
            "i32x4.relaxed_laneselect"
        );
        assert_eq!(
            text_name("MemoryAtomicNotify { memarg: .. }"),
            "memory.atomic.notify"
        );
        assert_eq!(
            text_name("I32AtomicRmw8AddU { memarg: .. }"),
            "i32.atomic.rmw8.add_u"
        );
        assert_eq!(text_name("I32AtomicLoad { memarg: .. }"), "i32.atomic.load");
        assert_eq!(text_name("CallRef { type_index: 1 }"), "call_ref");
        assert_eq!(text_name("I64AddWide"), "i64.add_wide");
        assert_eq!(
            text_name("StructNew { struct_type_index: 0 }"),
            "struct.new"
        );
        assert_eq!(text_name("AnyConvertExtern"), "any.convert_extern");
        assert_eq!(text_name("I31GetS"), "i31.get_s");
    }
}
