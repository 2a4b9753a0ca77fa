//! `lucet-wasi --invoke`: arguments parsed by type, results printed so they
//! read back, traps reported with a non-zero exit.

use std::process::Command;

const WAT: &str = r#"
(module
  (memory 1)
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "neg64") (param i64) (result i64) (i64.sub (i64.const 0) (local.get 0)))
  (func (export "f32") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 2)))
  (func (export "f64") (param f64) (result f64) (local.get 0))
  (func (export "two") (result i32 f64) (i32.const -1) (f64.const 0.1))
  (func (export "none"))
  (func (export "oob") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))
"#;

fn compiled() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("m.so");
    lucetc::compile_to_file(WAT.as_bytes(), &so, &lucetc::Options::default()).unwrap();
    let so = so.to_str().unwrap().to_string();
    (dir, so)
}

fn invoke(so: &str, name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_lucet-wasi"))
        .arg("--invoke")
        .arg(name)
        .arg(so)
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn results_print_one_per_line() {
    let (_d, so) = compiled();
    assert_eq!(
        invoke(&so, "add", &["2", "-5"]),
        (Some(0), "-3\n".into(), String::new())
    );
    assert_eq!(invoke(&so, "add", &["4294967295", "1"]).1, "0\n");
    assert_eq!(
        invoke(&so, "neg64", &["-9223372036854775807"]).1,
        "9223372036854775807\n"
    );
    assert_eq!(invoke(&so, "f32", &["1.25"]).1, "2.5\n");
    assert_eq!(invoke(&so, "f32", &["inf"]).1, "inf\n");
    assert_eq!(invoke(&so, "f32", &["-inf"]).1, "-inf\n");
    assert_eq!(invoke(&so, "f64", &["nan"]).1, "nan\n");
    assert_eq!(invoke(&so, "two", &[]).1, "-1\n0.1\n");
    assert_eq!(
        invoke(&so, "none", &[]),
        (Some(0), String::new(), String::new())
    );
    // Floats print so they read back to the same value.
    let third = invoke(&so, "f64", &[&(1.0f64 / 3.0).to_string()]).1;
    assert_eq!(third.trim().parse::<f64>().unwrap(), 1.0 / 3.0);
}

#[test]
fn traps_and_bad_arguments_exit_non_zero() {
    let (_d, so) = compiled();
    let (code, out, err) = invoke(&so, "oob", &["65536"]);
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert!(
        err.starts_with("error: trap: out of bounds memory access"),
        "{err}"
    );
    let (code, _, err) = invoke(&so, "div", &["1", "0"]);
    assert_eq!(code, Some(1));
    assert!(
        err.starts_with("error: trap: integer divide by zero"),
        "{err}"
    );
    let (code, _, err) = invoke(&so, "add", &["1"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("takes 2 arguments"), "{err}");
    let (code, _, err) = invoke(&so, "add", &["1", "x"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("cannot parse \"x\" as i32"), "{err}");
    let (code, _, err) = invoke(&so, "nope", &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no exported function"), "{err}");
    let (code, _, err) = invoke("/nonexistent.so", "add", &[]);
    assert_eq!(code, Some(1));
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn an_empty_data_segment_past_the_image_runs() {
    // Once panicked the loader (slice index out of range building the image).
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("empty.so");
    let wat = r#"(module
      (memory 1)
      (data (i32.const 0) "a")
      (data (i32.const 8192) "")
      (func (export "f") (result i32) (i32.load8_u (i32.const 0))))"#;
    lucetc::compile_to_file(wat.as_bytes(), &so, &lucetc::Options::default()).unwrap();
    assert_eq!(
        invoke(so.to_str().unwrap(), "f", &[]),
        (Some(0), "97\n".into(), String::new())
    );
}

/// A module with a large heap image (mapped from a sparse file of several
/// GiB) still runs in a process whose file size limit is far below that:
/// the image is then copied instead, and SIGXFSZ never comes.
#[test]
fn a_large_image_runs_under_a_small_file_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("big.so");
    let wat = format!(
        r#"(module (memory 4) (data (i32.const 0) "{}")
          (func (export "at") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
        "\\07".repeat(200 << 10)
    );
    lucetc::compile_to_file(wat.as_bytes(), &so, &lucetc::Options::default()).unwrap();
    for limit in ["unlimited", "40000"] {
        // `ulimit -f` counts blocks of 512 bytes here: 40000 is about 20 MB,
        // room for the module but not for a mapped image's file.
        let o = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -f {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_lucet-wasi"))
            .args(["--invoke", "at"])
            .arg(&so)
            .arg("204799")
            .output()
            .unwrap();
        assert_eq!(
            (o.status.code(), String::from_utf8_lossy(&o.stdout).as_ref()),
            (Some(0), "7\n"),
            "limit {limit}: {o:?}"
        );
    }
}

/// A module larger than the process's file size limit is refused with one
/// line (its in-memory copy would otherwise kill the process with SIGXFSZ).
#[test]
fn a_module_over_the_file_size_limit_is_refused() {
    let (_d, so) = compiled();
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -f 2 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_lucet-wasi"))
        .args(["--invoke", "add"])
        .arg(&so)
        .args(["1", "2"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        err.contains("RLIMIT_FSIZE") && err.lines().count() == 1,
        "{err}"
    );
}
