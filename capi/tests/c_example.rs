//! The C ABI from C and C++: compiles `examples/example.c` against the static
//! library, runs it (heatbath, plaquette, Wilson action and force, array round
//! trip, error codes, the shipped L-CNN model, plain and averaged over the reflections, the buffer pool's
//! controls), and compiles the header as C++.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding libfpa.a: the test binary lives in `<target>/<profile>/deps/`.
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Builds the static and shared libraries with the profile this test was built with (`cargo test`
/// builds only the rlib for integration tests).
fn build_libraries() {
    let profile = if lib_dir().ends_with("release") { "release" } else { "test" };
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "fpa-capi", "--profile", profile])
        .current_dir(root())
        .status()
        .expect("cargo");
    assert!(status.success(), "cargo build -p fpa-capi failed");
}

#[test]
fn c_example_runs_and_header_compiles_as_cpp() {
    build_libraries();
    let lib = lib_dir().join("libfpa.a");
    assert!(lib.exists(), "{} was not built", lib.display());
    let include = root().join("capi/include");
    let out = lib_dir().join("fpa-c-example");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .arg("-O2")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(&include)
        .arg(root().join("capi/examples/example.c"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&out)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "compiling the C example failed");
    // Run in the build directory: the example writes (and removes) its gauge files in its working directory.
    let run =
        Command::new(&out).arg(root().join("models/fp-action.safetensors")).current_dir(lib_dir()).output().unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "the C example failed: {stdout}{}", String::from_utf8_lossy(&run.stderr));
    assert!(stdout.contains("L-CNN action") && stdout.ends_with("ok\n"), "{stdout}");
    assert!(stdout.contains("expected error: cannot read /no/such/file.nersc"), "{stdout}");
    assert!(stdout.contains("averaged over reflections"), "{stdout}");
    assert!(stdout.contains("buffer pool:"), "{stdout}");
    assert!(stdout.contains("expected error: unknown symmetry set \"rotations\""), "{stdout}");

    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let probe = lib_dir().join("fpa-header-probe.cpp");
    std::fs::write(&probe, "#include \"fpa.h\"\nint main() { FpaGauge *g = nullptr; fpa_gauge_free(g); return 0; }\n")
        .unwrap();
    let status = Command::new(&cxx)
        .args(["-fsyntax-only", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg(&probe)
        .status()
        .expect("a C++ compiler (c++)");
    assert!(status.success(), "fpa.h does not compile as C++");
}
