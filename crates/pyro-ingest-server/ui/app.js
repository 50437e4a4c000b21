// ingest-server UI: hand-written, no dependencies, no build step.
//
// State lives in the URL (query, from, until, view, search, groupBy, maxNodes and the diff's
// left*/right* parameters), so a link reproduces a view. Data comes from the server's own
// endpoints: /label-values, /labels, /render (OG's flamebearer JSON) and /render-diff (OG's
// "double" flamebearer), all by paths relative to the page, so it also works behind a proxy
// that serves the server under a prefix. A page saved by /render?format=html carries one answer
// in <script id="preload"> and needs no server.
'use strict';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Every URL parameter the page reads, with its default.
const DEFAULTS = {
  query: '', from: 'now-1h', until: 'now', view: 'single', search: '', groupBy: '', maxNodes: '',
  leftQuery: '', leftFrom: '', leftUntil: '', rightQuery: '', rightFrom: '', rightUntil: '',
};
const state = Object.fromEntries(Object.entries(DEFAULTS).map(([k, d]) => [k, params.get(k) || d]));
// The diff's parameters, each shown in the input whose id is its kebab-case name (left-query).
const DIFF_KEYS = ['leftQuery', 'leftFrom', 'leftUntil', 'rightQuery', 'rightFrom', 'rightUntil'];
const diffInput = (k) => $(k.replace(/[A-Z]/, (c) => '-' + c.toLowerCase()));

// ---------------------------------------------------------------------------------------------
// Queries: `app{k="v",...}` split into the app and its matchers, and back.

function splitQuery(q) {
  const m = /^\s*([^{\s]*)\s*(?:\{(.*)\})?\s*$/s.exec(q || '');
  if (!m) return { app: q, matchers: [] };
  const matchers = [];
  let cur = '', quoted = false;
  for (let i = 0; i < (m[2] || '').length; i++) {
    const c = m[2][i];
    if (c === '\\' && quoted) { cur += c + (m[2][++i] || ''); continue; }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) { if (cur.trim()) matchers.push(cur.trim()); cur = ''; continue; }
    cur += c;
  }
  if (cur.trim()) matchers.push(cur.trim());
  return { app: m[1], matchers };
}

const joinQuery = (app, matchers) => `${app}{${matchers.join(',')}}`;
const quote = (v) => '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';

// ---------------------------------------------------------------------------------------------
// Units: CPU samples become time through the sample rate, bytes are bytes.

