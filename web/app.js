// doppel's web page: plain JavaScript over the JSON API (/api/v1), no framework and no build step; the server
// compiles this file into its binary. Everything shown comes from the API; text from the server is only ever set
// as text (textContent, attributes), never parsed as HTML.
//
// Where things are: state and the API helper; the query (drop, pick, paste, click a result); searching and the
// two renderings (one model with paging, two side by side); the duplicates view; the index-job bar and uploads
// (only when the server allows writes); keyboard shortcuts and the address (#id=..., #dups) that makes the back
// button work.
'use strict';

const $ = (id) => document.getElementById(id);
// The model choice that searches the built-in models as one (the API's profile "quality").
const QUALITY = '@quality';
const BUILTINS = ['mobilenet_v2', 'inception_v3'];

const state = {
  status: null,      // GET /api/v1/status (server facts under .server)
  query: null,       // {kind: 'upload', blob, name} or {kind: 'id', id}
  upload: null,      // the last uploaded query, kept for the back button
  uploadUrl: null,   // its object URL (the preview)
  page: 0,
  seq: 0,            // numbers the searches: an answer to an older one is dropped
  dupsSeq: 0,        // the same for the duplicates view
  dupsOffset: 0,     // the first group shown
  job: null,         // the running index job, or null
  jobTimer: 0,
  routed: null,      // the address route() last handled
};

// ------------------------------------------------------------------------------------------------ API helper

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Ids are 64-bit integers, beyond what a JavaScript number holds exactly: they are read as strings. JSON text
// escapes quotes inside strings, so '"id":<digits>' only ever matches a key.
function parseJson(text) {
  return JSON.parse(text.replace(/"id":(-?\d+)/g, '"id":"$1"'));
}

async function api(path, init = {}) {
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', 'The server cannot be reached. Is doppel serve still running?');
  }
  const text = await res.text();
  let body = null;
  if ((res.headers.get('Content-Type') || '').startsWith('application/json')) {
    try { body = parseJson(text); } catch (e) { body = null; }
  }
  if (!res.ok) {
    const err = body && body.error;
    throw new ApiError(res.status, err ? err.code : 'http_' + res.status,
                       err ? err.message : 'the server answered HTTP ' + res.status);
  }
  return body;
}

function token() { return $('token').value.trim(); }
function authHeaders() { return token() ? { Authorization: 'Bearer ' + token() } : {}; }

// ------------------------------------------------------------------------------------------------ small helpers

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function basename(path) {
  const s = String(path || '');
  return s.slice(s.lastIndexOf('/') + 1) || s;
}

function fmtBytes(n) {
  if (!(n >= 0)) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(0) + ' KB';
  return (n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0) + ' MB';
}

function files(n) { return n + (n === 1 ? ' file' : ' files'); }
function fmtNum(n) { return Number(n).toLocaleString('en-US'); }
function fmtDist(d) { return Number(d).toFixed(Math.abs(d) < 0.01 ? 4 : 3); }

function showError(box, message) {
  box.textContent = message;
  box.hidden = false;
}
function hideError(box) { box.hidden = true; box.textContent = ''; }

// A user-facing sentence for a failed request about `what`.
function describe(e, what) {
  if (!(e instanceof ApiError)) return what + ': ' + e.message;
  switch (e.code) {
    case 'payload_too_large': return what + ' is too large for this server: ' + e.message;
    case 'busy': return 'The server is busy embedding other images; try again in a moment.';
    case 'network': return e.message;
    default: return what + ': ' + e.message;
  }
}

// ------------------------------------------------------------------------------------------------ start

async function loadStatus() {
  const [st, ms] = await Promise.all([api('/api/v1/status'), api('/api/v1/models')]);
  state.status = st;
  const names = ms.models.map((m) => m.name);
  const saved = { model: localStorage.getItem('doppel.model'), model2: localStorage.getItem('doppel.model2') };
  fillSelect($('model'), names, names.includes(saved.model) ? saved.model : ms.default_model);
  fillSelect($('dups-model'), names, $('model').value);
  // The quality profile, offered when both built-in models are registered (the server answers 409 otherwise).
  if (BUILTINS.every((b) => names.includes(b))) {
    $('model').append(el('option', { value: QUALITY, text: 'Quality: built-ins fused (slower)' }));
    if (saved.model === QUALITY) $('model').value = QUALITY;
  }
  const m2 = $('model2');
  m2.replaceChildren(el('option', { value: '', text: '(none)' }));
  for (const n of names) m2.append(el('option', { value: n, text: n }));
  m2.value = names.includes(saved.model2) ? saved.model2 : '';
  const perPage = localStorage.getItem('doppel.perPage');
  if (perPage && [...$('per-page').options].some((o) => o.value === perPage)) $('per-page').value = perPage;
  showCollection();
  setupWrites();
}

