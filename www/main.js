// The page: controls and charts (plotters-canvas needs the main thread's canvas).
const params = new URLSearchParams(location.search);
const pkg = params.get('pkg') || 'pkg';
// `?threads=N` sizes the worker's rayon pool (default: all cores), e.g. to time the threaded bundle on one thread.
const threadsParam = params.get('threads') ? `&threads=${Number(params.get('threads'))}` : '';
const wasm = await import(`./${pkg}/fpa_wasm.js`);
await wasm.default();

const state = (window.__fpa = {
  crossOriginIsolated: self.crossOriginIsolated === true,
  threads: 0, threaded: false, plotted: {}, errors: [], heatbathPlaquette: null,
  checksum: null, learnLosses: null, gauge: null, shipped: [], done: {}, restarts: 0,
  hbSweeps: 0, hbHistoryLen: 0, hostile: [],
});
const $ = (id) => document.getElementById(id);
$('coi').textContent = String(state.crossOriginIsolated);

function sizeCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  c.width = Math.round(c.clientWidth * dpr);
  c.height = Math.round(c.clientHeight * dpr);
}
function draw(id, title, xl, yl, series, logY) {
  const c = $(id);
  sizeCanvas(c);
  const xs = [], ys = [], lens = [], names = [];
  for (const s of series) { xs.push(...s.x); ys.push(...s.y); lens.push(s.x.length); names.push(s.name); }
  try {
    wasm.draw_chart(id, title, xl, yl, new Float64Array(xs), new Float64Array(ys), new Uint32Array(lens), names.join('|'), logY);
    state.plotted[id] = (state.plotted[id] || 0) + 1;
  } catch (e) { showError(e); }
}
function showError(e) {
  const msg = String(e && e.message ? e.message : e);
  $('error').textContent = msg;
  state.errors.push(msg);
}

// The compute worker; if it dies (an error nothing caught, an out-of-memory kill) the page says so
// and starts a new one instead of waiting forever.
let worker;
function startWorker() {
  worker = new Worker(new URL(`./worker.js?pkg=${pkg}${threadsParam}`, import.meta.url), { type: 'module' });
  worker.onmessage = onWorkerMessage;
  worker.onerror = (e) => {
    e.preventDefault();
    showError(`the compute worker stopped (${e.message || 'crashed'}); a new one was started`);
    state.restarts += 1;
    state.done.hello = false;
    worker.terminate();
    startWorker();
  };
}
function onWorkerMessage(ev) {
  const m = ev.data;
  switch (m.kind) {
    case 'ready': worker.postMessage({ cmd: 'hello' }); break;
    case 'hello':
      state.threads = m.threads; state.threaded = m.threaded;
      $('threads').textContent = m.threads;
      $('build').textContent = m.threaded ? 'threaded build' : 'single-threaded build';
      state.done.hello = true;
      break;
    case 'error': showError(m.message); break;
    case 'heatbath': {
      state.heatbathPlaquette = m.plaquette;
      $('plaq').textContent = m.plaquette.toFixed(5);
      $('sweeps').textContent = m.sweeps;
      $('rate').textContent = (m.rate / 1e6).toFixed(2) + ' M';
      state.hbSweeps = m.sweeps; state.hbHistoryLen = m.history.length;
      draw('hb-chart', 'average plaquette', 'sweep', '<P>', [{ name: 'plaquette', x: m.history.map((_, i) => m.first + i), y: m.history }], false);
      break;
    }
    case 'checksum': state.checksum = m.value; break;
    case 'bench': state.bench = m; break;
    case 'learn-status': $('learn-status').textContent = m.text; break;
    case 'learn': {
      const n = m.losses.length / 2;
      const steps = Array.from({ length: n }, (_, i) => i + 1);
      draw('loss-chart', 'training losses', 'Adam step', 'loss', [
        { name: 'L1 (action density)', x: steps, y: steps.map((i) => m.losses[2 * (i - 1)]) },
        { name: 'L2 (invariant)', x: steps, y: steps.map((i) => m.losses[2 * (i - 1) + 1]) }], true);
      const k = m.predictions.length / 3;
      const truth = Array.from({ length: k }, (_, i) => m.predictions[3 * i]);
      const order = [...truth.keys()].sort((a, b) => truth[a] - truth[b]);
      draw('pred-chart', 'action per configuration (sorted by A_FP)', 'configuration', 'action', [
        { name: 'A_FP (minimisation)', x: order.map((_, i) => i), y: order.map((i) => m.predictions[3 * i]) },
        { name: 'L-CNN', x: order.map((_, i) => i), y: order.map((i) => m.predictions[3 * i + 1]) },
        { name: 'Wilson', x: order.map((_, i) => i), y: order.map((i) => m.predictions[3 * i + 2]) }], false);
      $('learn-status').textContent = `L1 ${m.last[0].toExponential(3)}, L2 ${m.last[1].toExponential(3)}`;
      state.learnLosses = m.losses;
      break;
    }
    case 'learn-done': state.done.learn = true; break;
    case 'shipped-info': $('sh-params').textContent = String(m.parameters); break;
    case 'shipped-status': $('sh-status').textContent = m.text; break;
    case 'shipped': {
      const [afp, am, aw, lm, lw] = m.values;
      const rel = (a) => (Math.abs(a - afp) / afp).toExponential(2);
      const row = $('sh-table').insertRow();
      for (const v of [m.beta, afp.toFixed(3), rel(am), rel(aw), lm.toExponential(2), lw.toExponential(2)]) row.insertCell().textContent = v;
      $('sh-status').textContent = `beta_wil ${m.beta} took ${m.seconds.toFixed(1)} s`;
      state.shipped.push(m.values);
      break;
    }
    case 'shipped-done': state.done.shipped = true; break;
    case 'gauge': {
      const [l0, l1, c0, c1] = m.values;
      const rel = (a, b) => (Math.abs(b - a) / Math.abs(a)).toExponential(2);
      $('g-l0').textContent = l0.toFixed(6); $('g-l1').textContent = l1.toFixed(6); $('g-ld').textContent = rel(l0, l1);
      $('g-c0').textContent = c0.toFixed(6); $('g-c1').textContent = c1.toFixed(6); $('g-cd').textContent = rel(c0, c1);
      state.gauge = m.values;
      break;
    }
  }
}
startWorker();