function formatter(meta) {
  const units = (meta && meta.units) || 'samples';
  const rate = (meta && meta.sampleRate) || 0;
  const num = (v) => v.toLocaleString('en-US', { maximumFractionDigits: 2 });
  const duration = (s) => {
    if (s === 0) return '0 s';
    if (s < 1e-3) return num(s * 1e6) + ' µs';
    if (s < 1) return num(s * 1e3) + ' ms';
    if (s < 60) return num(s) + ' s';
    if (s < 3600) return num(s / 60) + ' min';
    return num(s / 3600) + ' h';
  };
  const scaled = (v, base, names) => {
    let i = 0;
    while (v >= base && i < names.length - 1) { v /= base; i++; }
    return num(v) + ' ' + names[i];
  };
  if (units === 'samples' && rate > 0) return (v) => duration(v / rate);
  if (units === 'bytes') return (v) => scaled(v, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB']);
  if (units === 'nanoseconds' || units === 'lock_nanoseconds') return (v) => duration(v / 1e9);
  if (units === 'microseconds') return (v) => duration(v / 1e6);
  if (units === 'milliseconds') return (v) => duration(v / 1e3);
  if (units === 'seconds') return (v) => duration(v);
  const noun = units === 'samples' ? 'samples' : units.replace(/^lock_/, '');
  return (v) => scaled(v, 1000, ['', 'k', 'M', 'G', 'T']).trim() + ' ' + noun;
}

const pct = (v) => (v * 100).toFixed(2) + '%';

// ---------------------------------------------------------------------------------------------
// The flamegraph: levels of OG's flamebearer flattened into typed arrays, drawn on a canvas.

function flatten(fb, double) {
  const step = double ? 7 : 4;
  let n = 0;
  for (const l of fb.levels) n += l.length / step;
  const g = {
    n, double, names: fb.names, levelStart: [],
    level: new Int32Array(n), x: new Float64Array(n), total: new Float64Array(n),
    self: new Float64Array(n), name: new Int32Array(n), parent: new Int32Array(n),
  };
  if (double) {
    g.lTotal = new Float64Array(n); g.lSelf = new Float64Array(n);
    g.rTotal = new Float64Array(n); g.rSelf = new Float64Array(n);
  }
  let k = 0;
  fb.levels.forEach((l, d) => {
    g.levelStart.push(k);
    let px = 0, pl = 0, pr = 0;
    for (let i = 0; i < l.length; i += step, k++) {
      g.level[k] = d;
      if (double) {
        const xl = pl + l[i], xr = pr + l[i + 3];
        pl = xl + l[i + 1]; pr = xr + l[i + 4];
        g.lTotal[k] = l[i + 1]; g.lSelf[k] = l[i + 2]; g.rTotal[k] = l[i + 4]; g.rSelf[k] = l[i + 5];
        g.x[k] = xl + xr; g.total[k] = l[i + 1] + l[i + 4]; g.self[k] = l[i + 2] + l[i + 5];
        g.name[k] = l[i + 6];
      } else {
        g.x[k] = px + l[i]; g.total[k] = l[i + 1]; g.self[k] = l[i + 2]; g.name[k] = l[i + 3];
        px = g.x[k] + g.total[k];
      }
    }
  });
  g.levelStart.push(k);
  // Parents: each level's nodes are sorted by x, so one walk over the level above finds them.
  g.parent[0] = -1;
  for (let d = 1; d < fb.levels.length; d++) {
    let p = g.levelStart[d - 1];
    const pEnd = g.levelStart[d];
    for (let i = g.levelStart[d]; i < g.levelStart[d + 1]; i++) {
      while (p + 1 < pEnd && g.x[p] + g.total[p] <= g.x[i] && g.x[p + 1] <= g.x[i]) p++;
      g.parent[i] = p;
    }
  }
  return g;
}

// Flame colours: 16 light hues around the wheel (text stays readable on each), by package.
const PALETTE = [
  '#f4a77c', '#f6c26b', '#e7d36d', '#b9d77a', '#8fd19e', '#7fd3c2', '#7cc8e6', '#8fb3f0',
  '#a9a3f2', '#c79bef', '#e59ad9', '#f09bb5', '#f3b49a', '#d9c29a', '#b8c7a4', '#a3c1c9',
];
const ROW = 18;

class Flame {
  constructor(canvas, tooltip) {
    this.canvas = canvas;
    this.tooltip = tooltip;
    this.g = null;
    this.zoom = 0;
    this.matches = null;
    this.lastDrawMs = 0;
    canvas.addEventListener('mousemove', (e) => this.hover(e));
    canvas.addEventListener('mouseleave', () => { this.tooltip.hidden = true; });
    canvas.addEventListener('click', (e) => {
      const i = this.nodeAtPoint(e.offsetX, e.offsetY);
      if (i >= 0) this.setZoom(i);
    });
    canvas.addEventListener('contextmenu', (e) => {
      const i = this.nodeAtPoint(e.offsetX, e.offsetY);
      if (i < 0 || !this.onMenu) return;
      e.preventDefault();
      this.tooltip.hidden = true;
      this.onMenu(i, e);
    });
    window.addEventListener('resize', () => this.draw());
  }

  set(g, meta, data) {
    this.g = g;
    this.meta = meta;
    this.data = data;
    this.fmt = formatter(meta);
    this.palette = [];
    this.zoom = 0;
    this.focus = false;
    this.collapsed = new Set();
    this.hidden = null;
    this.draw();
    this.onZoom && this.onZoom(0);
  }

  /** Draws node `i`'s subtree alone, `i` on the top row (its ancestors are not drawn). */
  setFocus(i) {
    this.focus = i > 0;
    this.setZoom(i);
  }

  /** Rows not drawn above the top: the focused node's depth. */
  top() {
    return this.focus ? this.g.level[this.zoom] : 0;
  }

  /** Hides (or shows again) the descendants of node `i`. */
  toggleCollapse(i) {
    if (this.collapsed.has(i)) this.collapsed.delete(i); else this.collapsed.add(i);
    const g = this.g;
    this.hidden = this.collapsed.size ? new Uint8Array(g.n) : null;
    // Levels are in order, so a parent is decided before its children.
    if (this.hidden) {
      for (let k = 1; k < g.n; k++) {
        const p = g.parent[k];
        if (this.hidden[p] || this.collapsed.has(p)) this.hidden[k] = 1;
      }
    }
    this.draw();
  }

  isHidden(i) { return !!(this.hidden && this.hidden[i]); }

  setZoom(i) {
    if (i === 0) this.focus = false;
    this.zoom = i;
    this.onZoom && this.onZoom(i);
    this.draw();
  }

  range() {
    const g = this.g;
    return [g.x[this.zoom], g.total[this.zoom] || 1];
  }

  color(i) {
    const g = this.g;
    // With a search: 1 marks a match, 2 a frame on the path to one, 0 the rest (greyed).
    const m = this.matches ? this.matches[i] : 2;
    if (m === 0) return '#e3e5ea';
    if (g.double) {
      const lt = this.data.leftTicks || 1, rt = this.data.rightTicks || 1;
      const l = g.lTotal[i] / lt, r = g.rTotal[i] / rt;
      const m = Math.max(l, r);
      const k = m > 0 ? Math.min(1, Math.abs(r - l) / m) : 0;
      if (k < 0.01) return 'rgb(205,208,214)';
      const f = Math.round(225 - 150 * k);
      return r > l ? `rgb(240,${f},${f})` : `rgb(${f},225,${f})`;
    }
    if (m === 1) return '#e0479e';
    const n = g.name[i];
    return this.palette[n] || (this.palette[n] = Flame.colorOf(g.names[n]));
  }

  /**
   * The package of a frame name, what its colour follows (as OG's and Grafana's flame graphs
   * colour by package): Java `com/x/y/Class.method` or `com.x.y.Class.method` → `com/x/y`;
   * Go `net/http.(*conn).serve` → `net/http`; `a::b::f` → `a::b`; `file.py:10 - f` → `file.py`;
   * else the name up to its last `.`.
   */
  static packageOf(name) {
    name = name || '';
    const go = /^([\w.\-]+(?:\/[\w.\-]+)*)\.(?:\(|[\w]+$|[\w]+\.)/.exec(name);
    const slash = name.lastIndexOf('/');
    if (slash >= 0 && /^[A-Z][\w$]*\.[\w$<>]+$/.test(name.slice(slash + 1))) return name.slice(0, slash);
    if (slash >= 0 && go) return go[1];
    const cls = /^((?:[a-z_][\w]*\.)+)[A-Z][\w$]*\.[\w$<>]+$/.exec(name);
    if (cls) return cls[1].slice(0, -1);
    const rust = name.lastIndexOf('::');
    if (rust > 0) return name.slice(0, rust);
    const py = /^(\S+\.py)\b/.exec(name);
    if (py) return py[1];
    const dot = name.lastIndexOf('.');
    return dot > 0 ? name.slice(0, dot) : name;
  }

  /** A colour of a fixed palette of well-separated hues, the same for every frame of a package. */
  static colorOf(name) {
    const pkg = Flame.packageOf(name);
    let h = 0;
    for (let c = 0; c < pkg.length; c++) h = (h * 31 + pkg.charCodeAt(c)) >>> 0;
    return PALETTE[h % PALETTE.length];
  }

  /** The text of a frame label that fits `chars` characters: the end of the name (the
   * function) is kept, its start (the package) cut. */
  static label(name, chars) {
    if (name.length <= chars) return name;
    let tail = name.slice(name.length - Math.max(chars - 1, 1));
    // Start at a segment of the name rather than inside one.
    const k = tail.search(/[.:/]/);
    if (k >= 0 && k < tail.length - 1) tail = tail.slice(k + 1);
    return '…' + tail;
  }

  draw() {
    const g = this.g, c = this.canvas;
    if (!g) return;
    const t0 = performance.now();
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || c.parentElement.clientWidth || 800;
    const levels = g.levelStart.length - 1;
    const top = this.top();
    const h = (levels - top) * ROW;
    c.style.height = h + 'px';
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    const [x0, span] = this.range();
    const scale = w / span;
    const zl = g.level[this.zoom];
    let style = '';
    const hidden = this.hidden;
    for (let d = top; d < levels; d++) {
      const y = (d - top) * ROW;
      for (let i = g.levelStart[d]; i < g.levelStart[d + 1]; i++) {
        if (hidden && hidden[i]) continue;
        let left = (g.x[i] - x0) * scale;
        let width = g.total[i] * scale;
        if (left + width < 0 || left >= w || width < 0.3) continue;
        if (d < zl) { left = 0; width = w; }
        if (left < 0) { width += left; left = 0; }
        width = Math.min(width, w - left);
        const color = this.color(i);
        if (color !== style) { ctx.fillStyle = color; style = color; }
        ctx.fillRect(left, y, Math.max(width - 0.5, 0.3), ROW - 1);
        if (width > 28) {
          const name = i === 0 ? g.rootName || 'total' : g.names[g.name[i]];
          const mark = this.collapsed.has(i) ? '▸ ' : '';
          const text = mark + Flame.label(name, Math.floor((width - 6) / 6.6) - mark.length);
          ctx.fillStyle = style = '#111';
          ctx.fillText(text, left + 3, y + ROW / 2);
        }
      }
    }
    this.lastDrawMs = performance.now() - t0;
  }

  nodeAtPoint(px, py) {
    const g = this.g;
    if (!g) return -1;
    const d = Math.floor(py / ROW) + this.top();
    if (d < 0 || d >= g.levelStart.length - 1) return -1;
    if (d < g.level[this.zoom]) {
      for (let i = this.zoom; i >= 0; i = g.parent[i]) if (g.level[i] === d) return i;
    }
    const [x0, span] = this.range();
    const w = this.canvas.clientWidth;
    const tick = x0 + (px / w) * span;
    let lo = g.levelStart[d], hi = g.levelStart[d + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (g.x[mid] + g.total[mid] <= tick) lo = mid + 1;
      else if (g.x[mid] > tick) hi = mid - 1;
      else return this.isHidden(mid) ? -1 : mid;
    }
    return -1;
  }

  /** Where node `i` is drawn, in CSS pixels relative to the canvas (for tests and links). */
  box(i) {
    const g = this.g;
    const [x0, span] = this.range();
    const w = this.canvas.clientWidth;
    const left = Math.max(0, ((g.x[i] - x0) / span) * w);
    const right = Math.min(w, ((g.x[i] + g.total[i] - x0) / span) * w);
    return { x: left, y: (g.level[i] - this.top()) * ROW, w: Math.max(0, right - left), h: ROW - 1 };
  }

  /** The first node named `name` (breadth first). */
  find(name) {
    const g = this.g;
    for (let i = 0; i < g.n; i++) if (g.names[g.name[i]] === name) return i;
    return -1;
  }

  hover(e) {
    const i = this.nodeAtPoint(e.offsetX, e.offsetY);
    if (i < 0) { this.tooltip.hidden = true; return; }
    const g = this.g, fmt = this.fmt;
    const full = i === 0 ? g.rootName || 'total' : g.names[g.name[i]];
    // A huge name (generated code) would make a tooltip taller than the screen.
    const name = full.length > 300 ? full.slice(0, 150) + ' … ' + full.slice(-140) : full;
    let text;
    if (g.double) {
      const lt = this.data.leftTicks || 1, rt = this.data.rightTicks || 1;
      const l = g.lTotal[i] / lt, r = g.rTotal[i] / rt;
      text = `${name}\nleft:  ${fmt(g.lTotal[i])} (${pct(l)}), self ${fmt(g.lSelf[i])}` +
        `\nright: ${fmt(g.rTotal[i])} (${pct(r)}), self ${fmt(g.rSelf[i])}` +
        `\nchange: ${r >= l ? '+' : ''}${((r - l) * 100).toFixed(2)} points of share`;
    } else {
      const root = g.total[0] || 1;
      text = `${name}\nself:  ${fmt(g.self[i])} (${pct(g.self[i] / root)})` +
        `\ntotal: ${fmt(g.total[i])} (${pct(g.total[i] / root)})`;
    }
    this.tooltip.textContent = text;
    this.tooltip.hidden = false;
    const box = this.canvas.parentElement.clientWidth;
    this.tooltip.style.left = Math.min(e.offsetX + 14, Math.max(0, box - 340)) + 'px';
    this.tooltip.style.top = (e.offsetY + 16) + 'px';
  }
}

// ---------------------------------------------------------------------------------------------
// The function table: self and total per function name (a recursive function counted once).

function functionRows(g) {
  const by = new Map();
  for (let i = 1; i < g.n; i++) {
    const ni = g.name[i];
    let row = by.get(ni);
    if (!row) {
      row = { name: g.names[ni], self: 0, total: 0, lSelf: 0, lTotal: 0, rSelf: 0, rTotal: 0 };
      by.set(ni, row);
    }
    row.self += g.self[i];
    if (g.double) { row.lSelf += g.lSelf[i]; row.rSelf += g.rSelf[i]; }
    let outer = true;
    for (let p = g.parent[i]; p > 0; p = g.parent[p]) if (g.name[p] === ni) { outer = false; break; }
    if (outer) {
      row.total += g.total[i];
      if (g.double) { row.lTotal += g.lTotal[i]; row.rTotal += g.rTotal[i]; }
    }
  }
  return [...by.values()];
}

const MAX_ROWS = 500;

class FunctionTable {
  constructor(table, filter, note) {
    this.table = table; this.filter = filter; this.note = note;
    this.rows = []; this.sortKey = 'self'; this.onPick = null;
    filter.addEventListener('input', () => this.render());
    table.tHead.addEventListener('click', (e) => {
      const key = e.target.dataset && e.target.dataset.key;
      if (key) { this.sortKey = key; this.render(); }
    });
    table.tBodies[0].addEventListener('click', (e) => {
      const tr = e.target.closest('tr');
      if (tr && this.onPick) this.onPick(tr.firstChild.textContent);
    });
  }

  set(g, meta, data) {
    this.g = g; this.fmt = formatter(meta); this.data = data;
    this.rows = functionRows(g);
    if (g.double) {
      const lt = data.leftTicks || 1, rt = data.rightTicks || 1;
      for (const r of this.rows) r.diff = r.rTotal / rt - r.lTotal / lt;
      this.columns = [['name', 'Function'], ['lTotal', 'Left total'], ['rTotal', 'Right total'], ['diff', 'Change']];
      if (!['name', 'lTotal', 'rTotal', 'diff'].includes(this.sortKey)) this.sortKey = 'diff';
    } else {
      this.columns = [['name', 'Function'], ['self', 'Self'], ['total', 'Total']];
      if (!['name', 'self', 'total'].includes(this.sortKey)) this.sortKey = 'self';
    }
    this.render();
  }

  render() {
    const head = this.table.tHead.rows[0];
    head.replaceChildren(...this.columns.map(([key, label]) => {
      const th = document.createElement('th');
      th.textContent = label; th.dataset.key = key;
      if (key === this.sortKey) th.className = 'sorted';
      return th;
    }));
    const f = this.filter.value.toLowerCase();
    const k = this.sortKey;
    let rows = f ? this.rows.filter((r) => r.name.toLowerCase().includes(f)) : this.rows.slice();
    if (k === 'name') rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    else if (k === 'diff') rows.sort((a, b) => Math.abs(b.diff) - Math.abs(a.diff));
    else rows.sort((a, b) => b[k] - a[k] || b.total - a.total || (a.name < b.name ? -1 : 1));
    const shown = rows.slice(0, MAX_ROWS);
    const root = (this.g && this.g.total[0]) || 1;
    const body = document.createDocumentFragment();
    for (const r of shown) {
      const tr = document.createElement('tr');
      const cell = (text, cls) => {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      };
      cell(r.name);
      if (this.g.double) {
        cell(this.fmt(r.lTotal)); cell(this.fmt(r.rTotal));
        cell((r.diff >= 0 ? '+' : '') + (r.diff * 100).toFixed(2) + ' pt',
          r.diff > 1e-4 ? 'worse' : r.diff < -1e-4 ? 'better' : '');
      } else {
        cell(`${this.fmt(r.self)} (${pct(r.self / root)})`);
        cell(`${this.fmt(r.total)} (${pct(r.total / root)})`);
      }
      body.appendChild(tr);
    }
    this.table.tBodies[0].replaceChildren(body);
    this.note.textContent = rows.length > MAX_ROWS
      ? `${MAX_ROWS} of ${rows.length} functions shown; filter to narrow.`
      : `${rows.length} functions`;
  }
}

// ---------------------------------------------------------------------------------------------
// The timeline: OG's buckets (0 = no data, else 1 + the values) as bars; drag to pick a range.

class Timeline {
  constructor(canvas, onRange) {
    this.canvas = canvas; this.onRange = onRange; this.tl = null; this.drag = null;
    canvas.addEventListener('mousedown', (e) => { this.drag = [e.offsetX, e.offsetX]; });
    canvas.addEventListener('mousemove', (e) => { if (this.drag) { this.drag[1] = e.offsetX; this.draw(); } });
    window.addEventListener('mouseup', () => {
      if (!this.drag || !this.tl) return;
      const [a, b] = this.drag.sort((p, q) => p - q);
      this.drag = null;
      if (b - a < 3) { this.draw(); return; }
      const t = (px) => this.tl.startTime + (px / this.canvas.clientWidth) * this.span();
      this.onRange(Math.floor(t(a)), Math.ceil(t(b)));
    });
    window.addEventListener('resize', () => this.draw());
  }

  span() { return Math.max(this.tl.samples.length * this.tl.durationDelta, 1); }

  set(tl, fmt) { this.tl = tl; this.fmt = fmt; this.draw(); }

  draw() {
    const c = this.canvas, tl = this.tl;
    if (!tl) return;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 800, h = 70;
    c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    const ctx = c.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const values = tl.samples.map((s) => (s > 0 ? s - 1 : 0));
    const max = Math.max(1, ...values);
    const bw = w / Math.max(values.length, 1);
    ctx.fillStyle = '#7aa2f7';
    values.forEach((v, i) => {
      if (tl.samples[i] === 0) return;
      const bh = Math.max(1, (v / max) * (h - 16));
      ctx.fillRect(i * bw, h - 14 - bh, Math.max(bw - 0.5, 1), bh);
    });
    ctx.fillStyle = '#6b7280';
    ctx.font = '10px system-ui, sans-serif';
    const labels = [];
    // A narrow timeline (a phone) has room for three labels, a wide one for five.
    const every = w < 480 ? 2 : 1;
    for (let k = 0; k <= 4; k += every) {
      const t = new Date((tl.startTime + (k / 4) * this.span()) * 1000);
      // Times are UTC, and the last label says so.
      const label = t.toISOString().slice(5, 16).replace('T', ' ') + (k === 4 ? ' UTC' : '');
      labels.push(label);
      ctx.textAlign = k === 0 ? 'left' : k === 4 ? 'right' : 'center';
      ctx.fillText(label, (k / 4) * w, h - 2);
    }
    c.setAttribute('aria-label', `timeline from ${labels[0]} to ${labels[labels.length - 1]}`);
    if (this.drag) {
      ctx.fillStyle = 'rgba(47,111,235,.2)';
      ctx.fillRect(Math.min(...this.drag), 0, Math.abs(this.drag[1] - this.drag[0]), h - 12);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sandwich: the callers and the callees of one function, each merged into a tree of its own.

/** Each node's children, by node id (computed once per graph). */
function kidsOf(g) {
  if (g.kids) return g.kids;
  const kids = Array.from({ length: g.n }, () => []);
  for (let i = 1; i < g.n; i++) kids[g.parent[i]].push(i);
  return (g.kids = kids);
}

/**
 * The callers (`F` at the root, each path above an occurrence of `F` merged below it) and the
 * callees (the subtrees under every outermost occurrence of `F`, merged) of function `fname`.
 */
function sandwich(g, fname) {
  const kids = kidsOf(g);
  const node = (name) => ({ name, total: 0, self: 0, children: new Map() });
  const child = (p, name) => {
    let c = p.children.get(name);
    if (!c) p.children.set(name, (c = node(name)));
    return c;
  };
  const callees = node(fname), callers = node(fname);
  const nameOf = (i) => g.names[g.name[i]];
  const addSub = (into, i) => {
    into.total += g.total[i];
    into.self += g.self[i];
    for (const k of kids[i]) addSub(child(into, nameOf(k)), k);
  };
  for (let i = 1; i < g.n; i++) {
    if (nameOf(i) !== fname) continue;
    let nested = false;
    for (let p = g.parent[i]; p > 0; p = g.parent[p]) if (nameOf(p) === fname) { nested = true; break; }
    if (nested) continue;
    addSub(callees, i);
    const t = g.total[i];
    callers.total += t;
    let at = callers;
    for (let p = g.parent[i]; p > 0; p = g.parent[p]) {
      at = child(at, nameOf(p));
      at.total += t;
    }
    at.self += t;
  }
  return { callers, callees };
}

/** A tree `{name, total, self, children}` as OG's single flamebearer (what `flatten` reads). */
function toFlamebearer(root) {
  const names = [], index = new Map();
  const nameId = (n) => {
    if (!index.has(n)) { index.set(n, names.length); names.push(n); }
    return index.get(n);
  };
  const levels = [];
  const walk = (nd, d, x) => {
    (levels[d] = levels[d] || []).push([x, nd.total, nd.self, nameId(nd.name)]);
    let cx = x;
    for (const c of [...nd.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      walk(c, d + 1, cx);
      cx += c.total;
    }
  };
  walk(root, 0, 0);
  let maxSelf = 0;
  const out = levels.map((l) => {
    l.sort((a, b) => a[0] - b[0]);
    let end = 0;
    const v = [];
    for (const [x, t, self, n] of l) { v.push(x - end, t, self, n); end = x + t; maxSelf = Math.max(maxSelf, self); }
    return v;
  });
  return { names, levels: out, numTicks: root.total, maxSelf };
}

// ---------------------------------------------------------------------------------------------
// The page.

const flame = new Flame($('flame'), $('tooltip'));
const callersFlame = new Flame($('callers'), $('callers-tip'));
const calleesFlame = new Flame($('callees'), $('callees-tip'));

function showSandwich(name) {
  if (!current) return;
  const { callers, callees } = sandwich(current.g, name);
  $('sandwich').hidden = false;
  $('sandwich-name').textContent = name;
  const meta = current.data.metadata;
  // Both trees are rooted at the function itself: their root is named after it.
  const tree = (t) => Object.assign(flatten(toFlamebearer(t), false), { rootName: name });
  callersFlame.set(tree(callers), meta, {});
  calleesFlame.set(tree(callees), meta, {});
}

$('sandwich-close').onclick = () => { $('sandwich').hidden = true; };

// The frame menu (right click): focus, collapse, sandwich, search.
flame.onMenu = (i, e) => {
  const g = current.g;
  const name = i === 0 ? 'total' : g.names[g.name[i]];
  const menu = $('menu');
  const items = [
    ['focus', 'Focus on this subtree', () => flame.setFocus(i)],
    ['collapse', flame.collapsed.has(i) ? 'Expand' : 'Collapse', () => flame.toggleCollapse(i)],
  ];
  if (i > 0) {
    items.push(['sandwich', 'Sandwich: its callers and callees', () => showSandwich(name)]);
    items.push(['search', 'Search for this function', () => { $('search').value = name; applySearch(); }]);
  }
  menu.replaceChildren(...items.map(([action, text, run]) => {
    const b = document.createElement('button');
    b.type = 'button'; b.textContent = text; b.dataset.action = action;
    b.onclick = (ev) => { ev.stopPropagation(); menu.hidden = true; run(); };
    return b;
  }));
  menu.style.left = Math.max(0, Math.min(e.offsetX, flame.canvas.clientWidth - 240)) + 'px';
  menu.style.top = e.offsetY + 'px';
  menu.hidden = false;
};
document.addEventListener('click', (e) => { if (!$('menu').contains(e.target)) $('menu').hidden = true; });
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') $('menu').hidden = true; });
const table = new FunctionTable($('fn-table'), $('table-filter'), $('table-note'));
const timeline = new Timeline($('timeline'), (from, until) => {
  state.from = String(from); state.until = String(until);
  $('preset').value = '';
  load();
});
let current = null; // the answer shown: { data, g }

function status(text, error) {
  $('status').textContent = text;
  $('status').className = error ? 'error' : '';
}

let saved = false;
function saveUrl() {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v) p.set(k, v);
  const url = '?' + p.toString();
  const prev = new URLSearchParams(location.search);
  // A new view, series, range or node limit is a step Back undoes (typing a search is not);
  // the first save only writes the defaults in.
  const step = saved && ['query', 'from', 'until', 'view', 'maxNodes', 'groupBy']
    .some((k) => (prev.get(k) || '') !== (p.get(k) || ''));
  saved = true;
  if (url === location.search) return;
  if (step) history.pushState(null, '', url); else history.replaceState(null, '', url);
}

// Back and Forward restore the view the URL names.
window.addEventListener('popstate', () => {
  const p = new URLSearchParams(location.search);
  for (const [k, d] of Object.entries(DEFAULTS)) state[k] = p.get(k) || d;
  $('max-nodes').value = state.maxNodes;
  $('search').value = state.search;
  load();
});

async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: 'application/json' } });
  const text = await r.text();
  if (!r.ok) throw new Error(`${r.status}: ${text.trim()}`);
  return JSON.parse(text);
}

function renderParams(extra) {
  const p = new URLSearchParams({ query: state.query, from: state.from, until: state.until });
  if (state.maxNodes) p.set('maxNodes', state.maxNodes);
  for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
  return p;
}

function diffParams(format) {
  const p = new URLSearchParams({ format });
  for (const k of DIFF_KEYS) p.set(k, state[k]);
  if (state.maxNodes) p.set('maxNodes', state.maxNodes);
  return p;
}

function setExports() {
  const diff = state.view === 'diff';
  const link = (id, format) => {
    const a = $(id);
    const ok = !diff || format === 'json' || format === 'html';
    a.hidden = !ok;
    a.href = diff ? 'render-diff?' + diffParams(format) : 'render?' + renderParams({ format: format === 'folded' ? 'collapsed' : format });
    const app = splitQuery(state.query).app || 'profile';
    const ext = { folded: 'folded.txt', pprof: 'pprof', json: 'json', svg: 'svg', html: 'html' }[format];
    a.download = `${diff ? 'diff' : app}.${ext}`;
  };
  link('export-folded', 'folded'); link('export-pprof', 'pprof'); link('export-json', 'json');
  link('export-svg', 'svg'); link('export-html', 'html');
}

function show(data) {
  const double = data.metadata && data.metadata.format === 'double';
  const t0 = performance.now();
  const g = flatten(data.flamebearer, double);
  current = { data, g };
  $('sandwich').hidden = true;
  if (double) { data.leftTicks = data.leftTicks || 0; data.rightTicks = data.rightTicks || 0; }
  flame.matches = null;
  flame.set(g, data.metadata, data);
  const drawMs = flame.lastDrawMs;
  table.set(g, data.metadata, data);
  if (state.search) applySearch();
  const fmt = formatter(data.metadata);
  const total = double
    ? `left ${fmt(data.leftTicks)} · right ${fmt(data.rightTicks)}`
    : fmt(data.flamebearer.numTicks);
  const ticks = double ? data.leftTicks + data.rightTicks : data.flamebearer.numTicks;
  if (!ticks) {
    status(`No data for ${splitQuery(state.query).app} between ${state.from} and ${state.until} ` +
      '(times in UTC): widen the range (e.g. from now-7d) or pick another series.');
  } else {
    // Nodes past the limit are merged into `other` frames: say how much, and how to see them.
    const other = g.names.indexOf('other');
    let merged = 0;
    if (other >= 0) for (let i = 1; i < g.n; i++) if (g.name[i] === other) merged += g.total[i];
    const cut = merged > 0
      ? ` · ${pct(merged / (g.total[0] || 1))} of the total is in "other" (nodes past the ` +
        `${$('max-nodes').selectedOptions[0].textContent} drawn): raise Nodes to see it`
      : '';
    status(`${total} · ${g.n.toLocaleString('en-US')} nodes · flamegraph drawn in ${drawMs.toFixed(1)} ms, ` +
      `page ready in ${(performance.now() - t0).toFixed(1)} ms${cut}`);
  }
  if (!double && data.timeline) timeline.set(data.timeline, fmt);
}

function applySearch() {
  const q = $('search').value.trim();
  state.search = q;
  if (!current) return;
  const g = current.g;
  if (!q) {
    flame.matches = null;
    $('search-result').textContent = '';
  } else {
    let test;
    const re = /^\/(.+)\/$/.exec(q);
    try { test = re ? RegExp.prototype.test.bind(new RegExp(re[1], 'i')) : null; } catch (_) { test = null; }
    const needle = q.toLowerCase();
    const byName = new Map();
    const m = new Uint8Array(g.n);
    let count = 0, share = 0;
    for (let i = 1; i < g.n; i++) {
      let hit = byName.get(g.name[i]);
      if (hit === undefined) {
        const name = g.names[g.name[i]];
        hit = test ? test(name) : name.toLowerCase().includes(needle);
        byName.set(g.name[i], hit);
        if (hit) count++;
      }
      if (!hit) continue;
      m[i] = 1;
      // A match under another match is already in its total.
      let nested = false;
      for (let p = g.parent[i]; p > 0; p = g.parent[p]) if (m[p]) { nested = true; break; }
      if (!nested) share += g.total[i];
    }
    // Ancestors of a match stay lit so the path to it is readable.
    for (let i = g.n - 1; i > 0; i--) if (m[i] === 1) for (let p = g.parent[i]; p >= 0 && !m[p]; p = g.parent[p]) m[p] = 2;
    flame.matches = m;
    $('search-result').textContent = `${count} matching function${count === 1 ? '' : 's'} · ${pct(share / (g.total[0] || 1))} of total`;
  }
  flame.draw();
  saveUrl();
}

async function load() {
  saveUrl();
  setExports();
  $('from').value = state.from; $('until').value = state.until;
  for (const b of document.querySelectorAll('#views button')) b.classList.toggle('active', b.dataset.view === state.view);
  $('diff-controls').hidden = state.view !== 'diff';
  $('tags').hidden = state.view !== 'tags';
  $('runs').hidden = state.view !== 'runs';
  if (!state.query) return;
  status('loading…');
  try {
    if (state.view === 'runs') {
      await loadRuns();
      return;
    }
    if (state.view === 'diff') {
      fillDiffDefaults();
      show(await getJson('render-diff?' + diffParams('json')));
      const tl = await getJson('render?' + renderParams({ format: 'json', maxNodes: '1' }));
      timeline.set(tl.timeline, formatter(tl.metadata));
    } else {
      show(await getJson('render?' + renderParams({ format: 'json' })));
      if (state.view === 'tags') await loadTags();
    }
  } catch (e) {
    status(String(e.message || e), true);
  }
}

// ---------------------------------------------------------------------------------------------
// Series picker and label filter.

async function loadApps() {
  const range = new URLSearchParams({ label: '__name__', from: state.from, until: state.until });
  const [apps, recent] = await Promise.all([
    getJson('label-values?label=__name__'),
    getJson('label-values?' + range).catch(() => []),
  ]);
  const { app } = splitQuery(state.query);
  const names = apps.includes(app) || !app ? apps : [app, ...apps];
  if (!names.length) {
    // An empty server: say how data gets here instead of asking for a series that cannot exist.
    $('app').replaceChildren();
    status('No profiles stored yet. Point an agent at this server (its server address is ' +
      `${location.origin}), or send one: curl --data-binary 'main;work 10' ` +
      `'${location.origin}/ingest?name=myapp.cpu', then reload.`);
    return;
  }
  fillSeries(names, new Set(recent));
  if (!state.query) {
    // First a CPU profile with data in range, else any series with data, else the first.
    const cpu = (n) => /\.(cpu|itimer)$/.test(n);
    const pick = names.find((n) => cpu(n) && recent.includes(n)) ||
      names.find((n) => recent.includes(n)) || names.find(cpu) || names[0];
    state.query = joinQuery(pick, []);
  }
  $('app').value = splitQuery(state.query).app;
  renderFilters();
  await loadLabelNames();
  if (app && !apps.includes(app)) {
    status(`No series named ${app} is stored: pick one of the ${apps.length} in the list.`, true);
    return false;
  }
}

/**
 * The series picker: one group per service (the app name without its type), its types as
 * options, those without data in the range marked; the search box above keeps the matching
 * ones.
 */
function fillSeries(names, recent) {
  const needle = $('series-search').value.trim().toLowerCase();
  const groups = new Map();
  for (const n of names) {
    if (needle && !n.toLowerCase().includes(needle) && n !== splitQuery(state.query).app) continue;
    const dot = n.lastIndexOf('.');
    const svc = dot > 0 ? n.slice(0, dot) : n;
    if (!groups.has(svc)) groups.set(svc, []);
    groups.get(svc).push(n);
  }
  const sel = $('app');
  sel.replaceChildren(...[...groups].map(([svc, list]) => {
    const g = document.createElement('optgroup');
    g.label = svc;
    g.append(...list.map((n) => {
      const type = n.length > svc.length ? n.slice(svc.length + 1) : n;
      const o = new Option(recent.has(n) ? type : `${type} (no data in range)`, n);
      o.title = n;
      return o;
    }));
    return g;
  }));
  sel.value = splitQuery(state.query).app;
  fillSeries.last = [names, recent];
}

function labelScope() {
  return new URLSearchParams({ query: joinQuery(splitQuery(state.query).app, []), from: state.from, until: state.until });
}

async function loadLabelNames() {
  let names = [];
  try { names = (await getJson('labels?' + labelScope())).filter((n) => n !== '__name__'); } catch (e) { status(String(e.message || e), true); }
  $('label-name').replaceChildren(new Option('+ label filter', ''), ...names.map((n) => new Option(n, n)));
  $('group-by').replaceChildren(new Option('(pick a label)', ''), ...names.map((n) => new Option(n, n)));
  $('group-by').value = state.groupBy;
}

function renderFilters() {
  const { app, matchers } = splitQuery(state.query);
  $('filters').replaceChildren(...matchers.map((m, i) => {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.textContent = m;
    const x = document.createElement('button');
    x.type = 'button'; x.textContent = '×'; x.title = 'remove filter';
    x.onclick = () => {
      matchers.splice(i, 1);
      state.query = joinQuery(app, matchers);
      renderFilters();
      load();
    };
    chip.appendChild(x);
    return chip;
  }));
}

function addFilter(label, value) {
  const { app, matchers } = splitQuery(state.query);
  const kept = matchers.filter((m) => !m.startsWith(label + '=') && !m.startsWith(label + '!'));
  state.query = joinQuery(app, [...kept, `${label}=${quote(value)}`]);
  renderFilters();
}

// ---------------------------------------------------------------------------------------------
// Tags: the share of each value of one label.

async function loadTags() {
  const body = $('tag-table').tBodies[0];
  body.replaceChildren();
  if (!state.groupBy) return;
  const data = await getJson('render?' + renderParams({ format: 'json', groupBy: state.groupBy, maxNodes: '1' }));
  const fmt = formatter(data.metadata);
  const rows = Object.entries(data.groups || {}).map(([value, tl]) => [value, tl.samples.reduce((a, s) => a + (s > 0 ? s - 1 : 0), 0)]);
  const sum = rows.reduce((a, [, v]) => a + v, 0) || 1;
  rows.sort((a, b) => b[1] - a[1]);
  for (const [value, v] of rows) {
    const tr = body.insertRow();
    // "" is the series without the label: shown, so the shares add up to the whole.
    tr.insertCell().textContent = value === '' ? '(no ' + state.groupBy + ')' : value;
    tr.insertCell().textContent = fmt(v);
    const share = tr.insertCell();
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = Math.round((v / sum) * 160) + 'px';
    share.append(bar, ' ' + pct(v / sum));
    if (value !== '') tr.onclick = () => { addFilter(state.groupBy, value); state.view = 'single'; load(); };
  }
}

// ---------------------------------------------------------------------------------------------
// Test runs: the k6 runs whose profiles carry `k6_test_run_id` (from W3C baggage), newest first,
// each opened over exactly its span, broken down by scenario or request, or compared.

const RUN = 'k6_test_run_id';

async function loadRuns() {
  const { app } = splitQuery(state.query);
  const spans = await getJson('label-spans?' + new URLSearchParams({ label: RUN, query: joinQuery(app, []) }));
  const body = $('run-table').tBodies[0];
  body.replaceChildren();
  $('runs-note').textContent = spans.length ? '' :
    `No k6 test runs in ${app}: a run appears here when k6 sends its profiles with W3C baggage ` +
    '(k6_test_run_id), e.g. with the pyroscope k6 extension.';
  const iso = (t) => new Date(t * 1000).toISOString().slice(0, 19).replace('T', ' ');
  const secs = (d) => (d < 120 ? `${d} s` : d < 7200 ? `${Math.round(d / 60)} min` : `${(d / 3600).toFixed(1)} h`);
  spans.forEach((run, i) => {
    const tr = body.insertRow();
    tr.dataset.run = run.value;
    tr.insertCell().textContent = run.value;
    tr.insertCell().textContent = iso(run.from);
    tr.insertCell().textContent = secs(run.until - run.from);
    const button = (cell, text, action) => {
      const b = document.createElement('button');
      b.type = 'button'; b.textContent = text; b.dataset.action = text;
      b.onclick = action;
      cell.append(b, ' ');
    };
    const open = tr.insertCell();
    button(open, 'flamegraph', () => openRun(run, 'single'));
    button(open, 'by scenario', () => openRun(run, 'tags', 'k6_scenario'));
    button(open, 'by request', () => openRun(run, 'tags', 'k6_name'));
    const compare = tr.insertCell();
    const prev = spans[i + 1];
    if (prev) button(compare, 'vs previous run', () => compareRuns(app, prev, run));
    button(compare, 'vs the span before', () => {
      const d = run.until - run.from;
      compareRuns(app, { value: '', from: run.from - d, until: run.from }, run);
    });
  });
  status(`${spans.length} test run${spans.length === 1 ? '' : 's'} in ${app}`);
}

function openRun(run, view, groupBy) {
  state.from = String(run.from);
  state.until = String(run.until);
  addFilter(RUN, run.value);
  state.view = view;
  if (groupBy) state.groupBy = groupBy;
  load();
}

/** The diff of run `right` against `left` (a run, or with an empty value the whole series). */
function compareRuns(app, left, right) {
  const q = (r) => joinQuery(app, r.value ? [`${RUN}=${quote(r.value)}`] : []);
  Object.assign(state, {
    view: 'diff',
    leftQuery: q(left), leftFrom: String(left.from), leftUntil: String(left.until),
    rightQuery: q(right), rightFrom: String(right.from), rightUntil: String(right.until),
  });
  for (const k of DIFF_KEYS) diffInput(k).value = state[k];
  load();
}

// ---------------------------------------------------------------------------------------------
// Diff: two selections, by default the same query over the two halves of the range.

function fillDiffDefaults() {
  const q = state.query;
  if (!state.leftQuery) state.leftQuery = q;
  if (!state.rightQuery) state.rightQuery = q;
  if (!state.leftFrom || !state.rightFrom) {
    const now = Math.floor(Date.now() / 1000);
    const abs = (v) => {
      if (/^\d+$/.test(v)) return +v;
      const m = /^now(?:-(\d+)([smhdwMy]))?$/.exec(v);
      if (!m) return now;
      const unit = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2592000, y: 31536000 }[m[2]] || 0;
      return now - (+m[1] || 0) * unit;
    };
    const from = abs(state.from), until = abs(state.until);
    const mid = Math.floor((from + until) / 2);
    state.leftFrom = String(from); state.leftUntil = String(mid);
    state.rightFrom = String(mid); state.rightUntil = String(until);
  }
  for (const k of DIFF_KEYS) {
    diffInput(k).value = state[k];
  }
  saveUrl();
  setExports();
}

