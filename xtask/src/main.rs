//! `cargo xtask <command>`: everything beyond plain cargo.
//!
//! * `test`  — every check CI runs: formatting, clippy, all tests (optimised
//!   test profile), the Python package (`pip install ./python` into
//!   target/pyenv, then its checks), the no_std build of fpa-core, the aarch64 build's
//!   checks under qemu-user, the physics checks on wasm32, the WebAssembly bundle and its end-to-end tests in headless
//!   Chromium, and `fpa fp-data` under mpirun (feature `mpi`). Installs what it needs (rustup
//!   targets and the pinned nightly, wasm-bindgen-cli, Debian's chromium and Open MPI, npm's
//!   playwright-core).
//! * `demo`  — the main job on a small default: the FP pipeline.
//! * `wasm`  — builds the threaded and single-threaded bundles into www/.
//! * `serve` — builds the bundles and serves www/ with the COOP/COEP headers.
//! * `bench` — the criterion benchmarks of the hot paths; `bench --compare [THREADS]` puts the
//!   L-CNN beside its PyTorch version (scripts/torch_lcnn.py, checked against fpa to 1e-12 on the
//!   same weights) in one run and prints the ratios.
//! * `aarch64` — the aarch64 build's architecture checks (NEON kernels, bits against this
//!   machine's) under qemu-user, as `test` runs them.
//! * `python` — builds and checks the Python package alone.
//! * `fuzz [SECONDS]` — every cargo-fuzz target (fuzz/) for SECONDS each
//!   (default 60), from the seed corpus in fuzz/corpus; `test` runs 10 s each.

use std::process::{exit, Command};
use std::time::Instant;

fn run(what: &str, cmd: &mut Command) {
    let t = Instant::now();
    eprintln!("\n==> {what}\n    {cmd:?}");
    let status = cmd.status().unwrap_or_else(|e| {
        eprintln!("xtask: cannot start {cmd:?}: {e}");
        exit(1)
    });
    if !status.success() {
        eprintln!("xtask: {what} failed ({status})");
        exit(1);
    }
    eprintln!("    ok ({:.0} s)", t.elapsed().as_secs_f64());
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn rustup_target_add(target: &str) {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == target))
        .unwrap_or(false);
    if !installed {
        run(&format!("install the {target} target"), Command::new("rustup").args(["target", "add", target]));
    }
}

fn ensure_component(component: &str) {
    let installed = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.starts_with(component)))
        .unwrap_or(false);
    if !installed {
        run(&format!("install {component}"), Command::new("rustup").args(["component", "add", component]));
    }
}

/// The dataset test reads fpa's output with numpy, as a user would.
fn ensure_numpy() {
    let have = Command::new("python3").args(["-c", "import numpy"]).status().map(|s| s.success()).unwrap_or(false);
    if !have {
        run(
            "install numpy (for the dataset test)",
            Command::new("python3").args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "numpy"]),
        );
    }
}

/// `pip install ./python` into a virtual environment (`target/pyenv`) and the package's checks.
fn python_test() {
    let python = "target/pyenv/bin/python";
    if !std::path::Path::new(python).exists() {
        run(
            "create a Python virtual environment (target/pyenv)",
            Command::new("python3").args(["-m", "venv", "target/pyenv"]),
        );
    }
    let pip = |what: &str, args: &[&str]| {
        run(
            what,
            Command::new(python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(args),
        );
    };
    pip("install numpy and pytest into target/pyenv", &["numpy", "pytest"]);
    pip("pip install ./python (maturin builds the extension)", &["--force-reinstall", "--no-deps", "./python"]);
    run("Python package checks (pytest)", Command::new(python).args(["-m", "pytest", "-q", "python/tests"]));
}

/// The median of a criterion benchmark in seconds (`target/criterion/<group>/<name>/<param>`).
fn criterion_median(group: &str, name: &str, param: &str) -> f64 {
    let path = format!("target/criterion/{group}/{name}/{param}/new/estimates.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("xtask: cannot read {path}: {e}");
        exit(1)
    });
    let v: serde_json::Value = serde_json::from_str(&text).expect("criterion estimates are JSON");
    v["median"]["point_estimate"].as_f64().expect("a median in the estimates") * 1e-9
}