function fillSelect(select, names, chosen) {
  select.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
  if (chosen) select.value = chosen;
}

function showCollection() {
  const st = state.status;
  if (!st) return;
  const def = st.models.find((m) => m.default) || st.models[0];
  const models = st.models.length;
  $('collection').textContent = models === 0
    ? 'No models yet: run doppel index on a folder.'
    : fmtNum(def ? def.count : 0) + ' pictures · ' + models + (models === 1 ? ' model' : ' models');
}

// ------------------------------------------------------------------------------------------------ the query

function useFile(file) {
  const box = $('error');
  hideError(box);
  if (!file) return;
  const name = file.name || 'the pasted image';
  const max = state.status && state.status.server ? state.status.server.max_body_bytes : 0;
  if (max && file.size > max - 16 * 1024) {  // room for the multipart envelope
    showError(box, name + ' is ' + fmtBytes(file.size) + '; this server takes images up to ' + fmtBytes(max) +
              '. Pick a smaller file or resize it.');
    return;
  }
  // The server decides by content; a file the browser knows is something else is refused here already.
  if (file.type && !file.type.startsWith('image/')) {
    showError(box, name + ' is not an image (' + file.type + '). Pick a JPEG, PNG, WebP, GIF, TIFF, HEIF or ' +
              'JPEG XL file.');
    return;
  }
  if (state.uploadUrl) URL.revokeObjectURL(state.uploadUrl);
  state.uploadUrl = URL.createObjectURL(file);
  state.upload = { kind: 'upload', blob: file, name };
  if (location.hash) navigate('');
  showView('search');
  startQuery(state.upload, 0);
}

function startQuery(query, page) {
  state.query = query;
  state.page = page;
  const img = $('query-img');
  if (query.kind === 'upload') {
    img.src = state.uploadUrl;
    img.alt = 'Query: ' + query.name;
  } else {
    img.src = '/api/v1/thumbnails/' + query.id;
    img.alt = 'Query: picture ' + query.id;
  }
  img.hidden = false;
  $('search-again').disabled = false;
  $('add-upload').hidden = !(query.kind === 'upload' && writesOn());
  runSearch();
}

// A click on a result searches from it; the address remembers it (back button, links).
function searchById(id) {
  location.hash = 'id=' + id;
}

function setupQueryInputs() {
  const drop = $('drop');
  const file = $('file');
  drop.addEventListener('click', () => file.click());
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); file.click(); }
  });
  file.addEventListener('change', () => { useFile(file.files[0]); file.value = ''; });
  // Dropping anywhere on the page works; the drop zone lights up.
  let depth = 0;
  document.addEventListener('dragenter', (e) => { if (hasFiles(e)) { depth++; drop.classList.add('over'); } });
  document.addEventListener('dragleave', () => { if (--depth <= 0) { depth = 0; drop.classList.remove('over'); } });
  document.addEventListener('dragover', (e) => { if (hasFiles(e)) e.preventDefault(); });
  document.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    depth = 0;
    drop.classList.remove('over');
    useFile(e.dataTransfer.files[0]);
  });
  document.addEventListener('paste', (e) => {
    const items = e.clipboardData ? [...e.clipboardData.items] : [];
    const item = items.find((i) => i.kind === 'file');
    if (!item) return;  // text pastes into the filter box as usual
    e.preventDefault();
    useFile(item.getAsFile());
  });
  $('query-img').addEventListener('error', () => { $('query-img').hidden = true; });  // e.g. HEIF in some browsers
}

function hasFiles(e) { return e.dataTransfer && [...e.dataTransfer.types].includes('Files'); }

// ------------------------------------------------------------------------------------------------ searching

function perPage() { return Number($('per-page').value); }
function sideBySide() {
  const a = $('model').value, b = $('model2').value;
  return b !== '' && b !== a && a !== QUALITY;
}

