// The web page of `doppel serve` in a real browser: Debian's chromium, headless, driven by playwright-core (no
// browser is downloaded). A real data directory (the built-in pretrained models over the opencv-doc sample photos)
// served by the real binary on loopback. Run by CTest (tests/web/CMakeLists.txt) with
//   DOPPEL_BIN       the doppel binary
//   DOPPEL_SAMPLES   the sample photos (Debian's opencv-doc examples/data)
//   DOPPEL_ARTIFACTS where screenshots go (kept as test artifacts)
//   CHROMIUM         the browser (default /usr/bin/chromium)
// Each step says what a user does and what they must see; the first failure stops the test with its step.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, copyFileSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { createInterface } from 'node:readline';
import { deflateSync } from 'node:zlib';

// An RGB PNG of stripes and rings that differs with `seed` (Node has zlib; the CRC is the PNG one).
function makePng(w, h, seed) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, body) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const tb = Buffer.concat([Buffer.from(type, 'ascii'), body]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(tb));
    return Buffer.concat([len, tb, c]);
  };
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;  // filter: none
    for (let x = 0; x < w; x++) {
      const o = y * (w * 3 + 1) + 1 + x * 3;
      const r = Math.hypot(x - w / 2, y - h / 2);
      raw[o] = (Math.sin(r / (2 + seed)) * 127 + 128) | 0;
      raw[o + 1] = ((x * (seed + 1) * 7) ^ (y * 3)) & 0xff;
      raw[o + 2] = ((y + seed * 40) * 4) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;  // bit depth
  ihdr[9] = 2;  // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
                        chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  console.error('browser test: playwright-core is missing: run scripts/bootstrap.sh (it runs npm ci in tests/web)');
  process.exit(1);
}

const bin = process.env.DOPPEL_BIN;
const samples = process.env.DOPPEL_SAMPLES || '/usr/share/doc/opencv-doc/examples/data';
const artifacts = process.env.DOPPEL_ARTIFACTS || join(tmpdir(), 'doppel-web-artifacts');
const browserPath = process.env.CHROMIUM || '/usr/bin/chromium';
const TOKEN = 'browser-test-token-0123456789';
assert.ok(bin && existsSync(bin), 'DOPPEL_BIN must name the doppel binary');
assert.ok(existsSync(browserPath), browserPath + ' is missing: run scripts/bootstrap.sh (it installs chromium)');
mkdirSync(artifacts, { recursive: true });

const work = mkdtempSync(join(tmpdir(), 'doppel-web-'));
const data = join(work, 'data');
const doppel = (...args) => execFileSync(bin, ['--data', data, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });

// A data directory with both built-in models over the sample photos; a second folder the page may index.
doppel('model', 'add-builtin', 'mobilenet_v2', 'inception_v3');
doppel('index', samples);
// The folder the page indexes: new pictures (so the collection grows) and a copy of a known one (so it does not
// count twice).
const extra = join(work, 'extra');
mkdirSync(extra);
for (let i = 0; i < 6; i++) writeFileSync(join(extra, 'pattern' + i + '.png'), makePng(96, 64, i));
copyFileSync(join(samples, 'fruits.jpg'), join(extra, 'copy-of-fruits.jpg'));

// The server, writes on (a token), 2 MB body limit so that "too large" is cheap to test.
const server = spawn(bin, ['serve', '--data', data, '--listen', '127.0.0.1:0', '--allow-writes', '--root',
                           'extra=' + extra, '--max-body-mb', '2'],
                     { env: { ...process.env, DOPPEL_TOKEN: TOKEN }, stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((resolve, reject) => {
  const lines = createInterface({ input: server.stdout });
  lines.once('line', (line) => {
    const m = line.match(/http:\/\/127\.0\.0\.1:\d+/);
    m ? resolve(m[0]) : reject(new Error('unexpected first line from doppel serve: ' + line));
  });
  server.once('exit', (code) => reject(new Error('doppel serve exited with ' + code)));
});
console.log('browser test: server at ' + url);

const browser = await chromium.launch({ executablePath: browserPath, args: ['--no-sandbox'] });
const problems = [];  // page errors, console errors (CSP violations are console errors), 5xx answers
function watch(page) {
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  // 4xx answers the test provokes show as "Failed to load resource"; anything else (a CSP refusal, a script
  // error) is a problem.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text()))
      problems.push('console: ' + m.text());
  });
  page.on('response', (r) => { if (r.status() >= 500) problems.push('HTTP ' + r.status() + ' for ' + r.url()); });
}

