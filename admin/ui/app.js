// postbox console: plain JavaScript over the admin API (docs/api.md) and
// its live feed (GET /api/events). One page at a time is loaded: the
// console never asks for every delivery.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const PAGE = 50;

const state = {
  filter: { hook: '', state: '', q: '' },
  before: '',      // cursor of the page shown; '' is the newest page
  next: '',        // cursor of the older page
  rows: new Map(), // delivery id -> {item, tr}
  live: new Map(), // delivery id -> live request event (status, latency)
  open: '',        // id of the delivery shown in the detail panel
  hooks: [],
  spark: new Map(), // hook id -> {start: ms, counts: [60]}
  rejected: [],
  unseenRejected: 0,
  tab: 'deliveries',
};

// el builds an element: el('td', {class: 'x'}, 'text', child...).
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== undefined && k !== null) e.append(k);
  return e;
}

// api calls the admin API. A request that changes something says it is
// JSON, as the API requires of every such request (docs/api.md).
async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  if (opts.method && opts.method !== 'GET') headers['Content-Type'] = 'application/json';
  const res = await fetch(path, Object.assign({}, opts, { headers: Object.assign(headers, opts.headers) }));
  if (res.status === 401) { location.reload(); throw new Error('signed out'); }
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((body.error && body.error.message) || res.statusText);
  return body;
}

function notice(msg, action) {
  const n = $('#notice');
  n.replaceChildren(msg);
  if (action) n.append(el('button', { type: 'button', onclick: action.run }, action.label));
  n.hidden = !msg;
}

