//! The `fpa` binary end to end: resume after interruption, thread-count
//! independence of the files, and clear refusals of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fpa(args: &[&str], threads: usize) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fpa"))
        .args(args)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .expect("run fpa")
}

#[track_caller]
fn ok(o: &Output) {
    assert!(o.status.success(), "fpa failed: {}", String::from_utf8_lossy(&o.stderr));
}

#[track_caller]
fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "fpa should have failed");
    assert!(err.contains(needle), "message does not mention {needle:?}: {err}");
}

/// The link data of a NERSC file (the header carries a creation date).
fn data(path: &Path) -> Vec<u8> {
    let b = std::fs::read(path).unwrap();
    let end = b.windows(11).position(|w| w == b"END_HEADER\n").unwrap() + 11;
    b[end..].to_vec()
}

fn gen_args<'a>(out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "generate",
        "--lattice",
        "4x4x4x4",
        "--beta",
        "5.8",
        "--therm",
        "6",
        "--every",
        "3",
        "--configs",
        "3",
        "--seed",
        "9",
        "--or",
        "2",
        "--quiet",
        "--out",
        out,
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn generate_resumes_and_is_thread_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&fpa(&gen_args(a_s, &[]), 1));
    // b: interrupted twice (once during thermalisation, once between configs), on 2 threads.
    ok(&fpa(&gen_args(b_s, &["--stop-after", "4"]), 2));
    assert!(!b.join("config_0001.nersc").exists());
    ok(&fpa(&gen_args(b_s, &["--stop-after", "6"]), 2));
    assert!(b.join("config_0001.nersc").exists() && !b.join("config_0003.nersc").exists());
    ok(&fpa(&gen_args(b_s, &[]), 2));
    for i in 1..=3 {
        let f = format!("config_{i:04}.nersc");
        assert_eq!(data(&a.join(&f)), data(&b.join(&f)), "{f} differs between runs");
    }
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(a.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["plaquette_history"].as_array().unwrap().len(), 15);
    assert!(a.join("plaquette.svg").exists());
    // No temporary or thermalisation checkpoint files are left behind.
    for e in std::fs::read_dir(&b).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!n.ends_with(".tmp") && !n.starts_with("checkpoint_"), "left over: {n}");
    }

    // Measure: table and JSON.
    let f1 = a.join("config_0001.nersc");
    let o = fpa(&["measure", f1.to_str().unwrap(), "--json"], 2);
    ok(&o);
    let m: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let p = m[0]["plaquette"].as_f64().unwrap();
    assert!((0.3..0.8).contains(&p), "plaquette {p}");
    assert_eq!(m[0]["wilson_loops"].as_array().unwrap().len(), 4);

    // Extending a finished run with more configurations continues the same chain.
    let mut more = gen_args(a_s, &[]);
    more[10] = "4";
    ok(&fpa(&more, 2));
    ok(&fpa(&gen_args(b_s, &[]), 1));
    assert_eq!(data(&a.join("config_0003.nersc")), data(&b.join("config_0003.nersc")));
    assert!(a.join("config_0004.nersc").exists());
}

/// `generate --fused`: refused where it cannot run (no packed layout; a CPU without FMA), and where
/// it runs, recorded in the settings, resumable with the flag and thread-independent, its
/// configurations near (not equal to) the exact run's, and not resumed without the flag.
#[test]
fn fused_generate_is_recorded_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = |n: &str| tmp.path().join(n).to_str().unwrap().to_string();
    let six = dir("six");
    fails_with(&fpa(&["generate", "--lattice", "6x6x6x6", "--fused", "--out", &six], 1), "packed layout");
    let kernel = fpa_core::simd::kernel();
    if !kernel.has_fma() {
        fails_with(&fpa(&gen_args(&dir("f"), &["--fused"]), 1), "fused multiply-add");
        return;
    }
    let (exact, fused, resumed) = (dir("exact"), dir("fused"), dir("resumed"));
    ok(&fpa(&gen_args(&exact, &[]), 2));
    ok(&fpa(&gen_args(&fused, &["--fused"]), 1));
    ok(&fpa(&gen_args(&resumed, &["--fused", "--stop-after", "7"]), 2));
    ok(&fpa(&gen_args(&resumed, &["--fused"]), 2));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(Path::new(&fused).join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["settings"]["fused"], true);
    for i in 1..=3 {
        let f = format!("config_{i:04}.nersc");
        let (a, b) = (data(&Path::new(&fused).join(&f)), data(&Path::new(&resumed).join(&f)));
        assert_eq!(a, b, "{f}: the fused run differs after a resume on other threads");
        assert_ne!(a, data(&Path::new(&exact).join(&f)), "{f}: --fused gave the exact bits");
    }
    fails_with(&fpa(&gen_args(&fused, &[]), 1), "different settings");
}

#[test]
fn bad_input_is_refused_without_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let run_s = run.to_str().unwrap();
    fails_with(&fpa(&["generate", "--lattice", "4x4x4", "--out", run_s], 1), "4D");
    fails_with(&fpa(&["generate", "--lattice", "4x4x5x4", "--out", run_s], 1), "even");
    fails_with(&fpa(&["generate", "--lattice", "4xx4", "--out", run_s], 1), "--lattice");
    fails_with(&fpa(&["generate", "--beta", "NaN", "--out", run_s], 1), "--beta");
    fails_with(&fpa(&["generate", "--beta=-1", "--out", run_s], 1), "--beta");
    ok(&fpa(&gen_args(run_s, &[]), 2));
    let before = std::fs::read(run.join("summary.json")).unwrap();
    // Different physics in the same directory: refused, nothing touched.
    let mut other = gen_args(run_s, &[]);
    other[4] = "6.1";
    fails_with(&fpa(&other, 2), "different settings");
    assert_eq!(std::fs::read(run.join("summary.json")).unwrap(), before);
    // A directory with foreign files is not used.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    fails_with(&fpa(&gen_args(foreign.to_str().unwrap(), &[]), 1), "not empty");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 1);

    // Damaged gauge files.
    let good = std::fs::read(run.join("config_0001.nersc")).unwrap();
    let mut flipped = good.clone();
    let n = flipped.len();
    flipped[n - 10] ^= 1;
    let bad = tmp.path().join("flipped.nersc");
    std::fs::write(&bad, &flipped).unwrap();
    fails_with(&fpa(&["measure", bad.to_str().unwrap()], 1), "CHECKSUM");
    let short = tmp.path().join("short.nersc");
    std::fs::write(&short, &good[..n - 1000]).unwrap();
    fails_with(&fpa(&["measure", short.to_str().unwrap()], 1), "truncated");
    fails_with(&fpa(&["measure", "/nonexistent/file.nersc"], 1), "cannot read");
    fails_with(&fpa(&["measure", run.join("summary.json").to_str().unwrap()], 1), "not a gauge file in a known format");
}

fn small_ensemble(dir: &Path, beta: &str, configs: &str) {
    ok(&fpa(
        &[
            "generate",
            "--lattice",
            "2x2x2x2",
            "--beta",
            beta,
            "--therm",
            "20",
            "--every",
            "5",
            "--configs",
            configs,
            "--seed",
            "3",
            "--quiet",
            "--out",
            dir.to_str().unwrap(),
        ],
        2,
    ));
}

fn index(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap()
}

