//! Builds the detector guest (and the hostile test guest) for
//! `wasm32-unknown-unknown` with a nested cargo invocation, then wraps each core
//! module into a component with `wit-component`. The product component is
//! embedded in the host with `include_bytes!`; the test components' paths are
//! passed to tests through `env!`.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the workspace root")?
        .to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR")?);
    for dir in ["crates/core", "crates/guest", "wit", "tests/hostile-guest"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        root.join("Cargo.lock").display()
    );

    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out: keep the guest
    // build beside the host's, in its own directory (so the two cargo
    // invocations never wait on each other's lock).
    let target_root = out_dir
        .ancestors()
        .nth(4)
        .ok_or("unexpected OUT_DIR layout")?
        .to_path_buf();
    let guest_target = target_root.join("wasm-guest");

    ensure_target()?;
    cargo_build(
        &root,
        &guest_target,
        &["-p", "wasmad-guest", "-p", "wasmad-hostile-guest"],
        &[],
    )?;
    let built = guest_target.join(TARGET).join("guest");
    wrap(
        &built.join("wasmad_guest.wasm"),
        &out_dir.join("wasmad_detector.wasm"),
    )?;
    wrap(
        &built.join("wasmad_hostile_guest.wasm"),
        &out_dir.join("hostile.wasm"),
    )?;
    cargo_build(
        &root,
        &guest_target,
        &["-p", "wasmad-hostile-guest"],
        &["--features", "wrong-abi"],
    )?;
    wrap(
        &built.join("wasmad_hostile_guest.wasm"),
        &out_dir.join("hostile_wrong_abi.wasm"),
    )?;

    println!(
        "cargo:rustc-env=WASMAD_HOSTILE_COMPONENT={}",
        out_dir.join("hostile.wasm").display()
    );
    println!(
        "cargo:rustc-env=WASMAD_HOSTILE_WRONG_ABI_COMPONENT={}",
        out_dir.join("hostile_wrong_abi.wasm").display()
    );
    Ok(())
}

fn env(key: &str) -> Result<String, String> {
    std::env::var(key).map_err(|_| format!("{key} is not set"))
}

/// The wasm32 standard library must be installed; try rustup once if it is not.
fn ensure_target() -> Result<(), String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("cannot run {rustc}: {e}"))?;
    let sysroot = String::from_utf8_lossy(&sysroot.stdout).trim().to_string();
    let lib = Path::new(&sysroot).join("lib/rustlib").join(TARGET);
    if lib.exists() {
        return Ok(());
    }
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status();
    if lib.exists() {
        return Ok(());
    }
    Err(format!(
        "the Rust standard library for {TARGET} is not installed (rustup said: {status:?}); \
         run `rustup target add {TARGET}` and build again"
    ))
}

fn cargo_build(
    root: &Path,
    target_dir: &Path,
    packages: &[&str],
    extra: &[&str],
) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            "guest",
            "--locked",
        ])
        .args(packages)
        .args(extra)
        .arg("--target-dir")
        .arg(target_dir);
    // Do not leak the outer build's settings (clippy wrappers, host rustflags,
    // coverage instrumentation) into the wasm build.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE"
            || key == "RUSTC_WRAPPER"
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "RUSTFLAGS"
        {
            cmd.env_remove(&key);
        }
    }
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start the nested cargo build: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "building {packages:?} for {TARGET} failed ({status})"
        ))
    }
}

fn wrap(core_module: &Path, out: &Path) -> Result<(), String> {
    let bytes = std::fs::read(core_module)
        .map_err(|e| format!("cannot read {}: {e}", core_module.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&bytes)
        .map_err(|e| format!("{}: {e:#}", core_module.display()))?
        .encode()
        .map_err(|e| format!("encoding {} as a component: {e:#}", core_module.display()))?;
    std::fs::write(out, component).map_err(|e| format!("cannot write {}: {e}", out.display()))
}
