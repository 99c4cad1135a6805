//! Runs under `mpirun` (cargo feature `mpi`): `fpa fp-data` with its configurations handed
//! out over the ranks, and data-parallel `fpa train`.
//!
//! ## fp-data
//!
//! Rank 0 is the coordinator: it opens the dataset (lock, resume, settings check), hands one
//! configuration at a time to whichever worker asks next (dynamic: a slow rough configuration
//! holds up only its own worker), records each result in `index.json` as it arrives, and writes
//! the final index. Ranks 1 … N−1 are workers: each computes the configurations it is given with
//! its own thread pool and writes their arrays into the output directory (a file system all
//! ranks share), each file atomically. Every configuration's arrays are the same bits as in a
//! single-process run (the minimisation is deterministic on any thread count), so the dataset is
//! identical but for the `seconds` and `updated` fields.
//!
//! A rank that dies takes the run down (mpirun stops every rank); the index then holds every
//! configuration finished so far and the same command resumes. An error on any rank is printed
//! with the rank's number and aborts the run.
//!
//! ## train
//!
//! Every rank loads the data and runs the same training loop; the configurations of each batch
//! (and of the loss measurements) are split into contiguous blocks, one per rank, each block
//! evaluated on its rank's thread pool, and the per-configuration losses and gradients are
//! gathered on every rank in batch order ([`RankSamples`]). Every rank then sums them in the
//! single-process order and takes the same Adam step, so the weights are the same bits as one
//! process with the same global batch. Rank 0 alone writes checkpoints, logs and the model;
//! the others read the checkpoint when resuming.

use crate::fp_data::{progress_bar, FpDataJob, Index, Outcome, Plan, Store};
use crate::train::{TrainJob, TrainLog};
use anyhow::{Context, Result};
use fpa_core::lcnn::train::{Sample, SampleLoss, SampleMap, SampleResult};
use mpi::collective::CommunicatorCollectives;
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::{Count, Threading};
use serde::{Deserialize, Serialize};

/// MPI for the whole process: initialised before anything else and finalised when dropped.
pub struct Mpi {
    universe: Universe,
}

impl Mpi {
    /// `MPI_Init_thread` with funnelled threads (only the main thread calls MPI; the rayon
    /// workers do not). `None` when MPI was initialised already.
    pub fn init() -> Option<Mpi> {
        let (universe, _) = mpi::initialize_with_threading(Threading::Funneled)?;
        Some(Mpi { universe })
    }
    pub fn world(&self) -> SimpleCommunicator {
        self.universe.world()
    }
}

/// A worker's message to rank 0: the outcome of its last configuration (none on the first
/// request), or the error that stopped it.
#[derive(Serialize, Deserialize)]
enum Report {
    Ready(Option<Outcome>),
    Error(String),
}

/// The reply: an index into the job list, or −1 for "no more work".
const STOP: i64 = -1;

/// `fpa fp-data` over the ranks of `world` (at least 2). Returns the index on rank 0 and `None`
/// on the workers; an error on any rank aborts the run.
pub fn fp_data(args: &FpDataJob, world: &SimpleCommunicator) -> Result<Option<Index>> {
    if world.rank() == 0 {
        match coordinate(args, world) {
            Ok(index) => Ok(Some(index)),
            Err(e) => {
                eprintln!("error (rank 0): {e:#}");
                world.abort(1)
            }
        }
    } else {
        work(args, world);
        Ok(None)
    }
}

fn coordinate(args: &FpDataJob, world: &SimpleCommunicator) -> Result<Index> {
    let plan = Plan::new(args)?;
    let mut store = Store::open(args, &plan)?;
    let mut queue = std::mem::take(&mut store.todo).into_iter();
    let bar = progress_bar(args.quiet, queue.len());
    let mut workers = world.size() as usize - 1;
    if !args.quiet {
        bar.println(format!("fp-data over MPI: {} configurations for {workers} worker ranks", queue.len()));
    }
    while workers > 0 {
        // Poll instead of a blocking receive: Open MPI's blocking receive spins a core,
        // which the workers need when ranks share cores.
        let Some(probed) = world.any_process().immediate_matched_probe() else {
            std::thread::sleep(std::time::Duration::from_millis(2));
            continue;
        };
        let (bytes, status) = probed.matched_receive_vec::<u8>();
        let rank = status.source_rank();
        let report: Report =
            serde_json::from_slice(&bytes).with_context(|| format!("unreadable message from rank {rank}"))?;
        match report {
            Report::Error(e) => anyhow::bail!("rank {rank}: {e}"),
            Report::Ready(outcome) => {
                if let Some(o) = outcome {
                    store.record(o, &bar)?;
                }
                let next = queue.next().map_or(STOP, |i| i as i64);
                world.process_at_rank(rank).send(&next);
                if next == STOP {
                    workers -= 1;
                }
            }
        }
    }
    bar.finish_and_clear();
    store.finish(&args.out)
}