/// `fp-data`: a dataset from two ensembles, resumed after a partial run,
/// equals one computed at once; numpy reads it and recomputes the Wilson
/// action from the stored links (when python3 with numpy is available, which
/// `cargo xtask test` ensures and announces with FPA_REQUIRE_NUMPY=1).
#[test]
fn fp_data_resumes_and_is_readable_from_numpy() {
    let tmp = tempfile::tempdir().unwrap();
    let (e1, e2) = (tmp.path().join("b5.5"), tmp.path().join("b6.5"));
    small_ensemble(&e1, "5.5", "2");
    small_ensemble(&e2, "6.5", "2");
    let full = tmp.path().join("full");
    let part = tmp.path().join("part");
    let args = |out: &Path, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["fp-data", "--ensemble", e1.to_str().unwrap(), "--ensemble", e2.to_str().unwrap()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(["--quiet".into(), "--out".into(), out.to_str().unwrap().into()]);
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |a: Vec<String>, t: usize| fpa(&a.iter().map(String::as_str).collect::<Vec<_>>(), t);
    ok(&run(args(&full, &[]), 2));
    ok(&run(args(&part, &["--limit", "1"]), 1));
    assert_eq!(index(&part)["configs"].as_array().unwrap().len(), 2);
    ok(&run(args(&part, &[]), 1));
    let (a, b) = (index(&full), index(&part));
    let ca = a["configs"].as_array().unwrap();
    assert_eq!(ca.len(), 4);
    assert_eq!(a["failed"].as_array().unwrap().len(), 0);
    for (x, y) in ca.iter().zip(b["configs"].as_array().unwrap()) {
        assert_eq!(x["id"], y["id"]);
        assert_eq!(x["a_fp"], y["a_fp"], "A_FP depends on thread count or resume");
        let f = x["d_fp"].as_str().unwrap();
        assert_eq!(std::fs::read(full.join(f)).unwrap(), std::fs::read(part.join(f)).unwrap());
        assert!(x["max_gradient"].as_f64().unwrap() < 1e-9);
    }
    // A configuration listed as failed (as an older fpa that could not solve minima on
    // kinks of N(Q) left it) stays failed on resume, and `--retry-failed` computes it.
    let mut idx = index(&part);
    let rec = idx["configs"].as_array_mut().unwrap().remove(1);
    for f in ["links", "d_fp"] {
        std::fs::remove_file(part.join(rec[f].as_str().unwrap())).unwrap();
    }
    idx["failed"] = serde_json::json!([{
        "id": rec["id"], "source": rec["source"], "beta_wil": rec["beta_wil"],
        "reason": "iteration limit", "max_gradient": 0.1, "iterations": 7
    }]);
    std::fs::write(part.join("index.json"), serde_json::to_vec(&idx).unwrap()).unwrap();
    ok(&run(args(&part, &[]), 1));
    assert_eq!(index(&part)["configs"].as_array().unwrap().len(), 3, "a failed configuration is not retried");
    assert_eq!(index(&part)["failed"][0]["id"], rec["id"]);
    ok(&run(args(&part, &["--retry-failed"]), 2));
    let b = index(&part);
    assert_eq!(b["failed"].as_array().unwrap().len(), 0);
    assert_eq!(b["configs"][1]["id"], rec["id"]);
    assert_eq!(b["configs"][1]["a_fp"], rec["a_fp"], "the retried minimisation differs");
    let f = rec["d_fp"].as_str().unwrap();
    assert_eq!(std::fs::read(full.join(f)).unwrap(), std::fs::read(part.join(f)).unwrap());

    // Other settings in the same directory are refused.
    let o = run(args(&full, &["--kappa", "5"]), 1);
    fails_with(&o, "other settings");
    fails_with(&run(args(&tmp.path().join("x"), &["--rhs", "magic"]), 1), "--rhs");
    fails_with(&run(args(&tmp.path().join("y"), &["--rhs", "inception:7"]), 1), "inception depth");
    fails_with(
        &fpa(&["fp-data", "--ensemble", "/nonexistent", "--out", tmp.path().join("z").to_str().unwrap()], 1),
        "summary.json",
    );

    // --wilson-flow: every configuration enters at each flow time (0: as it is, the same record
    // as without the option); the flowed links are the Wilson flow of the ensemble file.
    let flowed = tmp.path().join("flowed");
    ok(&run(args(&flowed, &["--limit", "1", "--wilson-flow", "0", "--wilson-flow", "0.2"]), 2));
    let f = index(&flowed);
    let cf = f["configs"].as_array().unwrap();
    assert_eq!(cf.len(), 4, "2 ensembles x 1 configuration x 2 flow times");
    for pair in cf.chunks(2) {
        let (plain, smooth) = (&pair[0], &pair[1]);
        let same = ca.iter().find(|c| c["id"] == plain["id"]).expect("the t = 0 entry is the plain one");
        assert_eq!(plain["a_fp"], same["a_fp"]);
        assert!(plain.get("flow_time").is_none());
        assert_eq!(smooth["id"], format!("{}_flow0.2", plain["id"].as_str().unwrap()));
        assert_eq!(smooth["flow_time"], 0.2);
        let file = plain["source"].as_str().unwrap();
        let mut v = fpa_cli::files::read_gauge(Path::new(file)).unwrap().field;
        let wilson = fpa_core::observe::flow::FlowKind::Action(&fpa_core::action::Wilson);
        fpa_core::observe::flow::flow(wilson, &mut v, 0.2, fpa_cli::fp_data::FLOW_STEP, usize::MAX, |_| {});
        let stored =
            fpa_core::io::npy::decode(&std::fs::read(flowed.join(smooth["links"].as_str().unwrap())).unwrap()).unwrap();
        let want: Vec<f64> = v.links().iter().flat_map(|m| m.m.iter().flatten().flat_map(|z| [z.re, z.im])).collect();
        assert_eq!(stored.data, want, "the stored links are the flowed field");
        let (a0, a1) = (plain["a_wilson"].as_f64().unwrap(), smooth["a_wilson"].as_f64().unwrap());
        assert!(a1 < 0.7 * a0, "the flow smooths: A_W {a0} -> {a1}");
        assert!(smooth["a_fp"].as_f64().unwrap() < plain["a_fp"].as_f64().unwrap());
    }
    let bad_flows = [
        (&["--wilson-flow=-1"][..], "flow time"),
        (&["--wilson-flow", "NaN"], "flow time"),
        (&["--wilson-flow", "0.1", "--wilson-flow", "0.1"], "twice"),
    ];
    for (bad, why) in bad_flows {
        fails_with(&run(args(&tmp.path().join("w"), bad), 1), why);
    }

    let python = Command::new("python3").args(["-c", "import numpy"]).status().map(|s| s.success()).unwrap_or(false);
    if std::env::var("FPA_REQUIRE_NUMPY").is_ok() || python {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/check_fp_data.py");
        let o = Command::new("python3").args([script, full.to_str().unwrap()]).output().expect("python3");
        assert!(
            o.status.success(),
            "numpy check failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    } else {
        eprintln!("numpy not available: skipped the numpy check (cargo xtask test runs it)");
    }
}

fn python_with_numpy() -> bool {
    let have = Command::new("python3").args(["-c", "import numpy"]).status().map(|s| s.success()).unwrap_or(false);
    if !have && std::env::var("FPA_REQUIRE_NUMPY").is_ok() {
        panic!("FPA_REQUIRE_NUMPY is set but python3 cannot import numpy");
    }
    have
}

/// `train` resumes after an interruption with the same result as an
/// uninterrupted run; `eval` writes a per-beta report beside the Wilson
/// action; the saved model gives the same action as an independent numpy
/// implementation of lge-cnn's conventions with the same weights; bad specs
/// and data are refused.
#[test]
fn train_resumes_eval_reports_and_weights_match_lge_cnn_conventions() {
    let tmp = tempfile::tempdir().unwrap();
    let ens = tmp.path().join("b6.0");
    small_ensemble(&ens, "6.0", "4");
    let data = tmp.path().join("data");
    ok(&fpa(&["fp-data", "--ensemble", ens.to_str().unwrap(), "--quiet", "--out", data.to_str().unwrap()], 2));
    let spec = tmp.path().join("spec.json");
    std::fs::write(
        &spec,
        r#"{"layers": [{"type": "plaq"}, {"type": "lcb", "out": 3, "kernel": 2}, {"type": "lcb", "out": 3, "kernel": 1}],
            "head": {"imag": true}, "init_scale": 0.3}"#,
    )
    .unwrap();
    let d = data.to_str().unwrap();
    let s = spec.to_str().unwrap();
    let (m1, m2) = (tmp.path().join("a.safetensors"), tmp.path().join("b.safetensors"));
    let train = |out: &Path, extra: &[&str], threads: usize| {
        let mut a =
            vec!["train", "--data", d, "--model", s, "--epochs", "3", "--batch", "2", "--lr", "3e-3", "--quiet"];
        a.extend(["--out", out.to_str().unwrap()]);
        a.extend_from_slice(extra);
        fpa(&a, threads)
    };
    ok(&train(&m1, &[], 2));
    ok(&train(&m2, &["--stop-after", "1"], 1));
    assert!(!m2.exists(), "an interrupted run writes no final model");
    ok(&train(&m2, &[], 1));
    // The same weights bit for bit (2 threads uninterrupted, 1 thread resumed). Not the same file:
    // the metadata's training log holds each epoch's wall time.
    let weights = |p: &Path| fpa_core::lcnn::model_file::decode(&std::fs::read(p).unwrap()).unwrap().1;
    let (w1, w2) = (weights(&m1), weights(&m2));
    assert!(
        w1.len() == w2.len() && w1.iter().zip(&w2).all(|(a, b)| a.to_bits() == b.to_bits()),
        "resumed training on 1 thread gave other weights than an uninterrupted run on 2"
    );
    let log: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("a.safetensors.log.json")).unwrap()).unwrap();
    let log2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("b.safetensors.log.json")).unwrap()).unwrap();
    for (x, y) in log["epochs"].as_array().unwrap().iter().zip(log2["epochs"].as_array().unwrap()) {
        assert_eq!(x["train_l1"], y["train_l1"], "resumed training differs");
        assert_eq!(x["val_l2"], y["val_l2"]);
    }
    assert!(tmp.path().join("a.safetensors.loss.svg").exists());
    let o = fpa(&["eval", "--model", m1.to_str().unwrap(), "--data", d, "--json"], 2);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["per_beta"][0]["configs"], 4);
    assert!(report["per_beta"][0]["wilson"]["rel_error"].as_f64().unwrap() > 0.0);
    assert!(tmp.path().join("a.safetensors.eval.relerr.svg").exists());

    // A learning rate far too large: diverging epochs are taken back and redone at half the
    // rate, and the run ends with a finite model; early stopping records why it stopped.
    let m3 = tmp.path().join("hot.safetensors");
    let a = ["train", "--data", d, "--model", s, "--epochs", "4", "--batch", "2", "--lr", "1", "--quiet", "--out"];
    ok(&fpa(&[&a[..], &[m3.to_str().unwrap(), "--patience", "1"]].concat(), 2));
    let log3: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("hot.safetensors.log.json")).unwrap()).unwrap();
    assert!(log3["halvings"].as_u64().unwrap() >= 1, "no epoch was taken back: {log3}");
    assert!(all_finite(&log3["epochs"]), "non-finite losses kept: {log3}");
    assert!(m3.exists());

    // Two --data directories (the second weighted: DIR@W): the split is reported per directory
    // and adds up to the log's.
    let two = tmp.path().join("two.safetensors");
    let d2 = format!("{d}@2");
    let a = ["train", "--data", d, "--data", &d2, "--model", s, "--epochs", "1", "--batch", "2", "--out"];
    let o_two = fpa(&[&a[..], &[two.to_str().unwrap()]].concat(), 1);
    ok(&o_two);
    let err = String::from_utf8_lossy(&o_two.stderr);
    let counts: Vec<(u64, u64)> = err
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{d}: ")).or_else(|| l.strip_prefix(&format!("{d2}: "))))
        .map(|l| {
            let n: Vec<u64> = l.split(' ').filter_map(|w| w.parse().ok()).collect();
            (n[0], n[1])
        })
        .collect();
    assert_eq!(counts.len(), 2, "{err}");
    let log_two: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("two.safetensors.log.json")).unwrap()).unwrap();
    assert_eq!(counts.iter().map(|c| c.0).sum::<u64>(), log_two["train_configs"].as_u64().unwrap());
    assert_eq!(counts.iter().map(|c| c.1).sum::<u64>(), log_two["val_configs"].as_u64().unwrap());
    assert_eq!(log_two["val_configs"], 2, "round(0.2 x 8) configurations held out");
    // --train-only: the named directory (as given to --data) keeps all of its configurations in
    // training; the other directory's split is the one above. Seed 6 holds out one of each.
    let split = |extra: &[&str], out: &str| {
        let a = ["train", "--data", d, "--data", &d2, "--model", s, "--epochs", "1", "--batch", "2", "--seed", "6"];
        let o = fpa(&[&a[..], extra, &["--out", tmp.path().join(out).to_str().unwrap()]].concat(), 1);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr).to_string();
        let count = |prefix: &str| -> (u64, u64) {
            let l = err.lines().find_map(|l| l.strip_prefix(&format!("{prefix}: "))).unwrap_or_else(|| panic!("{err}"));
            let n: Vec<u64> = l.split(' ').filter_map(|w| w.parse().ok()).collect();
            (n[0], n[1])
        };
        let log: serde_json::Value =
            serde_json::from_slice(&std::fs::read(tmp.path().join(format!("{out}.log.json"))).unwrap()).unwrap();
        (count(d), count(&d2), log["train_configs"].as_u64().unwrap(), log["val_configs"].as_u64().unwrap())
    };
    let (plain_1, plain_2, _, _) = split(&[], "s3.safetensors");
    assert_eq!((plain_1.1, plain_2.1), (1, 1), "seed 6 holds out one configuration of each directory");
    let (kept_1, kept_2, n_train, n_val) = split(&["--train-only", &d2], "s3k.safetensors");
    assert_eq!(kept_1, plain_1, "the other directory's split does not change");
    assert_eq!(kept_2, (4, 0), "the --train-only directory keeps every configuration in training");
    assert_eq!((n_train, n_val), (7, 1));
    let a = ["train", "--data", d, "--model", s, "--epochs", "1", "--train-only", "elsewhere", "--out"];
    fails_with(&fpa(&[&a[..], &[two.to_str().unwrap()]].concat(), 1), "--train-only elsewhere: not one of the --data");
    let a = ["train", "--data", &format!("{d}@0"), "--model", s, "--epochs", "1", "--out"];
    fails_with(&fpa(&[&a[..], &[two.to_str().unwrap()]].concat(), 1), "must be a positive number");

    // Bad input.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, r#"{"layers": [{"type": "lcb", "out": 3}], "head": {}}"#).unwrap();
    let mut a = vec!["train", "--data", d, "--model", bad.to_str().unwrap(), "--epochs", "1", "--out"];
    let o_bad = tmp.path().join("c.safetensors");
    a.push(o_bad.to_str().unwrap());
    fails_with(&fpa(&a, 1), "layer 0");
    std::fs::write(&bad, r#"{"layers": [{"type": "plaq"}], "head": {}, "dims": 2}"#).unwrap();
    fails_with(&fpa(&a, 1), "2D lattices");
    std::fs::write(&bad, r#"{"layers": [{"type": "plaq", "oops": 1}], "head": {}}"#).unwrap();
    fails_with(&fpa(&a, 1), "oops");
    fails_with(&fpa(&["eval", "--model", spec.to_str().unwrap(), "--data", d], 1), "not a model file");
    assert!(!o_bad.exists());

    // The squared relative value loss: recorded in the log, and refused on data with A_FP <= 0.
    let rel = tmp.path().join("rel.safetensors");
    ok(&train(&rel, &["--value-loss", "relative-squared", "--w1", "100"], 2));
    let log_rel: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("rel.safetensors.log.json")).unwrap()).unwrap();
    assert_eq!(log_rel["settings"]["weights"]["value"], "relative_squared");
    assert!(all_finite(&log_rel["epochs"]), "{log_rel}");
    let zero = tmp.path().join("zero");
    std::fs::create_dir(&zero).unwrap();
    for e in std::fs::read_dir(&data).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), zero.join(e.file_name())).unwrap();
    }
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(zero.join("index.json")).unwrap()).unwrap();
    index["configs"][0]["a_fp"] = serde_json::json!(0.0);
    std::fs::write(zero.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let o_zero = tmp.path().join("zero.safetensors");
    let z = ["train", "--data", zero.to_str().unwrap(), "--model", s, "--value-loss", "relative-squared", "--out"];
    fails_with(&fpa(&[&z[..], &[o_zero.to_str().unwrap()]].concat(), 1), "divides by A_FP");
    assert!(!o_zero.exists());

    // To lge-cnn and back (scripts/lge_cnn.py): the lge-cnn state dict, run through an
    // independent numpy forward pass in lge-cnn's conventions, gives fpa's actions; the
    // model converted back gives them again through `fpa eval`.
    if python_with_numpy() {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/lge_cnn.py");
        let py = |args: &[&str]| {
            let o = Command::new("python3").arg(script).args(args).output().unwrap();
            assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        };
        let ev = tmp.path().join("a.safetensors.eval.json");
        let state = tmp.path().join("a.lge.npz");
        let back = tmp.path().join("back.safetensors");
        py(&["to-lge", m1.to_str().unwrap(), state.to_str().unwrap()]);
        py(&["check", state.to_str().unwrap(), d, ev.to_str().unwrap()]);
        py(&["from-lge", state.to_str().unwrap(), back.to_str().unwrap()]);
        let o = fpa(&["eval", "--model", back.to_str().unwrap(), "--data", d, "--json"], 2);
        ok(&o);
        let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let before: serde_json::Value = serde_json::from_slice(&std::fs::read(&ev).unwrap()).unwrap();
        for (x, y) in before["configs"].as_array().unwrap().iter().zip(again["configs"].as_array().unwrap()) {
            let (a, b) = (x["a_model"].as_f64().unwrap(), y["a_model"].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-10 * a.abs().max(1.0), "fpa -> lge-cnn -> fpa changed the action: {a} vs {b}");
        }
    }
}

