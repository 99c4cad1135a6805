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

use crate::chain::{Engine, Opened};
use crate::fp_data::{progress_bar, FpDataJob, Index, Outcome, Plan, Store};
use crate::generate::{EnsembleJob, Summary as GenSummary, Sweeps};
use crate::hmc::{HmcJob, Summary as HmcSummary, Trajectories};
use crate::train::{TrainJob, TrainLog};
use anyhow::{ensure, Context, Result};
use fpa_core::action::{Improved, Wilson};
use fpa_core::lattice::slab::{Links, Side, SlabComm};
use fpa_core::lattice::{GaugeField, Geometry, Slab, SlabField};
use fpa_core::lcnn::train::{Sample, SampleLoss, SampleMap, SampleResult};
use fpa_core::mc::heatbath::Phase;
use fpa_core::mc::hmc::{slab_trajectory, SlabAction};
use fpa_core::mc::{HmcParams, SlabChain, Trajectory};
use fpa_core::observe::plaquette::{n_plaquettes, plaquette_sum_pieces};
use fpa_core::su3::{Complex, Mat3};
use mpi::collective::{CommunicatorCollectives, Root};
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::{Count, Threading};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

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
    /// Boxed: an outcome is a few hundred bytes, an error three words.
    Ready(Option<Box<Outcome>>),
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
                    store.record(*o, &bar)?;
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
        send(&Report::Ready(last.take().map(Box::new)));
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

// ---------------------------------------------------------------------------------------------
// generate and hmc: the lattice cut into time slabs, one per rank.

/// The 18 doubles of each link, row by row, `re` before `im` (the wire format of halos).
fn flatten(links: &[Mat3<f64>]) -> Vec<f64> {
    links.iter().flat_map(|u| u.m.iter().flatten().flat_map(|z| [z.re, z.im])).collect()
}

fn unflatten(buf: &[f64]) -> Vec<Mat3<f64>> {
    buf.chunks_exact(18)
        .map(|c| Mat3 {
            m: std::array::from_fn(|i| {
                std::array::from_fn(|j| Complex { re: c[6 * i + 2 * j], im: c[6 * i + 2 * j + 1] })
            }),
        })
        .collect()
}

/// Halo exchange and ordered sums over the ranks of `world`, rank `r` holding slab `r`.
pub struct MpiSlabs<'a> {
    pub world: &'a SimpleCommunicator,
}

impl SlabComm<f64> for MpiSlabs<'_> {
    fn exchange(&mut self, f: &mut SlabField<f64>, links: Links) {
        let (rank, size) = (self.world.rank(), self.world.size());
        let below = self.world.process_at_rank((rank + size - 1) % size);
        let above = self.world.process_at_rank((rank + 1) % size);
        // Upward: my top boundary becomes the halo below of the rank above.
        let send = flatten(&f.boundary(Side::Above, links));
        let mut recv = vec![0.0; send.len()];
        mpi::point_to_point::send_receive_into_with_tags(&send[..], &above, 1, &mut recv[..], &below, 1);
        f.set_halo(Side::Below, links, &unflatten(&recv));
        // Downward.
        let send = flatten(&f.boundary(Side::Below, links));
        let mut recv = vec![0.0; send.len()];
        mpi::point_to_point::send_receive_into_with_tags(&send[..], &below, 2, &mut recv[..], &above, 2);
        f.set_halo(Side::Above, links, &unflatten(&recv));
    }

    fn combine(&mut self, range: Range<usize>, pieces: &[f64]) -> f64 {
        let size = self.world.size() as usize;
        let mut ranges = vec![0u64; 2 * size];
        self.world.all_gather_into(&[range.start as u64, range.end as u64][..], &mut ranges[..]);
        let mut counts = vec![0 as Count; size];
        self.world.all_gather_into(&(pieces.len() as Count), &mut counts[..]);
        let displs: Vec<Count> = counts.iter().scan(0, |acc, &c| Some(std::mem::replace(acc, *acc + c))).collect();
        let mut all = vec![0.0f64; counts.iter().sum::<Count>() as usize];
        let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        self.world.all_gather_varcount_into(pieces, &mut part);
        let parts: Vec<(Range<usize>, &[f64])> = (0..size)
            .map(|r| {
                let (d, c) = (displs[r] as usize, counts[r] as usize);
                (ranges[2 * r] as usize..ranges[2 * r + 1] as usize, &all[d..d + c])
            })
            .collect();
        fpa_core::par::combine_pieces(&parts)
    }
}