/// `cargo xtask bench --compare [THREADS]`: fpa's L-CNN benchmarks (12-12-12 on 8⁴) and the same
/// network in PyTorch (scripts/torch_lcnn.py, in a virtual environment target/benchenv with torch
/// and the fpa Python package), measured one after the other on the same machine, with the ratios.
fn bench_compare(threads: usize) {
    let python = "target/benchenv/bin/python";
    if !std::path::Path::new(python).exists() {
        run("create target/benchenv", Command::new("python3").args(["-m", "venv", "target/benchenv"]));
    }
    let ready = Command::new(python).args(["-c", "import torch, numpy, fpa"]).status().map(|s| s.success());
    if !ready.unwrap_or(false) {
        run(
            "install torch and numpy into target/benchenv (PyPI's torch wheel with its CUDA libraries, ~5 GB)",
            Command::new(python).args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "torch",
                "numpy",
            ]),
        );
        run(
            "pip install ./python into target/benchenv",
            Command::new(python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "./python"]),
        );
    }
    let t = threads.to_string();
    run(
        "fpa: criterion benchmarks of the L-CNN on 8^4",
        cargo().args(["bench", "-p", "fpa-core", "--bench", "lcnn", "--", "8\\^4"]).env("RAYON_NUM_THREADS", &t),
    );
    eprintln!("\n==> PyTorch: the same network, checked against fpa, then timed");
    let out = Command::new(python)
        .args(["scripts/torch_lcnn.py", "models/fp-action.safetensors", "--lattice", "8", "--threads", &t])
        .output()
        .unwrap_or_else(|e| {
            eprintln!("xtask: cannot run scripts/torch_lcnn.py: {e}");
            exit(1)
        });
    if !out.status.success() {
        eprintln!("xtask: scripts/torch_lcnn.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
        exit(1);
    }
    let torch: serde_json::Value = serde_json::from_slice(&out.stdout).expect("torch_lcnn.py prints JSON");
    let g = "lcnn 12-12-12";
    let rows = [
        ("forward", criterion_median(g, "forward", "8_4"), torch["torch_forward"].as_f64().unwrap()),
        ("forward + force", criterion_median(g, "forward + force", "8_4"), torch["torch_force"].as_f64().unwrap()),
        ("train step (f64)", criterion_median(g, "train step", "8_4"), torch["torch_train_step"].as_f64().unwrap()),
        (
            "train step (f32 passes)",
            criterion_median(g, "train step f32", "8_4"),
            torch["torch_train_step"].as_f64().unwrap(),
        ),
    ];
    println!(
        "\nL-CNN 12-12-12 on 8^4, {threads} threads; PyTorch {} (complex128, autograd) agrees with fpa to {:.1e} (action), {:.1e} (force)",
        torch["torch"].as_str().unwrap_or("?"),
        torch["agreement"]["action"].as_f64().unwrap_or(f64::NAN),
        torch["agreement"]["force"].as_f64().unwrap_or(f64::NAN)
    );
    println!("| figure | fpa | PyTorch | PyTorch / fpa |\n|---|---|---|---|");
    for (name, f, p) in rows {
        println!("| {name} | {f:.3} s | {p:.3} s | {:.2}x |", p / f);
    }
    println!(
        "(fpa through its Python package in the same process as PyTorch: forward {:.3} s, force {:.3} s)",
        torch["fpa_forward"].as_f64().unwrap_or(f64::NAN),
        torch["fpa_force"].as_f64().unwrap_or(f64::NAN)
    );
}

const WASM_BINDGEN: &str = "0.2.130";

fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd).args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

fn tools_path() -> String {
    let root = std::env::current_dir().unwrap();
    format!("{}:{}", root.join(".tools/bin").display(), std::env::var("PATH").unwrap_or_default())
}

/// Debian's `packages`, installed non-interactively after a package-list update (`what` names them).
fn apt_install(what: &str, packages: &[&str]) {
    let _ = Command::new("apt-get").arg("update").status();
    run(what, Command::new("apt-get").args(["install", "-y"]).args(packages).env("DEBIAN_FRONTEND", "noninteractive"));
}

