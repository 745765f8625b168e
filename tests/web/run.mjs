// Browser tests of the upload page. Starts real fileserver nodes on 127.0.0.1 (a two-node
// cluster in group1 and one node without the group prefix), drives Debian's chromium through
// playwright-core, saves a screenshot per test into a temporary directory and stops every
// node at the end, also after a failure or an interrupt. Invoked by run.sh:
//   node run.mjs --bin path/to/fileserver [--only substring] [--keep]
import { spawn, execFileSync } from 'node:child_process';
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, openSync, rmSync, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const argv = process.argv.slice(2);
const opt = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const BIN = resolve(opt('--bin') || process.env.FILESERVER_BIN || '');
const ONLY = opt('--only') || process.env.WEB_TEST_ONLY || '';
const KEEP = argv.includes('--keep');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TEST_TIMEOUT_MS = 120000;
const MiB = 1024 * 1024;

function skip(reason) {
  console.log(`web tests: SKIPPED: ${reason}`);
  process.exit(77);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skip(`playwright-core cannot be loaded (${e.message.split('\n')[0]})`);
}
if (!existsSync(CHROMIUM)) skip(`no chromium at ${CHROMIUM}`);
if (!BIN || !existsSync(BIN)) {
  console.log(`web tests: no fileserver binary (--bin ${BIN || '?'})`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const work = mkdtempSync(join(tmpdir(), 'fileserver-web-'));
const shots = join(work, 'screenshots');
mkdirSync(shots);

/* ------------------------------------------------------------------ nodes */
const nodes = [];
let passed = 0;
let failed = 0;
let browser;
let interrupted = false;

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, ms = 15000, every = 100) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (${last.message})` : ''}`);
    await sleep(every);
  }
}

/* Writes ROOT/conf/cfg.json and starts `fileserver --root ROOT`; resolves once /healthz answers. */
async function startNode(name, port, cfg) {
  const root = join(work, name);
  mkdirSync(join(root, 'conf'), { recursive: true });
  writeFileSync(join(root, 'conf', 'cfg.json'), JSON.stringify(cfg, null, 2));
  const log = openSync(join(work, `${name}.log`), 'a');
  const proc = spawn(BIN, ['--root', root], { stdio: ['ignore', log, log] });
  const node = { name, root, port, proc, cfg, origin: `http://127.0.0.1:${port}`, exited: false };
  proc.on('exit', () => { node.exited = true; });
  nodes.push(node);
  await waitFor(`${name} to answer /healthz`, async () => {
    if (node.exited) throw new Error(`${name} exited; see ${join(work, `${name}.log`)}`);
    const r = await fetch(`${node.origin}/healthz`);
    return r.ok;
  }, 15000);
  node.adminKey = JSON.parse(readFileSync(join(root, 'conf', 'cfg.json'), 'utf8')).admin_key;
  return node;
}

async function stopNodes() {
  await Promise.all(nodes.map(async (n) => {
    if (n.exited) return;
    n.proc.kill('SIGTERM');
    for (let i = 0; i < 50 && !n.exited; i++) await sleep(100);
    if (!n.exited) n.proc.kill('SIGKILL');
  }));
}
process.on('exit', () => { for (const n of nodes) if (!n.exited) try { n.proc.kill('SIGKILL'); } catch { /* gone */ } });
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    if (interrupted) return;
    interrupted = true;
    console.log(`web tests: interrupted (${sig}); node roots and logs in ${work}`);
    if (browser) await browser.close().catch(() => {});
    await stopNodes();
    console.log(`${passed} passed, ${failed + 1} failed`);
    process.exit(130);
  });
}

/* ------------------------------------------------------------------ helpers */
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

function makeFile(name, size) {
  const dir = join(work, 'files');
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  const data = randomBytes(size);
  writeFileSync(p, data);
  return { path: p, name, data };
}

async function fetchBytes(url, headers = {}) {
  const r = await fetch(url, { headers });
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return Buffer.from(await r.arrayBuffer());
}