async function runSearch() {
  const query = state.query;
  if (!query) return;
  const seq = ++state.seq;
  const box = $('error');
  hideError(box);
  const k = perPage();
  const filter = $('filter').value.trim();
  const compare = sideBySide();
  const fields = { k };
  if (compare) fields.models = $('model').value + ',' + $('model2').value;
  else {
    if ($('model').value === QUALITY) fields.profile = 'quality';
    else {
      fields.model = $('model').value;
      if ($('whiten').checked) fields.whiten = true;
    }
    fields.offset = state.page * k;
  }
  if (filter) fields.filter = filter;
  const init = { method: 'POST' };
  if (query.kind === 'upload') {
    const form = new FormData();
    form.append('image', query.blob, query.name);
    for (const [key, v] of Object.entries(fields)) form.append(key, String(v));
    init.body = form;
  } else {
    init.body = JSON.stringify({ ...fields, id: String(query.id) });
    init.headers = { 'Content-Type': 'application/json' };
  }
  $('results').setAttribute('aria-busy', 'true');
  $('summary').textContent = 'Searching…';
  try {
    const r = await api(compare ? '/api/v1/compare' : '/api/v1/search', init);
    if (seq !== state.seq) return;
    if (compare) renderCompare(r, k, filter);
    else renderSearch(r, k, filter);
  } catch (e) {
    if (seq !== state.seq) return;
    const what = query.kind === 'upload' ? 'Cannot search with ' + query.name : 'Cannot search';
    showError(box, describe(e, what));
    $('add-upload').hidden = true;  // nothing to add: the server could not use it
    $('summary').textContent = '';
    $('results').replaceChildren();
    $('agreement').hidden = true;
    $('pager').hidden = true;
  } finally {
    if (seq === state.seq) $('results').removeAttribute('aria-busy');
  }
}

// One result: the thumbnail (a button: search from it), distance, size and path.
function card(hit, extra) {
  const name = basename(hit.path);
  const btn = el('button', {
    type: 'button', class: 'thumb', 'data-id': hit.id, title: 'Search with ' + name,
    'aria-label': 'Result ' + hit.rank + ': ' + name + ', distance ' + fmtDist(hit.distance) +
                  '. Search with it.',
  }, el('img', { src: hit.thumbnail, alt: name, loading: 'lazy', decoding: 'async' }));
  btn.addEventListener('click', () => searchById(hit.id));
  const f = hit.fields || {};
  const size = hit.width && hit.height ? hit.width + '×' + hit.height : '';
  const meta = el('div', { class: 'meta' },
    el('div', { class: 'row' },
      el('span', { class: 'dist', title: 'distance (lower is closer)', text: fmtDist(hit.distance) }),
      el('span', { class: 'size', text: size })),
    el('span', { class: 'path', title: hit.path, text: '\u200e' + hit.path }),
    el('div', { class: 'row muted' },
      el('span', { text: [f.format, fmtBytes(f.size)].filter(Boolean).join(' · ') }),
      el('a', { class: 'full', href: hit.image, target: '_blank', rel: 'noopener', text: 'full size' })));
  const article = el('article', { class: 'hit' }, btn, el('span', { class: 'rank', text: '#' + hit.rank }), meta);
  if (extra) extra(article, meta);
  return article;
}

function renderSearch(r, k, filter) {
  const hits = r.hits;
  const from = r.offset + 1;
  const took = Math.round(r.took_ms) + ' ms';
  const filtered = filter ? ' matching the filter' : '';
  const model = r.model + (r.whiten ? ' · whitened' : '');
  $('summary').textContent = hits.length
    ? 'Results ' + from + '–' + (r.offset + hits.length) + filtered + ' · ' + model + ' · ' + took
    : (r.offset > 0 ? 'No more results' : 'No pictures' + filtered) + ' · ' + model + ' · ' + took;
  $('agreement').hidden = true;
  const grid = $('results');
  grid.className = 'results';
  grid.replaceChildren(...hits.map((h) => card(h)));
  const pager = $('pager');
  pager.hidden = !(r.offset > 0 || r.more);
  $('prev').disabled = r.offset === 0;
  $('next').disabled = !r.more;
  $('page-label').textContent = 'Page ' + (state.page + 1);
}