/// Open MPI and what rsmpi's build needs (mpicc; libclang for its bindings), from Debian's
/// packages (idempotent).
fn mpi_setup() {
    if !have("mpirun", &["--version"]) || !have("mpicc", &["--showme"]) || !have("dpkg", &["-s", "libclang-dev"]) {
        apt_install(
            "install Open MPI and libclang (Debian's openmpi-bin, libopenmpi-dev, libclang-dev)",
            &["openmpi-bin", "libopenmpi-dev", "libclang-dev"],
        );
    }
}

/// The aarch64 target cross-built with Debian's toolchain and its architecture checks run under
/// qemu-user (`tests/tests/aarch64.rs`: the NEON GEMM and heatbath kernels against the portable
/// path, and the bits of a heatbath chain and of an L-CNN training step against this machine's).
/// On an x86-64 host only; an aarch64 host runs them natively with `cargo test`.
fn aarch64_test() {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("(not an x86-64 host: the aarch64 cross checks are skipped)");
        return;
    }
    rustup_target_add("aarch64-unknown-linux-gnu");
    if !have("qemu-aarch64", &["--version"]) || !have("aarch64-linux-gnu-gcc", &["--version"]) {
        apt_install(
            "install qemu-user and the aarch64 cross linker (Debian's qemu-user, gcc-aarch64-linux-gnu)",
            &["qemu-user", "gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"],
        );
    }
    let cross = |cmd: &mut Command| {
        cmd.env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", "aarch64-linux-gnu-gcc")
            .env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER", "qemu-aarch64 -L /usr/aarch64-linux-gnu")
            // No debug info: the two cross builds take half the time.
            .env("CARGO_PROFILE_TEST_DEBUG", "0");
    };
    let target = ["--target", "aarch64-unknown-linux-gnu"];
    let mut core = cargo();
    core.args(["test", "-p", "fpa-core", "--lib"]).args(target);
    cross(&mut core);
    run("fpa-core's unit tests on aarch64 (qemu-user)", &mut core);
    let mut checks = cargo();
    checks.args(["test", "-p", "fpa-tests", "--test", "aarch64"]).args(target);
    checks.env("FPA_NATIVE_CHECKSUM", fpa_tests::mc::short_chain_checksum());
    match fpa_tests::lcnn::lcnn_training_step_checksum() {
        Some(c) => {
            checks.env("FPA_NATIVE_LCNN_CHECKSUM", c);
        }
        None => eprintln!("(this CPU has no FMA kernel: the L-CNN bits are not compared across architectures)"),
    }
    cross(&mut checks);
    run("architecture checks on aarch64 (qemu-user): NEON kernels, bits against x86-64", &mut checks);
}

/// Everything the WebAssembly build and its tests need (idempotent).
fn wasm_setup() {
    rustup_target_add("wasm32-unknown-unknown");
    run(
        "install the pinned nightly for the threaded build (wasm/rust-toolchain.toml)",
        // Without RUSTUP_TOOLCHAIN (cargo sets it for `cargo xtask`), so that rustup reads
        // wasm/rust-toolchain.toml instead of installing the outer toolchain again.
        Command::new("rustup").arg("toolchain").arg("install").current_dir("wasm").env_remove("RUSTUP_TOOLCHAIN"),
    );
    let version = Command::new(".tools/bin/wasm-bindgen")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    if !version.contains(WASM_BINDGEN) {
        // Not --locked: its lockfile pins a crate the registry here does not serve (WASM.md, pitfall 1).
        run(
            "build wasm-bindgen-cli (a few minutes)",
            cargo().args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN, "--root", ".tools"]),
        );
    }
    if !have("chromium", &["--version"]) || !have("chromedriver", &["--version"]) {
        apt_install("install Debian's chromium and chromium-driver", &["chromium", "chromium-driver"]);
    }
    if !std::path::Path::new("e2e/node_modules/playwright-core").exists() {
        run(
            "install playwright-core (no browser download)",
            Command::new("npm").args(["install", "--no-audit", "--no-fund"]).current_dir("e2e"),
        );
    }
}