$('beta').oninput = () => { $('betav').textContent = $('beta').value; worker.postMessage({ cmd: 'hb-beta', beta: +$('beta').value }); };
$('hb-start').onclick = () => { $('error').textContent = ''; worker.postMessage({ cmd: 'hb-start', lattice: $('lattice').value, beta: +$('beta').value }); };
$('hb-stop').onclick = () => worker.postMessage({ cmd: 'hb-stop' });
$('hb-nan').onclick = () => worker.postMessage({ cmd: 'hb-nan' });
$('learn-start').onclick = () => worker.postMessage({ cmd: 'learn', seed: 1, perBeta: 3, rounds: 30, steps: 10 });
$('shipped').onclick = () => worker.postMessage({ cmd: 'shipped', betas: [5.0, 5.5, 6.0, 6.5, 7.0], seed: 11 });
$('gauge').onclick = () => worker.postMessage({ cmd: 'gauge', seed: Math.floor(Math.random() * 1e6) });

const wait = (cond) => new Promise((res) => { const t = setInterval(() => { if (cond()) { clearInterval(t); res(); } }, 50); });

// ?bench=1 without ?test: only the timings (e2e/bench.mjs reads them).
if (params.get('bench') && !params.get('test')) {
  await wait(() => state.done.hello);
  worker.postMessage({ cmd: 'bench', lattice: '8x8x8x8', sweeps: 10, nOr: 4, lcnnL: 4 });
  await wait(() => state.bench);
  state.done.bench = true;
}

// ?test=1: a scripted tour for the end-to-end tests.
if (params.get('test')) {
  await wait(() => state.done.hello);
  worker.postMessage({ cmd: 'checksum', lattice: '4x4x4x4', beta: 6.0, seed: 1, n_or: 1, sweeps: 5 });
  await wait(() => state.checksum);
  worker.postMessage({ cmd: 'hb-start', lattice: '4x4x4x4', beta: 6.0, seed: 1 });
  await wait(() => (state.plotted['hb-chart'] || 0) >= 3);
  worker.postMessage({ cmd: 'hb-stop' });
  worker.postMessage({ cmd: 'learn', seed: 1, perBeta: 2, rounds: 6, steps: 10 });
  await wait(() => state.done.learn);
  worker.postMessage({ cmd: 'gauge', seed: 7 });
  await wait(() => state.gauge);
  worker.postMessage({ cmd: 'shipped', betas: [6.5], seed: 11 });
  await wait(() => state.done.shipped || state.errors.length > 0);
  const nErr = state.errors.length;
  worker.postMessage({ cmd: 'bad-lattice', lattice: '100x100x100x100' });
  await wait(() => state.errors.length > nErr);
  worker.postMessage({ cmd: 'hb-start', lattice: '4x4x4x4', beta: 6.0, seed: 2 });
  await new Promise((r) => setTimeout(r, 300));
  worker.postMessage({ cmd: 'hb-nan' });
  await wait(() => state.errors.length > nErr + 1);
  // Hostile input in every field: each gives a message, and the page keeps answering.
  for (const lattice of ['', 'abc', '4x4x4x', '0x4x4x4', '-2x4x4x4', '3x4x4x4', '99999999999999999999x2x2x2',
    '4x4x4x4x4', '1e3x4x4x4', '64x64x64x64', '4xx4', '\u0000']) {
    const k = state.errors.length;
    worker.postMessage({ cmd: 'bad-lattice', lattice });
    await wait(() => state.errors.length > k);
    state.hostile.push(`lattice ${JSON.stringify(lattice)}: ${state.errors[state.errors.length - 1]}`);
  }
  for (const beta of [NaN, -1, 1e308, Infinity, 'abc', 101]) {
    const k = state.errors.length;
    worker.postMessage({ cmd: 'hb-start', lattice: '4x4x4x4', beta, seed: 3 });
    await wait(() => state.errors.length > k);
    state.hostile.push(`beta ${String(beta)}: ${state.errors[state.errors.length - 1]}`);
  }
  // A crashed worker is replaced.
  worker.postMessage({ cmd: 'crash' });
  await wait(() => state.restarts > 0);
  await wait(() => state.done.hello);
  // A long run keeps a bounded history (a tab left running for hours).
  worker.postMessage({ cmd: 'hb-start', lattice: '2x2x2x2', beta: 6.0, seed: 4 });
  await wait(() => state.hbSweeps > 5200);
  worker.postMessage({ cmd: 'hb-stop' });
  if (params.get('bench')) {
    worker.postMessage({ cmd: 'bench', lattice: '8x8x8x8', sweeps: 10 });
    await wait(() => state.bench);
  }
  state.done.test = true;
}