const pad = (n) => String(n).padStart(2, '0');
function when(t) {
  const d = new Date(t);
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === new Date().toDateString() ? hms : `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}
const badge = (text, cls) => el('span', { class: 'st ' + (cls || text) }, String(text));
const statusBadge = (s) => badge(s, 's' + String(s)[0]);
const latency = (ms) => (ms === undefined ? '' : ms < 1 ? ms.toFixed(2) + ' ms' : Math.round(ms) + ' ms');

// ---- deliveries -------------------------------------------------------

function query(extra) {
  const p = new URLSearchParams({ limit: PAGE });
  for (const [k, v] of Object.entries(state.filter)) if (v) p.set(k, v);
  for (const [k, v] of Object.entries(extra || {})) if (v) p.set(k, v);
  return p.toString();
}

async function loadDeliveries(before) {
  const page = await api('/api/deliveries?' + query({ before }));
  state.before = before || '';
  state.next = page.next || '';
  state.rows.clear();
  const tbody = $('#deliveries tbody');
  tbody.replaceChildren(...page.deliveries.map((d) => row(d)));
  $('#empty').hidden = page.deliveries.length > 0;
  $('#older').disabled = !state.next;
  $('#newest').disabled = !state.before;
  if (!performance.getEntriesByName('postbox:rows').length) performance.mark('postbox:rows');
}

function outcomeOf(item) {
  if (item.outcome) return item.outcome;
  if (item.state === 'duplicate') return 'skipped';
  if (!item.actions) return 'no actions';
  return { done: 'ok', failed: 'failed', dead: 'failed', pending: '…' }[item.state] || '';
}

function row(item, fresh) {
  const ev = state.live.get(item.id) || {};
  const tr = el('tr', { 'data-id': item.id, class: [fresh && 'fresh', item.id === state.open && 'sel'].filter(Boolean).join(' '),
    onclick: () => { location.hash = '#/deliveries/' + item.id; } },
  el('td', { title: item.received }, when(item.received)),
  el('td', {}, item.hook),
  el('td', {}, item.remote_addr || ''),
  el('td', { class: 'auth' }, authBadge(item.hook)),
  el('td', { title: item.path }, item.method + ' ' + item.path + ' ', ev.status ? statusBadge(ev.status) : ''),
  el('td', {}, badge(item.state)),
  el('td', {}, badge(outcomeOf(item))),
  el('td', {}, latency(ev.duration_ms)));
  state.rows.set(item.id, { item, tr });
  return tr;
}

// authBadge says how a hook's deliveries were verified: a stored delivery
// passed every check of its hook.
function authBadge(hook) {
  const h = state.hooks.find((x) => x.id === hook);
  if (!h) return '';
  if (!h.auth.length) return el('span', { class: 'muted', title: 'this hook checks no credentials' }, 'open');
  return el('span', { class: 'st ok', title: 'verified: ' + h.auth.join(' + ') }, '✓ ' + h.auth.join('+'));
}

function matchesFilter(item) {
  const f = state.filter;
  return !state.before && !f.q && (!f.hook || f.hook === item.hook) && (!f.state || f.state === item.state);
}

function onRequest(ev) {
  if (!ev.delivery) return onRejected(ev);
  state.live.set(ev.delivery, ev);
  if (state.live.size > 2000) state.live.delete(state.live.keys().next().value);
  bumpSpark(ev.hook, ev.time);
  const item = { id: ev.delivery, hook: ev.hook, method: ev.method, path: ev.path, remote_addr: ev.remote,
    received: ev.time, state: ev.actions ? 'pending' : 'done', actions: ev.actions };
  if (state.rows.has(item.id)) return;
  if (!matchesFilter(item)) return;
  const tbody = $('#deliveries tbody');
  tbody.prepend(row(item, true));
  $('#empty').hidden = true;
  while (tbody.rows.length > PAGE) {
    const last = tbody.rows[tbody.rows.length - 1];
    state.rows.delete(last.dataset.id);
    last.remove();
    state.next = tbody.rows[tbody.rows.length - 1].dataset.id;
    $('#older').disabled = false;
  }
}

function onAttempt(ev) {
  const r = state.rows.get(ev.delivery);
  if (r) {
    const it = r.item;
    it.outcome = ev.outcome;
    if (ev.next === 'failed' || ev.next === 'dead') it.state = ev.next;
    else if (ev.next === 'done' && it.actions !== undefined && ev.action + 1 >= it.actions) it.state = 'done';
    else if (ev.next === 'done' && it.actions === undefined && ev.outcome === 'ok') it.state = 'done';
    const tr = row(it);
    r.tr.replaceWith(tr);
  }
  if (ev.delivery === state.open) showDetail(ev.delivery);
}

// ---- detail -----------------------------------------------------------

function shq(s) { return "'" + String(s).replace(/'/g, "'\\''") + "'"; }
const skipHeaders = new Set(['host', 'content-length', 'connection', 'accept-encoding', 'transfer-encoding']);

function curlOf(d) {
  const url = d.url.startsWith('/') ? location.protocol + '//HOOK-LISTENER' + d.url : d.url;
  const parts = ['curl -X ' + d.method + ' ' + shq(url)];
  for (const [k, vs] of Object.entries(d.header || {})) {
    if (skipHeaders.has(k.toLowerCase())) continue;
    for (const v of vs) parts.push('-H ' + shq(k + ': ' + v));
  }
  if (!d.size) return parts.join(' \\\n  ');
  if (d.body_utf8) return parts.concat('--data-binary ' + shq(d.body)).join(' \\\n  ');
  return 'printf %s ' + shq(d.body_base64) + ' | base64 -d | ' + parts.concat('--data-binary @-').join(' \\\n  ');
}

async function copy(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch (e) {
    const ta = el('textarea', {}, text);
    document.body.append(ta);
    ta.select();
    const ok = document.execCommand && document.execCommand('copy');
    ta.remove();
    return ok;
  }
}

function pretty(d) {
  if (d.payload !== undefined && typeof d.payload === 'object' && d.payload !== null) return JSON.stringify(d.payload, null, 2);
  return d.body;
}

async function showDetail(id) {
  const aside = $('#detail');
  let d;
  try { d = await api('/api/deliveries/' + encodeURIComponent(id)); } catch (e) {
    aside.replaceChildren(el('p', { class: 'err' }, 'Cannot load ' + id + ': ' + e.message));
    aside.hidden = false;
    return;
  }
  if (state.open !== id) return;
  const body = el('pre', { id: 'body' }, pretty(d));
  const views = { Pretty: () => pretty(d), Raw: () => d.body, Base64: () => d.body_base64 };
  const tabs = el('div', { class: 'tools tabs' });
  for (const name of Object.keys(views)) {
    tabs.append(el('button', { type: 'button', class: name === 'Pretty' ? 'on' : '', onclick: (e) => {
      for (const b of tabs.children) b.classList.toggle('on', b === e.target);
      body.textContent = views[name]();
    } }, name));
  }
  const curl = el('pre', { id: 'curl', hidden: true });
  const msg = el('span', { class: 'muted', id: 'detail-msg' });
  const tools = el('div', { class: 'tools' },
    el('button', { type: 'button', id: 'replay', onclick: () => replay(d.id, msg) }, 'Replay'),
    el('button', { type: 'button', id: 'copy-curl', onclick: async () => {
      const c = curlOf(d);
      curl.textContent = c;
      curl.hidden = false;
      msg.textContent = (await copy(c)) ? 'curl command copied' : 'copy the command below';
    } }, 'Copy as curl'),
    el('button', { type: 'button', onclick: () => { location.hash = '#/deliveries'; } }, 'Close'), msg);
  const meta = el('dl', {});
  const add = (k, v) => { if (v !== undefined && v !== '' && v !== null) meta.append(el('dt', {}, k), el('dd', {}, v)); };
  add('Received', new Date(d.received).toLocaleString());
  add('Request', d.method + ' ' + d.path + (d.query && Object.keys(d.query).length ? '?' + new URLSearchParams(Object.entries(d.query).flatMap(([k, vs]) => vs.map((v) => [k, v]))) : ''));
  add('Source', d.remote_addr);
  add('Verified', d.verification.auth.length ? '✓ ' + d.verification.auth.join(', ') : 'no authentication configured');
  add('Content-Type', d.header && d.header['Content-Type'] ? d.header['Content-Type'][0] : '');
  add('Size', d.size + ' bytes');
  add('Series', d.series ? d.series + ' replay(s)' : '');
  add('Duplicate of', d.duplicate_of);
  add('Relayed to', (d.relays || []).map((r) => r.listener + ' (' + when(r.at) + ')').join(', '));
  add('Payload', d.payload_error);
  const headers = el('dl', {});
  for (const [k, vs] of Object.entries(d.header || {}).sort()) for (const v of vs) headers.append(el('dt', {}, k), el('dd', {}, v));
  const attempts = el('div', { id: 'attempts' });
  d.attempts = d.attempts || [];
  if (!d.attempts.length) attempts.append(el('p', { class: 'muted' }, d.actions ? 'No attempt yet.' : 'This hook has no actions.'));
  for (const a of d.attempts) {
    attempts.append(el('div', { class: 'attempt', 'data-series': a.series },
      el('div', {}, badge(a.outcome), ` series ${a.series} · action ${a.action} (${a.kind}) · try ${a.n} · `,
        latency(a.duration_ns / 1e6), ` · ${when(a.started)}`,
        a.kind === 'exec' ? ` · exit ${a.exit_code}` : '', a.status ? ` · HTTP ${a.status}` : ''),
      a.error ? el('pre', { class: 'err' }, a.error) : null,
      a.output ? el('pre', {}, a.output + (a.truncated ? '\n[output truncated]' : '')) : null));
  }
  aside.replaceChildren(el('h2', {}, d.hook + ' ', badge(d.state), el('span', { class: 'muted' }, ' ' + d.id)), tools, curl, meta,
    el('h3', {}, 'Body'), tabs, body, el('h3', {}, 'Headers'), headers, el('h3', {}, 'Attempts'), attempts);
  aside.hidden = false;
}

async function replay(id, msg) {
  try {
    await api('/api/deliveries/' + encodeURIComponent(id) + '/replay', { method: 'POST' });
    msg.textContent = 'replayed: actions queued again';
    const r = state.rows.get(id);
    if (r) { r.item.state = 'pending'; r.item.outcome = ''; r.tr.replaceWith(row(r.item)); }
  } catch (e) {
    msg.textContent = 'replay refused: ' + e.message;
  }
}

// ---- hooks ------------------------------------------------------------

function sparkline(counts) {
  const w = 120, h = 24, max = Math.max(1, ...counts);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('width', w);
  svg.setAttribute('height', h);
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', counts.map((c, i) => `${(i * (w - 2)) / (counts.length - 1 || 1) + 1},${h - 1 - (c / max) * (h - 2)}`).join(' '));
  svg.append(line, document.createElementNS(ns, 'title'));
  svg.lastChild.textContent = `${counts.reduce((a, b) => a + b, 0)} deliveries in ${counts.length} min, at most ${max}/min`;
  return svg;
}

function bumpSpark(hook, t) {
  const s = state.spark.get(hook);
  if (!s) return;
  const at = Date.parse(t);
  while (at - s.start >= s.counts.length * 60000) { s.counts.shift(); s.counts.push(0); s.start += 60000; }
  const i = Math.floor((at - s.start) / 60000);
  if (i >= 0) s.counts[i]++;
  const cell = document.querySelector(`#hooks tr[data-hook="${CSS.escape(hook)}"] td.spark`);
  if (cell) cell.replaceChildren(sparkline(s.counts));
}

