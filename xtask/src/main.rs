//! `cargo xtask <command>`: everything beyond plain cargo.
//!
//! * `test`  — every check CI runs: formatting, clippy, all tests (optimised
//!   test profile), the no_std build of fpa-core. Installs what it needs.
//! * `demo`  — the main job on a small default: a Wilson ensemble, measured.
//! * `bench` — the criterion benchmarks of the hot paths.

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

fn test() {
    let t = Instant::now();
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
    run(
        "no_std build of fpa-core",
        cargo().args(["build", "-p", "fpa-core", "--no-default-features", "--target", "x86_64-unknown-none"]),
    );
    eprintln!("\nall checks passed in {:.0} s", t.elapsed().as_secs_f64());
}

fn demo() {
    let dir = "runs/demo";
    run(
        "a small Wilson ensemble (4^4 x 8, beta 6.0)",
        cargo().args([
            "run",
            "--release",
            "-q",
            "-p",
            "fpa-cli",
            "--",
            "generate",
            "--lattice",
            "4x4x4x8",
            "--beta",
            "6.0",
            "--therm",
            "100",
            "--every",
            "10",
            "--configs",
            "5",
            "--seed",
            "1",
            "--out",
            dir,
        ]),
    );
    let files: Vec<String> = (1..=5).map(|i| format!("{dir}/config_{i:04}.nersc")).collect();
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-q", "-p", "fpa-cli", "--", "measure"]).args(&files);
    run("measure it", &mut cmd);
    eprintln!("\nthe run is in {dir}: summary.json, plaquette.svg, config_*.nersc");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(),
        Some("bench") => run("benchmarks", cargo().args(["bench", "-p", "fpa-core"]).args(&args[1..])),
        _ => {
            eprintln!("usage: cargo xtask <test | demo | bench [criterion args]>");
            exit(2);
        }
    }
}