// ---------------------------------------------------------------------------------------------
// Wiring.

function wire() {
  flame.onZoom = (i) => {
    $('zoom').hidden = i === 0;
    if (current && i > 0) $('zoom-name').textContent = current.g.names[current.g.name[i]];
  };
  $('reset').onclick = () => flame.setZoom(0);
  table.onPick = (name) => { $('search').value = name; applySearch(); };
  $('search').value = state.search;
  $('search').addEventListener('input', applySearch);
  if (document.body.classList.contains('preloaded')) return;
  $('series-search').oninput = () => { if (fillSeries.last) fillSeries(...fillSeries.last); };
  $('app').onchange = () => {
    state.query = joinQuery($('app').value, []);
    state.leftQuery = state.rightQuery = '';
    renderFilters();
    loadLabelNames();
    load();
  };
  $('label-name').onchange = async () => {
    const label = $('label-name').value;
    const sel = $('label-value');
    sel.hidden = !label;
    if (!label) return;
    const p = labelScope();
    p.set('label', label);
    const values = await getJson('label-values?' + p).catch(() => []);
    sel.replaceChildren(new Option(`${label} =`, ''), ...values.map((v) => new Option(v, v)));
    sel.focus();
  };
  $('label-value').onchange = () => {
    const label = $('label-name').value, value = $('label-value').value;
    if (!label || !value) return;
    addFilter(label, value);
    $('label-name').value = ''; $('label-value').hidden = true;
    load();
  };
  $('preset').value = state.until === 'now' && [...$('preset').options].some((o) => o.value === state.from) ? state.from : '';
  $('preset').onchange = () => {
    if (!$('preset').value) return;
    state.from = $('preset').value; state.until = 'now';
    load();
  };
  const custom = () => { state.from = $('from').value.trim(); state.until = $('until').value.trim(); $('preset').value = ''; load(); };
  $('from').onchange = custom; $('until').onchange = custom;
  $('refresh').onclick = () => load();
  for (const b of document.querySelectorAll('#views button')) {
    b.onclick = () => { state.view = b.dataset.view; load(); };
  }
  $('group-by').onchange = () => { state.groupBy = $('group-by').value; saveUrl(); loadTags().catch((e) => status(String(e.message || e), true)); };
  $('diff-go').onclick = () => {
    for (const k of DIFF_KEYS) {
      state[k] = diffInput(k).value.trim();
    }
    load();
  };
}

// The hooks a test (or a curious user) reads: what is drawn and where.
window.flame = {
  get lastDrawMs() { return flame.lastDrawMs; },
  box(name) { const i = current ? flame.find(name) : -1; return i < 0 ? null : flame.box(i); },
  get zoomed() { return current && flame.zoom > 0 ? current.g.names[current.g.name[flame.zoom]] : null; },
  get nodes() { return current ? current.g.n : 0; },
};

const preload = $('preload');
if (preload) {
  document.body.classList.add('preloaded');
  wire();
  $('export').hidden = true;
  const data = JSON.parse(preload.textContent);
  document.title = (data.metadata && data.metadata.name) || document.title;
  show(data);
} else {
  wire();
  const nodes = $('max-nodes');
  if (state.maxNodes && ![...nodes.options].some((o) => o.value === state.maxNodes)) {
    nodes.add(new Option(Number(state.maxNodes).toLocaleString('en-US'), state.maxNodes));
  }
  nodes.value = state.maxNodes;
  nodes.onchange = () => { state.maxNodes = nodes.value; load(); };
  loadApps().then((ok) => (ok === false ? null : load())).catch((e) => status(String(e.message || e), true));
}
