// The MerkleKV dashboard: plain browser JavaScript, no build step. The node serving the page
// tells who the members are (its ticks carry its view of the cluster); the page then follows
// every member's own tick stream (GET /v1/dashboard/events on its HTTP address) for its figures.
'use strict';

const WINDOW_SECONDS = 600;
/** A member whose last tick is older than this shows no figures: they would be stale. */
const FRESH_MS = 5000;
/** Roots compared at ticks a second apart differ while writes flow: only a difference this long is shown as one. */
const SETTLE_MS = 5000;
const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777'];

/** nodeId or '' (this page's node, until its first tick names it) -> { source, ticks, base }. */
const streams = new Map();
let self;
let charts;
/** member id -> since when its roots have differed from this node's. */
const differingSince = new Map();

function follow(id, base) {
  if (streams.has(id)) return;
  const stream = { ticks: [], base, source: new EventSource(`${base}/v1/dashboard/events`) };
  stream.source.addEventListener('history', (event) => {
    stream.ticks = JSON.parse(event.data);
  });
  stream.source.addEventListener('tick', (event) => {
    const tick = JSON.parse(event.data);
    stream.ticks.push(tick);
    if (stream.ticks.length > WINDOW_SECONDS) stream.ticks.shift();
    if (id === '') self = tick;
  });
  streams.set(id, stream);
}

function unfollow(id) {
  streams.get(id)?.source.close();
  streams.delete(id);
}

const text = (value) => document.createTextNode(value === undefined || value === null ? '-' : String(value));

function cell(row, value, className) {
  const td = row.insertCell();
  if (className) {
    const span = document.createElement('span');
    span.className = `badge ${className}`;
    span.append(text(value));
    td.append(span);
  } else td.append(text(value));
  return td;
}

function fresh(id) {
  const last = streams.get(id)?.ticks.at(-1);
  return last && Date.now() - last.at < FRESH_MS ? last : undefined;
}

const ms = (value) => (value === null || value === undefined ? '-' : value < 1 ? value.toFixed(2) : value.toFixed(1));
const ago = (iso) => {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return seconds < 60 ? `${seconds.toFixed(0)}s ago` : `${Math.floor(seconds / 60)}m ago`;
};

/** Members as the serving node sees them: itself first. */
function members() {
  const view = self.cluster;
  const own = {
    id: self.nodeId,
    state: view.mode === 'standalone' ? 'standalone' : view.node.connected === false ? 'disconnected' : 'alive',
    http: location.host,
    outbox: self.outboxDepth,
    self: true,
  };
  return [own, ...view.peers.map((p) => ({ id: p.id, state: p.state, http: p.addresses?.http, outbox: p.outboxDepth, self: false }))];
}

function renderMembers(list) {
  const body = document.querySelector('#members tbody');
  body.replaceChildren();
  const digests = new Map();
  for (const member of list) {
    const tick = member.self ? self : fresh(member.id);
    if (tick && member.state !== 'dead') digests.set(member.id, tick.rootsDigest);
    const row = body.insertRow();
    row.dataset.node = member.id;
    cell(row, member.self ? `${member.id} (this node)` : member.id);
    cell(row, member.state, `state-${member.state}`).classList.add('state');
    cell(row, member.http);
    cell(row, member.self ? '-' : self.lagSeconds[member.id] === undefined ? '-' : `${self.lagSeconds[member.id].toFixed(3)} s`);
    cell(row, member.outbox);
    cell(row, tick ? Math.round(tick.opsPerSec) : '-');
    cell(row, tick ? ms(tick.p50Ms) : '-');
    cell(row, tick ? ms(tick.p99Ms) : '-');
    const roots = rootsVerdict(member.id, tick);
    cell(row, roots, roots === 'syncing' ? 'state-suspect' : roots);
  }
  const status = document.getElementById('roots-status');
  const distinct = new Set(digests.values());
  if (distinct.size <= 1) {
    status.textContent = `shard roots agree on ${digests.size} member${digests.size === 1 ? '' : 's'}`;
    status.className = 'badge agree';
  } else if (list.every((member) => rootsVerdict(member.id, member.self ? self : fresh(member.id), false) !== 'differ')) {
    status.textContent = 'shard roots converging (changes in flight)';
    status.className = 'badge state-suspect';
  } else {
    const differing = new Set();
    for (const member of list) {
      const tick = member.self ? self : fresh(member.id);
      tick?.roots.forEach((root, shard) => root !== self.roots[shard] && differing.add(shard));
    }
    status.textContent = `shard roots differ: shards ${[...differing].sort((a, b) => a - b).join(', ')}`;
    status.className = 'badge differ';
  }
}

/** agree, syncing (differing for less than SETTLE_MS), differ, or unknown (no recent figures). */
function rootsVerdict(id, tick, record = true) {
  if (tick === undefined) return 'unknown';
  if (tick.rootsDigest === self.rootsDigest) {
    if (record) differingSince.delete(id);
    return 'agree';
  }
  const since = differingSince.get(id) ?? Date.now();
  if (record) differingSince.set(id, since);
  return Date.now() - since < SETTLE_MS ? 'syncing' : 'differ';
}