/* RFC 6238 code of a base32 secret, as a Google Authenticator would show it */
function totp(b32, when = Date.now() / 1000) {
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of b32.replace(/=+$/, '').toUpperCase()) bits += alpha.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from((bits.match(/.{8}/g) || []).map((b) => parseInt(b, 2)));
  const ctr = Buffer.alloc(8);
  ctr.writeBigUInt64BE(BigInt(Math.floor(when / 30)));
  const mac = createHmac('sha1', key).update(ctr).digest();
  const o = mac[19] & 15;
  return String((mac.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

/* The auth_url endpoint of node D: "ok" for the token "sesame", a refusal otherwise. */
const authSeen = [];
function startAuthServer(port) {
  return new Promise((res) => {
    const srv = createHttpServer((req, rsp) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        const tok = new URLSearchParams(body).get('auth_token') || '';
        authSeen.push(tok);
        rsp.end(tok === 'sesame' ? 'ok' : 'token refused by the test auth server');
      });
    });
    srv.listen(port, '127.0.0.1', () => res(srv));
  });
}

function assert(cond, msg) { if (!cond) throw new Error(msg); }
function assertEq(a, b, msg) { if (a !== b) throw new Error(`${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`); }

/* A multipart upload from the test itself (not through the page), for the dashboard's data. */
async function apiUpload(node, file, fields = {}) {
  const fd = new FormData();
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  fd.append('output', 'json2');
  fd.append('file', new Blob([file.data]), file.name);
  const r = await fetch(`${node.origin}/group1/upload`, { method: 'POST', body: fd });
  const j = await r.json();
  if (j.status !== 'ok') throw new Error(`upload failed: ${JSON.stringify(j)}`);
  return j.data;
}

let current; // {context, page, errors} of the running test, for its screenshot

async function openPage(url, ctxOptions = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 }, ...ctxOptions });
  const page = await context.newPage();
  const errors = [];
  const requests = [];
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('request', (r) => requests.push(r.url()));
  current = { context, page, errors, requests };
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]');
  return current;
}

function item(page, name) { return page.locator(`#queue li[data-name="${name}"]`); }

/* Waits until the upload row of `name` is done; returns the URL the page shows. */
async function waitDone(page, name, ms = 60000) {
  const li = item(page, name);
  await li.waitFor({ state: 'attached', timeout: 10000 });
  await page.waitForFunction((n) => {
    const el = document.querySelector(`#queue li[data-name="${n}"]`);
    return el && (el.dataset.state === 'done' || el.dataset.state === 'error');
  }, name, { timeout: ms, polling: 100 });
  const state = await li.getAttribute('data-state');
  const status = await li.locator('.item-status').textContent();
  assertEq(state, 'done', `upload of ${name} ended in state ${state} (${status})`);
  assertEq(await li.locator('.pct').textContent(), '100%', `${name}: percentage shown`);
  assertEq(await li.locator('.bar').getAttribute('aria-valuenow'), '100', `${name}: progress bar`);
  const a = li.locator('.result a');
  const href = await a.getAttribute('href');
  assertEq(await a.textContent(), href, `${name}: link text`);
  return href;
}

async function waitError(page, name, ms = 30000) {
  await page.waitForFunction((n) => {
    const el = document.querySelector(`#queue li[data-name="${n}"]`);
    return el && (el.dataset.state === 'done' || el.dataset.state === 'error');
  }, name, { timeout: ms, polling: 100 });
  const li = item(page, name);
  assertEq(await li.getAttribute('data-state'), 'error', `${name}: state`);
  return li.locator('.item-status').textContent();
}

async function setOptions(page, o) {
  const ids = { scene: '#opt-scene', path: '#opt-path', token: '#opt-token', code: '#opt-code', threshold: '#opt-threshold', chunk: '#opt-chunk' };
  for (const [k, v] of Object.entries(o)) await page.fill(ids[k], String(v));
}

async function pickFiles(page, paths) {
  await page.setInputFiles('#file-input', paths);
}

/* Drops files on the drop zone the way a drag from the desktop does: a DataTransfer holding
 * File objects, dispatched through dragenter, dragover and drop. */