function bytes(n) {
  if (n < 1024) return n + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(n < 10 ? 1 : 0) + ' ' + u[i];
}

function days(ns) {
  if (!ns) return 'forever';
  const h = ns / 3.6e12;
  return h % 24 === 0 ? `${h / 24} d` : `${h} h`;
}

// loadStore shows the store's size and what retention keeps (GET /api/store).
async function loadStore() {
  const st = await api('/api/store').catch(() => null);
  if (!st) return;
  const p = st.policy.default;
  let line = `Store: ${bytes(st.used)} in use` + (st.free ? `, ${bytes(st.free)} free` : '') +
    `; ${st.rows.toLocaleString()} deliveries` + (st.oldest ? ` since ${when(st.oldest)}` : '') +
    `. Retention keeps settled deliveries ${days(p.MaxAge)}, dead ones ${days(p.DeadMaxAge)}` +
    (p.MaxDeliveries ? `, the newest ${p.MaxDeliveries} per hook` : '') +
    (st.retention.max_size ? `, at most ${bytes(st.retention.max_size)}` : '') + '.';
  if (st.full_in_ns > 0) line += ` At the last day's rate it reaches its size in ${ago(st.full_in_ns / 1e9)}.`;
  $('#store-line').textContent = line;
}

async function loadHooks() {
  // The deliveries page needs only the hooks' ids: counting is for the hooks page.
  const { hooks } = await api('/api/hooks' + (state.tab === 'hooks' ? '' : '?counts=false'));
  state.hooks = hooks;
  const sel = $('#filters select[name=hook]');
  const cur = sel.value;
  sel.replaceChildren(el('option', { value: '' }, 'all hooks'), ...hooks.map((h) => el('option', {}, h.id)));
  sel.value = cur;
  for (const r of state.rows.values()) r.tr.querySelector('td.auth').replaceChildren(authBadge(r.item.hook));
  if (state.tab !== 'hooks') return;
  $('#hooks tbody').replaceChildren(...hooks.map((h) => el('tr', { 'data-hook': h.id, onclick: () => {
    state.filter = { hook: h.id, state: '', q: '' };
    syncForm();
    location.hash = '#/deliveries';
  } },
  el('td', {}, h.id, h.configured ? '' : el('span', { class: 'muted' }, ' (not configured)')),
  el('td', { title: h.methods.join(', ') }, h.url || ''),
  el('td', {}, h.auth.length ? h.auth.join(' + ') : el('span', { class: 'muted' }, 'none')),
  el('td', {}, h.actions.join(', ') || el('span', { class: 'muted' }, 'none')),
  el('td', { title: JSON.stringify(h.states) }, String(h.total), ' ',
    h.states.pending ? badge(h.states.pending + ' pending', 'pending') : '', ' ',
    h.states.failed || h.states.dead ? badge(((h.states.failed || 0) + (h.states.dead || 0)) + ' failed', 'failed') : ''),
  el('td', {}, badge(h.recent.accepted + ' in', 'ok'), ' ', h.recent.rejected ? badge(h.recent.rejected + ' refused', 'failed') : '',
    ' ', h.recent.ok || h.recent.failed ? `${h.recent.ok} ok / ${h.recent.failed} failed` : ''),
  el('td', { class: 'spark' }))));
  await Promise.all(hooks.map(async (h) => {
    const m = await api('/api/stats/minutes?minutes=60&hook=' + encodeURIComponent(h.id));
    state.spark.set(h.id, { start: Date.parse(m.start), counts: m.buckets.map((b) => b.total) });
    const cell = document.querySelector(`#hooks tr[data-hook="${CSS.escape(h.id)}"] td.spark`);
    if (cell) cell.replaceChildren(sparkline(state.spark.get(h.id).counts));
  }));
}