/// A slab chain's share of the [`Engine`] duties: plaquettes summed over the ranks, the whole
/// field gathered on rank 0 to be written, rank 0's decisions broadcast.
struct SlabEngine<'a> {
    comm: MpiSlabs<'a>,
}

impl SlabEngine<'_> {
    fn writes(&self) -> bool {
        self.comm.world.rank() == 0
    }
    fn agree(&mut self, flag: bool) -> bool {
        let mut x = u8::from(flag);
        self.comm.world.process_at_rank(0).broadcast_into(&mut x);
        x == 1
    }
    fn average_plaquette(&mut self, f: &SlabField<f64>) -> f64 {
        let pieces = plaquette_sum_pieces(f);
        let g = f.slab().global();
        let sum = self.comm.combine(f.slab().global_sites(), &pieces);
        sum / (3.0 * n_plaquettes(g.nd(), g.volume()) as f64)
    }
    fn with_whole(&mut self, f: &SlabField<f64>, write: &mut dyn FnMut(&GaugeField<f64>) -> Result<()>) -> Result<()> {
        let world = self.comm.world;
        let mine = flatten(f.owned_links());
        let root = world.process_at_rank(0);
        if world.rank() == 0 {
            let size = world.size() as usize;
            let mut counts = vec![0 as Count; size];
            root.gather_into_root(&(mine.len() as Count), &mut counts[..]);
            let displs: Vec<Count> = counts.iter().scan(0, |acc, &c| Some(std::mem::replace(acc, *acc + c))).collect();
            let mut all = vec![0.0f64; counts.iter().sum::<Count>() as usize];
            let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            root.gather_varcount_into_root(&mine[..], &mut part);
            let whole = GaugeField::from_links(f.slab().global().clone(), unflatten(&all));
            write(&whole)
        } else {
            root.gather_into(&(mine.len() as Count));
            root.gather_varcount_into(&mine[..]);
            Ok(())
        }
    }
}

/// Broadcasts rank 0's value (JSON) to every rank.
fn broadcast_json<T: Serialize + serde::de::DeserializeOwned>(
    world: &SimpleCommunicator,
    value: Option<&T>,
) -> Result<T> {
    let root = world.process_at_rank(0);
    let mut bytes = value.map(|v| serde_json::to_vec(v).expect("serialises")).unwrap_or_default();
    let mut len = bytes.len() as u64;
    root.broadcast_into(&mut len);
    bytes.resize(len as usize, 0);
    root.broadcast_into(&mut bytes[..]);
    serde_json::from_slice(&bytes).context("unreadable message from rank 0")
}

/// This rank's slab of rank 0's field (sent link by link from rank 0), halos filled.
fn scatter(
    world: &SimpleCommunicator,
    geom: &Arc<Geometry>,
    halo: usize,
    whole: Option<&GaugeField<f64>>,
) -> Result<SlabField<f64>> {
    let slabs = Slab::decompose(geom, world.size() as usize, halo)?;
    let rank = world.rank() as usize;
    let root = world.process_at_rank(0);
    let mut field = if let Some(u) = whole {
        for (r, slab) in slabs.iter().enumerate().skip(1) {
            let sites = slab.global_sites();
            let nd = u.nd();
            world.process_at_rank(r as i32).send(&flatten(&u.links()[sites.start * nd..sites.end * nd])[..]);
        }
        SlabField::from_global(u, slabs[0].clone())
    } else {
        let (buf, _) = root.receive_vec::<f64>();
        SlabField::from_owned(slabs[rank].clone(), &unflatten(&buf))
    };
    MpiSlabs { world }.exchange(&mut field, Links::ALL);
    Ok(field)
}