function renderCompare(r, k, filter) {
  const [a, b] = r.models;
  const ids = r.hits.map((hits) => new Map(hits.map((h) => [h.id, h])));
  const shared = [...ids[0].keys()].filter((id) => ids[1].has(id)).length;
  const corr = r.rank_correlation === null ? 'n/a (fewer than two shared results)'
                                           : Number(r.rank_correlation).toFixed(2);
  $('summary').textContent = 'Top ' + k + (filter ? ' matching the filter' : '') + ' with ' + a + ' and ' + b +
                             ' · ' + Math.round(r.took_ms) + ' ms';
  const agree = $('agreement');
  agree.replaceChildren(
    el('strong', { text: 'Agreement: ' }),
    shared + ' of ' + k + ' results in both (overlap@' + k + ' ' + Number(r.overlap).toFixed(2) +
    '), rank correlation of the shared results ' + corr + '. ',
    el('span', { class: 'muted', text: 'Distances of different models are not comparable; rankings are.' }));
  agree.hidden = false;
  const grid = $('results');
  grid.className = 'results sbs';
  const columns = r.models.map((model, m) => {
    const other = ids[1 - m];
    const s = r.distance_scales[m];
    const heading = el('h2', {}, model + ' ',
      el('span', { class: 'muted', text: '(distances ' + fmtDist(s.min) + '–' + fmtDist(s.max) + ')' }));
    const cards = r.hits[m].map((h) => card(h, (article, meta) => {
      const twin = other.get(h.id);
      if (!twin) return;
      article.classList.add('shared');
      meta.append(el('span', { class: 'both', text: 'in both · #' + twin.rank + ' in ' + r.models[1 - m] }));
    }));
    return el('section', { class: 'column', 'aria-label': model }, heading, el('div', { class: 'grid' }, ...cards));
  });
  grid.replaceChildren(...columns);
  $('pager').hidden = true;  // side by side shows each model's top k
}

function setupSearchControls() {
  const rerun = () => { if (state.query) startQuery(state.query, 0); };
  $('model').addEventListener('change', () => { localStorage.setItem('doppel.model', $('model').value); rerun(); });
  $('model2').addEventListener('change', () => { localStorage.setItem('doppel.model2', $('model2').value); rerun(); });
  $('per-page').addEventListener('change', () => { localStorage.setItem('doppel.perPage', $('per-page').value); rerun(); });
  // Whitening re-ranks one model's list: not offered for the quality profile or side by side.
  const whitenable = () => { $('whiten').disabled = sideBySide() || $('model').value === QUALITY; };
  for (const id of ['model', 'model2']) $(id).addEventListener('change', whitenable);
  whitenable();
  $('whiten').addEventListener('change', rerun);
  $('filter').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); rerun(); } });
  $('search-again').addEventListener('click', rerun);
  $('prev').addEventListener('click', () => turnPage(-1));
  $('next').addEventListener('click', () => turnPage(+1));
}

function turnPage(delta) {
  if (!state.query || $('pager').hidden) return;
  if ((delta < 0 && $('prev').disabled) || (delta > 0 && $('next').disabled)) return;
  const page = state.page + delta;
  if (state.query.kind === 'id') location.hash = 'id=' + state.query.id + (page ? '&page=' + page : '');
  else startQuery(state.query, page);
  $('results').focus({ preventScroll: true });
  window.scrollTo({ top: 0 });
}

// ------------------------------------------------------------------------------------------------ duplicates

// The review (writes on): each member is kept or trashed (the rules' keeper kept, the others trashed, to begin
// with); Resolve records that decision, "Not duplicates" keeps them all. Decisions only record: "Apply decisions"
// shows the dry run first, then moves the files into the data directory's trash, and "Undo" brings them back.
const DUPS_PAGE = 20;