async function dropFiles(page, files) {
  const payload = files.map((f) => ({ name: f.name, b64: f.data.toString('base64') }));
  await page.evaluate((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bin = atob(f.b64);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      dt.items.add(new File([bytes], f.name, { type: 'application/octet-stream' }));
    }
    const zone = document.getElementById('drop');
    for (const type of ['dragenter', 'dragover', 'drop']) {
      zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, payload);
}

/* ------------------------------------------------------------------ the tests */
const tests = [];
const test = (name, fn) => tests.push({ name, fn });
let A, B, C, D; // cluster nodes A and B (group1), C without the group prefix, D with auth
const GOOGLE_SECRET = 'JBSWY3DPEHPK3PXP';

test('index.html is what web/src builds', async () => {
  let out;
  try {
    out = execFileSync('node', [join(repo, 'web', 'build.mjs'), '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(String(e.stderr || e.message).trim());
  }
  assert(/up to date/.test(out), out);
  const size = statSync(join(repo, 'web', 'index.html')).size;
  assert(size < 200 * 1024, `index.html is ${size} bytes`);
});

test('page is served at /, /group1/ and /group1/upload.html, self-contained', async () => {
  const file = readFileSync(join(repo, 'web', 'index.html'));
  for (const p of ['/group1/', '/group1/upload.html']) {
    const r = await fetch(A.origin + p);
    assertEq(r.status, 200, `GET ${p}`);
    const body = Buffer.from(await r.arrayBuffer());
    assert(body.equals(file), `GET ${p} is not web/index.html (rebuild the binary)`);
  }
  const { page, requests } = await openPage(`${A.origin}/`);
  assertEq(new URL(page.url()).pathname, '/group1/', 'redirect of /');
  await page.waitForLoadState('networkidle');
  const foreign = requests.filter((u) => !u.startsWith(A.origin) && !u.startsWith('data:'));
  assertEq(foreign.length, 0, `requests outside the node: ${foreign.join(', ')}`);
  assert(await page.evaluate(() => typeof window.tus === 'object' && window.tus.isSupported), 'tus-js-client inlined');
  assertEq(await page.locator('#group-badge').textContent(), 'group1', 'group badge');
});

test('upload two files through the picker', async () => {
  const f1 = makeFile('picker_one.txt', 1000);
  const f2 = makeFile('picker_two.bin', 300 * 1024);
  const { page, context } = await openPage(`${A.origin}/group1/upload.html`, { permissions: ['clipboard-read', 'clipboard-write'] });
  await setOptions(page, { scene: '', path: '', threshold: 8 });
  await pickFiles(page, [f1.path, f2.path]);
  for (const f of [f1, f2]) {
    const url = await waitDone(page, f.name);
    assertEq(await item(page, f.name).locator('.method').textContent(), 'form', `${f.name}: method`);
    assert(url.startsWith(`${A.origin}/group1/default/`) && url.includes(`/${f.name}?`), `url ${url}`);
    assertEq(sha256(await fetchBytes(url)), sha256(f.data), `${f.name}: downloaded bytes`);
  }
  // copy button puts the URL on the clipboard
  const li = item(page, f1.name);
  await li.locator('.copy').click();
  await page.waitForFunction((n) => document.querySelector(`#queue li[data-name="${n}"] .copy`).dataset.copied === '1', f1.name, { timeout: 5000 });
  const clip = await page.evaluate(() => navigator.clipboard.readText());
  assertEq(clip, await li.locator('.result a').getAttribute('href'), 'clipboard');
  void context;
});

test('upload by drag and drop, with scene and path', async () => {
  const f = makeFile('dropped.dat', 200 * 1024);
  const { page } = await openPage(`${A.origin}/group1/`);
  await setOptions(page, { scene: 'webscene', path: 'webdrop/sub' });
  await dropFiles(page, [f]);
  const url = await waitDone(page, f.name);
  assert(url.startsWith(`${A.origin}/group1/webdrop/sub/dropped.dat`), `url ${url}`);
  assertEq(sha256(await fetchBytes(url)), sha256(f.data), 'downloaded bytes');
  // the options are remembered for the next visit
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]');
  assertEq(await page.inputValue('#opt-path'), 'webdrop/sub', 'path kept in localStorage');
  await setOptions(page, { scene: '', path: '' });
  await page.locator('#opt-path').dispatchEvent('change');
  await page.locator('#opt-scene').dispatchEvent('change');
});

test('the server\'s error message is shown', async () => {
  const f = makeFile('bad_scene.txt', 100);
  const g = makeFile('bad_scene_big.bin', 64 * 1024);
  const h = makeFile('empty.txt', 0);
  const { page } = await openPage(`${A.origin}/group1/`);
  await setOptions(page, { scene: 'no/such', threshold: 0.05 });
  await pickFiles(page, [f.path, g.path]);
  const msg = await waitError(page, f.name);
  assert(/HTTP 400: scene is not a valid name|HTTP 400: not valid scene/.test(msg), `form error text: ${msg}`);
  const msg2 = await waitError(page, g.name);
  assertEq(await item(page, g.name).locator('.method').textContent(), 'tus', 'big file method');
  assert(/HTTP 4\d\d: .*scene/.test(msg2), `tus error text: ${msg2}`);
  await setOptions(page, { scene: '', threshold: 8 });
  await pickFiles(page, [h.path]);
  const msg3 = await waitError(page, h.name);
  assert(/HTTP 400: empty file/.test(msg3), `empty file text: ${msg3}`);
});

test('large file goes through tus', async () => {
  const f = makeFile('tus_whole.bin', 3 * MiB + 17);
  const { page } = await openPage(`${A.origin}/group1/`);
  await setOptions(page, { scene: '', path: '', threshold: 1, chunk: 1 });
  await pickFiles(page, [f.path]);
  const url = await waitDone(page, f.name);
  assertEq(await item(page, f.name).locator('.method').textContent(), 'tus', 'method');
  assertEq(sha256(await fetchBytes(url)), sha256(f.data), 'downloaded bytes');
  // the fingerprint is dropped once the upload is complete
  const left = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')).length);
  assertEq(left, 0, 'tus entries left in localStorage');
});

test('interrupted tus upload resumes after a reload', async () => {
  const f = makeFile('tus_resume.bin', 12 * MiB + 5);
  const { page, context } = await openPage(`${A.origin}/group1/`);
  await setOptions(page, { scene: '', path: '', threshold: 1, chunk: 0 });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 5, downloadThroughput: -1, uploadThroughput: 1.5 * MiB });
  await pickFiles(page, [f.path]);
  await page.waitForFunction((n) => {
    const el = document.querySelector(`#queue li[data-name="${n}"] .bar`);
    return el && +el.getAttribute('aria-valuenow') >= 20;
  }, f.name, { timeout: 30000, polling: 50 });
  const before = +(await item(page, f.name).locator('.bar').getAttribute('aria-valuenow'));
  assert(before < 100, `upload finished before the interruption (${before}%)`);
  const speed = await item(page, f.name).locator('.speed').textContent();
  assert(/\/s$/.test(speed), `speed shown while uploading: "${speed}"`);
  await page.screenshot({ path: join(shots, 'tus-before-reload.png'), fullPage: true });
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  // the page lists what was interrupted, with the server's offset
  const row = page.locator(`#pending-list li[data-name="${f.name}"]`);
  await row.waitFor({ timeout: 10000 });
  await page.waitForFunction((n) => /[1-9]\d*%/.test(document.querySelector(`#pending-list li[data-name="${n}"]`).textContent), f.name, { timeout: 8000 }).catch(() => {});
  const txt = await row.textContent();
  const m = /(\d+)%/.exec(txt);
  assert(m && +m[1] > 0, `pending row shows progress: ${txt}`);
  await page.screenshot({ path: join(shots, 'tus-pending-after-reload.png'), fullPage: true });
  await pickFiles(page, [f.path]);
  const url = await waitDone(page, f.name);
  const status = await item(page, f.name).locator('.item-status').textContent();
  const r = /Resumed at (\d+)%/.exec(status);
  assert(r && +r[1] > 0, `status tells where it resumed: ${status}`);
  assertEq(sha256(await fetchBytes(url)), sha256(f.data), 'downloaded bytes');
  await page.waitForFunction(() => document.getElementById('pending-card').hidden, null, { timeout: 10000 });
});

