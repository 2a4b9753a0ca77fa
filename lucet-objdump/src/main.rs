//! `lucet-objdump MODULE.so`: describe a module compiled by lucetc without
//! running any of it (see the library docs for what is reported).
//!
//! `--json` prints the same as one JSON object; `--verify-key PUBKEY`
//! checks the signature `MODULE.minisig` against that key.
//!
//! Exit codes: 0 when the file is a module whose code hash matches (and
//! whose signature verified, if a key was given); 1 when it is not a
//! loadable module, its hash does not match or its signature is rejected
//! (what could be read is still printed); 2 for bad usage.

use clap::Parser;
use lucet_objdump::Report;
use lucet_runtime::{PublicKey, TrustedKeys, DEFAULT_MAX_FILE_SIZE};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "lucet-objdump",
    version,
    about = "Describe a lucetc-compiled module: module data, code, hash and signature"
)]
struct Args {
    /// The compiled module (.so).
    module: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Verify MODULE.minisig with this minisign public key (a .pub file).
    /// Repeatable: any one of the keys will do.
    #[arg(long, value_name = "PUBKEY")]
    verify_key: Vec<PathBuf>,
    /// Refuse files larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_FILE_SIZE)]
    max_file_size: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let keys = if args.verify_key.is_empty() {
        None
    } else {
        match args
            .verify_key
            .iter()
            .map(PublicKey::from_file)
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(keys) => Some(keys.into_iter().fold(TrustedKeys::new(), TrustedKeys::with)),
            Err(e) => {
                eprintln!("lucet-objdump: error: {e}");
                return ExitCode::from(1);
            }
        }
    };
    let inspection = match lucet_runtime::inspect(&args.module, args.max_file_size, keys.as_ref()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("lucet-objdump: error: {e}");
            return ExitCode::from(1);
        }
    };
    let report = Report::new(&args.module.display().to_string(), &inspection);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("lucet-objdump: error: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print!("{}", report.text());
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "lucet-objdump: error: {}: {}",
            args.module.display(),
            if report.code_hash.matches {
                "signature rejected"
            } else {
                "code hash mismatch"
            }
        );
        ExitCode::from(1)
    }
}