async function findDuplicates(offset = 0) {
  const seq = ++state.dupsSeq;  // an answer to an older request is dropped
  const box = $('dups-error');
  hideError(box);
  const q = new URLSearchParams({ model: $('dups-model').value, min_tier: $('dups-tier').value,
                                  radius: $('dups-radius').value, offset: String(offset), limit: String(DUPS_PAGE) });
  if ($('dups-threshold').value.trim()) q.set('threshold', $('dups-threshold').value.trim());
  $('dups-summary').textContent = 'Looking for duplicates…';
  $('dups').setAttribute('aria-busy', 'true');
  try {
    const r = await api('/api/v1/duplicates?' + q.toString());
    if (seq !== state.dupsSeq) return;
    state.dupsOffset = offset;
    const limit = Number(Number(r.threshold).toPrecision(4));  // sent as a float32: 0.02 comes back 0.0199999...
    const how = ' (near-copy ≤ ' + r.radius + ' bits, similar ≤ ' + limit + ' with ' + r.model +
                (r.threshold_calibrated ? '' : ', not calibrated for it') + ')';
    $('dups-summary').textContent = r.total
      ? r.total + ' groups' + how + '; groups ' + (offset + 1) + '–' + (offset + r.groups.length) + ' shown'
      : (offset > 0 ? 'No more groups' : 'No duplicates') + how + '.';
    $('dups').replaceChildren(...r.groups.map((g, i) => groupCard(g, offset + i + 1)));
    $('dups-pager').hidden = !(offset > 0 || r.more);
    $('dups-prev').disabled = offset === 0;
    $('dups-next').disabled = !r.more;
    $('dups-resolve-all').hidden = !writesOn() || r.groups.length === 0;
  } catch (e) {
    if (seq !== state.dupsSeq) return;
    showError(box, describe(e, 'Cannot find duplicates'));
    $('dups-summary').textContent = '';
  } finally {
    if (seq === state.dupsSeq) $('dups').removeAttribute('aria-busy');
  }
}

// The decision a group card's toggles say: ids, the ids kept, and for a kept picture shown under several paths
// the paths kept (only when some of its paths are trashed).
function groupDecision(card) {
  const g = card.group;
  const ids = [...new Set(g.members.map((m) => m.id))];
  const keep = [...new Set(g.members.filter((m, j) => card.keep[j]).map((m) => m.id))];
  const keepPaths = [];
  for (const id of keep) {
    const mine = g.members.map((m, j) => [m, j]).filter(([m]) => m.id === id);
    if (mine.length > 1 && mine.some(([, j]) => !card.keep[j]))
      keepPaths.push(...mine.filter(([, j]) => card.keep[j]).map(([m]) => m.path));
  }
  const d = { ids, keep };
  if (keepPaths.length) d.keep_paths = keepPaths;
  return d;
}

function groupCard(g, number) {
  const section = el('section', { class: 'group', tabindex: '-1', 'aria-label': 'Group ' + number });
  section.group = g;
  section.keep = g.members.map((m, j) => j === 0);
  const toggles = [];
  const grid = el('div', { class: 'grid' }, ...g.members.map((h, j) => card({
    ...h, rank: j + 1, width: (h.fields || {}).width, height: (h.fields || {}).height,
  }, (article, meta) => {
    if (j === 0) {
      meta.prepend(el('strong', { text: 'keep (' + g.keep_rule + ')' }));
    } else {
      const what = h.tier + (h.transform && h.transform !== 'identity' ? ' · ' + h.transform : '');
      meta.prepend(el('strong', { class: 'tier tier-' + h.tier, text: what }));
      if (h.tier === 'near-copy') meta.querySelector('.dist').textContent = h.distance + ' bits';
    }
    if (!writesOn()) return;
    const t = el('button', { type: 'button', class: 'toggle', 'aria-keyshortcuts': String(j + 1) });
    t.addEventListener('click', () => { section.keep[j] = !section.keep[j]; paint(); });
    toggles.push([t, article]);
    meta.append(t);
  })));
  const head = el('h3', { text: 'Group ' + number + ' · ' + g.members.length + ' pictures' });
  section.append(head, grid);
  if (!writesOn()) return section;
  const status = el('span', { class: 'muted', role: 'status' });
  const resolve = el('button', { type: 'button', class: 'primary', 'aria-keyshortcuts': 'r',
                                 text: 'Resolve: keep the marked (r)' });
  const notDup = el('button', { type: 'button', 'aria-keyshortcuts': 'n', text: 'Not duplicates (n)' });
  resolve.addEventListener('click', () => decide(section, groupDecision(section)));
  notDup.addEventListener('click', () => {
    const ids = [...new Set(g.members.map((m) => m.id))];
    decide(section, { ids, keep: ids });
  });
  section.resolveButton = resolve;
  section.notDupButton = notDup;
  section.status = status;
  section.append(el('div', { class: 'group-actions' }, resolve, notDup, status));
  function paint() {
    toggles.forEach(([t, article], j) => {
      t.textContent = section.keep[j] ? 'Keep' : 'Trash';
      t.setAttribute('aria-pressed', String(section.keep[j]));
      t.title = (section.keep[j] ? 'Kept' : 'Moved into the trash when decisions are applied') + ' (key ' + (j + 1) + ')';
      article.classList.toggle('trashed', !section.keep[j]);
    });
    const anyKept = section.keep.some(Boolean);
    resolve.disabled = !anyKept || section.classList.contains('resolved');
    status.textContent = anyKept ? '' : 'Keep at least one.';
  }
  section.paint = paint;
  paint();
  return section;
}

