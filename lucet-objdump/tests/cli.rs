//! `lucet-objdump` on real modules: text and JSON, hash and signature
//! status, exit codes.

use lucetc::signing::{generate_keypair, load_secret_key, sign_file, Password};
use std::path::Path;
use std::process::{Command, Output};

const WAT: &str = r#"
(module $demo
  (import "env" "log" (func $log (param i32)))
  (memory (export "mem") 1 3)
  (table 2 funcref)
  (global $g (mut i64) (i64.const 9))
  (elem (i32.const 0) $div)
  (data (i32.const 100) "0123456789")
  (func $div (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "say") (call $log (i32.const 1))))
"#;

fn objdump(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucet-objdump"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn setup(dir: &Path) -> (String, String) {
    let so = dir.join("demo.so");
    lucetc::compile_to_file(WAT.as_bytes(), &so, &lucetc::Options::default()).unwrap();
    let (key, public) = (dir.join("k.key"), dir.join("k.pub"));
    generate_keypair(&key, &public, Password::None).unwrap();
    sign_file(&so, &load_secret_key(&key, Password::None).unwrap()).unwrap();
    (
        so.to_str().unwrap().to_string(),
        public.to_str().unwrap().to_string(),
    )
}

#[test]
fn describes_a_signed_module() {
    let dir = tempfile::tempdir().unwrap();
    let (so, public) = setup(dir.path());
    let out = objdump(&["--json", "--verify-key", &public, &so]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json(&out);
    assert_eq!(j["format_version"], lucet_module::FORMAT_VERSION);
    assert_eq!(j["name"], "demo");
    assert_eq!(j["compile_options"]["heap_reserved_size"], 4u64 << 30);
    assert_eq!(j["heap"]["initial_pages"], 1);
    assert_eq!(j["heap"]["max_pages"], 3);
    assert_eq!(j["heap_image_size"], 4096);
    assert!(j["code_size"].as_u64().unwrap() > 0);
    assert_eq!(j["code_hash"]["matches"], true);
    assert_eq!(j["code_hash"]["recorded"].as_str().unwrap().len(), 64);
    assert_eq!(j["signature"]["status"], "verified");
    let key_line = std::fs::read_to_string(&public).unwrap();
    let key_id = j["signature"]["key_id"].as_str().unwrap();
    assert!(key_line.contains(key_id), "{key_id} in {key_line}");
    assert_eq!(j["imports"][0]["field"], "log");
    assert_eq!(j["imports"][0]["type"], "(func (param i32) (result ))");
    let exports: Vec<&str> = j["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(exports, ["mem", "div", "say"]);
    let div = &j["functions"][0];
    assert_eq!(div["index"], 1);
    assert_eq!(div["type"], "(func (param i32 i32) (result i32))");
    assert!(div["trap_sites"].as_u64().unwrap() >= 2, "{div}");
    assert!(div["code_size"].as_u64().unwrap() > 0);
    assert_eq!(j["tables"][0]["min"], 2);
    assert_eq!(j["globals"][0]["type"], "mut i64");
    assert_eq!(j["globals"][0]["init"], "i64.const 9");
    assert_eq!(j["element_segments"][0]["size"], 1);
    assert_eq!(j["data_segments"][0]["offset"], "i32.const 100");
    assert_eq!(j["data_segments"][0]["size"], 10);

    // The text form says the same things.
    let out = objdump(&[&so]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let version = format!("format version:  {}", lucet_module::FORMAT_VERSION);
    for needle in [
        version.as_str(),
        "heap:            1 pages initial, maximum 3",
        "matches the file",
        &format!("by key {key_id}, not verified"),
        "env::log  func (func (param i32) (result ))",
        "div  func 1 (func (param i32 i32) (result i32))",
        "data segments (1):",
    ] {
        assert!(text.contains(needle), "{needle:?} in\n{text}");
    }
}

#[test]
fn a_changed_file_or_a_bad_signature_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let (so, public) = setup(dir.path());
    let mut bytes = std::fs::read(&so).unwrap();
    let at = bytes.windows(10).position(|w| w == b"0123456789").unwrap();
    bytes[at] = b'X';
    std::fs::write(&so, bytes).unwrap();
    let out = objdump(&["--json", "--verify-key", &public, &so]);
    assert_eq!(out.status.code(), Some(1));
    let j = json(&out);
    assert_eq!(j["code_hash"]["matches"], false);
    assert_eq!(j["signature"]["status"], "rejected");
    assert!(j["signature"]["reason"]
        .as_str()
        .unwrap()
        .contains("does not match"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn not_a_module_exits_1_and_usage_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.so");
    std::fs::write(&junk, b"junk").unwrap();
    let out = objdump(&[junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("not an ELF file"), "{stderr}");
    assert_eq!(objdump(&[]).status.code(), Some(2));
    assert_eq!(objdump(&["--bogus", "x.so"]).status.code(), Some(2));
}