fn shipped_model() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../models/fp-action.safetensors").to_string()
}

/// `fit-classical`: the APE-type polynomial fitted to FP data beats Wilson on its objective, does
/// not depend on the thread count, serves as `eval --baseline` and as `--flow`, and bad input is
/// refused with a message that names it.
#[test]
fn fit_classical_beats_wilson_and_serves_as_an_action() {
    let tmp = tempfile::tempdir().unwrap();
    let ens = tmp.path().join("b5.5");
    small_ensemble(&ens, "5.5", "4");
    let data = tmp.path().join("data");
    ok(&fpa(&["fp-data", "--ensemble", ens.to_str().unwrap(), "--quiet", "--out", data.to_str().unwrap()], 2));
    let d = data.to_str().unwrap();
    let (c1, c2) = (tmp.path().join("c1.json"), tmp.path().join("c2.json"));
    let fit = |out: &Path, threads: usize| {
        let a = ["fit-classical", "--data", d, "--smear", "0.05", "--smear", "0.1", "--degree", "3", "--out"];
        fpa(&[&a[..], &[out.to_str().unwrap()]].concat(), threads)
    };
    ok(&fit(&c1, 1));
    ok(&fit(&c2, 2));
    let read = |p: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let (f1, f2) = (read(&c1), read(&c2));
    assert_eq!(f1["coeffs"], f2["coeffs"], "the fit depends on the thread count");
    assert_eq!(f1["kind"], "fat-polynomial");
    assert_eq!(f1["terms"].as_array().unwrap().len(), 9, "degree 3: 9 terms");
    assert_eq!(f1["scan"].as_array().unwrap().len(), 2);
    let (obj, wil) = (f1["objective"].as_f64().unwrap(), f1["objective_wilson"].as_f64().unwrap());
    assert!(obj < 0.5 * wil, "fitted objective {obj} vs Wilson's {wil}");
    let lead = f1["leading_sum"].as_f64().unwrap();
    assert!((lead - 1.0).abs() < 1e-12, "normalisation imposed: {lead}");

    let ev = tmp.path().join("ev");
    let e = ["eval", "--model", &shipped_model(), "--data", d, "--out", ev.to_str().unwrap(), "--baseline"];
    let o = fpa(&[&e[..], &[c1.to_str().unwrap(), "--json"]].concat(), 2);
    ok(&o);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = report["baselines"].as_array().unwrap();
    let ours = rows.iter().find(|r| r["action"] == "c1.json").expect("the --baseline row");
    let m = &ours["per_beta"][0][1];
    assert!(
        m["invariant_loss"].as_f64().unwrap() < report["per_beta"][0]["wilson"]["invariant_loss"].as_f64().unwrap(),
        "the fitted action's derivatives are no better than Wilson's on its own data: {ours}"
    );

    let f = tmp.path().join("flow");
    let a = [
        "flow",
        ens.to_str().unwrap(),
        "--flow",
        c1.to_str().unwrap(),
        "--tmax",
        "0.1",
        "--dt",
        "0.05",
        "--quiet",
        "--out",
    ];
    ok(&fpa(&[&a[..], &[f.to_str().unwrap()]].concat(), 2));

    // Bad input.
    let a = ["fit-classical", "--data", d, "--smear", "0", "--out", c2.to_str().unwrap()];
    fails_with(&fpa(&a, 1), "--smear");
    let broken = tmp.path().join("broken.json");
    std::fs::write(&broken, r#"{"kind": "fat-polynomial"}"#).unwrap();
    let e = [&e[..], &[broken.to_str().unwrap()]].concat();
    fails_with(&fpa(&e, 1), "not a classical-action file");
    let mut short = f1.clone();
    short["coeffs"] = serde_json::json!([1.0]);
    std::fs::write(&broken, serde_json::to_vec(&short).unwrap()).unwrap();
    fails_with(&fpa(&e, 1), "terms but 1 coefficients");
}

fn all_finite(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        serde_json::Value::Array(a) => a.iter().all(all_finite),
        serde_json::Value::Object(o) => o.values().all(all_finite),
        _ => true,
    }
}