async function decide(section, decision) {
  try {
    await api('/api/v1/duplicates/decisions', {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify(decision),
    });
    markResolved(section, decision);
  } catch (e) {
    showError($('dups-error'), describe(e, 'Cannot record the decision'));
  }
}

function markResolved(section, decision) {
  section.classList.add('resolved');
  section.resolveButton.disabled = true;
  section.notDupButton.disabled = true;
  const all = decision.keep.length === decision.ids.length && !decision.keep_paths;
  section.status.textContent = all ? 'Recorded: not duplicates.'
                                   : 'Recorded: ' + section.keep.filter((k) => !k).length +
                                     ' to move into the trash when you apply the decisions.';
  const next = section.nextElementSibling;
  if (next && document.activeElement && section.contains(document.activeElement)) next.focus();
  $('dups-apply').hidden = false;
}

async function resolveAllShown() {
  const cards = [...$('dups').children].filter((c) => c.group && !c.classList.contains('resolved'));
  if (!cards.length) return;
  const decisions = cards.map(groupDecision).filter((d) => d.keep.length);
  try {
    await api('/api/v1/duplicates/decisions', {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify({ decisions }),
    });
    cards.forEach((c, i) => markResolved(c, decisions[i]));
  } catch (e) {
    showError($('dups-error'), describe(e, 'Cannot record the decisions'));
  }
}

// Apply: the dry run first; the files move only when the user confirms what it lists.
async function planApply() {
  const box = $('dups-error');
  hideError(box);
  try {
    const plan = await api('/api/v1/duplicates/apply', {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify({ dry_run: true }),
    });
    const panel = $('apply-panel');
    panel.hidden = false;
    const list = el('ul', {}, ...plan.moves.slice(0, 100).map((m) => el('li', { text: m.from })));
    const skipped = plan.skipped.length
      ? el('p', { class: 'muted', text: plan.skipped.length + ' left where they are: ' +
                  plan.skipped.slice(0, 5).map((m) => basename(m.from) + ' (' + m.note + ')').join('; ') })
      : null;
    const confirm = el('button', { type: 'button', class: 'primary', text: 'Move ' + files(plan.moves.length) });
    const cancel = el('button', { type: 'button', text: 'Cancel' });
    confirm.disabled = plan.moves.length === 0;
    confirm.addEventListener('click', applyNow);
    cancel.addEventListener('click', () => { panel.hidden = true; });
    panel.replaceChildren(
      el('p', { text: plan.moves.length
        ? files(plan.moves.length) + ' (' + fmtBytes(plan.bytes) + ') would move into the data directory\'s trash. ' +
          'Nothing is deleted; Undo brings them back.'
        : 'Nothing to move: no decision leaves a duplicate behind.' }),
      ...[list, skipped, el('div', { class: 'group-actions' }, confirm, cancel)].filter(Boolean));
    confirm.focus();
  } catch (e) {
    showError(box, describe(e, 'Cannot plan the decisions'));
  }
}

async function applyNow() {
  const panel = $('apply-panel');
  try {
    const b = await api('/api/v1/duplicates/apply', {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify({ dry_run: false }),
    });
    const undo = el('button', { type: 'button', text: 'Undo' });
    undo.addEventListener('click', () => undoApply(b.name));
    panel.replaceChildren(el('p', { text: 'Moved ' + files(b.moves.length) + ' (' + fmtBytes(b.bytes) +
                                    ') into the trash (batch ' + b.name + ').' + (b.skipped.length
                                      ? ' ' + b.skipped.length + ' left where they are.' : '') }),
                          el('div', { class: 'group-actions' }, undo));
    undo.focus();
  } catch (e) {
    showError($('dups-error'), describe(e, 'Cannot apply the decisions'));
  }
}

async function undoApply(name) {
  const panel = $('apply-panel');
  try {
    const b = await api('/api/v1/duplicates/undo', {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify(name ? { batch: name } : {}),
    });
    panel.replaceChildren(el('p', { text: 'Moved ' + files(b.moves.length) + ' back and indexed them again.' +
                                    (b.skipped.length ? ' ' + b.skipped.length + ' could not go back: ' +
                                      b.skipped.slice(0, 3).map((m) => m.note).join('; ') : '') }));
  } catch (e) {
    showError($('dups-error'), describe(e, 'Cannot undo'));
  }
}

