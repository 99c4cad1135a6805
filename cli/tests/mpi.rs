//! `fpa` under `mpirun` (Open MPI; built with `--features mpi`): `fp-data` over 3 ranks gives
//! the same files as one process, a killed rank stops the whole run, and the same command
//! resumes it. `cargo xtask test` installs Open MPI and runs these with `--oversubscribe`.
#![cfg(feature = "mpi")]

use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const FPA: &str = env!("CARGO_BIN_EXE_fpa");

fn fpa(args: &[&str]) -> Output {
    Command::new(FPA).args(args).env("RAYON_NUM_THREADS", "1").output().expect("run fpa")
}

/// `mpirun -np N fpa ARGS`, one thread per rank (root is allowed: CI runs as root).
fn mpirun(np: usize, args: &[&str]) -> Command {
    let mut c = Command::new("mpirun");
    c.args(["--allow-run-as-root", "--oversubscribe", "-np", &np.to_string(), "-x", "RAYON_NUM_THREADS=1", FPA])
        .args(args);
    c
}

#[track_caller]
fn ok(o: &Output) {
    assert!(o.status.success(), "failed: {}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
}

/// Two small ensembles (4^4 at beta 6.5: fast minimisations) in `dir`.
fn ensembles(dir: &Path) -> Vec<String> {
    let mut out = vec![];
    for (name, seed) in [("a", "3"), ("b", "4")] {
        let d = dir.join(name).display().to_string();
        ok(&fpa(&[
            "generate",
            "--lattice",
            "4x4x4x4",
            "--beta",
            "6.5",
            "--therm",
            "10",
            "--every",
            "2",
            "--configs",
            "3",
            "--seed",
            seed,
            "--quiet",
            "--out",
            &d,
        ]));
        out.push(d);
    }
    out
}

fn fp_args<'a>(ens: &'a [String], out: &'a str) -> Vec<&'a str> {
    let mut v = vec!["fp-data", "--quiet", "--out", out, "--instanton", "4x4x4x4:1.2"];
    for e in ens {
        v.extend(["--ensemble", e.as_str()]);
    }
    v
}

fn train_args<'a>(data: &'a str, out: &'a str, stop_after: Option<&'a str>) -> Vec<&'a str> {
    let mut v = vec![
        "train",
        "--data",
        data,
        "--model",
        "paper",
        "--epochs",
        "3",
        "--batch",
        "4",
        "--lr",
        "1e-4",
        "--w2",
        "100",
        "--val",
        "0.3",
        "--seed",
        "2",
        "--precision",
        "f32",
        "--quiet",
        "--out",
        out,
    ];
    if let Some(n) = stop_after {
        v.extend(["--stop-after", n]);
    }
    v
}

/// The weight tensors of a model file (its metadata holds run times).
fn weights(path: &Path) -> Vec<(String, Vec<f64>)> {
    let (ts, _) = fpa_core::io::safetensors::decode(&std::fs::read(path).unwrap()).unwrap();
    ts.into_iter().map(|t| (t.name, t.data)).collect()
}

/// The index without what differs between runs (times).
fn index(dir: &Path) -> Value {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("updated");
    for c in v["configs"].as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("seconds");
    }
    v
}

#[track_caller]
fn same_dataset(a: &Path, b: &Path) {
    assert_eq!(index(a), index(b), "index records differ");
    let n = index(a)["configs"].as_array().unwrap().len();
    assert_eq!(n, 7, "expected 6 configurations and an instanton");
    for c in index(a)["configs"].as_array().unwrap() {
        for key in ["links", "d_fp"] {
            let f = c[key].as_str().unwrap();
            assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs");
        }
    }
}

/// PIDs of the processes whose command line mentions `needle` and that run as MPI rank `rank`.
fn rank_pids(needle: &str, rank: usize) -> Vec<u32> {
    let mut pids = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        let has = |hay: &[u8], s: &str| hay.windows(s.len()).any(|w| w == s.as_bytes());
        if has(&cmd, needle) && !has(&cmd, "mpirun") && has(&env, &format!("OMPI_COMM_WORLD_RANK={rank}\0")) {
            pids.push(pid);
        }
    }
    pids
}