test('paused tus upload continues', async () => {
  const f = makeFile('tus_pause.bin', 6 * MiB);
  const { page, context } = await openPage(`${A.origin}/group1/`);
  await setOptions(page, { threshold: 1, chunk: 1 });
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 5, downloadThroughput: -1, uploadThroughput: 2 * MiB });
  await pickFiles(page, [f.path]);
  await page.waitForFunction((n) => {
    const el = document.querySelector(`#queue li[data-name="${n}"] .bar`);
    return el && +el.getAttribute('aria-valuenow') >= 10;
  }, f.name, { timeout: 30000, polling: 50 });
  await item(page, f.name).locator('button[data-action="pause"]').click();
  assertEq(await item(page, f.name).getAttribute('data-state'), 'paused', 'state after pause');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await item(page, f.name).locator('button[data-action="resume"]').click();
  const url = await waitDone(page, f.name);
  assertEq(sha256(await fetchBytes(url)), sha256(f.data), 'downloaded bytes');
});

test('dashboard of a two-node cluster', async () => {
  const f = makeFile('dash_file.bin', 4321);
  const rec = await apiUpload(A, f, { path: 'webtest/dir1' });
  assert(rec.path.endsWith('/webtest/dir1/dash_file.bin'), `path ${rec.path}`);
  // replication to B marks the peer contacted and reachable
  await waitFor('A to reach B', async () => {
    const j = await (await fetch(`${A.origin}/group1/status`)).json();
    const p = j.data['Fs.PeerStatus'].find((x) => x.peer === B.origin);
    return p && p.contacted && p.reachable && p.queue === 0;
  }, 20000, 250);

  const { page } = await openPage(`${A.origin}/group1/#dashboard`);
  await page.waitForSelector('#node-info [data-key="node.local"] dd');
  assertEq(await page.locator('#node-info [data-key="node.local"] dd').textContent(), A.origin, 'Fs.Local');
  const peer = page.locator(`#peers tr[data-peer="${B.origin}"]`);
  await peer.waitFor({ timeout: 5000 });
  assertEq(await peer.locator('.pill').textContent(), 'reachable', 'peer state');

  // 127.0.0.1 is not in admin_ips: the admin parts ask for the key
  await page.waitForFunction(() => !document.getElementById('stat-msg').hidden);
  assert(/admin key/i.test(await page.locator('#stat-msg').textContent()), 'stat asks for the key');
  assert(/admin key/i.test(await page.locator('#files-msg').textContent()), 'file browser asks for the key');
  await page.fill('#admin-key', 'not-the-key');
  await page.click('#key-form button[type="submit"]');
  await page.waitForFunction(() => /refused/.test(document.getElementById('stat-msg').textContent));

  await page.fill('#admin-key', A.adminKey);
  await page.click('#key-form button[type="submit"]');
  await page.waitForSelector('#stat-charts svg rect[data-date]');
  const bars = await page.locator('#stat-charts svg[data-field="count"] rect[data-date]').count();
  assert(bars >= 1, 'bars drawn');
  const total = await page.locator('#stat-total').textContent();
  assert(/All: \d+ files/.test(total), `total line: ${total}`);
  const today = await page.locator('#stat-charts svg[data-field="count"] rect[data-date]').last().getAttribute('data-value');
  assert(+today >= 1, `files of the last day: ${today}`);

  // browse files/ -> webtest -> dir1 -> the file
  await page.locator('#files tr[data-name="webtest"] button.dir').click();
  await page.locator('#files tr[data-name="dir1"] button.dir').click();
  const link = page.locator('#files tr[data-name="dash_file.bin"] a');
  await link.waitFor({ timeout: 5000 });
  const href = await link.evaluate((a) => a.href);
  assertEq(new URL(href).pathname, '/group1/webtest/dir1/dash_file.bin', 'download link');
  assertEq(sha256(await fetchBytes(href)), sha256(f.data), 'downloaded bytes');
  assertEq((await page.locator('#crumbs').textContent()).replace(/\s/g, ''), 'files/webtest/dir1', 'breadcrumbs');

  // the key lives in sessionStorage: a reload keeps it, no retyping
  await page.reload();
  await page.waitForSelector('#stat-charts svg rect[data-date]', { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector('#files tr[data-name]') || !document.getElementById('files-msg').hidden, null, { timeout: 5000 });
  const rootMsg = await page.locator('#files-msg').textContent();
  assert(await page.locator('#files tr[data-name="webtest"]').count() === 1,
    `second listing of files/ after a reload shows no webtest/ (message: "${rootMsg}")`);
  assert(await page.evaluate(() => sessionStorage.getItem('fs.adminKey') !== null), 'key in sessionStorage');
  assert(await page.evaluate(() => localStorage.getItem('fs.adminKey') === null), 'key not in localStorage');
  // the replica is on B, and B's dashboard shows A as its peer
  assertEq(sha256(await fetchBytes(`${B.origin}${rec.path}`)), sha256(f.data), 'replica on B');
  await page.screenshot({ path: join(shots, 'dashboard-A.png'), fullPage: true });
  await page.locator(`#peers tr[data-peer="${B.origin}"] a`).click();
  await page.waitForSelector(`#peers tr[data-peer="${A.origin}"]`);
  assertEq(new URL(page.url()).origin, B.origin, 'peer link leads to B');
});

test('language: Chinese from navigator.language, switch to English and back', async () => {
  const { page } = await openPage(`${A.origin}/group1/`, { locale: 'zh-CN' });
  assertEq(await page.evaluate(() => navigator.language), 'zh-CN', 'navigator.language');
  assertEq(await page.locator('#tab-upload').textContent(), '上传', 'upload tab in Chinese');
  assertEq(await page.locator('.drop-title').textContent(), '将文件拖到这里', 'drop zone in Chinese');
  assertEq(await page.getAttribute('html', 'lang'), 'zh-CN', 'html lang');
  const f = makeFile('zh_upload.txt', 500);
  await setOptions(page, { threshold: 8 });
  await pickFiles(page, [f.path]);
  await waitDone(page, f.name);
  assertEq(await item(page, f.name).locator('.item-status').textContent().then((s) => s.split(' ·')[0]), '完成', 'status in Chinese');
  await page.screenshot({ path: join(shots, 'lang-zh.png'), fullPage: true });
  await page.click('#lang-switch');
  assertEq(await page.locator('#tab-upload').textContent(), 'Upload', 'switched to English');
  assertEq(await item(page, f.name).locator('.item-status').textContent().then((s) => s.split(' ·')[0]), 'Done', 'status re-rendered');
  await page.reload();
  await page.waitForSelector('body[data-ready="1"]');
  assertEq(await page.locator('#tab-upload').textContent(), 'Upload', 'choice kept after reload');
  await page.click('#lang-switch');
  await page.click('#tab-dashboard');
  await page.waitForSelector('#node-info dd');
  assertEq(await page.locator('#tab-dashboard').textContent(), '仪表盘', 'dashboard tab in Chinese');
  assertEq(await page.locator('#node-info [data-key="node.local"] dt').textContent(), '地址', 'dashboard labels');
});

test('without the group prefix the page lives at / and uploads to /upload', async () => {
  const f = makeFile('nogroup.txt', 2000);
  const { page } = await openPage(`${C.origin}/`);
  assertEq(new URL(page.url()).pathname, '/', 'no redirect');
  await pickFiles(page, [f.path]);
  const url = await waitDone(page, f.name);
  assert(url.startsWith(`${C.origin}/default/`), `url without group: ${url}`);
  assertEq(sha256(await fetchBytes(url)), sha256(f.data), 'downloaded bytes');
  await page.click('#tab-dashboard');
  // admin_ips keeps its default 127.0.0.1 here: no key needed
  await page.waitForSelector('#stat-charts svg rect[data-date]');
  await page.locator('#files tr[data-name="default"]').waitFor({ timeout: 5000 });
});

test('auth token and Google code reach the server', async () => {
  const f1 = makeFile('auth_none.txt', 300);
  const f2 = makeFile('auth_ok.txt', 301);
  const f3 = makeFile('auth_tus.bin', 4 * MiB);
  const f4 = makeFile('google_none.txt', 302);
  const f5 = makeFile('google_ok.txt', 303);
  const { page, context } = await openPage(`${D.origin}/group1/`);
  await setOptions(page, { token: '', threshold: 1, chunk: 0 });
  await pickFiles(page, [f1.path]);
  const msg = await waitError(page, f1.name);
  assert(/^Failed: HTTP 401: auth fail/.test(msg), `no token: ${msg}`);

  await setOptions(page, { token: 'sesame' });
  await pickFiles(page, [f2.path]);
  const url2 = await waitDone(page, f2.name);
  assertEq(sha256(await fetchBytes(url2)), sha256(f2.data), 'downloaded bytes');
  assert(authSeen.includes('sesame'), `auth server saw ${JSON.stringify(authSeen)}`);

  // tus sends the token on creation but never keeps it in localStorage
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 5, downloadThroughput: -1, uploadThroughput: 2 * MiB });
  await pickFiles(page, [f3.path]);
  await page.waitForFunction(() => Object.keys(localStorage).some((k) => k.startsWith('tus::')), null, { timeout: 10000 });
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('tus::')).map((k) => localStorage.getItem(k)).join('\n'));
  assert(stored.includes('auth_tus.bin') && !stored.includes('sesame'), `tus entry: ${stored}`);
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const url3 = await waitDone(page, f3.name);
  assertEq(sha256(await fetchBytes(url3)), sha256(f3.data), 'tus bytes');

  await setOptions(page, { scene: 'gscene', code: '' });
  await pickFiles(page, [f4.path]);
  const gmsg = await waitError(page, f4.name);
  assert(/google code/.test(gmsg), `no code: ${gmsg}`);
  await setOptions(page, { code: totp(GOOGLE_SECRET) });
  await pickFiles(page, [f5.path]);
  const url5 = await waitDone(page, f5.name);
  assert(url5.includes('/group1/gscene/'), `url ${url5}`);
  assertEq(sha256(await fetchBytes(`${url5}&code=${totp(GOOGLE_SECRET)}`)), sha256(f5.data), 'downloaded bytes');
  await setOptions(page, { scene: '', code: '', token: '' });
});