let step = '';
async function shot(page, name) { await page.screenshot({ path: join(artifacts, name + '.png'), fullPage: true }); }
const basename = (p) => p.slice(p.lastIndexOf('/') + 1);

// The result cards as the user sees them: path (title), distance, whether the thumbnail really loaded.
async function results(page) {
  return page.$$eval('.hit', (cards) => cards.map((c) => {
    const img = c.querySelector('img');
    return {
      id: c.querySelector('button.thumb').dataset.id,
      path: c.querySelector('.path').title,
      distance: Number(c.querySelector('.dist').textContent),
      loaded: img.complete && img.naturalWidth > 0,
      shared: c.classList.contains('shared'),
    };
  }));
}
// Thumbnails load lazily: scroll through the page (as a user would) so that every one is asked for.
async function scrollThrough(page) {
  await page.evaluate(async () => {
    for (let y = 0; y < document.documentElement.scrollHeight; y += window.innerHeight / 2) {
      window.scrollTo(0, y);
      await new Promise((r) => requestAnimationFrame(() => r()));
    }
    window.scrollTo(0, 0);
  });
}
async function thumbnailsLoaded(page) {
  await scrollThrough(page);
  await page.waitForFunction(() => !document.getElementById('results').hasAttribute('aria-busy') &&
                                   document.querySelectorAll('.hit img').length > 0 &&
                                   [...document.querySelectorAll('.hit img')].every((i) => i.complete),
                             null, { timeout: 20000 });
  const r = await results(page);
  assert.ok(r.length > 0, 'no results shown');
  assert.ok(r.every((x) => x.loaded), 'a thumbnail did not load: ' + JSON.stringify(r.filter((x) => !x.loaded)));
  return r;
}
async function summary(page) { return (await page.textContent('#summary')).trim(); }
async function errorText(page) {
  await page.waitForSelector('#error:not([hidden])', { timeout: 15000 });
  return (await page.textContent('#error')).trim();
}

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  watch(page);

  step = 'open the page: the collection is named in the header';
  await page.goto(url + '/');
  await page.waitForFunction(() => /pictures/.test(document.getElementById('collection').textContent));
  assert.match(await page.textContent('#collection'), /\d+ pictures · 2 models/);

  step = 'pick a photo: thumbnails load, the photo itself first, its sibling next';
  await page.setInputFiles('#file', join(samples, 'leuvenA.jpg'));
  await page.waitForSelector('.hit');
  let hits = await thumbnailsLoaded(page);
  assert.equal(basename(hits[0].path), 'leuvenA.jpg');
  assert.ok(hits[0].distance < 1e-3, 'the photo itself is at distance ~0');
  assert.equal(basename(hits[1].path), 'leuvenB.jpg', 'leuvenB (same scene) comes next');
  assert.match(await summary(page), /^Results 1–24 · mobilenet_v2 · \d+ ms$/);
  await shot(page, '1-search-by-upload');

  step = 'click a result: the page searches from it, and the address remembers it';
  const second = hits[1];
  await page.click(`.hit button.thumb[data-id="${second.id}"]`);
  await page.waitForFunction((id) => location.hash === '#id=' + id &&
      document.querySelector('.hit button.thumb')?.dataset.id === id, second.id);
  hits = await thumbnailsLoaded(page);
  assert.equal(basename(hits[0].path), 'leuvenB.jpg');
  assert.equal(basename(hits[1].path), 'leuvenA.jpg');
  assert.match(await page.getAttribute('#query-img', 'src'), new RegExp('/api/v1/thumbnails/' + second.id + '$'));

  step = 'paging: 12 per page, next page has the next 12, ArrowLeft comes back';
  await page.selectOption('#per-page', '12');
  await page.waitForFunction(() => document.querySelectorAll('.hit').length === 12);
  const page1 = (await results(page)).map((h) => h.id);
  await page.click('#next');
  await page.waitForFunction(() => /^Results 13–24/.test(document.getElementById('summary').textContent));
  const page2 = (await thumbnailsLoaded(page)).map((h) => h.id);
  assert.equal(page2.length, 12);
  assert.ok(page2.every((id) => !page1.includes(id)), 'page 2 repeats a result of page 1');
  assert.match(await page.textContent('#page-label'), /Page 2/);
  await page.locator('body').press('ArrowLeft');
  await page.waitForFunction(() => /^Results 1–12/.test(document.getElementById('summary').textContent));
  assert.deepEqual((await results(page)).map((h) => h.id), page1);

  step = 'side by side: two columns, agreement, shared results marked';
  await page.selectOption('#model2', 'inception_v3');
  await page.waitForSelector('.results.sbs .column:nth-child(2) .hit');
  await thumbnailsLoaded(page);
  const columns = await page.$$eval('.column h2', (hs) => hs.map((h) => h.textContent));
  assert.equal(columns.length, 2);
  assert.match(columns[0], /^mobilenet_v2/);
  assert.match(columns[1], /^inception_v3/);
  const agreement = await page.textContent('#agreement');
  assert.match(agreement, /Agreement: \d+ of 12 results in both \(overlap@12 [01]\.\d\d\)/);
  const shared = (await results(page)).filter((h) => h.shared);
  assert.ok(shared.length >= 2, 'the query picture at least is in both columns');
  assert.ok(await page.isHidden('#pager'), 'no pager side by side');
  await shot(page, '2-side-by-side');
  await page.selectOption('#model2', '');
  await page.waitForSelector('.results:not(.sbs) .hit');

  step = 'quality profile: the built-ins searched as one list, the query picture first';
  await page.selectOption('#model', '@quality');
  await page.waitForFunction(() => / · mobilenet_v2\+inception_v3 · /.test(document.getElementById('summary').textContent));
  hits = await thumbnailsLoaded(page);
  assert.equal(hits.length, 12);
  assert.equal(basename(hits[0].path), 'leuvenB.jpg');
  assert.ok(hits[0].distance < 1e-4, 'the query picture is at distance 0');
  assert.ok(await page.isVisible('#pager'), 'one list, paged');
  await page.selectOption('#model', 'mobilenet_v2');
  await page.waitForFunction(() => / · mobilenet_v2 · /.test(document.getElementById('summary').textContent));

  step = 'whiten: the list as the API orders it with whitening; not offered for the quality profile';
  await page.check('#whiten');
  await page.waitForFunction(() => / · mobilenet_v2 · whitened · /.test(document.getElementById('summary').textContent));
  const whitened = (await thumbnailsLoaded(page)).map((h) => h.id);
  const viaApi = await page.evaluate(async (id) => {
    const r = await fetch('/api/v1/search', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id, k: 12, model: 'mobilenet_v2', whiten: true }) });
    return parseJson(await r.text()).hits.map((h) => h.id);  // the page's own reader: ids as exact strings
  }, second.id);
  assert.deepEqual(whitened, viaApi);
  await page.selectOption('#model', '@quality');
  assert.ok(await page.isDisabled('#whiten'), 'whitening is for one model');
  await page.selectOption('#model', 'mobilenet_v2');
  assert.ok(await page.isEnabled('#whiten'));
  await page.uncheck('#whiten');
  await page.waitForFunction(() => /^Results 1–12 · mobilenet_v2 · \d+ ms$/.test(document.getElementById('summary').textContent));

  step = 'filter box: only PNGs; a bad filter is explained and the server keeps serving';
  await page.fill('#filter', "format = 'png'");
  await page.press('#filter', 'Enter');
  await page.waitForFunction(() => /matching the filter/.test(document.getElementById('summary').textContent));
  hits = await thumbnailsLoaded(page);
  assert.ok(hits.every((h) => h.path.endsWith('.png')), 'a non-PNG passed the filter');
  await page.fill('#filter', "width >>= 'x'; DROP TABLE files");
  await page.press('#filter', 'Enter');
  assert.match(await errorText(page), /^Cannot search: .*filter/i);
  await page.fill('#filter', '');
  await page.press('#filter', 'Enter');
  await page.waitForSelector('#error', { state: 'hidden' });
  await thumbnailsLoaded(page);

  step = 'keyboard: / focuses the filter; Tab to a result and Enter searches from it';
  await page.locator('body').press('Escape');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'filter');
  await page.keyboard.press('Escape');
  const third = (await results(page))[2];
  await page.focus(`.hit button.thumb[data-id="${third.id}"]`);
  await page.keyboard.press('Enter');
  await page.waitForFunction((id) => document.querySelector('.hit button.thumb')?.dataset.id === id, third.id);

  step = 'a non-image file is refused with a clear message (by the page, and by the server for a disguised one)';
  await page.setInputFiles('#file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
  assert.match(await errorText(page), /notes\.txt is not an image/);
  await page.setInputFiles('#file', { name: 'fake.jpg', mimeType: 'image/jpeg', buffer: Buffer.from('not a jpeg') });
  await page.waitForFunction(() => /fake\.jpg/.test(document.getElementById('error').textContent));
  assert.match(await errorText(page), /^Cannot search with fake\.jpg: .*(not an image|image)/i);
  assert.ok(await page.isHidden('#add-upload'), 'nothing to add after a refused upload');

  step = 'a too-large file is refused before upload, naming the limit';
  await page.setInputFiles('#file', { name: 'huge.jpg', mimeType: 'image/jpeg', buffer: Buffer.alloc(3 << 20, 1) });
  assert.match(await errorText(page), /huge\.jpg is 3\.0 MB; this server takes images up to 2\.0 MB/);
  await shot(page, '3-error');

  step = 'paste and drop an image';
  const png = readFileSync(join(samples, 'box.png')).toString('base64');
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'clipboard.png', { type: 'image/png' }));
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true }));
  }, png);
  await page.waitForFunction(() => document.querySelector('.hit .path')?.title.endsWith('/box.png'));
  await page.evaluate((b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true }));
  }, readFileSync(join(samples, 'sudoku.png')).toString('base64'));
  await page.waitForFunction(() => document.querySelector('.hit .path')?.title.endsWith('/sudoku.png'));
  await thumbnailsLoaded(page);

  step = 'index a folder: a wrong token is refused; the right one shows a progress bar until done';
  await page.fill('#token', 'wrong-token-wrong-token');
  await page.click('#job-start');
  assert.match(await errorText(page), /Cannot start indexing: .*Bearer/);
  const before = await page.textContent('#collection');
  await page.fill('#token', TOKEN);
  await page.click('#job-start');
  await page.waitForSelector('#job-progress:not([hidden])');
  await page.waitForFunction(() => /Indexing finished/.test(document.getElementById('job-text').textContent),
                             null, { timeout: 60000 });
  await page.waitForFunction((b) => document.getElementById('collection').textContent !== b, before);
  const grown = (t) => Number(t.replace(/[^0-9].*$/s, '').replace(/,/g, ''));
  assert.equal(grown(await page.textContent('#collection')) - grown(before), 6, 'six new pictures, the copy once');
  await shot(page, '4-indexed');

  step = 'add the query to the collection';
  await page.setInputFiles('#file', { name: 'new.png', mimeType: 'image/png',
                                      buffer: readFileSync(join(samples, 'pic1.png')) });
  await page.waitForSelector('#add-upload:not([hidden])');
  await page.click('#add-upload');
  // It is stored and indexed, then searched by its new id (new.png is a copy of pic1.png: the same picture).
  await page.waitForFunction(() => /^#id=/.test(location.hash) && document.querySelector('.hit'));
  hits = await thumbnailsLoaded(page);
  assert.equal(basename(hits[0].path), 'pic1.png');

  step = 'duplicates view: Blender_Suzanne1 and 2 form a group';
  await page.click('#tab-dups');
  await page.fill('#dups-threshold', '0.02');
  // (the summary names the threshold as typed, not as the float the server holds)
  await page.click('#dups-form button[type=submit]');
  await page.waitForFunction(() => /similar ≤ 0\.02 with/.test(document.getElementById('dups-summary').textContent) &&
                                   !document.getElementById('dups').hasAttribute('aria-busy'));
  const groups = await page.$$eval('.group', (gs) => gs.map((g) =>
      [...g.querySelectorAll('.path')].map((p) => p.title.slice(p.title.lastIndexOf('/') + 1))));
  assert.ok(groups.some((g) => g.includes('Blender_Suzanne1.jpg') && g.includes('Blender_Suzanne2.jpg')),
            'groups: ' + JSON.stringify(groups));
  assert.match(await page.textContent('#dups-summary'), /near-copy ≤ 40 bits, similar ≤ 0\.02 with mobilenet_v2/);
  // Each group: the copy to keep first, every other member labelled with its tier.
  const labels = await page.$$eval('.group', (gs) => gs.map((g) =>
      [...g.querySelectorAll('.meta strong')].map((s) => s.textContent)));
  for (const l of labels) {
    assert.match(l[0], /^keep \((largest|biggest|path)\)$/);
    assert.ok(l.slice(1).every((t) => /^(exact|near-copy|similar)/.test(t)), JSON.stringify(l));
  }
  await scrollThrough(page);
  await page.waitForFunction(() => [...document.querySelectorAll('.group img')].every((i) => i.complete));
  await shot(page, '5-duplicates');

  step = 'review: keep fruits.jpg, trash its copy; the dry run lists it; applying moves it; undo brings it back';
  const fruits = page.locator('.group', { has: page.locator('.path[title$="/copy-of-fruits.jpg"]') });
  assert.equal(await fruits.count(), 1, 'the exact copy of fruits.jpg forms a group');
  const toggleOf = (name) => fruits.locator('.hit', { has: page.locator('.path[title$="/' + name + '"]') })
    .locator('button.toggle');
  // Every member trashed: nothing would be kept, so Resolve is off.
  for (const t of await fruits.locator('button.toggle').all())
    if ((await t.getAttribute('aria-pressed')) === 'true') await t.click();
  assert.ok(await fruits.locator('button.primary').isDisabled(), 'resolving with nothing kept is refused');
  assert.match(await fruits.locator('[role=status]').textContent(), /Keep at least one/);
  await toggleOf('fruits.jpg').click();
  assert.equal(await toggleOf('fruits.jpg').getAttribute('aria-pressed'), 'true');
  assert.equal(await toggleOf('copy-of-fruits.jpg').textContent(), 'Trash');
  await fruits.locator('button.primary').click();
  await page.waitForFunction(() => /Recorded: 1 to move/.test(
    document.querySelector('.group.resolved [role=status]')?.textContent || ''));
  // The keyboard: j focuses a group, n records "not duplicates".
  await page.locator('#dups-summary').click();
  await page.keyboard.press('j');
  const focused = await page.evaluate(() => document.activeElement?.classList.contains('group'));
  assert.ok(focused, 'j focuses a group');
  if (!(await page.evaluate(() => document.activeElement.classList.contains('resolved')))) {
    await page.keyboard.press('n');
    await page.waitForFunction(() => /not duplicates/.test(
      [...document.querySelectorAll('.group.resolved [role=status]')].map((s) => s.textContent).join(' ')));
  }
  await page.click('#dups-apply');
  await page.waitForSelector('#apply-panel:not([hidden]) li');
  const planned = await page.$$eval('#apply-panel li', (ls) => ls.map((l) => l.textContent));
  assert.deepEqual(planned.map((p) => basename(p)), ['copy-of-fruits.jpg']);
  assert.ok(existsSync(join(extra, 'copy-of-fruits.jpg')), 'the dry run moves nothing');
  assert.match(await page.textContent('#apply-panel'), /^1 file \(\d+ KB\) would move/);
  assert.doesNotMatch(await page.textContent('#apply-panel'), /null|undefined/);
  await shot(page, '5b-apply-plan');
  await page.click('#apply-panel button.primary');
  await page.waitForFunction(() => /Moved 1 file .* into the trash/.test(document.getElementById('apply-panel').textContent));
  assert.ok(!existsSync(join(extra, 'copy-of-fruits.jpg')), 'applied: the copy is in the trash');
  assert.ok(existsSync(join(samples, 'fruits.jpg')));
  await page.click('#apply-panel button');
  await page.waitForFunction(() => /Moved 1 file back/.test(document.getElementById('apply-panel').textContent));
  assert.deepEqual(readFileSync(join(extra, 'copy-of-fruits.jpg')), readFileSync(join(samples, 'fruits.jpg')));
  await page.click('.group .hit button.thumb');
  await page.waitForFunction(() => !document.getElementById('view-search').hidden && /^#id=/.test(location.hash));

  step = 'a phone: one column of controls, nothing wider than the screen';
  const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true,
                                        deviceScaleFactor: 2 });
  watch(phone);
  await phone.goto(url + '/');
  await phone.setInputFiles('#file', join(samples, 'Blender_Suzanne1.jpg'));
  await phone.waitForSelector('.hit');
  hits = await thumbnailsLoaded(phone);
  assert.equal(basename(hits[1].path), 'Blender_Suzanne2.jpg');
  assert.ok(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
            'the page is wider than the phone');
  await shot(phone, '6-phone');

  step = 'no page errors, no console errors (CSP), no 5xx';
  assert.deepEqual(problems, []);
  console.log('browser test: all steps passed; screenshots in ' + artifacts);
} catch (e) {
  console.error('browser test FAILED at step: ' + step);
  for (const p of browser.contexts().flatMap((c) => c.pages())) {  // what the page showed, for the log
    const seen = await p.evaluate(() => ['summary', 'error', 'dups-summary', 'dups-error', 'job-text']
      .map((id) => id + ': ' + JSON.stringify(document.getElementById(id)?.textContent?.trim())).join('\n') +
      '\naddress: ' + location.hash).catch(() => '(page gone)');
    console.error(seen);
    await p.screenshot({ path: join(artifacts, 'failure.png'), fullPage: true }).catch(() => {});
  }
  console.error(e.stack || e);
  if (problems.length) console.error('also seen: ' + problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
  const exited = server.exitCode !== null || server.signalCode !== null
    ? Promise.resolve(server.exitCode) : new Promise((r) => server.once('exit', (c) => r(c)));
  server.kill('SIGTERM');
  const code = await exited;
  if (code !== 0) { console.error('doppel serve exited with ' + code + ' after SIGTERM'); process.exitCode = 1; }
  rmSync(work, { recursive: true, force: true });
}