fn configs_done(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("index.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .map_or(0, |v| v["configs"].as_array().map_or(0, |a| a.len()))
}

fn wait_for(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(t.elapsed() < limit, "mpirun did not finish in {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn fp_data_and_train_over_ranks_match_one_process_and_survive_a_killed_rank() {
    let tmp = tempfile::tempdir().unwrap();
    let ens = ensembles(tmp.path());
    let single = tmp.path().join("single");
    ok(&fpa(&fp_args(&ens, single.to_str().unwrap())));

    // Three ranks: rank 0 coordinates, two workers share the configurations.
    let multi = tmp.path().join("multi");
    let o = mpirun(3, &fp_args(&ens, multi.to_str().unwrap())).output().unwrap();
    ok(&o);
    same_dataset(&single, &multi);

    // Data-parallel training on that dataset: batches of 4 over 3 ranks give the weights of
    // one process bit for bit, also when the run stops after an epoch and is resumed.
    let data = single.to_str().unwrap();
    let one = tmp.path().join("one.safetensors");
    ok(&fpa(&train_args(data, one.to_str().unwrap(), None)));
    let three = tmp.path().join("three.safetensors");
    let t = three.to_str().unwrap();
    ok(&mpirun(3, &train_args(data, t, Some("1"))).output().unwrap());
    assert!(!three.exists(), "the run stopped after one epoch should not have written the model yet");
    ok(&mpirun(3, &train_args(data, t, None)).output().unwrap());
    assert_eq!(weights(&one), weights(&three), "the weights of 3 ranks differ from one process");

    // Kill worker rank 2 once the first configuration is recorded: the run stops, non-zero.
    let killed = tmp.path().join("killed");
    let k = killed.to_str().unwrap().to_string();
    let mut child = mpirun(3, &fp_args(&ens, &k)).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let t = Instant::now();
    while configs_done(&killed) == 0 {
        assert!(t.elapsed() < Duration::from_secs(300), "no configuration finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    let victims = rank_pids(&k, 2);
    assert_eq!(victims.len(), 1, "rank 2 of the run not found");
    Command::new("kill").args(["-9", &victims[0].to_string()]).status().unwrap();
    let status = wait_for(&mut child, Duration::from_secs(120));
    assert!(!status.success(), "the run went on after a rank was killed");
    let done = configs_done(&killed);
    assert!((1..7).contains(&done), "{done} configurations recorded before the kill");

    // mpirun may return before every rank is gone; the lock names rank 0 until it is.
    let t = Instant::now();
    while !rank_pids(&k, 0).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(60), "rank 0 of the killed run is still running");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The same command resumes and completes it: the same dataset as one process.
    let o = mpirun(3, &fp_args(&ens, &k)).output().unwrap();
    ok(&o);
    same_dataset(&single, &killed);
}

#[test]
fn other_commands_refuse_to_run_over_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("f").display().to_string();
    let o = mpirun(2, &["phi4", "--out", &out]).output().unwrap();
    assert!(!o.status.success(), "phi4 over 2 ranks should refuse");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("run over MPI ranks; start this command as one process"), "unclear message: {err}");
    assert!(!Path::new(&out).exists(), "a refused run wrote {out}");
}

/// The binary part of a NERSC file (the header holds the creation time).
fn payload(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let end = bytes.windows(11).position(|w| w == b"END_HEADER\n").expect("a NERSC header") + 11;
    bytes[end..].to_vec()
}

/// The summary without what differs between runs (times, dates).
fn run_record(dir: &Path) -> Value {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    for key in ["timing", "updated", "checkpoint"] {
        v.as_object_mut().unwrap().remove(key);
    }
    v
}

#[track_caller]
fn same_run(a: &Path, b: &Path, configs: usize) {
    assert_eq!(run_record(a), run_record(b), "summaries differ");
    for i in 1..=configs {
        let f = format!("config_{i:04}.nersc");
        assert!(payload(&a.join(&f)) == payload(&b.join(&f)), "{f} differs");
    }
}

fn generate_args(out: &str, extra: &[&'static str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "generate",
        "--lattice",
        "4x4x4x8",
        "--beta",
        "5.8",
        "--therm",
        "4",
        "--every",
        "2",
        "--configs",
        "3",
        "--or",
        "2",
        "--seed",
        "7",
        "--quiet",
        "--out",
    ]
    .map(String::from)
    .to_vec();
    v.push(out.into());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn hmc_args(out: &str, action: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "hmc",
        "--lattice",
        "4x4x4x8",
        "--beta",
        "5.6",
        "--start",
        "hot",
        "--tau",
        "0.5",
        "--steps",
        "3",
        "--integrator",
        "leapfrog",
        "--therm",
        "4",
        "--warmup",
        "2",
        "--every",
        "2",
        "--configs",
        "2",
        "--seed",
        "5",
        "--quiet",
        "--out",
    ]
    .map(String::from)
    .to_vec();
    v.extend([out.to_string(), "--action".into(), action.into()]);
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(|s| s.as_str()).collect()
}

/// The lattice cut into time slabs over 2 and 3 ranks: the heatbath ensemble and the HMC
/// chain are the single-process ones bit for bit (configurations, plaquette histories,
/// energy changes), also across a stop and resume; bad decompositions are refused.
#[test]
fn generate_and_hmc_over_slabs_match_one_process() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n).display().to_string();
    ok(&fpa(&strs(&generate_args(&dir("g1"), &[]))));
    ok(&mpirun(3, &strs(&generate_args(&dir("g3"), &[]))).output().unwrap());
    same_run(&tmp.path().join("g1"), &tmp.path().join("g3"), 3);
    // Stopped after 5 sweeps over 2 ranks (a checkpoint), resumed over 3.
    let o = mpirun(2, &strs(&generate_args(&dir("g2"), &["--stop-after", "5"]))).output().unwrap();
    ok(&o);
    assert!(!tmp.path().join("g2/config_0003.nersc").exists(), "the stopped run went on");
    ok(&mpirun(3, &strs(&generate_args(&dir("g2"), &[]))).output().unwrap());
    same_run(&tmp.path().join("g1"), &tmp.path().join("g2"), 3);

    ok(&fpa(&strs(&hmc_args(&dir("h1"), "wilson"))));
    ok(&mpirun(3, &strs(&hmc_args(&dir("h3"), "wilson"))).output().unwrap());
    same_run(&tmp.path().join("h1"), &tmp.path().join("h3"), 2);
    let rec = run_record(&tmp.path().join("h1"));
    let history = rec["history"].as_array().unwrap();
    assert!(history.iter().any(|t| t["accepted"] == true), "no trajectory accepted: the test shows little");

    // A rectangle action: halos of two slices.
    ok(&fpa(&strs(&hmc_args(&dir("i1"), "iwasaki"))));
    ok(&mpirun(3, &strs(&hmc_args(&dir("i3"), "iwasaki"))).output().unwrap());
    same_run(&tmp.path().join("i1"), &tmp.path().join("i3"), 2);

    // Refusals: an L-CNN action (its force reaches too far), more ranks than pairs of slices.
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fp-action.safetensors");
    let o = mpirun(2, &strs(&hmc_args(&dir("hs"), model))).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("runs the built-in actions"), "unclear message: {err}");
    assert!(!tmp.path().join("hs").exists(), "a refused run wrote its directory");
    let mut big = generate_args(&dir("g5"), &[]);
    big[2] = "4x4x4x4".into();
    let o = mpirun(3, &strs(&big)).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("use at most 2 processes"), "unclear message: {err}");
    assert!(!tmp.path().join("g5").exists(), "a refused run wrote its directory");
}