/// The threaded bundle (www/pkg) and the single-threaded fallback (www/pkg-st).
fn wasm_build() {
    let path = tools_path();
    // The rustup proxy `cargo` (not $CARGO, the stable binary), so that
    // wasm/rust-toolchain.toml selects the pinned nightly for every rustc it
    // runs (a dependency's own rust-toolchain file must not win).
    run(
        "threaded wasm build (nightly, build-std)",
        Command::new("cargo")
            .args(["build", "--release", "--features", "threads"])
            .current_dir("wasm")
            .env("PATH", &path)
            .env_remove("RUSTUP_TOOLCHAIN")
            .env_remove("RUSTC")
            .env_remove("CARGO"),
    );
    run(
        "wasm-bindgen (threaded)",
        Command::new(".tools/bin/wasm-bindgen").args([
            "--target",
            "web",
            "--out-dir",
            "www/pkg",
            "target/wasm-threads/wasm32-unknown-unknown/release/fpa_wasm.wasm",
        ]),
    );
    run(
        "single-threaded wasm build (stable)",
        cargo().args(["build", "--release", "-p", "fpa-wasm", "--target", "wasm32-unknown-unknown"]),
    );
    run(
        "wasm-bindgen (single-threaded)",
        Command::new(".tools/bin/wasm-bindgen").args([
            "--target",
            "web",
            "--out-dir",
            "www/pkg-st",
            "target/wasm32-unknown-unknown/release/fpa_wasm.wasm",
        ]),
    );
}

fn wasm_test() {
    let path = tools_path();
    let checksum = fpa_tests::mc::short_chain_checksum();
    run(
        "physics checks on wasm32 (Node)",
        cargo()
            .args([
                "test",
                "--release",
                "-p",
                "fpa-tests",
                "--no-default-features",
                "--target",
                "wasm32-unknown-unknown",
                "--test",
                "wasm",
            ])
            .env("PATH", &path)
            .env("FPA_NATIVE_CHECKSUM", &checksum),
    );
    wasm_build();
    run(
        "page end to end, threaded build (headless Chromium)",
        Command::new("node")
            .args(["e2e/run.mjs", "?pkg=pkg", "target/e2e-threads.png"])
            .env("EXPECT_CHECKSUM", &checksum)
            .env("REQUIRE_THREADS", "1"),
    );
    run(
        "page end to end, single-threaded fallback",
        Command::new("node")
            .args(["e2e/run.mjs", "?pkg=pkg-st", "target/e2e-single.png"])
            .env("EXPECT_CHECKSUM", &checksum),
    );
}

/// Tracked files above 1 MB outside the places meant for assets (`models/`,
/// `docs/`): wheels, datasets and build outputs do not belong in the repository.
fn large_tracked_files() -> Vec<String> {
    let out = Command::new("git").args(["ls-files", "-z"]).output();
    let Ok(out) = out else {
        eprintln!("(git not available: the large-file check is skipped)");
        return vec![];
    };
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|f| !f.is_empty() && !f.starts_with("models/") && !f.starts_with("docs/"))
        .filter(|f| std::fs::metadata(f).map(|m| m.len() > 1_000_000).unwrap_or(false))
        .map(String::from)
        .collect()
}

fn test() {
    let t = Instant::now();
    let large = large_tracked_files();
    if !large.is_empty() {
        eprintln!("error: tracked files above 1 MB outside models/ and docs/: {}", large.join(", "));
        std::process::exit(1);
    }
    ensure_component("rustfmt");
    ensure_component("clippy");
    rustup_target_add("x86_64-unknown-none");
    run("formatting", cargo().args(["fmt", "--all", "--check"]));
    run("clippy", cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]));
    run(
        "clippy (fpa-core without std)",
        cargo().args(["clippy", "-p", "fpa-core", "--no-default-features", "--", "-D", "warnings"]),
    );
    ensure_numpy();
    run("tests", cargo().args(["test", "--workspace"]).env("FPA_REQUIRE_NUMPY", "1"));
    run(
        "tests of fpa-core without rayon",
        cargo().args(["test", "-p", "fpa-core", "--no-default-features", "--features", "std", "--lib"]),
    );
    mpi_setup();
    run(
        "clippy (fpa-cli with MPI)",
        cargo().args(["clippy", "-p", "fpa-cli", "--features", "mpi", "--all-targets", "--", "-D", "warnings"]),
    );
    run(
        "MPI tests (mpirun --oversubscribe: 3 ranks on the machine's cores)",
        cargo().args(["test", "-p", "fpa-cli", "--features", "mpi", "--test", "mpi"]),
    );
    python_test();
    run(
        "no_std build of fpa-core",
        cargo().args(["build", "-p", "fpa-core", "--no-default-features", "--target", "x86_64-unknown-none"]),
    );
    aarch64_test();
    wasm_setup();
    wasm_test();
    fuzz(10);
    eprintln!("\nall checks passed in {:.0} s", t.elapsed().as_secs_f64());
}