// ---- destinations and backlog -----------------------------------------

function ago(seconds) {
  if (seconds < 1) return 'now';
  if (seconds < 120) return Math.round(seconds) + ' s';
  if (seconds < 7200) return Math.round(seconds / 60) + ' min';
  return Math.round(seconds / 3600) + ' h';
}

function destinationRow(d) {
  const st = d.until ? `${d.state} until ${when(d.until)}` : d.state;
  const resume = d.state === 'closed' ? '' : el('button', { type: 'button', onclick: async (e) => {
    e.target.disabled = true;
    try {
      await api('/api/destinations/resume', { method: 'POST', body: JSON.stringify({ name: d.name }) });
      await loadDelivery();
    } catch (err) { notice('Error: ' + err.message); }
  } }, 'Resume');
  return el('tr', { 'data-destination': d.name },
    el('td', {}, d.name), el('td', {}, d.kind), el('td', {}, badge(st, 'dest-' + d.state)),
    el('td', {}, String(d.in_flight)), el('td', {}, String(d.limit)), el('td', {}, d.rate ? d.rate + '/s' : ''),
    el('td', {}, String(d.ok)), el('td', {}, String(d.failed)),
    el('td', { class: 'reason', title: d.last_error || '' }, d.last_error || ''), el('td', {}, resume));
}