/// A rank of a slab-decomposed `fpa generate` killed mid-run: mpirun stops the run with a
/// non-zero status, and the same command resumes it to the single-process ensemble.
#[test]
fn a_killed_rank_stops_generate_and_the_run_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    // 124 sweeps of 8^4 (seconds): the kill comes after the first configuration (sweep 14).
    let long = |out: &str| {
        let mut v = generate_args(out, &[]);
        for (key, value) in [("--configs", "12"), ("--every", "10"), ("--lattice", "8x8x8x8")] {
            let i = v.iter().position(|a| a == key).unwrap();
            v[i + 1] = value.into();
        }
        v
    };
    let single = tmp.path().join("single");
    ok(&fpa(&strs(&long(single.to_str().unwrap()))));
    let killed = tmp.path().join("killed");
    let k = killed.to_str().unwrap().to_string();
    let mut child = mpirun(3, &strs(&long(&k))).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let t = Instant::now();
    while !killed.join("config_0001.nersc").exists() {
        assert!(t.elapsed() < Duration::from_secs(120), "no configuration written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let victims = rank_pids(&k, 2);
    assert_eq!(victims.len(), 1, "rank 2 of the run not found");
    Command::new("kill").args(["-9", &victims[0].to_string()]).status().unwrap();
    let status = wait_for(&mut child, Duration::from_secs(120));
    assert!(!status.success(), "the run went on after a rank was killed");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("rank 2") || err.contains("signal 9") || err.contains("Killed"), "no message: {err}");
    assert!(!killed.join("config_0012.nersc").exists(), "the run finished before the kill: the test shows nothing");
    let t = Instant::now();
    while !rank_pids(&k, 0).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(60), "rank 0 of the killed run is still running");
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&mpirun(3, &strs(&long(&k))).output().unwrap());
    same_run(&single, &killed, 12);
}
