// Timings of the WebAssembly build in headless Chromium, threaded and single-threaded bundle:
// compound sweeps (1 heatbath + 4 overrelaxation) on 8^4 and a forward pass of the 12-12-12 L-CNN
// on 4^4 (each the fastest of five repetitions after two seconds of warm-up, in the page's worker;
// see www/worker.js).
// usage: [REPEAT=n] node e2e/bench.mjs [pkg[:threads] ...]   (default: pkg-st pkg; build them with cargo xtask wasm;
// `pkg:1` runs the threaded bundle with a pool of one thread, the page's `?threads=1`)
// The bundles take turns, REPEAT rounds (default 3, each in a fresh browser); each figure is the
// fastest round (this class of machine varies by 1.5x from run to run). Prints one line per run and
// a JSON summary on the last line. Compare with the native
// figures of `cargo bench -p fpa-core --bench heatbath -- 'compound'` and `--bench lcnn -- '4\^4'`.
import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve } from './serve.mjs';

const pkgs = process.argv.length > 2 ? process.argv.slice(2) : ['pkg-st', 'pkg'];
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'www');
const server = await serve(root, 0);
const exe = execSync('command -v chromium || command -v chromium-browser').toString().trim();
const repeat = Number(process.env.REPEAT || 3);
const results = [];
let failed = false;
for (let round = 0; round < repeat; round++) {
  for (const run of pkgs) {
    const [pkg, threads] = run.split(':');
    if (!fs.existsSync(path.join(root, pkg, 'fpa_wasm.js'))) {
      console.log(`FAIL ${pkg}: www/${pkg} is not built (cargo xtask wasm)`);
      failed = true;
      continue;
    }
    // A fresh browser profile per run, removed when the run ends.
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fpa-bench-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: exe,
      headless: true,
      // Optimised code from the start (V8's baseline compiler, Liftoff, otherwise runs the first
      // calls and tiers up in the background, which made repeated runs differ by 2x).
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--js-flags=--no-liftoff'],
    });
    const page = await ctx.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    try {
      await page.goto(`http://127.0.0.1:${server.address().port}/index.html?pkg=${pkg}&bench=1${threads ? `&threads=${threads}` : ''}`);
      await page.waitForFunction(() => window.__fpa && window.__fpa.done && window.__fpa.done.bench, null, { timeout: 300000 });
      const s = await page.evaluate(() => window.__fpa);
      const b = s.bench;
      const nsPerLink = (b.msPerSweep * 1e6) / ((1 + b.nOr) * b.links);
      const r = { pkg: run, threads: s.threads, threaded: s.threaded, msPerCompoundSweep: b.msPerSweep, nsPerLinkUpdate: nsPerLink, msLcnnForward4: b.msForward };
      const best = results.find((x) => x.pkg === run);
      if (!best) results.push(r);
      else for (const k of ['msPerCompoundSweep', 'nsPerLinkUpdate', 'msLcnnForward4']) best[k] = Math.min(best[k], r[k]);
      console.log(`${run}: ${s.threads} thread(s): 1 HB + ${b.nOr} OR on 8^4 ${b.msPerSweep.toFixed(1)} ms per compound sweep (${nsPerLink.toFixed(0)} ns per link update); L-CNN forward on ${b.lcnnL}^4 ${b.msForward.toFixed(1)} ms`);
    } catch (e) {
      console.log(`FAIL ${pkg}: ${e}\n${errors.join('\n')}`);
      failed = true;
    }
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}
server.close();
// Each threaded bundle `pkg<x>` against its single-threaded build `pkg-st<x>` (pkg-old against
// pkg-st-old when two builds are compared), or against the only single-threaded bundle.
// The same bundle on one thread (`pkg:1`), when it was run, is a second reference.
const singles = results.filter((r) => r.threads === 1);
for (const many of results.filter((r) => r.threads > 1)) {
  const same = singles.filter((r) => r.pkg === `${many.pkg}:1`);
  const others = singles.filter((r) => !r.pkg.includes(':'));
  const st = others.filter((r) => r.pkg === many.pkg.replace(/^pkg/, 'pkg-st'));
  const refs = [...same, ...(st.length ? st : others.length === 1 ? others : [])];
  for (const one of refs) {
    console.log(`fastest of ${repeat} rounds: ${many.pkg} against ${one.pkg}: speed-up on ${many.threads} threads: heatbath ${(one.msPerCompoundSweep / many.msPerCompoundSweep).toFixed(2)}x, L-CNN forward ${(one.msLcnnForward4 / many.msLcnnForward4).toFixed(2)}x`);
  }
}
console.log(JSON.stringify(results));
process.exit(failed ? 1 : 0);