/// The whole program on a tiny default: ensembles, FP data, training,
/// evaluation, one self-consistent round, the instanton refit, transfer, instantons, locality and
/// the report. Every number in summary.json is finite, the L-CNN beats the
/// Wilson action on the relative action error, the report is one offline
/// page, and a second run finds every stage up to date, also in the moved run directory.
#[test]
fn tiny_pipeline_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let o = fpa(&["pipeline", "--preset", "tiny", "--quiet", "--out", out.to_str().unwrap()], 2);
    ok(&o);
    let s: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert!(all_finite(&s), "non-finite number in summary.json");
    let best = s["best_round"].as_u64().unwrap() as usize;
    let r = &s["rounds"][best];
    let (l, w) = (r["lcnn_rel_error"].as_f64().unwrap(), r["wilson_rel_error"].as_f64().unwrap());
    assert!(l < w, "L-CNN relative action error {l} is not below Wilson's {w}");
    assert!(
        s["rounds"].as_array().unwrap().len() >= 2 || !s["failed_round"].is_null(),
        "the iteration ran or said why not"
    );
    assert_eq!(s["instantons"].as_array().unwrap().len(), 2);
    // The instanton refit (tiny: one instanton, rho = 1.25): the refitted model is the final one
    // and describes the tuning instanton at least as well as the model it started from.
    let refit = &s["instanton_refit"];
    let before = refit["lcnn_over_fp_before"][0].as_f64().unwrap();
    let after = refit["lcnn_over_fp_after"][0].as_f64().unwrap();
    assert!((after - 1.0).abs() <= (before - 1.0).abs(), "instanton refit: A/A_FP {before} -> {after}");
    assert_eq!(refit["per_beta"].as_array().unwrap().len(), 2);
    assert!(!s["locality"].as_array().unwrap().is_empty());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let external = ["src=\"http", "href=\"http", "@import", "<link"].iter().any(|p| html.contains(p));
    assert!(html.contains("<svg") && !external, "report is not self-contained");
    // A second run finds every stage up to date, also after the run directory moved.
    let moved = tmp.path().join("moved");
    for (i, dir) in [&out, &moved].into_iter().enumerate() {
        if i == 1 {
            std::fs::rename(&out, &moved).unwrap();
        }
        let o = fpa(&["pipeline", "--preset", "tiny", "--out", dir.to_str().unwrap()], 2);
        ok(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        let stages: Vec<&str> = err.lines().filter(|l| l.starts_with('[') && l.contains(" s] ")).collect();
        let redone: Vec<&&str> = stages.iter().filter(|l| !l.ends_with(": up to date")).collect();
        assert!(!stages.is_empty() && redone.is_empty(), "run {i} redid stages: {redone:?}");
    }
}