/// The cargo-fuzz targets of fuzz/Cargo.toml.
const FUZZ_TARGETS: [&str; 7] =
    ["gauge_file", "npy", "safetensors", "model_file", "model_spec", "pipeline_config", "fp_index"];

/// The pinned nightly of wasm/rust-toolchain.toml (cargo-fuzz needs a nightly).
fn pinned_nightly() -> String {
    let t = std::fs::read_to_string("wasm/rust-toolchain.toml").expect("wasm/rust-toolchain.toml");
    t.lines()
        .find_map(|l| l.strip_prefix("channel = ").map(|v| v.trim_matches('"').to_string()))
        .expect("a channel in wasm/rust-toolchain.toml")
}

/// Runs every fuzz target for `seconds` from its seed corpus (fuzz/corpus/<target>); new
/// inputs go to target/fuzz-corpus, crashes to target/fuzz-artifacts. A crash, a leak, an
/// allocation above 2 GB or an input that takes over 10 s fails the run.
fn fuzz(seconds: u64) {
    let nightly = pinned_nightly();
    run(
        "install the pinned nightly (cargo-fuzz needs one)",
        Command::new("rustup").args(["toolchain", "install", &nightly, "--profile", "minimal"]),
    );
    if !have(".tools/bin/cargo-fuzz", &["--version"]) {
        run(
            "build cargo-fuzz (about a minute)",
            cargo().args(["install", "cargo-fuzz", "--locked", "--version", "0.13.2", "--root", ".tools"]),
        );
    }
    for t in FUZZ_TARGETS {
        let work = format!("target/fuzz-corpus/{t}");
        let artifacts = format!("target/fuzz-artifacts/{t}/");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::create_dir_all(&artifacts).unwrap();
        run(
            &format!("fuzz {t} for {seconds} s"),
            Command::new("rustup")
                .args(["run", &nightly, "cargo", "fuzz", "run", "-O", "--fuzz-dir", "fuzz", t, &work])
                .arg(format!("fuzz/corpus/{t}"))
                .args(["--", &format!("-max_total_time={seconds}"), "-rss_limit_mb=2048", "-timeout=10"])
                .arg("-max_len=65536")
                .arg(format!("-artifact_prefix={artifacts}"))
                .env("PATH", tools_path())
                .env_remove("RUSTUP_TOOLCHAIN")
                .env_remove("CARGO"),
        );
    }
}

fn serve() {
    wasm_setup();
    wasm_build();
    run(
        "serve www/ on http://127.0.0.1:8000 (Ctrl-C to stop)",
        Command::new("node").args(["e2e/serve.mjs", "www", "8000"]),
    );
}

fn demo() {
    run(
        "the FP pipeline on its small default (Wilson ensembles 4^4 at beta 5.0-7.0, FP data, L-CNN, report)",
        cargo().args([
            "run",
            "--release",
            "-q",
            "-p",
            "fpa-cli",
            "--",
            "pipeline",
            "--preset",
            "small",
            "--out",
            "runs/demo",
        ]),
    );
    eprintln!("\nopen runs/demo/report.html; every number is in runs/demo/summary.json");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(),
        Some("wasm") => {
            wasm_setup();
            wasm_build();
        }
        Some("serve") => serve(),
        Some("python") => python_test(),
        Some("aarch64") => aarch64_test(),
        Some("fuzz") => fuzz(args.get(1).map_or(60, |s| s.parse().expect("fuzz SECONDS"))),
        Some("bench") if args.get(1).map(String::as_str) == Some("--compare") => {
            bench_compare(args.get(2).map_or(2, |s| s.parse().expect("bench --compare THREADS")))
        }
        Some("bench") => run("benchmarks", cargo().args(["bench", "-p", "fpa-core"]).args(&args[1..])),
        _ => {
            eprintln!(
                "usage: cargo xtask <test | demo | wasm | serve | python | aarch64 | fuzz [SECONDS] | bench [criterion args] | bench --compare [THREADS]>"
            );
            exit(2);
        }
    }
}