// instancesLine says which instances share the store and what each holds:
// "Instances: 2 running (host-a pid 12, this one: 3 jobs; host-b pid 9: 1 job), 1 silent".
function instancesLine(v) {
  if (!v || !v.instances.length) return '';
  const jobs = (n) => n === 1 ? '1 job' : `${n} jobs`;
  const running = v.instances.filter((i) => i.state === 'running');
  const others = ['silent', 'stopped'].map((st) => [st, v.instances.filter((i) => i.state === st)])
    .filter(([, list]) => list.length).map(([st, list]) => `${list.length} ${st}` +
      (st === 'silent' ? ` (${list.map((i) => `${i.host} pid ${i.pid}: ${jobs(i.held)}`).join('; ')})` : ''));
  const desc = running.map((i) => `${i.host} pid ${i.pid}${i.id === v.self ? ', this one' : ''}: ${jobs(i.held)}`);
  const fenced = v.fenced && (v.fenced.renewals + v.fenced.results)
    ? `; this one's late writes refused (fenced): ${v.fenced.renewals} renewals, ${v.fenced.results} results` : '';
  return `Instances: ${running.length} running (${desc.join('; ')})` + (others.length ? ', ' + others.join(', ') : '') + fenced;
}

async function loadDelivery() {
  const [{ destinations }, backlog, instances] = await Promise.all([
    api('/api/destinations'),
    api('/api/backlog').catch(() => null),
    api('/api/instances').catch(() => null),
  ]);
  $('#instances-line').textContent = instancesLine(instances);
  $('#destinations tbody').replaceChildren(...destinations.map(destinationRow));
  $('#backlog').textContent = backlog
    ? `Backlog: ${backlog.due} due, ${backlog.leased} running or claimed, ${backlog.jobs} in all` +
      (backlog.oldest_due_age_seconds > 0 ? `; the oldest due has waited ${ago(backlog.oldest_due_age_seconds)}` : '')
    : '';
}

// ---- rejected ---------------------------------------------------------