/// How much smaller than Wilson's the shipped model's relative action error must be on two fresh
/// 4⁴ configurations at β_wil = 5.0 and at 7.0. The model card reports 17.5x and 283x there on
/// ten configurations each (step 3, shipped until session 37: 12.0x and 54x, and on this test's two
/// configurations 10.2x and 52x); two configurations fluctuate, and a model at the Wilson level fails.
const SHIPPED_MODEL_FACTOR: f64 = 5.0;
/// The same for the invariant loss of the derivatives at β_wil = 5.0 and 7.0 (model card: 3.0x
/// and 30.4x on ten configurations; step 3: 2.8x and 23.0x there, this test's configurations 3.0x
/// and 23.6x; step 2c's model
/// had 2.9x and 23.1x here, step 2b's 2.6x and 17.4x and fails, the ones before it 2.3x and 12x,
/// 1.8x and 4.7x, 1.05x and 0.93x on the model card's data).
const SHIPPED_DERIVATIVE_FACTOR: [f64; 2] = [2.2, 18.0];

/// The shipped FP action `models/fp-action.safetensors`: a gauge-invariant action, and on
/// freshly generated 4⁴ Wilson configurations (seeds unlike the training data's) at two
/// couplings, with their FP values computed here, its relative action error is at least
/// `SHIPPED_MODEL_FACTOR` below Wilson's.
#[test]
fn shipped_fp_action_beats_wilson() {
    use fpa_core::action::Action;
    use fpa_core::lattice::{GaugeField, GaugeTransform, Geometry};
    use fpa_core::lcnn::action::LcnnAction;
    use std::sync::Arc;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/fp-action.safetensors");
    let bytes = std::fs::read(&path).expect("the shipped model exists");
    let (model, params, _) = fpa_core::lcnn::model_file::decode(&bytes).unwrap();
    let action = LcnnAction::new(model, params, "shipped".into());
    let geom = Arc::new(Geometry::new(&[4, 4, 4, 4]).unwrap());
    let u = GaugeField::<f64>::hot(geom.clone(), 77);
    let a = Action::<f64>::value(&action, &u);
    let b = Action::<f64>::value(&action, &GaugeTransform::random(geom, 78).apply(&u));
    assert!((a - b).abs() < 1e-10 * a.abs(), "gauge invariance: {a} vs {b}");

    let tmp = tempfile::tempdir().unwrap();
    let mut fp_args = vec!["fp-data".to_string()];
    for (beta, seed) in [("5.0", "4242"), ("7.0", "4343")] {
        let e = tmp.path().join(format!("b{beta}"));
        ok(&fpa(
            &[
                "generate",
                "--lattice",
                "4x4x4x4",
                "--beta",
                beta,
                "--therm",
                "100",
                "--every",
                "10",
                "--configs",
                "2",
                "--seed",
                seed,
                "--quiet",
                "--out",
                e.to_str().unwrap(),
            ],
            2,
        ));
        fp_args.extend(["--ensemble".into(), e.display().to_string()]);
    }
    let data = tmp.path().join("fp");
    fp_args.extend(["--quiet".into(), "--out".into(), data.display().to_string()]);
    ok(&fpa(&fp_args.iter().map(String::as_str).collect::<Vec<_>>(), 2));
    // In a directory that does not exist yet: eval creates it.
    let out = tmp.path().join("reports").join("eval");
    let (model_arg, data_arg, out_arg) = (path.to_str().unwrap(), data.to_str().unwrap(), out.to_str().unwrap());
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "--model", model_arg, "--data", data_arg, "--json", "--out", out_arg];
        args.extend(extra);
        fpa(&args, 2)
    };
    let o = eval(&[]);
    ok(&o);
    assert!(tmp.path().join("reports/eval.json").is_file() && tmp.path().join("reports/eval.relerr.svg").is_file());
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = report["per_beta"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for (r, dfactor) in rows.iter().zip(SHIPPED_DERIVATIVE_FACTOR) {
        let (l, w) = (r["lcnn"]["rel_error"].as_f64().unwrap(), r["wilson"]["rel_error"].as_f64().unwrap());
        assert!(
            l * SHIPPED_MODEL_FACTOR <= w,
            "beta_wil {}: relative action error {l:.3e} is not {SHIPPED_MODEL_FACTOR}x below Wilson's {w:.3e}",
            r["beta_wil"]
        );
        let (l, w) = (r["lcnn"]["invariant_loss"].as_f64().unwrap(), r["wilson"]["invariant_loss"].as_f64().unwrap());
        assert!(
            l * dfactor <= w,
            "beta_wil {}: invariant loss {l:.3e} is not {dfactor}x below Wilson's {w:.3e}",
            r["beta_wil"]
        );
    }
    // Averaged over the 16 reflections: the report says so, and at weak coupling, where most of the
    // model's derivative error is not symmetric, the average is well below the plain model's error.
    let o = eval(&["--symmetrize", "reflections"]);
    ok(&o);
    let sym: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(sym["symmetrize"], "reflections");
    let weak = |r: &serde_json::Value| r["per_beta"][1]["lcnn"]["invariant_loss"].as_f64().unwrap();
    assert!(
        weak(&sym) * 1.5 < weak(&report),
        "averaged {:.3e} vs plain {:.3e} at beta_wil 7.0",
        weak(&sym),
        weak(&report)
    );
    fails_with(&eval(&["--symmetrize", "rotations"]), "is not `reflections` or `hypercubic`");
}