/// Refuses, before anything is written, a lattice that cannot be cut into one slab per rank.
fn check_decomposition(lattice: &str, world: &SimpleCommunicator, halo: usize) -> Result<()> {
    let geom = crate::chain::lattice_4d(lattice, "ensembles")?;
    Slab::decompose(&geom, world.size() as usize, halo).with_context(|| format!("--lattice {lattice}"))?;
    Ok(())
}

/// A run opened by rank 0 and spread over the ranks: the summary (on every rank), this rank's
/// slab of the field with `halo` slices of halo, and rank 0's lock on the directory; `None`
/// when the run was complete already.
type Spread<S> = Option<(S, SlabField<f64>, Option<crate::lock::OutputLock>)>;

/// Rank 0 opens the run directory (`open`), tells the others what it found, and sends every
/// rank its slab of the field (`lattice` of the summary, `what` naming the runs).
fn open_spread<S: Serialize + serde::de::DeserializeOwned>(
    world: &SimpleCommunicator,
    halo: usize,
    open: impl FnOnce() -> Result<Opened<S>>,
    lattice: impl Fn(&S) -> String,
    what: &str,
) -> Result<Spread<S>> {
    #[derive(Serialize, Deserialize)]
    enum Opening<S> {
        Complete,
        Run(S),
    }
    let (mut lock, mut field) = (None, None);
    let opening = if world.rank() == 0 {
        Some(match open()? {
            Opened::Complete(_) => Opening::Complete,
            Opened::Run { summary, field: u, lock: l } => {
                lock = Some(l);
                field = Some(u);
                Opening::Run(summary)
            }
        })
    } else {
        None
    };
    let Opening::Run(summary) = broadcast_json(world, opening.as_ref())? else { return Ok(None) };
    let geom = crate::chain::lattice_4d(&lattice(&summary), what)?;
    let slab = scatter(world, &geom, halo, field.as_ref()).with_context(|| format!("{} ranks", world.size()))?;
    Ok(Some((summary, slab, lock)))
}

/// A run on this rank's slab (a Wilson chain or HMC) with the communicator that makes it an
/// [`Engine`]: one `Engine` impl for both, through [`SlabRun::field`].
struct OnSlab<'a, R> {
    run: R,
    engine: SlabEngine<'a>,
}

/// What [`OnSlab`] needs of a run: the slab field it updates.
trait SlabRun {
    fn field(&self) -> &SlabField<f64>;
}

impl<R: SlabRun> Engine for OnSlab<'_, R> {
    fn writes(&self) -> bool {
        self.engine.writes()
    }
    fn agree(&mut self, flag: bool) -> bool {
        self.engine.agree(flag)
    }
    fn average_plaquette(&mut self) -> f64 {
        self.engine.average_plaquette(self.run.field())
    }
    fn with_whole(&mut self, f: &mut dyn FnMut(&GaugeField<f64>) -> Result<()>) -> Result<()> {
        self.engine.with_whole(self.run.field(), f)
    }
}

impl SlabRun for SlabChain<f64> {
    fn field(&self) -> &SlabField<f64> {
        &self.field
    }
}

/// A Wilson chain on this rank's slab.
type SlabSweeps<'a> = OnSlab<'a, SlabChain<f64>>;

impl Sweeps for SlabSweeps<'_> {
    fn sweeps(&self) -> u64 {
        self.run.sweeps
    }
    fn step_observed(&mut self, after: &mut dyn FnMut(Phase)) {
        self.run.step_observed(&mut self.engine.comm, after)
    }
    fn ranks(&self) -> usize {
        self.engine.comm.world.size() as usize
    }
}

