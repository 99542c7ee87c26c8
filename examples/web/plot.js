// The live plot, on a canvas: the values, the band between the lower and the
// upper bound, the flagged rows, and the injected anomalies once streamed.
//
// Rows are folded into one column per pixel as they arrive (the values' range,
// the lowest lower and the highest upper bound), so a redraw costs a canvas
// width of vertices plus the flagged points, however long the series.

const MARGIN = { left: 48, right: 12, top: 10, bottom: 34 };

const isoMinute = (us) => new Date(Number(us / 1000n)).toISOString().slice(0, 16).replace('T', ' ');

function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

export class SeriesPlot {
  #canvas;
  #width = 1000; // CSS pixels
  #height = 380;
  #series = null;
  #lower = null; // every row's bounds, to refold the columns on a resize
  #upper = null;
  #flagged = [];
  #done = 0;
  #lo = 0; // the y range: the whole series', fixed for the run
  #hi = 1;
  #cols = 0;
  #vMin;
  #vMax;
  #bLo;
  #bHi;

  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.#canvas = canvas;
  }

  /** A new run over `series` (from syntheticSeries). */
  reset(series) {
    const n = series.values.length;
    this.#series = series;
    this.#lower = new Float64Array(n).fill(NaN);
    this.#upper = new Float64Array(n).fill(NaN);
    this.#flagged = [];
    this.#done = 0;
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of series.values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const pad = (hi - lo) * 0.08 || 1;
    this.#lo = lo - pad;
    this.#hi = hi + pad;
    this.#fold();
  }

  /** Rows `at ..` have been scored: their bounds, and the flagged rows among them (absolute indices). */
  add(at, lower, upper, flagged) {
    this.#lower.set(lower, at);
    this.#upper.set(upper, at);
    for (const i of flagged) this.#flagged.push(i);
    const end = at + lower.length;
    this.#absorb(at, end);
    this.#done = end;
  }

  /** The canvas' CSS size changed. */
  resize(width, height) {
    if (width > 0) this.#width = width;
    if (height > 0) this.#height = height;
    if (this.#series !== null) this.#fold();
    this.draw();
  }

  get #plotWidth() {
    return Math.max(1, this.#width - MARGIN.left - MARGIN.right);
  }

  #colOf(j) {
    return Math.min(this.#cols - 1, Math.floor((j / this.#series.values.length) * this.#cols));
  }

  /** (Re)build the columns for the current width from the rows seen so far. */
  #fold() {
    const n = this.#series.values.length;
    this.#cols = Math.max(1, Math.min(n, Math.floor(this.#plotWidth)));
    this.#vMin = new Float64Array(this.#cols).fill(Infinity);
    this.#vMax = new Float64Array(this.#cols).fill(-Infinity);
    this.#bLo = new Float64Array(this.#cols).fill(Infinity);
    this.#bHi = new Float64Array(this.#cols).fill(-Infinity);
    this.#absorb(0, this.#done);
  }

  #absorb(from, to) {
    const values = this.#series.values;
    for (let j = from; j < to; j++) {
      const c = this.#colOf(j);
      const v = values[j];
      if (v < this.#vMin[c]) this.#vMin[c] = v;
      if (v > this.#vMax[c]) this.#vMax[c] = v;
      const l = this.#lower[j];
      const u = this.#upper[j];
      if (Number.isFinite(l) && Number.isFinite(u)) {
        if (l < this.#bLo[c]) this.#bLo[c] = l;
        if (u > this.#bHi[c]) this.#bHi[c] = u;
      }
    }
  }

  draw() {
    const canvas = this.#canvas;
    const dpr = window.devicePixelRatio || 1;
    const cssW = this.#width;
    const cssH = this.#height;
    if (canvas.width !== Math.round(cssW * dpr)) canvas.width = Math.round(cssW * dpr);
    if (canvas.height !== Math.round(cssH * dpr)) canvas.height = Math.round(cssH * dpr);
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    if (this.#series === null) return;

    const series = this.#series;
    const n = series.values.length;
    const lo = this.#lo;
    const hi = this.#hi;
    const { left, top } = MARGIN;
    const w = this.#plotWidth;
    const h = Math.max(1, cssH - MARGIN.top - MARGIN.bottom);
    const x = (i) => left + (n > 1 ? i / (n - 1) : 0.5) * w;
    const y = (v) => top + (1 - (v - lo) / (hi - lo)) * h;

    // Grid with value labels; time labels below.
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = '#52606d';
    g.strokeStyle = '#eef0f2';
    g.lineWidth = 1;
    const step = niceStep((hi - lo) / 5);
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
      g.beginPath();
      g.moveTo(left, y(v));
      g.lineTo(left + w, y(v));
      g.stroke();
      g.fillText(String(Math.round(v * 100) / 100), left - 6, y(v));
    }
    g.textBaseline = 'top';
    for (let k = 0; k <= 4; k++) {
      const i = Math.round((k / 4) * (n - 1));
      g.textAlign = k === 0 ? 'left' : k === 4 ? 'right' : 'center';
      g.fillText(isoMinute(series.timestamps[i]), x(i), top + h + 18);
    }

    g.save();
    g.beginPath();
    g.rect(left, top, w, h);
    g.clip();

    const cols = this.#cols;
    const used = this.#done === 0 ? 0 : this.#colOf(this.#done - 1) + 1;
    const colX = (c) => left + ((c + 0.5) / cols) * w;
    const bLo = this.#bLo;
    const bHi = this.#bHi;

    // The band, one polygon per run of columns with finite bounds.
    g.fillStyle = 'rgba(37, 99, 235, 0.18)';
    g.strokeStyle = 'rgba(37, 99, 235, 0.55)';
    let c = 0;
    while (c < used) {
      while (c < used && !Number.isFinite(bLo[c])) c++;
      const start = c;
      while (c < used && Number.isFinite(bLo[c])) c++;
      if (c === start) continue;
      g.beginPath();
      for (let k = start; k < c; k++) g.lineTo(colX(k), y(bHi[k]));
      for (let k = c - 1; k >= start; k--) g.lineTo(colX(k), y(bLo[k]));
      g.closePath();
      g.fill();
      for (const b of [bHi, bLo]) {
        g.beginPath();
        for (let k = start; k < c; k++) g.lineTo(colX(k), y(b[k]));
        g.stroke();
      }
    }

    // The values: each column's range, joined.
    g.strokeStyle = '#334e68';
    g.beginPath();
    for (let k = 0; k < used; k++) {
      g.lineTo(colX(k), y(this.#vMax[k]));
      if (this.#vMin[k] !== this.#vMax[k]) g.lineTo(colX(k), y(this.#vMin[k]));
    }
    g.stroke();

    // Injected anomalies once streamed: triangles at the bottom, a dashed line at the level shift.
    const { spikes, dips, levelShift } = series.injected;
    g.fillStyle = '#f59e0b';
    g.beginPath();
    for (const j of [...spikes, ...dips]) {
      if (j >= this.#done) continue;
      g.moveTo(x(j), top + h - 9);
      g.lineTo(x(j) - 5, top + h);
      g.lineTo(x(j) + 5, top + h);
      g.closePath();
    }
    g.fill();
    if (levelShift < this.#done) {
      g.strokeStyle = '#f59e0b';
      g.setLineDash([4, 4]);
      g.beginPath();
      g.moveTo(x(levelShift), top);
      g.lineTo(x(levelShift), top + h);
      g.stroke();
      g.setLineDash([]);
    }

    // Flagged rows, one path.
    g.fillStyle = '#e02424';
    g.beginPath();
    for (const j of this.#flagged) {
      const px = x(j);
      const py = y(series.values[j]);
      g.moveTo(px + 3.5, py);
      g.arc(px, py, 3.5, 0, 2 * Math.PI);
    }
    g.fill();
    g.restore();
    g.strokeStyle = '#9aa5b1';
    g.strokeRect(left, top, w, h);
  }
}
