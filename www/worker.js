// The compute side: owns the WebAssembly instance with the rayon thread pool.
const params = new URLSearchParams(self.location.search);
const pkg = params.get('pkg') || 'pkg';
const wasm = await import(`./${pkg}/fpa_wasm.js`);
await wasm.default();
if (wasm.initThreadPool) {
  await wasm.initThreadPool(Number(params.get('threads')) || navigator.hardwareConcurrency || 2);
}
let chain = null;
let learner = null;
let shipped = null;
let running = false;

function fail(e) {
  postMessage({ kind: 'error', message: String(e && e.message ? e.message : e) });
}

// Sweeps for about 40 ms between messages, so that small lattices do not flood the page.
async function runChain() {
  while (running && chain) {
    try {
      const t = performance.now();
      const before = chain.link_updates();
      let p;
      do { p = chain.sweep(2); } while (performance.now() - t < 40);
      const dt = (performance.now() - t) / 1000;
      postMessage({ kind: 'heatbath', plaquette: p, history: chain.history(), first: chain.first_sweep(),
        sweeps: chain.sweeps(), rate: (chain.link_updates() - before) / dt });
    } catch (e) {
      running = false;
      fail(e);
    }
    await new Promise((r) => setTimeout(r, 0));
  }
}

onmessage = async (ev) => {
  const m = ev.data;
  try {
    switch (m.cmd) {
      case 'hello':
        postMessage({ kind: 'hello', threads: wasm.threads(), threaded: wasm.threaded_build() });
        break;
      case 'hb-start':
        chain = new wasm.Heatbath(m.lattice, m.beta, m.seed ?? 1, 1);
        running = true;
        runChain();
        break;
      case 'hb-stop':
        running = false;
        break;
      case 'hb-beta':
        if (chain) chain.set_beta(m.beta);
        break;
      case 'hb-nan':
        if (chain) chain.corrupt();
        break;
      case 'checksum':
        postMessage({ kind: 'checksum', value: wasm.chain_checksum(m.lattice, m.beta, m.seed, m.n_or, m.sweeps) });
        break;
      case 'learn': {
        learner = new wasm.Learner(m.seed ?? 1, m.perBeta ?? 3);
        let left = 1;
        while (left > 0) {
          left = learner.add_config();
          postMessage({ kind: 'learn-status', text: `FP data: ${learner.samples()} configurations (${left} to go)` });
        }
        for (let i = 0; i < (m.rounds ?? 30); i++) {
          const l = learner.train(m.steps ?? 10);
          postMessage({ kind: 'learn', losses: learner.losses(), predictions: learner.predictions(), last: l });
        }
        learner.fit_baseline();
        postMessage({ kind: 'learn-done' });
        break;
      }
      case 'shipped': {
        shipped = shipped || new wasm.ShippedModel();
        postMessage({ kind: 'shipped-info', parameters: shipped.parameters() });
        for (const beta of m.betas) {
          postMessage({ kind: 'shipped-status', text: `beta_wil ${beta}: configuration and FP minimisation …` });
          const t = performance.now();
          const values = Array.from(shipped.compare(beta, m.seed ?? 11));
          postMessage({ kind: 'shipped', beta, values, seconds: (performance.now() - t) / 1000 });
        }
        postMessage({ kind: 'shipped-done' });
        break;
      }
      case 'gauge':
        if (!learner) throw new Error('train the L-CNN first');
        postMessage({ kind: 'gauge', values: learner.gauge_demo(m.seed ?? 7) });
        break;
      case 'bench': {
        // Compound sweeps (1 heatbath + nOr overrelaxation) and L-CNN forward passes, timed
        // here, each the fastest of five repetitions after a warm-up of about two seconds of
        // sweeps (right after the page loads, V8 may still be compiling the module in the
        // background: the first timings of a fresh page were up to 1.7x slower).
        const nOr = m.nOr ?? 1, sweeps = m.sweeps || 10;
        const hb = new wasm.Heatbath(m.lattice || '8x8x8x8', 6.0, 1, nOr);
        const t0 = performance.now();
        do { hb.sweep(2); } while (performance.now() - t0 < 2000);
        let msPerSweep = Infinity, msForward = Infinity;
        for (let r = 0; r < 5; r++) {
          const t = performance.now();
          hb.sweep(sweeps);
          msPerSweep = Math.min(msPerSweep, (performance.now() - t) / sweeps);
        }
        const L = m.lcnnL || 4;
        const net = new wasm.LcnnBench(L);
        net.forward();
        for (let r = 0; r < 5; r++) {
          const t = performance.now();
          net.forward();
          msForward = Math.min(msForward, performance.now() - t);
        }
        net.free();
        postMessage({ kind: 'bench', msPerSweep, nOr, links: hb.link_updates() / hb.sweeps() / (1 + nOr), msForward, lcnnL: L });
        hb.free();
        break;
      }
      case 'bad-lattice':
        new wasm.Heatbath(m.lattice, 6.0, 1, 1);
        break;
      case 'crash':
        // The end-to-end tests' stand-in for a worker that dies: an error nothing catches.
        setTimeout(() => { throw new Error('simulated worker crash'); });
        break;
    }
  } catch (e) {
    fail(e);
  }
};
postMessage({ kind: 'ready' });