fn hmc_args<'a>(out: &'a str, action: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "hmc",
        "--action",
        action,
        "--lattice",
        "4x4x4x4",
        "--beta",
        "5.8",
        "--tau",
        "0.5",
        "--steps",
        "5",
        "--therm",
        "4",
        "--every",
        "2",
        "--configs",
        "3",
        "--seed",
        "3",
        "--quiet",
        "--out",
        out,
        "--warmup",
        "2",
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn hmc_resumes_bit_identically_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let (a_s, b_s) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&fpa(&hmc_args(a_s, "symanzik", &[]), 1));
    // b: interrupted during thermalisation and between configurations, on 2 threads.
    ok(&fpa(&hmc_args(b_s, "symanzik", &["--stop-after", "3"]), 2));
    ok(&fpa(&hmc_args(b_s, "symanzik", &["--stop-after", "4"]), 2));
    assert!(b.join("config_0001.nersc").exists() && !b.join("config_0003.nersc").exists());
    ok(&fpa(&hmc_args(b_s, "symanzik", &[]), 2));
    for i in 1..=3 {
        let f = format!("config_{i:04}.nersc");
        assert_eq!(data(&a.join(&f)), data(&b.join(&f)), "{f} differs between runs");
    }
    let read = |d: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap()
    };
    let (sa, sb) = (read(&a), read(&b));
    assert_eq!(sa["history"], sb["history"], "dH and plaquette histories differ");
    assert_eq!(sa["history"].as_array().unwrap().len(), 10);
    let acc = sa["statistics"]["acceptance"].as_f64().unwrap();
    assert!(acc > 0.5, "acceptance {acc} at tau 0.5 with 5 Omelyan steps");
    assert!(sa["timing"]["force_fraction"].as_f64().unwrap() > 0.0);
    assert!(a.join("plaquette.svg").exists() && a.join("dh.svg").exists());
    for e in std::fs::read_dir(&b).unwrap() {
        let n = e.unwrap().file_name().to_string_lossy().to_string();
        assert!(!n.ends_with(".tmp") && !n.starts_with("checkpoint_"), "left over: {n}");
    }
    // Another action in the same directory: refused, nothing touched.
    let before = std::fs::read(a.join("summary.json")).unwrap();
    fails_with(&fpa(&hmc_args(a_s, "wilson", &[]), 1), "different settings");
    assert_eq!(std::fs::read(a.join("summary.json")).unwrap(), before);
    let c = tmp.path().join("c");
    let c_s = c.to_str().unwrap();
    fails_with(&fpa(&hmc_args(c_s, "nosuchaction", &[]), 1), "not one of");
    let with = |i: usize, value: &'static str| {
        let mut v = hmc_args(c_s, "wilson", &[]);
        v[i] = value;
        fpa(&v, 1)
    };
    fails_with(&with(10, "0"), "--steps");
    fails_with(&with(8, "NaN"), "--tau");
    fails_with(&with(6, "0"), "--beta");
    fails_with(&with(23, "5"), "--warmup");
    // A step far too large: without warm-up every trajectory is rejected (SU(3) is compact, ΔH stays
    // finite), the chain stays at its cold start.
    let mut huge = hmc_args(c_s, "wilson", &[]);
    (huge[8], huge[23]) = ("1e6", "0");
    ok(&fpa(&huge, 1));
    let sc = read(&c);
    assert_eq!(sc["statistics"]["acceptance"].as_f64().unwrap(), 0.0);
    assert_eq!(sc["configs"][0]["plaquette"].as_f64().unwrap(), 1.0);
    // A damaged model file is named.
    let bad = tmp.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a model").unwrap();
    let d = tmp.path().join("d");
    fails_with(&fpa(&hmc_args(d.to_str().unwrap(), bad.to_str().unwrap(), &[]), 1), "bad.safetensors");

    // The flow of the HMC configurations: JSON, cache-resume, plots, refusals.
    let f = tmp.path().join("flow");
    let f_s = f.to_str().unwrap();
    let flow = |extra: &[&str]| {
        let mut v = vec!["flow", a_s, "--flow", "zeuthen", "--tmax", "0.3", "--dt", "0.05", "--out", f_s, "--quiet"];
        v.extend_from_slice(extra);
        fpa(&v, 2)
    };
    let o = flow(&["--json"]);
    ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["configs"].as_array().unwrap().len(), 3);
    assert_eq!(r["t"].as_array().unwrap().len(), 7);
    let e: Vec<f64> =
        r["configs"][0]["points"].as_array().unwrap().iter().map(|p| p["e_clover"].as_f64().unwrap()).collect();
    assert!(e.windows(2).all(|w| w[1] < w[0]), "E_clov falls along the flow: {e:?}");
    assert!(r["curves"][0]["t2e"][6]["error"].as_f64().unwrap() > 0.0, "jackknife error");
    let again: serde_json::Value = serde_json::from_slice(&flow(&["--json"]).stdout).unwrap();
    assert!(again["curves"] == r["curves"] && again["configs"] == r["configs"], "cached flows give the same report");
    assert!(f.join("t2e.svg").exists() && f.join("w.svg").exists());
    fails_with(&flow(&["--dt", "0"]), "--dt");
    fails_with(&fpa(&["flow", tmp.path().join("none").to_str().unwrap(), "--out", f_s], 1), "no such file");
}