// Keys in the duplicates view: j / k move between groups, 1-9 toggle a member, r resolves, n says not duplicates.
function dupsKey(e) {
  const cards = [...$('dups').children].filter((c) => c.group);
  if (!cards.length) return false;
  let cur = cards.find((c) => c.contains(document.activeElement));
  if (e.key === 'j' || e.key === 'k') {
    const i = cur ? cards.indexOf(cur) + (e.key === 'j' ? 1 : -1) : 0;
    const next = cards[Math.max(0, Math.min(cards.length - 1, i))];
    next.focus();
    next.scrollIntoView({ block: 'nearest' });
    return true;
  }
  if (!writesOn()) return false;
  if (!cur) cur = cards.find((c) => !c.classList.contains('resolved'));
  if (!cur || cur.classList.contains('resolved')) return false;
  if (/^[1-9]$/.test(e.key)) {
    const j = Number(e.key) - 1;
    if (j >= cur.keep.length) return false;
    cur.keep[j] = !cur.keep[j];
    cur.paint();
    return true;
  }
  if (e.key === 'r' && !cur.resolveButton.disabled) { cur.focus(); cur.resolveButton.click(); return true; }
  if (e.key === 'n') { cur.focus(); cur.notDupButton.click(); return true; }
  return false;
}

// ------------------------------------------------------------------------------------------------ writes

function writesOn() { return !!(state.status && state.status.server && state.status.server.writes); }

function setupWrites() {
  if (!writesOn()) return;
  $('jobs').hidden = false;
  const roots = state.status.server.roots;
  fillSelect($('root'), roots, roots[0]);
  $('job-start').disabled = roots.length === 0;
  if (roots.length === 0) $('job-start').title = 'The server has no folders to index (doppel serve --root NAME=DIR)';
  $('token').value = sessionStorage.getItem('doppel.token') || '';
  $('token').addEventListener('change', () => sessionStorage.setItem('doppel.token', token()));
  $('job-start').addEventListener('click', startJob);
  $('job-cancel').addEventListener('click', cancelJob);
  $('add-upload').addEventListener('click', addUpload);
  pollJob();
}

async function startJob() {
  const box = $('error');
  hideError(box);
  try {
    const r = await api('/api/v1/jobs', {
      method: 'POST', headers: { 'Content-Type': 'application/json', ...authHeaders() },
      body: JSON.stringify({ root: $('root').value, prune: $('prune').checked }),
    });
    showJob(r.job);
    pollJob();
  } catch (e) {
    showError(box, describe(e, 'Cannot start indexing'));
  }
}

async function cancelJob() {
  try {
    await api('/api/v1/jobs/current', { method: 'DELETE', headers: authHeaders() });
    $('job-text').textContent = 'Cancelling…';
  } catch (e) {
    showError($('error'), describe(e, 'Cannot cancel'));
  }
}

async function addUpload() {
  const q = state.query;
  if (!q || q.kind !== 'upload') return;
  const box = $('error');
  hideError(box);
  const form = new FormData();
  form.append('image', q.blob, q.name);
  try {
    const r = await api('/api/v1/pictures', { method: 'POST', headers: authHeaders(), body: form });
    $('summary').textContent = (r.indexed ? 'Added ' : 'Already in the collection: ') + q.name + '.';
    await refreshStatus();
    searchById(r.id);
  } catch (e) {
    showError(box, describe(e, 'Cannot add ' + q.name));
  }
}

async function refreshStatus() {
  try {
    state.status = await api('/api/v1/status');
    showCollection();
  } catch (e) { /* the next poll tries again */ }
}

async function pollJob() {
  clearTimeout(state.jobTimer);
  let job = null;
  try {
    job = (await api('/api/v1/jobs/current')).job;
  } catch (e) {
    job = state.job;  // keep what we showed; try again
  }
  const wasRunning = !!state.job;
  showJob(job);
  if (wasRunning && !job) {
    $('job-progress').hidden = false;
    $('job-text').textContent = 'Indexing finished.';
    await refreshStatus();
  }
  state.jobTimer = setTimeout(pollJob, job ? 1000 : 4000);
}