function rejectedRow(r) {
  return el('tr', { onclick: () => {
    const pre = $('#rej-sample');
    pre.textContent = r.bytes ? `${r.method} ${r.path} — ${r.reason}\n\n${r.sample}${r.truncated ? `\n[first ${r.sample.length} of ${r.bytes} bytes]` : ''}` : `${r.reason}\n\n(no body)`;
    pre.hidden = false;
  } },
  el('td', { title: r.time }, when(r.time)), el('td', {}, r.hook || '—'), el('td', {}, r.remote),
  el('td', {}, r.method + ' ' + r.path), el('td', {}, statusBadge(r.status), ' ', r.class),
  el('td', { class: 'reason', title: r.reason }, r.reason));
}

async function loadRejected() {
  const { rejections } = await api('/api/rejections?limit=200');
  state.rejected = rejections;
  $('#rejections tbody').replaceChildren(...rejections.map(rejectedRow));
}

function onRejected(ev) {
  const r = { time: ev.time, hook: ev.hook, remote: ev.remote, method: ev.method, path: ev.path, status: ev.status,
    class: ev.class, reason: ev.reason, bytes: ev.bytes, sample: '(open the list again to load the sample)' };
  if (state.tab === 'rejected') {
    $('#rejections tbody').prepend(rejectedRow(r));
    $('#rejections tbody').firstChild.classList.add('fresh');
    return;
  }
  state.unseenRejected++;
  const b = $('#rej-badge');
  b.textContent = state.unseenRejected;
  b.hidden = false;
}

// ---- navigation and live feed -----------------------------------------

function syncForm() {
  const f = $('#filters');
  for (const k of ['hook', 'state', 'q']) f.elements[k].value = state.filter[k];
}

async function route() {
  const [, tab = 'deliveries', id = ''] = location.hash.split('/');
  state.tab = ['deliveries', 'hooks', 'delivery', 'rejected'].includes(tab) ? tab : 'deliveries';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('on', a.dataset.tab === state.tab);
  for (const v of ['deliveries', 'hooks', 'delivery', 'rejected']) $('#view-' + v).hidden = v !== state.tab;
  try {
    if (state.tab === 'hooks') await Promise.all([loadHooks(), loadStore()]);
    if (state.tab === 'delivery') await loadDelivery();
    if (state.tab === 'rejected') {
      state.unseenRejected = 0;
      $('#rej-badge').hidden = true;
      await loadRejected();
    }
    if (state.tab === 'deliveries') {
      state.open = decodeURIComponent(id);
      for (const [rid, r] of state.rows) r.tr.classList.toggle('sel', rid === state.open);
      if (state.open) await showDetail(state.open); else $('#detail').hidden = true;
    }
  } catch (e) {
    notice('Error: ' + e.message);
  }
}

function connect() {
  const es = new EventSource('/api/events');
  const live = $('#live');
  es.onopen = () => { live.classList.add('on'); live.title = 'live feed connected'; };
  es.onerror = () => { live.classList.remove('on'); live.title = 'live feed disconnected; retrying'; };
  es.addEventListener('request', (m) => onRequest(JSON.parse(m.data)));
  es.addEventListener('attempt', (m) => onAttempt(JSON.parse(m.data)));
  es.addEventListener('dropped', (m) => notice(`The live feed missed ${JSON.parse(m.data).missed} events.`,
    { label: 'Reload', run: () => { notice(''); loadDeliveries(state.before); } }));
}

function init() {
  $('#filters').addEventListener('submit', (e) => {
    e.preventDefault();
    const f = e.target.elements;
    state.filter = { hook: f.hook.value, state: f.state.value, q: f.q.value };
    loadDeliveries('').catch((err) => notice('Error: ' + err.message));
  });
  $('#older').addEventListener('click', () => loadDeliveries(state.next).catch((err) => notice('Error: ' + err.message)));
  $('#newest').addEventListener('click', () => loadDeliveries('').catch((err) => notice('Error: ' + err.message)));
  window.addEventListener('hashchange', route);
  // The destinations page follows the lanes while it is shown.
  setInterval(() => { if (state.tab === 'delivery' && !document.hidden) loadDelivery().catch(() => {}); }, 2000);
  connect();
  const hooks = location.hash.startsWith('#/hooks') ? Promise.resolve() : loadHooks();
  Promise.all([loadDeliveries(''), hooks]).then(route).catch((err) => notice('Error: ' + err.message));
}

init();
