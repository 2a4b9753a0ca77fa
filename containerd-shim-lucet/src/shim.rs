//! The shim as runwasi sees it: a [`Shim`] named `lucet` (containerd's
//! runtime `io.containerd.lucet.v1`, binary `containerd-shim-lucet-v1`)
//! whose [`Sandbox`] runs WASI programs with lucet.

use crate::entrypoint::{self, EntrypointError};
use crate::host;
use crate::run::{self, Request, Source as ModuleSource};
use containerd_shim_wasm::sandbox::context::{RuntimeContext, Source};
use containerd_shim_wasm::sandbox::Sandbox;
use containerd_shim_wasm::shim::{Shim, Version};
use std::path::{Path, PathBuf};

/// The lucet shim.
pub struct LucetShim;

/// The runner of one container's guest (runwasi makes one, inside the
/// container's process).
#[derive(Default)]
pub struct LucetSandbox;

impl Shim for LucetShim {
    fn name() -> &'static str {
        "lucet"
    }

    fn version() -> Version {
        containerd_shim_wasm::shim::version!()
    }

    type Sandbox = LucetSandbox;
}

impl Sandbox for LucetSandbox {
    /// Run the guest; its exit code becomes the container's. Failures are
    /// reported on the container's stderr in one line, with their own exit
    /// codes (see [`crate::run`]), rather than as errors: runwasi would
    /// log those where the pod's owner does not look and exit 137.
    async fn run_wasi(&self, ctx: &impl RuntimeContext) -> anyhow::Result<i32> {
        let request = match request(ctx) {
            Ok(r) => r,
            Err(e) => {
                let e = run::RunError::from(e);
                eprintln!("lucet: {e}");
                return Ok(e.exit_code());
            }
        };
        match run::run(host::init(), request) {
            Ok(code) => Ok(code),
            Err(e) => {
                log::info!("{e}");
                eprintln!("lucet: {e}");
                Ok(e.exit_code())
            }
        }
    }

    /// Accept WebAssembly (binary, or text named `*.wat`) and x86-64
    /// shared objects; anything else is not ours. Signatures are checked
    /// when the guest runs, where a refusal can be reported to the pod.
    async fn can_handle(&self, ctx: &impl RuntimeContext) -> anyhow::Result<()> {
        match ctx.entrypoint().source {
            Source::Oci([_]) => Ok(()),
            Source::Oci(layers) => Err(EntrypointError::Layers(layers.len()).into()),
            Source::File(_) => {
                let path = entrypoint_file(ctx)?;
                entrypoint::classify_file(&path)?;
                Ok(())
            }
        }
    }
}

/// The path of the entrypoint file inside the container.
fn entrypoint_file(ctx: &impl RuntimeContext) -> Result<PathBuf, EntrypointError> {
    let arg0 = ctx.args().first().ok_or(EntrypointError::Missing)?;
    let (path, _) = entrypoint::split_function(arg0);
    let path_env = ctx.envs().iter().find_map(|e| e.strip_prefix("PATH="));
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    entrypoint::resolve(Path::new(path), path_env, &cwd)
        .ok_or_else(|| EntrypointError::NotFound(PathBuf::from(path)))
}

/// What to run, from the container's spec.
fn request(ctx: &impl RuntimeContext) -> Result<Request, EntrypointError> {
    let arg0 = ctx.args().first().ok_or(EntrypointError::Missing)?;
    let (path, func) = entrypoint::split_function(arg0);
    let source = match ctx.entrypoint().source {
        Source::File(_) => ModuleSource::File(entrypoint_file(ctx)?),
        Source::Oci([layer]) => ModuleSource::Bytes(layer.layer.clone()),
        Source::Oci(layers) => return Err(EntrypointError::Layers(layers.len())),
    };
    let mut args = ctx.args().to_vec();
    // The guest sees its program name without runwasi's `#function`.
    args[0] = path.to_string();
    let env = ctx
        .envs()
        .iter()
        .filter_map(|e| e.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(Request {
        name: path.to_string(),
        source,
        func: func.to_string(),
        args,
        env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use containerd_shim_wasm::sandbox::context::Entrypoint;
    use std::future::Future;
    use std::os::unix::fs::PermissionsExt;

    /// A container as runwasi describes it: its process args and env.
    struct Ctx {
        args: Vec<String>,
        env: Vec<String>,
    }

    impl RuntimeContext for Ctx {
        fn args(&self) -> &[String] {
            &self.args
        }
        fn envs(&self) -> &[String] {
            &self.env
        }
        fn entrypoint(&self) -> Entrypoint<'_> {
            let (path, func) = entrypoint::split_function(&self.args[0]);
            Entrypoint {
                func: func.to_string(),
                name: None,
                arg0: Some(Path::new(&self.args[0])),
                source: Source::File(PathBuf::from(path)),
            }
        }
    }

    /// The sandbox's futures never wait: one poll finishes them.
    fn now<T>(f: impl Future<Output = T>) -> T {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match std::pin::pin!(f).poll(&mut cx) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the future waited"),
        }
    }

    fn can_handle(args: &[&str], env: &[&str]) -> anyhow::Result<()> {
        let ctx = Ctx {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
        };
        now(LucetSandbox.can_handle(&ctx))
    }

    #[test]
    fn can_handle_wasm_and_shared_objects() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let write = |name: &str, bytes: &[u8], mode: u32| {
            let p = d.join(name);
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p.to_str().unwrap().to_string()
        };
        let mut elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        elf.extend_from_slice(&3u16.to_le_bytes()); // ET_DYN
        elf.extend_from_slice(&62u16.to_le_bytes()); // x86-64
        let wasm = write("m.wasm", b"\0asm\x01\0\0\0", 0o644);
        let wat = write("m.wat", b"(module)", 0o644);
        let so = write("m.so", &elf, 0o644);
        let text = write("notes.txt", b"hello", 0o644);
        let script = write("run.sh", b"#!/bin/sh\n", 0o644);

        can_handle(&[&wasm, "arg"], &[]).unwrap();
        can_handle(&[&format!("{wasm}#run")], &[]).unwrap();
        can_handle(&[&wat], &[]).unwrap();
        can_handle(&[&so], &[]).unwrap();
        // A bare name is looked up in the container's PATH.
        let path = format!("PATH=/nonexistent:{}", d.display());
        can_handle(&["m.wasm"], &[&path]).unwrap();

        for (args, why) in [
            (vec![text.as_str()], "neither a WebAssembly module"),
            (vec![script.as_str()], "neither a WebAssembly module"),
            (vec!["/nonexistent/m.wasm"], "not found"),
            (vec!["m.wasm"], "not found"),
        ] {
            let e = can_handle(&args, &[]).unwrap_err().to_string();
            assert!(e.contains(why), "{args:?}: {e}");
        }
    }

    #[test]
    fn requests_from_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("m.wasm");
        std::fs::write(&wasm, b"\0asm\x01\0\0\0").unwrap();
        let arg0 = format!("{}#serve", wasm.display());
        let ctx = Ctx {
            args: vec![arg0, "a b".into()],
            env: vec!["K=v=w".into(), "NOEQUALS".into(), "=x".into(), "E=".into()],
        };
        let r = request(&ctx).unwrap();
        assert_eq!(r.func, "serve");
        assert_eq!(r.args, vec![wasm.display().to_string(), "a b".into()]);
        assert_eq!(
            r.env,
            vec![("K".into(), "v=w".into()), ("E".into(), String::new())]
        );
        assert!(matches!(r.source, ModuleSource::File(p) if p == wasm));
    }
}