#[test]
fn scaling_study_tiny_preset() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let o = fpa(&["scaling", "--preset", "tiny", "--out", out.to_str().unwrap(), "--quiet"], 2);
    ok(&o);
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("scaling.json")).unwrap()).unwrap();
    let pts = r["points"].as_array().unwrap();
    assert_eq!(pts.len(), 3);
    // The coarser Wilson ensemble has the smaller t0/a² (when both reach it).
    if let (Some(a), Some(b)) = (pts[0]["t0"][0].as_f64(), pts[1]["t0"][0].as_f64()) {
        assert!(a < b, "t0/a² at beta 5.3 ({a}) below beta 5.5 ({b})");
    }
    assert!(pts[0]["t0"][0].as_f64().is_some(), "t0 reached at beta 5.3 on 4^4");
    assert_eq!(r["fits"].as_array().unwrap().len(), 2);
    assert!(out.join("scaling.svg").exists());
    // A rerun resumes from the finished HMC and flow runs and gives the same numbers.
    ok(&fpa(&["scaling", "--preset", "tiny", "--out", out.to_str().unwrap(), "--quiet"], 1));
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("scaling.json")).unwrap()).unwrap();
    assert_eq!(again["points"], r["points"]);
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[hmc]\ntau = 1\n").unwrap();
    fails_with(&fpa(&["scaling", "--config", bad.to_str().unwrap(), "--out", out.to_str().unwrap()], 1), "bad.toml");
    // A flow that does not exist is refused before any HMC runs.
    let o = fpa(&["scaling", "--print-config", "--preset", "tiny"], 1);
    let cfg = String::from_utf8_lossy(&o.stdout).replace("flow = \"wilson\"", "flow = \"nosuchflow\"");
    std::fs::write(&bad, cfg).unwrap();
    let fresh = tmp.path().join("fresh");
    fails_with(&fpa(&["scaling", "--config", bad.to_str().unwrap(), "--out", fresh.to_str().unwrap()], 1), "flow.flow");
    assert!(!fresh.exists(), "nothing written");
}

/// `--print-config` shows the small preset: both actions.
#[test]
fn scaling_prints_its_config() {
    let o = fpa(&["scaling", "--print-config"], 1);
    ok(&o);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("[[ensembles]]") && text.contains("fp-action.safetensors"), "{text}");
}

/// `fpa convert` chains NERSC → ILDG → openQCD → NERSC without changing a bit
/// of the links; `fpa measure` reads every format; damaged files are refused
/// and leave no output behind.
#[test]
fn convert_round_trips_and_refuses_damaged_files() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let ens = tmp.join("ens");
    small_ensemble(&ens, "6.0", "1");
    let src = ens.join("config_0001.nersc");
    let p = |n: &str| tmp.join(n).to_str().unwrap().to_string();
    ok(&fpa(&["convert", src.to_str().unwrap(), &p("a.lime"), "--format", "ildg"], 1));
    ok(&fpa(&["convert", &p("a.lime"), &p("b.cnfg"), "--format", "openqcd"], 1));
    ok(&fpa(&["convert", &p("b.cnfg"), &p("c.nersc"), "--format", "nersc"], 1));
    assert_eq!(data(&src), data(&tmp.join("c.nersc")), "links changed along NERSC → ILDG → openQCD → NERSC");
    let m = fpa(&["measure", "--json", src.to_str().unwrap(), &p("a.lime"), &p("b.cnfg")], 1);
    ok(&m);
    let v: serde_json::Value = serde_json::from_slice(&m.stdout).unwrap();
    let formats: Vec<&str> = v.as_array().unwrap().iter().map(|x| x["format"].as_str().unwrap()).collect();
    assert_eq!(formats, ["nersc", "ildg", "openqcd"]);
    let plaq: Vec<f64> = v.as_array().unwrap().iter().map(|x| x["plaquette"].as_f64().unwrap()).collect();
    assert!(plaq.iter().all(|&x| x == plaq[0]), "{plaq:?}");
    // Damaged inputs: a truncated LIME file, a flipped byte in openQCD data.
    let lime = std::fs::read(tmp.join("a.lime")).unwrap();
    std::fs::write(tmp.join("t.lime"), &lime[..lime.len() - 1000]).unwrap();
    fails_with(&fpa(&["convert", &p("t.lime"), &p("out.nersc"), "--format", "nersc"], 1), "truncated");
    let mut cnfg = std::fs::read(tmp.join("b.cnfg")).unwrap();
    cnfg[500] ^= 0x20;
    std::fs::write(tmp.join("f.cnfg"), &cnfg).unwrap();
    fails_with(&fpa(&["measure", &p("f.cnfg")], 1), "openQCD");
    fails_with(
        &fpa(&["convert", &p("b.cnfg"), &p("out.cnfg"), "--format", "openqcd", "--precision", "f32"], 1),
        "double",
    );
    assert!(!tmp.join("out.nersc").exists() && !tmp.join("out.cnfg").exists());
}

/// Started by an MPI launcher as one of several ranks, an fpa built without MPI refuses
/// instead of running the whole job once per rank on the same files.
#[cfg(not(feature = "mpi"))]
#[test]
fn a_build_without_mpi_refuses_to_run_as_one_of_several_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("e");
    let o = Command::new(env!("CARGO_BIN_EXE_fpa"))
        .args(gen_args(out.to_str().unwrap(), &[]))
        .env("OMPI_COMM_WORLD_SIZE", "2")
        .output()
        .unwrap();
    fails_with(&o, "built without MPI support");
    assert!(!out.exists(), "a refused run wrote {}", out.display());
    let o = Command::new(env!("CARGO_BIN_EXE_fpa"))
        .args(gen_args(out.to_str().unwrap(), &[]))
        .env("OMPI_COMM_WORLD_SIZE", "1")
        .output()
        .unwrap();
    ok(&o);
}

/// `fpa phi4`: the same numbers on 1 and 2 threads, the files it promises, and clear refusals.
#[test]
fn phi4_scan_is_thread_independent_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, threads: usize, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut args = vec!["phi4", "--lattice", "4,8", "--kappa", "0.24,0.28,0.32", "--lambda", "0.1"];
        args.extend(["--therm", "50", "--steps", "200", "--quiet", "--out", out.to_str().unwrap()]);
        args.extend_from_slice(extra);
        (fpa(&args, threads), out)
    };
    let (o1, d1) = run("one", 1, &[]);
    ok(&o1);
    let (o2, d2) = run("two", 2, &[]);
    ok(&o2);
    let points = |d: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("phi4.json")).unwrap()).unwrap();
        v["points"].clone()
    };
    assert_eq!(points(&d1), points(&d2), "phi4 results depend on the thread count");
    assert_eq!(points(&d1).as_array().unwrap().len(), 6);
    for f in ["binder.svg", "abs_m.svg"] {
        assert!(d1.join(f).exists(), "{f} missing");
    }
    let out = tmp.path().join("bad");
    let o = out.to_str().unwrap();
    fails_with(&fpa(&["phi4", "--lattice", "8,5", "--steps", "100", "--out", o], 1), "even L");
    fails_with(&fpa(&["phi4", "--kappa", "0.2:x:3", "--out", o], 1), "use FROM:TO:N");
    fails_with(&fpa(&["phi4", "--lambda=-1", "--out", o], 1), "lambda = -1");
    assert!(!out.exists(), "a refused run wrote {o}");
}

