// Driver for bench/browser.sh: one headless Chromium page (page.html) calls one native harness
// client through a real signal server on 127.0.0.1, RUNS times in each direction, and reports
// the times from `matched` to ICE connected, to DTLS connected and to the first decoded frame.
//
// Environment (set by browser.sh): SERVER_PORT, HARNESS, RUNS, SECS, LOG_DIR, CHROMIUM.
'use strict';

const http = require('http');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const puppeteer = require('puppeteer-core');

const PORT = Number(process.env.SERVER_PORT);
const HARNESS = process.env.HARNESS;
const RUNS = Number(process.env.RUNS || 5);
const SECS = String(process.env.SECS || 1);
const LOG_DIR = process.env.LOG_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'browser-bench-'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SERVER_URL = `ws://127.0.0.1:${PORT}/`;
const RUN_TIMEOUT_MS = 60_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The page, over http://127.0.0.1 (a secure context, so getUserMedia is allowed).
function servePage() {
  const files = { '/': 'page.html', '/page.html': 'page.html', '/page.js': 'page.js' };
  const server = http.createServer((req, res) => {
    const name = files[req.url.split('?')[0]];
    if (!name) {
      res.writeHead(404).end();
      return;
    }
    const type = name.endsWith('.js') ? 'text/javascript' : 'text/html';
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(fs.readFileSync(path.join(__dirname, name)));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function videoQueueDepth() {
  const text = await get(`http://127.0.0.1:${PORT}/metrics`);
  const m = text.match(/^strangers_queue_depth\{mode="video"\} (\d+)/m);
  return m ? Number(m[1]) : 0;
}

async function until(what, pred, timeoutMs = 20_000, everyMs = 20) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// One native client in its own process; resolves with its exit code, stdout and the parsed
// `JSON {...}` report line (or null).
function startHarness(logFile) {
  const args = ['--scenario', 'basic', '--clients', '1', '--server', SERVER_URL, '--duration', SECS,
    '--udp-bind', '127.0.0.1:0', ...(process.env.HARNESS_ARGS || '').split(' ').filter(Boolean)];
  const env = { ...process.env, RUST_LOG: process.env.HARNESS_LOG || 'warn' };
  const child = spawn(HARNESS, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const err = fs.createWriteStream(logFile);
  child.stderr.pipe(err);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('JSON '));
      let report = null;
      try {
        report = line ? JSON.parse(line.slice(5)) : null;
      } catch (_) { /* keep null */ }
      fs.appendFileSync(logFile, `\n--- stdout (exit ${code ?? signal}) ---\n${out}`);
      resolve({ code: code ?? signal, report });
    });
  });
  return { child, done };
}

// One call. browserOffers: the page searches first (so it waited longer and offers).
async function oneRun(browser, pageUrl, browserOffers, label) {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  const logBase = path.join(LOG_DIR, label);
  let harness = null;
  const result = { label, expected: browserOffers ? 'offerer' : 'answerer' };
  try {
    await page.goto(pageUrl);
    await page.evaluate((url) => window.benchConnect(url), SERVER_URL);
    if (browserOffers) {
      await page.evaluate(() => window.benchFind());
      await page.waitForFunction(() => window.bench.waiting, { timeout: 10_000 });
      harness = startHarness(`${logBase}.harness.log`);
    } else {
      harness = startHarness(`${logBase}.harness.log`);
      await until('the harness to be searching', async () => (await videoQueueDepth()) >= 1);
      await page.evaluate(() => window.benchFind());
    }
    // The page's part is over once it has a frame (and a stats summary) or the harness is done.
    let harnessDone = false;
    harness.done.then(() => (harnessDone = true));
    await until('the first frame in the browser', async () =>
      harnessDone || (await page.evaluate(() => window.bench.stats !== null)), RUN_TIMEOUT_MS, 50);
    const h = await harness.done;
    harness = null;
    const b = await page.evaluate(() => window.bench);
    result.role = b.role;
    result.browser = b.times;
    result.stats = b.stats;
    result.browserErrors = b.errors;
    result.harnessCode = h.code;
    result.harness = h.report;
    fs.writeFileSync(`${logBase}.page.log`,
      [...b.log.map(([t, s]) => `${t} ${s}`), ...consoleLines].join('\n') + '\n');
  } catch (e) {
    result.error = String(e && e.message ? e.message : e);
    fs.writeFileSync(`${logBase}.page.log`, consoleLines.join('\n') + `\nerror: ${result.error}\n`);
  } finally {
    if (harness) {
      harness.child.kill('SIGKILL');
      await harness.done;
    }
    await page.close().catch(() => {});
  }
  return result;
}