/* ------------------------------------------------------------------ runner */
try {
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, handleSIGINT: false, handleSIGTERM: false });
  } catch (e) {
    skip(`chromium does not start: ${e.message.split('\n')[0]}`);
  }
  const [pa, pb, pc, pd, pauth] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  const authSrv = await startAuthServer(pauth);
  authSrv.unref();
  const secret = randomBytes(16).toString('hex');
  const peers = [`http://127.0.0.1:${pa}`, `http://127.0.0.1:${pb}`];
  const clusterNode = (port, id) => ({
    addr: `127.0.0.1:${port}`, host: `http://127.0.0.1:${port}`, peers, peer_id: id,
    cluster_secret: secret, admin_key: randomBytes(16).toString('hex'),
    // the browser connects from 127.0.0.1: keep it out of admin_ips so the key is needed
    admin_ips: ['192.0.2.1'],
  });
  [A, B] = await Promise.all([startNode('nodeA', pa, clusterNode(pa, '7')), startNode('nodeB', pb, clusterNode(pb, '8'))]);
  D = await startNode('nodeD', pd, {
    addr: `127.0.0.1:${pd}`, host: `http://127.0.0.1:${pd}`, peers: [], peer_id: '10',
    auth_url: `http://127.0.0.1:${pauth}/auth`, enable_google_auth: true,
    scenes: ['default', `gscene:${GOOGLE_SECRET}`],
  });
  C = await startNode('nodeC', pc, { addr: `127.0.0.1:${pc}`, host: `http://127.0.0.1:${pc}`, peers: [], peer_id: '9', support_group_manage: false });

  let idx = 0;
  for (const t of tests) {
    idx++;
    if (interrupted) break;
    if (ONLY && !t.name.includes(ONLY)) continue;
    current = null;
    const started = Date.now();
    let err = null;
    try {
      let timer;
      await Promise.race([t.fn(), new Promise((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${TEST_TIMEOUT_MS / 1000} s`)), TEST_TIMEOUT_MS); })]);
      clearTimeout(timer);
      if (current && current.errors.length) throw new Error(current.errors.join('; '));
    } catch (e) {
      err = e;
    }
    let shot = '';
    if (current) {
      shot = join(shots, `${String(idx).padStart(2, '0')}-${t.name.replace(/[^\w]+/g, '-').replace(/^-|-$/g, '').slice(0, 60)}.png`);
      await current.page.screenshot({ path: shot, fullPage: true }).catch(() => { shot = ''; });
      await current.context.close().catch(() => {});
    }
    if (interrupted) break;
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    if (err) {
      failed++;
      console.log(`FAIL  ${t.name} (${secs} s): ${err.message.split('\n')[0]}${shot ? `\n      screenshot: ${shot}` : ''}`);
    } else {
      passed++;
      console.log(`ok    ${t.name} (${secs} s)${shot ? `  [${shot}]` : ''}`);
    }
  }
} catch (e) {
  failed++;
  console.log(`FAIL  setup: ${e.message}`);
} finally {
  if (browser) await browser.close().catch(() => {});
  await stopNodes();
}
if (interrupted) await new Promise(() => {}); // the signal handler reports and exits
console.log(`screenshots: ${shots}`);
if (failed === 0 && !KEEP) {
  for (const n of nodes) rmSync(n.root, { recursive: true, force: true });
  rmSync(join(work, 'files'), { recursive: true, force: true });
} else {
  console.log(`node roots and logs kept in ${work}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