#[test]
fn charged_scan_matches_the_free_theory_and_is_thread_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str, threads: usize| {
        let out = tmp.path().join(name);
        let args = [
            "charged",
            "--lattice",
            "4x6,6x4",
            "--eta",
            "4.6",
            "--lambda",
            "0",
            "--mu",
            "0,0.4",
            "--therm",
            "100",
            "--updates",
            "3000",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ];
        (fpa(&args, threads), out)
    };
    let (o1, d1) = run("one", 1);
    ok(&o1);
    let (o2, d2) = run("two", 2);
    ok(&o2);
    let points = |d: &Path| {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("charged.json")).unwrap()).unwrap();
        v["points"].clone()
    };
    assert_eq!(points(&d1), points(&d2), "charged results depend on the thread count");
    let pts = points(&d1);
    assert_eq!(pts.as_array().unwrap().len(), 4);
    for p in pts.as_array().unwrap() {
        let exact = &p["free_theory"];
        for (key, i) in [("density", 0), ("phi2", 1)] {
            let (v, e, x) = (p[key][0].as_f64().unwrap(), p[key][1].as_f64().unwrap(), exact[i].as_f64().unwrap());
            assert!((v - x).abs() < 5.0 * e + 1e-3, "{key} = {v} +- {e}, exactly {x}, at {p}");
        }
    }
    for f in ["density.svg", "phi2.svg"] {
        assert!(d1.join(f).exists(), "{f} missing");
    }
    let out = tmp.path().join("bad");
    let o = out.to_str().unwrap();
    fails_with(&fpa(&["charged", "--lattice", "1x4", "--out", o], 1), "at least 2");
    fails_with(&fpa(&["charged", "--lattice", "8by4", "--out", o], 1), "use NXxNT");
    fails_with(&fpa(&["charged", "--mu", "0.2:x:3", "--out", o], 1), "use FROM:TO:N");
    fails_with(&fpa(&["charged", "--lambda", "0", "--eta", "4", "--mu", "0.5", "--out", o], 1), "2 + 2 cosh(mu)");
    assert!(!out.exists(), "a refused run wrote {o}");
}

/// `fpa blockspin` on 8×8 near the transition: the trained autoencoder reconstructs the held-out
/// configurations better than 2×2 block means, keeps ⟨|M|⟩ and the Binder cumulant within their
/// errors (block spinning preserves the long-distance physics) while ⟨φ²⟩ falls (the UV
/// fluctuations are what is lost), the Jacobian of M ∘ decoder lies along the uniform latent
/// direction (M of the decoded field depends on the block spins' mean); 1 and 2 threads give
/// the same numbers; bad arguments are refused before anything is written.
#[test]
fn blockspin_reconstructs_long_distance_observables_and_is_thread_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "blockspin",
        "--lattice",
        "8",
        "--train",
        "60",
        "--test",
        "60",
        "--epochs",
        "60",
        "--batch",
        "4",
        "--channels",
        "4",
        "--jacobians",
        "4",
    ];
    let (r, d1) = same_report_on_one_and_two_threads(tmp.path(), &args, "blockspin.json");
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let test_loss = f(&r["epochs"][59]["test_loss"]);
    assert!(
        test_loss < 0.97 * f(&r["block_mean_loss"]),
        "test loss {test_loss} vs block means {}",
        r["block_mean_loss"]
    );
    let (orig, rec) = (&r["original"], &r["reconstructed"]);
    for key in ["abs_m", "binder"] {
        let (a, b) = (f(&orig[key][0]), f(&rec[key][0]));
        let err = f(&orig[key][1]).hypot(f(&rec[key][1]));
        assert!((a - b).abs() < 3.0 * err, "{key}: original {a}, reconstructed {b} +- {err}");
    }
    assert!(f(&rec["phi2"][0]) < f(&orig["phi2"][0]), "reconstruction did not lose UV fluctuations");
    assert!(f(&r["observable_jacobians"][0]["uniform_fraction"][0]) > 0.95, "dM/dy not along the uniform direction");
    assert_eq!(r["decoder_jacobian"]["singular_values"].as_array().unwrap().len(), 16);
    for plot in ["loss.svg", "propagator.svg", "singular.svg", "report.html"] {
        assert!(d1.join(plot).exists(), "{plot} missing");
    }
    let out = tmp.path().join("bad");
    let o = out.to_str().unwrap();
    fails_with(&fpa(&["blockspin", "--lattice", "7", "--out", o], 1), "even extent");
    fails_with(&fpa(&["blockspin", "--test", "10", "--out", o], 1), "--test at least 40");
    fails_with(&fpa(&["blockspin", "--kappa=-1", "--out", o], 1), "kappa = -1");
    fails_with(&fpa(&["blockspin", "--lr", "nan", "--out", o], 1), "--lr");
    assert!(!out.exists(), "a refused run wrote {o}");
}

/// `fpa charged-cnn` on small lattices: the EQ network predicts `n` of held-out configurations at
/// the training μ far better than the spread of `n` itself, on the training lattice and on a
/// larger one; the FL network refuses the larger lattice with a reason; 1 and 2 threads give the
/// same report; bad arguments are refused before anything is written.
#[test]
fn charged_cnn_regresses_the_density_and_is_thread_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let args = [
        "charged-cnn",
        "--train-lattice",
        "8x4",
        "--test-lattice",
        "8x4,16x4",
        "--test-mu",
        "1.05",
        "--train",
        "200",
        "--test",
        "40",
        "--epochs",
        "15",
        "--channels",
        "4",
        "--worms",
        "1",
    ];
    let (r, d1) = same_report_on_one_and_two_threads(tmp.path(), &args, "charged_cnn.json");
    let archs = r["architectures"].as_array().unwrap();
    assert_eq!(archs.iter().map(|a| a["architecture"].as_str().unwrap()).collect::<Vec<_>>(), ["EQ", "ST", "FL"]);
    let eq = &archs[0];
    assert_eq!(eq["regression"].as_array().unwrap().len(), 2, "EQ runs on both lattices");
    for p in eq["regression"].as_array().unwrap() {
        let (t, pred, rms) = (
            p["density_true"].as_f64().unwrap(),
            p["density_predicted"].as_f64().unwrap(),
            p["density_rms_error"].as_f64().unwrap(),
        );
        assert!(rms < 0.1 && (t - pred).abs() < 0.05, "EQ density at {}: {t} vs {pred}, rms {rms}", p["lattice"]);
    }
    let fl = &archs[2];
    assert_eq!(fl["regression"].as_array().unwrap().len(), 1, "FL ran on another lattice size");
    assert!(fl["refused"][0].as_str().unwrap().contains("only on the size it was built for"));
    assert!(eq["flux"].as_array().unwrap().iter().all(|f| f["accuracy"].as_f64().unwrap() >= 0.0));
    for plot in ["density.svg", "phi2.svg"] {
        assert!(d1.join(plot).exists(), "{plot} missing");
    }
    let out = tmp.path().join("bad");
    let o = out.to_str().unwrap();
    fails_with(&fpa(&["charged-cnn", "--train-lattice", "6x4", "--out", o], 1), "divisible by 4");
    fails_with(&fpa(&["charged-cnn", "--arch", "eq,xx", "--out", o], 1), "one of eq, st, fl");
    fails_with(&fpa(&["charged-cnn", "--worms", "0", "--out", o], 1), "positive integers");
    fails_with(&fpa(&["charged-cnn", "--test-mu", "1:2:x", "--out", o], 1), "FROM:TO:N");
    assert!(!out.exists(), "a refused run wrote {o}");
}

/// Runs `fpa ARGS --quiet --out DIR` on 1 and on 2 threads, checks that both succeed and write the
/// same `json` report (apart from its `seconds`), and returns the report and the first run's
/// directory.
fn same_report_on_one_and_two_threads(tmp: &Path, args: &[&str], json: &str) -> (serde_json::Value, PathBuf) {
    let run = |name: &str, threads: usize| {
        let out = tmp.join(name);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--quiet", "--out", out.to_str().unwrap()]);
        ok(&fpa(&all, threads));
        let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join(json)).unwrap()).unwrap();
        v["seconds"] = serde_json::Value::Null;
        (v, out)
    };
    let ((one, dir), (two, _)) = (run("one", 1), run("two", 2));
    assert_eq!(one, two, "{} depends on the thread count", args[0]);
    (one, dir)
}
