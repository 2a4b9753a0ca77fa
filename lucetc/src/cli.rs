//! The command line shared by `lucetc` and `lucetc-wasi`: they differ only
//! in their name and in the imports they allow.
//!
//! Signing: `--sign KEY` writes `OUT.minisig` beside the output with a
//! minisign secret key; `--keygen KEY` makes a key pair (`KEY` and, by
//! default, `KEY` with a `.pub` extension). An encrypted key's password is
//! read from `LUCETC_KEY_PASSWORD`, or asked for on a terminal.
//!
//! Exit codes: 0 on success, 1 when the input is rejected or compilation
//! fails, 2 on bad command-line usage.

use crate::signing::{self, Password};
use crate::{AllowedImport, Emit, OptLevel, Options, TargetCpu};
use clap::Parser;
use lucet_module::units::parse_size;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Where an encrypted key's password comes from when not typed.
pub const PASSWORD_ENV: &str = "LUCETC_KEY_PASSWORD";

#[derive(Parser)]
#[command(version, about = "Compile WebAssembly to a native shared object")]
struct Args {
    /// Input module, binary (.wasm) or text (.wat).
    #[arg(required_unless_present = "keygen")]
    input: Option<PathBuf>,
    /// Output file.
    #[arg(short, long, required_unless_present = "keygen")]
    output: Option<PathBuf>,
    /// Sign the output with this minisign secret key, writing OUTPUT.minisig
    /// (`minisign -Vm OUTPUT -p KEY.pub` verifies it).
    #[arg(long, value_name = "SECRET_KEY")]
    sign: Option<PathBuf>,
    /// With --sign: add FIELD:VALUE to the signature's trusted comment
    /// (repeatable), e.g. `version:42`, which a loader can require
    /// (`LoadOptions::require_signed`) so an older signed build is refused.
    #[arg(long, value_name = "FIELD:VALUE", requires = "sign", value_parser = parse_comment_item)]
    sign_comment: Vec<(String, String)>,
    /// Make a new minisign key pair instead of compiling: the secret key at
    /// SECRET_KEY, the public key at --public-key. The secret key is
    /// encrypted with LUCETC_KEY_PASSWORD or a password typed at the prompt.
    #[arg(long, value_name = "SECRET_KEY", conflicts_with_all = ["input", "output", "sign"])]
    keygen: Option<PathBuf>,
    /// With --keygen: where to write the public key (default: the secret
    /// key's path with the extension .pub).
    #[arg(long, value_name = "PATH", requires = "keygen")]
    public_key: Option<PathBuf>,
    /// With --keygen: store the secret key without a password (as
    /// `minisign -G -W`).
    #[arg(long, requires = "keygen")]
    unencrypted_key: bool,
    /// What to write: `so` (shared object) or `obj` (relocatable object).
    #[arg(long, default_value = "so", value_parser = ["so", "obj"])]
    emit: String,
    /// Optimization level: none, speed, speed_and_size.
    #[arg(long, default_value = "speed")]
    opt_level: OptLevel,
    /// Target CPU: baseline (x86-64-v2) or native.
    #[arg(long, default_value = "baseline")]
    target_cpu: TargetCpu,
    /// Heap address space reserved per instance (default 4GiB; at least
    /// 4GiB, a multiple of 4KiB), e.g. 8GiB: a bare number is bytes;
    /// KiB/MiB/GiB are powers of 1024, KB/MB/GB of 1000.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    heap_reserved_size: Option<u64>,
    /// Guard region beyond the heap reservation (default 32MiB; a multiple
    /// of 4KiB; a bare number is bytes); static offsets beyond it get an
    /// explicit bounds check.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    heap_guard_size: Option<u64>,
    /// Count executed wasm instructions (readable after a run, and usable
    /// as a budget that stops it).
    #[arg(long)]
    count_instructions: bool,
    /// Leave out the conditional moves that stop speculative out-of-bounds
    /// reads after table and heap bounds checks (on by default).
    #[arg(long)]
    no_spectre_guards: bool,
    /// Give every relaxed SIMD operator one fixed answer, the same on every
    /// CPU and target (fused madd, saturating truncations, ...), instead of
    /// the native x86 instruction's.
    #[arg(long)]
    relaxed_simd_deterministic: bool,
    /// Compilation threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Parse the command line, compile, and exit: the whole of a compiler
/// binary called `name` that allows `allowed_imports` (all, if `None`).
pub fn main(name: &str, allowed_imports: Option<Vec<AllowedImport>>) -> ! {
    let args = Args::parse_from(std::iter::once(name.into()).chain(std::env::args_os().skip(1)));
    let fail = |e: crate::Error| -> ! {
        eprintln!("{name}: error: {e}");
        std::process::exit(1);
    };
    if let Some(secret) = &args.keygen {
        let public = args
            .public_key
            .clone()
            .unwrap_or_else(|| secret.with_extension("pub"));
        let password = if args.unencrypted_key {
            Password::None
        } else if let Ok(p) = std::env::var(PASSWORD_ENV) {
            Password::Given(p)
        } else if std::io::stdin().is_terminal() {
            Password::Prompt
        } else {
            eprintln!(
                "{name}: error: no password for the new key: set {PASSWORD_ENV}, \
                 or give --unencrypted-key"
            );
            std::process::exit(1);
        };
        match signing::generate_keypair(secret, &public, password) {
            Ok(id) => {
                println!(
                    "secret key: {}\npublic key: {} (key ID {id})",
                    secret.display(),
                    public.display()
                );
                std::process::exit(0);
            }
            Err(e) => fail(e),
        }
    }
    let (Some(input), Some(output)) = (&args.input, &args.output) else {
        // clap requires both without --keygen.
        eprintln!("{name}: error: give an input and -o OUTPUT");
        std::process::exit(2);
    };
    // Read the key first: a wrong password should not cost a compilation.
    let key = args.sign.as_ref().map(|k| {
        let password = match std::env::var(PASSWORD_ENV) {
            Ok(p) => Password::Given(p),
            Err(_) if std::io::stdin().is_terminal() => Password::Prompt,
            Err(_) => Password::None,
        };
        signing::load_secret_key(k, password).unwrap_or_else(|e| fail(e))
    });
    let defaults = Options::default();
    let options = Options {
        opt_level: args.opt_level,
        target_cpu: args.target_cpu,
        emit: if args.emit == "obj" {
            Emit::Object
        } else {
            Emit::SharedObject
        },
        threads: args.threads,
        count_instructions: args.count_instructions,
        spectre_guards: !args.no_spectre_guards,
        relaxed_simd_deterministic: args.relaxed_simd_deterministic,
        heap_reserved_size: args
            .heap_reserved_size
            .unwrap_or(defaults.heap_reserved_size),
        heap_guard_size: args.heap_guard_size.unwrap_or(defaults.heap_guard_size),
        allowed_imports,
        ..defaults
    };
    match crate::compile_file(input, output, &options) {
        Ok(_) => {}
        Err(e @ crate::Error::Io { .. }) => fail(e),
        Err(e) => {
            eprintln!("{name}: error: {}: {e}", input.display());
            std::process::exit(1);
        }
    }
    match key {
        Some(key) => {
            if let Err(e) = signing::sign_file_with(output, &key, &args.sign_comment) {
                fail(e)
            }
        }
        None => remove_stale_signature(output).unwrap_or_else(|e| fail(e)),
    }
    std::process::exit(0)
}

/// `FIELD:VALUE`, split at the first colon.
fn parse_comment_item(s: &str) -> Result<(String, String), String> {
    s.split_once(':')
        .map(|(f, v)| (f.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected FIELD:VALUE, got {s:?}"))
}

/// A signature beside an output just replaced signs the old contents:
/// remove it rather than leave a signature that no longer matches.
fn remove_stale_signature(output: &Path) -> Result<(), crate::Error> {
    let sig = signing::signature_path(output);
    match std::fs::remove_file(&sig) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(crate::Error::Io {
            path: sig.display().to_string(),
            source: e,
        }),
        _ => Ok(()),
    }
}
