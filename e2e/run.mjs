// Drives the page in headless Chromium through its scripted tour (?test=1)
// and checks: cross-origin isolation, the thread count, that charts draw
// (pixels change), that the heatbath gives the same bits as the native build
// (EXPECT_CHECKSUM), that training lowers both losses, that the L-CNN's
// prediction does not move under a gauge transformation while the ordinary
// model's does, and that bad input shows a message.
// usage: node e2e/run.mjs "?pkg=pkg" shot.png   (EXPECT_CHECKSUM=… REQUIRE_THREADS=1)
import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serve } from './serve.mjs';

const query = process.argv[2] || '';
const shot = process.argv[3] || 'shot.png';
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'www');
const server = await serve(root, 0);
const url = `http://127.0.0.1:${server.address().port}/index.html${query}${query.includes('?') ? '&' : '?'}test=1`;
const exe = execSync('command -v chromium || command -v chromium-browser').toString().trim();
// A fresh browser profile, removed when the run ends.
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fpa-e2e-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: exe,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await ctx.newPage();
const logs = [];
page.on('console', (m) => logs.push(`${m.type()}: ${m.text()}`));
page.on('pageerror', (e) => logs.push(`pageerror: ${e}`));
let passed = 0, failed = 0;
const check = (name, ok, detail = '') => { ok ? passed++ : failed++; console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`); };
try {
  await page.goto(url);
  const blank = await page.evaluate(() => { const c = document.getElementById('hb-chart'); return c.toDataURL(); });
  await page.waitForFunction(() => window.__fpa && window.__fpa.done && window.__fpa.done.test, null, { timeout: 240000 });
  const s = await page.evaluate(() => window.__fpa);
  const drawn = await page.evaluate(() => ['hb-chart', 'loss-chart', 'pred-chart'].map((id) => {
    const c = document.getElementById(id); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let nonwhite = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) nonwhite++;
    return nonwhite;
  }));
  check('cross-origin isolated', s.crossOriginIsolated === true || !s.threaded, `crossOriginIsolated=${s.crossOriginIsolated}`);
  check('thread pool', !s.threaded || s.threads > 1, `${s.threads} threads (${s.threaded ? 'threaded' : 'single-threaded'} build)`);
  if (process.env.REQUIRE_THREADS) check('threaded build in use', s.threaded && s.threads > 1);
  check('charts draw', drawn.every((n) => n > 1000), `non-white pixels ${drawn.join(', ')}`);
  check('chart changed from blank', blank !== (await page.evaluate(() => document.getElementById('hb-chart').toDataURL())));
  if (process.env.EXPECT_CHECKSUM) check('heatbath bits equal the native build', s.checksum === process.env.EXPECT_CHECKSUM, `${s.checksum} vs ${process.env.EXPECT_CHECKSUM}`);
  const L = s.learnLosses, n = L.length / 2;
  check('training lowers both losses', L[2 * (n - 1)] < L[0] / 3 && L[2 * (n - 1) + 1] < L[1], `L1 ${L[0].toExponential(2)} -> ${L[2 * (n - 1)].toExponential(2)}, L2 ${L[1].toExponential(2)} -> ${L[2 * (n - 1) + 1].toExponential(2)}`);
  const [l0, l1, c0, c1] = s.gauge;
  check('L-CNN is gauge invariant', Math.abs(l1 - l0) <= 1e-10 * Math.abs(l0), `${l0} -> ${l1}`);
  check('ordinary model is not', Math.abs(c1 - c0) > 1e-3 * Math.abs(c0), `${c0} -> ${c1}`);
  const sh = s.shipped[0] || [NaN, NaN, NaN, NaN, NaN];
  const relM = Math.abs(sh[1] - sh[0]) / sh[0], relW = Math.abs(sh[2] - sh[0]) / sh[0];
  check('shipped FP action beats Wilson in the page', relM < relW / 3, `relative error ${relM.toExponential(2)} vs Wilson ${relW.toExponential(2)}`);
  check('bad input shows a message', s.errors.some((e) => e.includes('sites')) && s.errors.some((e) => e.includes('NaN')), JSON.stringify(s.errors));
  const hostileOk = s.hostile.length === 18 && s.hostile.every((h) => !h.endsWith(': undefined'));
  check('hostile input in every field gives a message', hostileOk, s.hostile.join(' | '));
  check('a crashed worker is replaced', s.restarts >= 1 && s.errors.some((e) => e.includes('worker stopped')), `${s.restarts} restart(s)`);
  check('a long run keeps a bounded history', s.hbSweeps > 5000 && s.hbHistoryLen <= 5000, `${s.hbSweeps} sweeps, ${s.hbHistoryLen} kept`);
  if (s.bench) {
    const b = s.bench;
    console.log(`bench: 1 heatbath + ${b.nOr} overrelaxation on 8^4 ${b.msPerSweep.toFixed(2)} ms per compound sweep = ${(b.msPerSweep * 1e6 / ((1 + b.nOr) * b.links)).toFixed(0)} ns per link update (wall, ${s.threads} thread(s)); L-CNN 12-12-12 forward on ${b.lcnnL}^4 ${b.msForward.toFixed(1)} ms`);
  }
  await page.screenshot({ path: shot, fullPage: true });
} catch (e) {
  failed++;
  console.log(`FAIL page: ${e}`);
  console.log(logs.join('\n'));
}
await ctx.close();
fs.rmSync(profile, { recursive: true, force: true });
server.close();
console.log(`E2E: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