fn work(args: &FpDataJob, world: &SimpleCommunicator) {
    let root = world.process_at_rank(0);
    let send = |r: &Report| root.send(&serde_json::to_vec(r).expect("a report serialises")[..]);
    let plan = match Plan::new(args) {
        Ok(p) => p,
        Err(e) => {
            send(&Report::Error(format!("{e:#}")));
            // Rank 0 aborts the run; wait for it.
            let _ = root.receive::<i64>();
            return;
        }
    };
    let mut last = None;
    loop {
        send(&Report::Ready(last.take()));
        let (next, _) = root.receive::<i64>();
        if next == STOP {
            return;
        }
        let Some(job) = usize::try_from(next).ok().and_then(|i| plan.jobs.get(i)) else {
            send(&Report::Error(format!("rank 0 sent job {next}, outside 0..{}", plan.jobs.len())));
            let _ = root.receive::<i64>();
            return;
        };
        match plan.compute(job, &args.out) {
            Ok(o) => last = Some(o),
            Err(e) => {
                send(&Report::Error(format!("{e:#}")));
                let _ = root.receive::<i64>();
                return;
            }
        }
    }
}

/// `fpa train` over the ranks of `world`: the same loop on every rank, batches split over the
/// ranks ([`RankSamples`]); rank 0 writes. Returns the log on every rank.
pub fn train(job: &TrainJob, world: &SimpleCommunicator) -> Result<Option<TrainLog>> {
    let samples = RankSamples { world };
    crate::train::train_with(job, &samples, world.rank() == 0)
}

/// Evaluates a batch with its configurations split into contiguous blocks over the ranks
/// (rank r takes `[r n / N, (r+1) n / N)`) and gathers the results on every rank in batch
/// order. Must be called by every rank with the same batch (the training loop is the same on
/// every rank).
pub struct RankSamples<'a> {
    pub world: &'a SimpleCommunicator,
}

/// One result as `[l1, l2, a_pred, a_true, gradient length, gradient …]`.
fn encode(r: &SampleResult, out: &mut Vec<f64>) {
    let (l, g) = r;
    out.extend([l.l1, l.l2, l.a_pred, l.a_true]);
    match g {
        Some(g) => {
            out.push(g.len() as f64);
            out.extend_from_slice(g);
        }
        None => out.push(-1.0),
    }
}

fn decode(buf: &[f64], n: usize) -> Vec<SampleResult> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0;
    while i < buf.len() {
        let l = SampleLoss { l1: buf[i], l2: buf[i + 1], a_pred: buf[i + 2], a_true: buf[i + 3] };
        let len = buf[i + 4];
        i += 5;
        let g = (len >= 0.0).then(|| {
            let g = buf[i..i + len as usize].to_vec();
            i += len as usize;
            g
        });
        out.push((l, g));
    }
    assert_eq!(out.len(), n, "gathered {} results for a batch of {n}", out.len());
    out
}

impl SampleMap for RankSamples<'_> {
    fn map(&self, batch: &[&Sample], f: &(dyn Fn(&Sample) -> SampleResult + Sync)) -> Vec<SampleResult> {
        let (rank, size) = (self.world.rank() as usize, self.world.size() as usize);
        let n = batch.len();
        let mine = &batch[rank * n / size..(rank + 1) * n / size];
        let local = fpa_core::par::map_slice(mine, |s| f(s));
        let mut send = Vec::new();
        for r in &local {
            encode(r, &mut send);
        }
        let mut counts = vec![0 as Count; size];
        self.world.all_gather_into(&(send.len() as Count), &mut counts[..]);
        let displs: Vec<Count> = counts.iter().scan(0, |acc, &c| Some(std::mem::replace(acc, *acc + c))).collect();
        let mut all = vec![0.0f64; counts.iter().sum::<Count>() as usize];
        let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        self.world.all_gather_varcount_into(&send[..], &mut part);
        decode(&all, n)
    }
}