function renderSessions() {
  const body = document.querySelector('#sessions tbody');
  body.replaceChildren();
  const sessions = self.cluster.antiEntropy?.sessions ?? [];
  for (const s of [...sessions].sort((a, b) => Date.parse(b.at) - Date.parse(a.at))) {
    const row = body.insertRow();
    cell(row, s.peer);
    cell(row, s.via);
    cell(row, ago(s.at));
    cell(row, s.result, s.result === 'ok' ? 'agree' : 'differ');
    cell(row, s.keysRepaired);
    cell(row, `${s.bytesSent ?? '-'} / ${s.bytesReceived ?? '-'}`);
    cell(row, s.roundTrips);
    cell(row, s.shardsDiffering);
  }
  if (sessions.length === 0) cell(body.insertRow(), self.cluster.mode === 'standalone' ? 'a standalone node runs no anti-entropy' : 'none yet');
}

/** One chart per figure, one series per member; rebuilt when the members change. */
function renderCharts(ids) {
  const key = ids.join(',');
  const now = Math.floor(Date.now() / 1000);
  const first = Math.min(now - 60, ...[...streams.values()].map((s) => Math.floor((s.ticks[0]?.at ?? Date.now()) / 1000)));
  const from = Math.max(first, now - WINDOW_SECONDS + 1);
  const xs = Array.from({ length: now - from + 1 }, (_, i) => from + i);
  const series = (pick) =>
    ids.map((id) => {
      const bySecond = new Map((id === self.nodeId ? streams.get('') : streams.get(id))?.ticks.map((t) => [Math.floor(t.at / 1000), pick(t)]) ?? []);
      return xs.map((x) => bySecond.get(x) ?? null);
    });
  const data = { ops: [xs, ...series((t) => t.opsPerSec)], latency: [xs, ...series((t) => t.p99Ms)] };
  if (!charts || charts.key !== key) {
    charts?.ops.destroy();
    charts?.latency.destroy();
    const make = (element, values, unit) =>
      new uPlot(
        {
          width: element.clientWidth || 500,
          height: 220,
          scales: { x: { time: true } },
          series: [{}, ...ids.map((id, i) => ({ label: id, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: false, value: (_, v) => (v === null ? '-' : `${v.toFixed(unit === 'ms' ? 2 : 0)} ${unit}`) }))],
          axes: [{}, { size: 60 }],
        },
        values,
        element,
      );
    const opsElement = document.getElementById('ops-chart');
    const latencyElement = document.getElementById('latency-chart');
    opsElement.replaceChildren();
    latencyElement.replaceChildren();
    charts = { key, ops: make(opsElement, data.ops, 'ops/s'), latency: make(latencyElement, data.latency, 'ms') };
  } else {
    charts.ops.setData(data.ops);
    charts.latency.setData(data.latency);
  }
}

function render() {
  if (!self) return;
  const list = members();
  document.getElementById('cluster').textContent = self.cluster.mode === 'standalone' ? `standalone node ${self.nodeId}` : `cluster ${self.cluster.cluster}, seen by ${self.nodeId}`;
  for (const member of list) {
    if (member.self) continue;
    if (member.state === 'dead' || !member.http) unfollow(member.id);
    else follow(member.id, `http://${member.http}`);
  }
  for (const id of streams.keys()) if (id !== '' && !list.some((m) => m.id === id)) unfollow(id);
  renderMembers(list);
  renderSessions();
  renderCharts(list.map((m) => m.id));
}

async function browse(prefix) {
  const status = document.getElementById('browse-status');
  const list = document.getElementById('keys');
  status.textContent = 'listing…';
  const response = await fetch(`/v1/kv?prefix=${encodeURIComponent(prefix)}&limit=200`);
  const body = await response.json();
  if (!response.ok) {
    status.textContent = body.error?.message ?? `HTTP ${response.status}`;
    return;
  }
  list.replaceChildren(
    ...body.keys.map((key) => {
      const item = document.createElement('li');
      item.textContent = key;
      item.addEventListener('click', () => {
        for (const other of list.children) other.classList.toggle('selected', other === item);
        void show(key);
      });
      return item;
    }),
  );
  status.textContent = `${body.keys.length} key${body.keys.length === 1 ? '' : 's'}${body.cursor ? ' (first 200)' : ''}`;
}

async function show(key) {
  document.getElementById('value-key').textContent = key;
  const response = await fetch(`/v1/kv/${encodeURIComponent(key)}`);
  const value = document.getElementById('value');
  if (response.status === 404) value.textContent = '(deleted since it was listed)';
  else {
    const bytes = new Uint8Array(await response.arrayBuffer());
    try {
      value.textContent = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      value.textContent = `(${bytes.length} bytes, not UTF-8) ${Array.from(bytes.slice(0, 256), (b) => b.toString(16).padStart(2, '0')).join(' ')}`;
    }
  }
}

document.getElementById('browse').addEventListener('submit', (event) => {
  event.preventDefault();
  void browse(document.getElementById('prefix').value);
});

follow('', '');
setInterval(render, 1000);