/// `fpa generate` with the lattice cut into time slabs over the ranks of `world` (at least 2,
/// at most half the time extent): the same configurations, bit for bit, as one process.
/// Rank 0 reads and writes every file; returns the summary there.
pub fn generate(job: &EnsembleJob, world: &SimpleCommunicator) -> Result<Option<GenSummary>> {
    check_decomposition(&job.settings.lattice, world, 1)?;
    ensure!(!job.settings.fused, "--fused runs on one process only: the slab updates of an MPI run are always exact");
    let open = || crate::generate::open(job);
    let Some((summary, slab, lock)) =
        open_spread(world, 1, open, |s: &GenSummary| s.settings.lattice.clone(), "ensembles")?
    else {
        return Ok(None);
    };
    let s = &summary.settings;
    let chain = SlabChain::new(slab, s.beta, s.or_per_hb, s.seed, summary.sweeps)?;
    let mut run = SlabSweeps { run: chain, engine: SlabEngine { comm: MpiSlabs { world } } };
    let out = crate::generate::drive(job, summary, &mut run);
    drop(lock);
    out
}

/// HMC on this rank's slab.
struct SlabTrajectories {
    action: Box<dyn SlabAction>,
    field: SlabField<f64>,
    params: HmcParams,
    seed: u64,
    trajectories: u64,
    warmup: u64,
}

impl SlabRun for SlabTrajectories {
    fn field(&self) -> &SlabField<f64> {
        &self.field
    }
}

type SlabHmc<'a> = OnSlab<'a, SlabTrajectories>;

impl Trajectories for SlabHmc<'_> {
    fn trajectories(&self) -> u64 {
        self.run.trajectories
    }
    fn step(&mut self) -> Trajectory {
        let r = &mut self.run;
        let metropolis = r.trajectories >= r.warmup;
        let t = slab_trajectory(
            r.action.as_ref(),
            &r.params,
            &mut r.field,
            &mut self.engine.comm,
            r.seed,
            r.trajectories,
            metropolis,
        );
        r.trajectories += 1;
        t
    }
    fn ranks(&self) -> usize {
        self.engine.comm.world.size() as usize
    }
}

/// `fpa hmc` with a built-in action and the lattice cut into time slabs over the ranks of
/// `world` (halos of one slice for the Wilson action, two for the rectangle actions): the same
/// trajectories and configurations, bit for bit, as one process. L-CNN actions are refused
/// (their forces reach too far for halos of a few slices).
pub fn hmc(job: &HmcJob, world: &SimpleCommunicator) -> Result<Option<HmcSummary>> {
    let action: Box<dyn SlabAction> = match job.settings.action.as_str() {
        "wilson" => Box::new(Wilson),
        "symanzik" => Box::new(Improved::SYMANZIK),
        "iwasaki" => Box::new(Improved::IWASAKI),
        "dbw2" => Box::new(Improved::DBW2),
        other => anyhow::bail!(
            "--action {other}: under MPI, fpa hmc runs the built-in actions ({}) only: an L-CNN's force \
             reaches about 9 time slices, more than the slabs' halos hold; run it as one process",
            crate::actions::BUILT_IN
        ),
    };
    check_decomposition(&job.settings.lattice, world, action.reach())?;
    let open = || crate::hmc::open(job);
    let lattice = |s: &HmcSummary| s.settings.lattice.clone();
    let Some((summary, slab, lock)) = open_spread(world, action.reach(), open, lattice, "HMC ensembles")? else {
        return Ok(None);
    };
    let s = &summary.settings;
    let mut run = SlabHmc {
        run: SlabTrajectories {
            action,
            field: slab,
            params: crate::hmc::params(s),
            seed: s.seed,
            trajectories: summary.trajectories,
            warmup: s.warmup,
        },
        engine: SlabEngine { comm: MpiSlabs { world } },
    };
    let out = crate::hmc::drive(job, summary, &mut run);
    drop(lock);
    out
}