const fmt = (v) => (v === undefined || v === null ? '-' : Number(v).toFixed(0));

function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// Timings of one run, in ms from each side's own receipt of `matched`.
function timings(r) {
  const b = r.browser || {};
  const h = r.harness || {};
  return {
    ice: b.ice_connected ?? b.ice_completed,
    dtls: b.pc_connected,
    rtp: b.video_unmuted,
    frame: b.first_frame ?? b.video_loadeddata,
    hConnect: h.connect_ms ? h.connect_ms.p50 : null,
    hFrame: h.first_frame_ms ? h.first_frame_ms.p50 : null,
  };
}

function complete(r) {
  const t = timings(r);
  return !r.error && r.role === r.expected && t.frame != null && t.hFrame != null;
}

async function main() {
  const server = await servePage();
  const pageUrl = `http://127.0.0.1:${server.address().port}/page.html`;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'browser-bench-profile-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    dumpio: process.env.CHROME_LOG === '1',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  console.log(`# ${await browser.version()}, harness ${HARNESS}, server ${SERVER_URL}, logs in ${LOG_DIR}`);
  const directions = [
    { key: 'offers', browserOffers: true, title: 'Chromium offers (native answers; native is DTLS client)' },
    { key: 'answers', browserOffers: false, title: 'Chromium answers (native offers; Chromium is DTLS client)' },
  ];
  const results = { offers: [], answers: [] };
  try {
    for (let run = 1; run <= RUNS; run++) {
      for (const d of directions) {
        const r = await oneRun(browser, pageUrl, d.browserOffers, `run${run}-browser-${d.key}`);
        results[d.key].push(r);
        const t = timings(r);
        const h = r.harness;
        const failed = h && h.checks ? h.checks.filter((c) => !c.ok).map((c) => c.name) : [];
        console.log(
          `run ${run} browser ${d.key.padEnd(7)} role=${r.role ?? '-'}` +
          ` | browser: ice ${fmt(t.ice)} dtls ${fmt(t.dtls)} rtp ${fmt(t.rtp)} frame ${fmt(t.frame)} ms` +
          ` | harness: connected ${fmt(t.hConnect)} frame ${fmt(t.hFrame)} ms, exit ${r.harnessCode ?? '-'}` +
          (failed.length ? ` (failed checks: ${failed.join(', ')})` : '') +
          (r.stats ? ` | ${JSON.stringify(r.stats.codecs)} dtlsRole=${r.stats.dtlsRole}` : '') +
          (r.role && r.role !== r.expected ? ` | WRONG ROLE (wanted ${r.expected})` : '') +
          (r.error ? ` | ERROR: ${r.error}` : ''));
      }
    }
  } finally {
    await browser.close().catch(() => {});
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }

  const rows = [
    ['browser: matched → ICE connected', 'ice'],
    ['browser: matched → DTLS connected (pc connected)', 'dtls'],
    ['browser: matched → first video RTP (track unmute)', 'rtp'],
    ['browser: matched → first decoded frame (rVFC)', 'frame'],
    ['harness: matched → connected', 'hConnect'],
    ['harness: matched → first decoded frame', 'hFrame'],
  ];
  const ok = { offers: results.offers.filter(complete), answers: results.answers.filter(complete) };
  console.log('');
  console.log(`| median ms (complete runs of ${RUNS}) | Chromium offers (${ok.offers.length}) | Chromium answers (${ok.answers.length}) |`);
  console.log('|---|---:|---:|');
  for (const [name, key] of rows) {
    const cell = (list) => fmt(median(list.map((r) => timings(r)[key])));
    console.log(`| ${name} | ${cell(ok.offers)} | ${cell(ok.answers)} |`);
  }
  const all = [...results.offers, ...results.answers];
  const mediaFailed = all.some((r) => r.harness && !r.harness.passed);
  if (mediaFailed) {
    console.log('\nnote: the harness marks its media checks as failed against a browser: Chromium sends no ' +
      'stamped test card nor the expected tone. Only its timings are used here.');
  }
  const bad = all.filter((r) => !complete(r));
  if (bad.length) {
    console.log(`\n${bad.length} run(s) without timings on both sides: ${bad.map((r) => r.label).join(', ')} (see ${LOG_DIR})`);
  }
  fs.writeFileSync(path.join(LOG_DIR, 'results.json'), JSON.stringify(results, null, 2));
  // Success: every run gave timings on both sides, in the intended roles.
  process.exitCode = bad.length === 0 ? 0 : 1;
}

main().catch((e) => {
  console.error(`driver: ${e && e.stack ? e.stack : e}`);
  process.exitCode = 1;
});
