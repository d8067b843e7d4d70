// One Chromium side of bench/link.sh, run inside a network namespace: a headless page with a fake
// camera (Chromium's 640x480@30 pattern) and a fake microphone (a WAV file with a steady tone)
// searches through the signal server, calls whoever it is matched with (the other Chromium, in
// the other namespace), and writes the call's timeline (page.js's benchTimeline) as JSON lines.
//
// Environment: SERVER_URL, NAME (the timeline's client name), SECS (how long to record once the
// first frame is in), OUT (the timeline file), WAV (the microphone), CHROMIUM.
'use strict';

const http = require('http');
const fs = require('fs');
const os = require('os');
const path = require('path');
const puppeteer = require('puppeteer-core');

const SERVER_URL = process.env.SERVER_URL;
const NAME = process.env.NAME || 'chromium';
const SECS = Number(process.env.SECS || 40);
const OUT = process.env.OUT;
const WAV = process.env.WAV;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

function servePage() {
  const files = { '/page.html': 'page.html', '/page.js': 'page.js' };
  const server = http.createServer((req, res) => {
    const name = files[req.url.split('?')[0]];
    if (!name) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html' });
    res.end(fs.readFileSync(path.join(__dirname, name)));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  const server = await servePage();
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'link-bench-profile-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      `--use-file-for-fake-audio-capture=${WAV}`,
      '--disable-features=WebRtcHideLocalIpsWithMdns',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${server.address().port}/page.html`);
    await page.evaluate((url) => window.benchConnect(url), SERVER_URL);
    await page.evaluate(() => window.benchFind());
    await page.waitForFunction(() => 'first_frame' in window.bench.times, { timeout: 30_000 });
    await page.evaluate((name) => window.benchTimeline(name), NAME);
    await new Promise((r) => setTimeout(r, SECS * 1000));
    const lines = await page.evaluate(() => window.bench.timeline);
    fs.writeFileSync(OUT, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const errors = await page.evaluate(() => window.bench.errors);
    if (errors.length) console.error(`${NAME}: page errors: ${errors.join('; ')}`);
  } finally {
    await browser.close().catch(() => {});
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`link.js: ${e && e.stack ? e.stack : e}`);
  process.exitCode = 1;
});