function showJob(job) {
  state.job = job;
  $('job-cancel').hidden = !job;
  $('job-start').hidden = !!job;
  if (!job) return;
  $('job-progress').hidden = false;
  const bar = $('job-bar');
  if (job.total > 0) { bar.max = job.total; bar.value = job.done; } else bar.removeAttribute('value');
  const rate = job.seconds > 0 ? job.done / job.seconds : 0;
  const left = rate > 0 && job.total > job.done ? Math.round((job.total - job.done) / rate) : null;
  $('job-text').textContent = 'Indexing: ' + fmtNum(job.done) + ' of ' + (job.total ? fmtNum(job.total) : '…') +
    ' files · ' + fmtNum(job.indexed) + ' new · ' + fmtNum(job.failed) + ' failed' +
    (rate ? ' · ' + rate.toFixed(1) + ' files/s' : '') +
    (left !== null ? ' · about ' + (left < 90 ? left + ' s' : Math.round(left / 60) + ' min') + ' left' : '');
}

// ------------------------------------------------------------------------------------------------ views, keys, address

function showView(view) {
  const search = view === 'search';
  $('view-search').hidden = !search;
  $('view-dups').hidden = search;
  $('tab-search').setAttribute('aria-selected', String(search));
  $('tab-dups').setAttribute('aria-selected', String(!search));
  $('tab-search').tabIndex = search ? 0 : -1;
  $('tab-dups').tabIndex = search ? -1 : 0;
}

// Changes the address without a search (the page already shows what it names).
function navigate(hash) {
  history.pushState(null, '', hash || location.pathname + location.search);
  state.routed = location.hash;
}

// Runs route() once per address change (both events fire for a fragment navigation).
function onAddressChange() {
  if (location.hash === state.routed) return;
  state.routed = location.hash;
  route();
}

// The address: '' (the last upload), '#id=ID[&page=N]' (a search from a picture), '#dups'.
function route() {
  const h = location.hash.slice(1);
  if (h === 'dups') {
    showView('dups');
    if (!$('dups').childElementCount) findDuplicates(0);
    return;
  }
  showView('search');
  const p = new URLSearchParams(h);
  const id = p.get('id');
  if (id && /^\d{1,19}$/.test(id)) {
    startQuery({ kind: 'id', id }, Math.max(0, Number(p.get('page')) || 0));
  } else if (state.upload && (!state.query || state.query.kind !== 'upload')) {
    startQuery(state.upload, 0);
  }
}

function setupKeys() {
  const tabs = [$('tab-search'), $('tab-dups')];
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => {
      if (i === 1) {
        location.hash = 'dups';
      } else if (location.hash === '#dups') {
        navigate(state.query && state.query.kind === 'id' ? '#id=' + state.query.id : '');
        showView('search');
      }
    });
    t.addEventListener('keydown', (e) => {  // arrow keys move between tabs (the ARIA tabs pattern)
      if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
      e.preventDefault();
      const next = tabs[(i + 1) % 2];
      next.focus();
      next.click();
    });
  });
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    const typing = t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
    if (e.key === 'Escape') { hideError($('error')); hideError($('dups-error')); if (typing) t.blur(); return; }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (t instanceof HTMLElement && t.getAttribute('role') === 'tab') return;
    if (e.key === '/') { e.preventDefault(); showView('search'); $('filter').focus(); }
    else if (e.key === 'o') { e.preventDefault(); $('file').click(); }
    else if (e.key === 'ArrowLeft' && !$('view-search').hidden) turnPage(-1);
    else if (e.key === 'ArrowRight' && !$('view-search').hidden) turnPage(+1);
    else if (!$('view-dups').hidden && dupsKey(e)) e.preventDefault();
  });
  $('dups-form').addEventListener('submit', (e) => { e.preventDefault(); findDuplicates(0); });
  $('dups-prev').addEventListener('click', () => findDuplicates(Math.max(0, state.dupsOffset - DUPS_PAGE)));
  $('dups-next').addEventListener('click', () => findDuplicates(state.dupsOffset + DUPS_PAGE));
  $('dups-resolve-all').addEventListener('click', resolveAllShown);
  $('dups-apply').addEventListener('click', planApply);
  window.addEventListener('hashchange', onAddressChange);
  window.addEventListener('popstate', onAddressChange);
}

async function main() {
  setupQueryInputs();
  setupSearchControls();
  setupKeys();
  try {
    await loadStatus();
  } catch (e) {
    showError($('error'), describe(e, 'Cannot load the collection'));
    return;
  }
  state.routed = location.hash;
  route();
}

main();
