//! Faults: `fpa generate`, `hmc`, `fp-data` and `train` killed with SIGKILL at
//! several moments and run again end with the same bits as an uninterrupted
//! run, never leave a damaged file under a final name, and a second process on
//! the same output is refused while the first runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cmd(args: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fpa"));
    c.args(args).env("RAYON_NUM_THREADS", "2").stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn run(args: &[String]) -> Output {
    cmd(args).output().expect("run fpa")
}

#[track_caller]
fn ok(o: &Output) {
    assert!(o.status.success(), "fpa failed: {}", String::from_utf8_lossy(&o.stderr));
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Starts the command, kills it with SIGKILL after `ms` milliseconds (if it is
/// still running), and says whether it was killed.
fn kill_after(args: &[String], ms: u64) -> bool {
    let mut child: Child = cmd(args).spawn().expect("spawn fpa");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(ms) {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    true
}

/// Every file under a final name in `dir` is complete: gauge files decode,
/// JSON parses, npy files have their header, models have their header.
fn no_partial_files(dir: &Path) {
    for e in walk(dir) {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') {
            continue; // temporary files and the lock
        }
        let bytes = std::fs::read(&e).unwrap();
        if name.ends_with(".nersc") {
            assert!(fpa_core::io::nersc::decode(&bytes).is_ok(), "{} is damaged", e.display());
        } else if name.ends_with(".json") {
            assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(), "{} is damaged", e.display());
        } else if name.ends_with(".npy") {
            assert!(bytes.starts_with(b"\x93NUMPY"), "{} is damaged", e.display());
        } else if name.ends_with(".safetensors") || name.ends_with(".checkpoint") {
            let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
            assert!(bytes.len() >= 8 + n, "{} is damaged", e.display());
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The link data of a NERSC file (its header carries a date).
fn nersc_data(p: &Path) -> Vec<u8> {
    let b = std::fs::read(p).unwrap();
    let end = b.windows(11).position(|w| w == b"END_HEADER\n").unwrap() + 11;
    b[end..].to_vec()
}

/// The tensor bytes of a safetensors file (its metadata carries timings).
fn tensor_data(p: &Path) -> Vec<u8> {
    let b = std::fs::read(p).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    b[8 + n..].to_vec()
}

/// `name` with every `-` + 8 hex digits (the pipeline's stage hashes, which cover the run's own
/// path) replaced by `-#`.
fn without_hashes(name: &str) -> String {
    let b = name.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let hex = b.len() >= i + 9
            && b[i] == b'-'
            && b[i + 1..i + 9].iter().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            && b.get(i + 9).is_none_or(|c| !c.is_ascii_hexdigit());
        if hex {
            out.push_str("-#");
            i += 9;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// What must be identical between a killed-and-resumed run and a clean one.
fn fingerprint(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = walk(dir)
        .into_iter()
        .filter_map(|p| {
            let name = without_hashes(&p.strip_prefix(dir).unwrap().to_string_lossy());
            if name.contains("/.") || name.starts_with('.') {
                return None;
            }
            if name.ends_with(".nersc") {
                Some((name, nersc_data(&p)))
            } else if name.ends_with(".npy") {
                Some((name, std::fs::read(&p).unwrap()))
            } else if name.ends_with(".safetensors") && !name.contains("checkpoint") {
                Some((name, tensor_data(&p)))
            } else {
                None
            }
        })
        .collect();
    v.sort();
    v
}

/// Runs `args(out)` cleanly into `clean`, and into `killed` with SIGKILLs at
/// `moments` (ms), checking for damaged files after each kill; then compares.
fn kill_and_resume(what: &str, args: impl Fn(&Path) -> Vec<String>, clean: &Path, killed: &Path, moments: &[u64]) {
    ok(&run(&args(clean)));
    let mut kills = 0;
    for &ms in moments {
        if kill_after(&args(killed), ms) {
            kills += 1;
        }
        no_partial_files(killed);
    }
    ok(&run(&args(killed)));
    no_partial_files(killed);
    let (a, b) = (fingerprint(clean), fingerprint(killed));
    assert!(!a.is_empty(), "{what}: nothing to compare");
    assert_eq!(a.len(), b.len(), "{what}: different files after kills");
    for ((na, da), (nb, db)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert!(da == db, "{what}: {na} differs after {kills} kills");
    }
    assert!(kills >= 1, "{what}: the run ended before the first kill; lengthen it");
    assert!(!walk(killed).iter().any(|p| p.ends_with(".fpa.lock")), "{what}: lock left behind");
}

fn generate_args(out: &Path, lattice: &str, configs: &str) -> Vec<String> {
    strings(&[
        "generate",
        "--lattice",
        lattice,
        "--beta",
        "6.0",
        "--therm",
        "10",
        "--every",
        "4",
        "--configs",
        configs,
        "--seed",
        "5",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
}

#[test]
fn killed_runs_resume_bit_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();

    kill_and_resume(
        "generate",
        |o| generate_args(o, "8x8x8x8", "12"),
        &t.join("gen-clean"),
        &t.join("gen-killed"),
        &[150, 500, 900],
    );

    let hmc = |o: &Path| {
        strings(&[
            "hmc",
            "--action",
            "wilson",
            "--lattice",
            "4x4x4x4",
            "--beta",
            "5.8",
            "--tau",
            "0.5",
            "--steps",
            "5",
            "--therm",
            "12",
            "--warmup",
            "4",
            "--every",
            "2",
            "--configs",
            "10",
            "--seed",
            "2",
            "--quiet",
            "--out",
            o.to_str().unwrap(),
        ])
    };
    kill_and_resume("hmc", hmc, &t.join("hmc-clean"), &t.join("hmc-killed"), &[100, 300, 600]);

    let ens = t.join("ens");
    ok(&run(&generate_args(&ens, "4x4x4x4", "6")));
    let fp =
        |o: &Path| strings(&["fp-data", "--ensemble", ens.to_str().unwrap(), "--quiet", "--out", o.to_str().unwrap()]);
    kill_and_resume("fp-data", fp, &t.join("fp-clean"), &t.join("fp-killed"), &[300, 900, 1800]);

    let data = t.join("fp-clean");
    let train = |o: &Path| {
        std::fs::create_dir_all(o).unwrap();
        let m = o.join("m.safetensors");
        strings(&[
            "train",
            "--data",
            data.to_str().unwrap(),
            "--model",
            "paper",
            "--epochs",
            "4",
            "--batch",
            "2",
            "--quiet",
            "--out",
            m.to_str().unwrap(),
        ])
    };
    kill_and_resume("train", train, &t.join("train-clean"), &t.join("train-killed"), &[400, 1500, 3000]);

    let pipeline = |o: &Path| strings(&["pipeline", "--preset", "tiny", "--quiet", "--out", o.to_str().unwrap()]);
    kill_and_resume("pipeline", pipeline, &t.join("pipe-clean"), &t.join("pipe-killed"), &[1500, 5000, 9000]);
}

#[test]
fn a_second_writer_is_refused_and_a_stale_lock_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ens");
    let args = generate_args(&out, "8x8x8x8", "200");
    let mut first = cmd(&args).spawn().unwrap();
    // Wait until the first run holds its lock.
    let lock = out.join(".fpa.lock");
    let start = Instant::now();
    while !lock.exists() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = run(&args);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "a second writer was let in");
    assert!(err.contains("in use by another fpa process") && err.contains(&format!("PID {}", first.id())), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    // SIGKILL leaves the lock of a process that no longer runs: the next run takes it over.
    assert!(lock.exists());
    let short = generate_args(&out, "8x8x8x8", "200");
    let mut third = cmd(&short).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let alive = third.try_wait().unwrap().is_none();
    third.kill().unwrap();
    let o = third.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(alive || o.status.success(), "the stale lock was not taken over: {err}");
    assert!(err.contains("stale lock"), "no note about the stale lock: {err}");
    // A lock held by a process on another host is never broken.
    std::fs::write(&lock, "pid=1\nhost=some-other-host\nstarted=x\ncommand=fpa generate\n").unwrap();
    let o = run(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("some-other-host") && err.contains(".fpa.lock"), "{err}");
}

/// Deterministic pseudo-random mutations of `good`: flipped bytes, cuts,
/// duplicated spans, and digits or brackets inserted.
fn mutations(good: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |m: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % m.max(1) as u64) as usize
    };
    (0..n)
        .map(|k| {
            let mut b = good.to_vec();
            match k % 4 {
                0 => {
                    for _ in 0..1 + next(4) {
                        let i = next(b.len());
                        b[i] ^= 1 << next(8);
                    }
                }
                1 => b.truncate(next(b.len())),
                2 => {
                    let (i, j) = (next(b.len()), next(b.len()));
                    let span = b[i.min(j)..i.max(j)].to_vec();
                    let at = next(b.len());
                    b.splice(at..at, span);
                }
                _ => {
                    let at = next(b.len());
                    let s: &[u8] = [&b"99999999999999999999"[..], b"[", b"{", b"-1", b"1e308", b"\"", b"nan"][next(7)];
                    b.splice(at..at, s.iter().copied());
                }
            }
            b
        })
        .collect()
}

/// Damaged FP-data indexes and pipeline configs give an error message, never
/// a panic (exit status 101) or a hang.
#[test]
fn damaged_index_and_config_files_give_errors_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let ens = t.join("ens");
    ok(&run(&generate_args(&ens, "2x2x2x2", "2")));
    let data = t.join("fp");
    ok(&run(&strings(&["fp-data", "--ensemble", ens.to_str().unwrap(), "--quiet", "--out", data.to_str().unwrap()])));
    let good = std::fs::read(data.join("index.json")).unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fp-action.safetensors");
    for (k, bad) in mutations(&good, 40).into_iter().enumerate() {
        std::fs::write(data.join("index.json"), &bad).unwrap();
        let out = t.join("eval");
        let o = run(&strings(&[
            "eval",
            "--model",
            model,
            "--data",
            data.to_str().unwrap(),
            "--json",
            "--out",
            out.to_str().unwrap(),
        ]));
        assert_ne!(o.status.code(), Some(101), "mutation {k} of index.json: {}", String::from_utf8_lossy(&o.stderr));
    }
    let toml =
        cmd(&strings(&["pipeline", "--preset", "tiny", "--print-config"])).stdout(Stdio::piped()).output().unwrap();
    // A config that names a lattice of 2^28 sites is refused before anything is built.
    let huge = String::from_utf8_lossy(&toml.stdout).replace("lattice = \"2x2x2x2\"", "lattice = \"8192x8192x2x2\"");
    std::fs::write(t.join("huge.toml"), huge).unwrap();
    let o = run(&strings(&[
        "pipeline",
        "--config",
        t.join("huge.toml").to_str().unwrap(),
        "--out",
        t.join("h").to_str().unwrap(),
    ]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("more than a pipeline handles"), "{err}");
    for (k, bad) in mutations(&toml.stdout, 60).into_iter().enumerate() {
        let p = t.join("bad.toml");
        std::fs::write(&p, &bad).unwrap();
        let o = run(&strings(&["pipeline", "--config", p.to_str().unwrap(), "--print-config"]));
        assert_ne!(o.status.code(), Some(101), "mutation {k} of the config: {}", String::from_utf8_lossy(&o.stderr));
    }
}

/// A full file system: the run stops with a clear error, keeps every good file
/// (nothing half-written under a final name) and, once there is space again,
/// resumes to the same bits as a run that never ran out. Needs root (a small
/// tmpfs is mounted); elsewhere the test says so and checks nothing.
#[test]
fn disk_full_stops_cleanly_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("small");
    std::fs::create_dir_all(&mnt).unwrap();
    let mount =
        |opts: &str| Command::new("mount").args(["-t", "tmpfs", "-o", opts, "tmpfs", mnt.to_str().unwrap()]).status();
    if !mount("size=300k").is_ok_and(|s| s.success()) {
        eprintln!("cannot mount a tmpfs here (not root?): the disk-full test needs root and is skipped");
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _guard = Unmount(&mnt);
    let clean = tmp.path().join("clean");
    let full = mnt.join("ens");
    ok(&run(&generate_args(&clean, "4x4x4x4", "4")));
    let o = run(&generate_args(&full, "4x4x4x4", "4"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "the run did not notice the full disk");
    assert!(err.contains("No space left") || err.contains("cannot write"), "unclear message: {err}");
    no_partial_files(&full);
    let kept = walk(&full).iter().filter(|p| p.extension().is_some_and(|e| e == "nersc")).count();
    assert!((1..4).contains(&kept), "{kept} configurations on a 300 kB disk");
    // Space again: the same command finishes the run, bit for bit as if nothing happened.
    assert!(Command::new("mount").args(["-o", "remount,size=4m", mnt.to_str().unwrap()]).status().unwrap().success());
    ok(&run(&generate_args(&full, "4x4x4x4", "4")));
    let (a, b) = (fingerprint(&clean), fingerprint(&full));
    assert_eq!(a.len(), 4);
    assert_eq!(a, b, "the resumed run differs from the clean one");
}
