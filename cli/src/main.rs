//! `fpa`: the command-line front end of fpa-core.

use clap::{Parser, Subcommand};
use fpa_cli::{
    blockspin, charged, charged_cnn, classical, convert, eval, flow, fp_data, generate, hmc, measure, phi4, pipeline,
    scaling, train,
};

#[derive(Parser)]
#[command(name = "fpa", version, about = "Fixed point actions for SU(3) lattice gauge theory, learned with L-CNNs")]
struct Cli {
    /// Worker threads (default: RAYON_NUM_THREADS or all cores)
    #[arg(long, global = true)]
    threads: Option<usize>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a Wilson-action ensemble (heatbath + overrelaxation) as NERSC files
    Generate(generate::GenerateArgs),
    /// Measure plaquette, Polyakov loop and Wilson loops of gauge files (NERSC, ILDG, openQCD, MILC)
    Measure(measure::MeasureArgs),
    /// Convert a gauge file between NERSC, ILDG and openQCD (reads MILC too), with all checks
    Convert(convert::ConvertArgs),
    /// Fixed point action values and derivatives of ensemble configurations, by minimisation
    FpData(fp_data::FpDataArgs),
    /// Train an L-CNN on FP data (action and derivative losses)
    Train(train::TrainArgs),
    /// Evaluate a trained model on FP data against the Wilson action, per beta
    Eval(eval::EvalArgs),
    /// Fit the classical (APE-type fat-link polynomial) parametrisation of the FP action to FP data
    FitClassical(classical::FitClassicalArgs),
    /// Hybrid Monte Carlo ensembles for Wilson, Symanzik, Iwasaki, DBW2 or a trained L-CNN action
    Hmc(hmc::HmcArgs),
    /// Gradient flow (Wilson, Symanzik, Zeuthen, or an L-CNN's fixed point flow): E(t), t0, w0
    Flow(flow::FlowArgs),
    /// Scaling study: HMC at several spacings per action, flow scales t0, w0, continuum extrapolation
    Scaling(scaling::ScalingArgs),
    /// Ensembles → FP data → training → evaluation → iterations → report, in one command
    Pipeline(pipeline::PipelineArgs),
    /// Real phi^4 in 2D (Metropolis + Wolff): <|M|>, chi, Binder cumulant, propagator over a kappa scan
    Phi4(phi4::Phi4Args),
    /// Neural block spinning for real phi^4: a stride-2 autoencoder, reconstructed observables, latent Jacobians
    Blockspin(blockspin::BlockspinArgs),
    /// Complex phi^4 at chemical potential mu in 1+1D (dual formulation, worm): <n>, <|phi|^2> over a mu scan
    Charged(charged::ChargedArgs),
    /// CNN regression of n and |phi|^2 of complex phi^4 configurations (EQ, ST, FL) and flux-violation detection
    ChargedCnn(charged_cnn::ChargedCnnArgs),
}

fn main() {
    fpa_core::host::keep_freed_memory();
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        if n == 0 {
            eprintln!("error: --threads must be at least 1");
            std::process::exit(2);
        }
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().expect("thread pool");
    }
    // Under mpirun without MPI support every rank would run the whole job on the same files.
    #[cfg(not(feature = "mpi"))]
    if let Some(n) = launched_ranks().filter(|&n| n > 1) {
        eprintln!(
            "error: started as one of {n} MPI ranks, but this fpa was built without MPI support; \
             build it with `cargo build --release -p fpa-cli --features mpi`, or run it without mpirun"
        );
        std::process::exit(2);
    }
    // Under mpirun (built with `--features mpi`), MPI starts before any worker thread exists.
    #[cfg(feature = "mpi")]
    let mpi = fpa_cli::mpi::Mpi::init();
    #[cfg(feature = "mpi")]
    if let Some(world) = mpi.as_ref().map(|m| m.world()) {
        use mpi::topology::Communicator;
        if world.size() > 1 {
            let result = match &cli.command {
                Command::FpData(a) => fpa_cli::mpi::fp_data(&a.job(), &world).map(|_| ()),
                Command::Train(a) => {
                    fpa_cli::train::TrainJob::from_args(a).and_then(|job| fpa_cli::mpi::train(&job, &world)).map(|_| ())
                }
                Command::Generate(a) => fpa_cli::mpi::generate(&a.job(), &world).map(|_| ()),
                Command::Hmc(a) => fpa_cli::mpi::hmc(&a.job(), &world).map(|_| ()),
                _ => {
                    if world.rank() == 0 {
                        eprintln!(
                            "error: only `fpa fp-data`, `fpa train`, `fpa generate` and `fpa hmc` run over MPI \
                             ranks; start this command as one process (without mpirun, or with -np 1)"
                        );
                    }
                    drop(mpi);
                    std::process::exit(1);
                }
            };
            if let Err(e) = result {
                // The other ranks may wait in a collective: take the whole run down.
                eprintln!("error (rank {}): {e:#}", world.rank());
                world.abort(1);
            }
            drop(mpi);
            std::process::exit(0);
        }
    }
    let result = match &cli.command {
        Command::Generate(a) => generate::run(a),
        Command::Measure(a) => measure::run(a),
        Command::Convert(a) => convert::run(a),
        Command::FpData(a) => fp_data::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::FitClassical(a) => classical::run(a),
        Command::Pipeline(a) => pipeline::run(a),
        Command::Hmc(a) => hmc::run(a),
        Command::Flow(a) => flow::run(a),
        Command::Scaling(a) => scaling::run(a),
        Command::Phi4(a) => phi4::run(a).map(|_| ()),
        Command::Blockspin(a) => blockspin::run(a).map(|_| ()),
        Command::Charged(a) => charged::run(a).map(|_| ()),
        Command::ChargedCnn(a) => charged_cnn::run(a).map(|_| ()),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// The number of ranks an MPI launcher started this process among (Open MPI, MPICH/Hydra and
/// PMIx set these variables), if any.
#[cfg(not(feature = "mpi"))]
fn launched_ranks() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .find_map(|v| std::env::var(v).ok().and_then(|s| s.parse().ok()))
}
