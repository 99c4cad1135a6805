//! Runs under `mpirun` (cargo feature `mpi`): `fpa fp-data` with its configurations handed
//! out over the ranks.
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

use crate::fp_data::{progress_bar, FpDataJob, Index, Outcome, Plan, Store};
use anyhow::{Context, Result};
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Threading;
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
