import { Resvg } from '@resvg/resvg-js';
import type { Table } from './table.js';

const WIDTH = 900;
const HEIGHT = 480;
const MARGIN = { top: 56, right: 270, bottom: 64, left: 88 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

/**
 * One table as a PNG line chart: the x values on a log scale (the cases grow tenfold), one line per
 * series, and a log y scale when the values span more than a hundredfold. The SVG is written here and
 * rasterised by resvg (a prebuilt native module installed from the npm registry) with the system fonts.
 */
export function chartPng(table: Table): Buffer {
  return new Resvg(chartSvg(table), {
    background: 'white',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
}

export function chartSvg(table: Table): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xs = table.x.values;
  const values = table.series.flatMap((s) => s.values).filter(isFigure);
  const top = Math.max(...values, 1e-9);
  const bottom = Math.min(...values.filter((v) => v > 0), top);
  const logY = top / bottom > 100;
  const [yMin, yMax] = logY
    ? [10 ** Math.floor(Math.log10(bottom)), 10 ** Math.ceil(Math.log10(top))]
    : [0, niceCeiling(top)];
  const xAt = (i: number) => {
    const [a, b] = [Math.log(xs[0]!), Math.log(xs[xs.length - 1]!)];
    return MARGIN.left + (b === a ? plotW / 2 : ((Math.log(xs[i]!) - a) / (b - a)) * plotW);
  };
  const yAt = (v: number) => {
    const f = logY
      ? (Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))
      : (v - yMin) / (yMax - yMin);
    return MARGIN.top + plotH - f * plotH;
  };
  const yTicks = logY
    ? Array.from({ length: Math.log10(yMax / yMin) + 1 }, (_, i) => yMin * 10 ** i)
    : Array.from({ length: 6 }, (_, i) => (yMax / 5) * i);
  const parts: string[] = [
    `<text x="${WIDTH / 2}" y="28" font-size="17" text-anchor="middle" font-weight="bold">${escapeXml(table.title)}</text>`,
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
  ];
  for (const tick of yTicks) {
    const y = yAt(tick);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
      `<text x="${MARGIN.left - 8}" y="${y + 4}" font-size="12" text-anchor="end">${compact(tick)}</text>`,
    );
  }
  xs.forEach((_, i) => {
    const x = xAt(i);
    parts.push(
      `<line x1="${x}" x2="${x}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#e4e4e4"/>`,
      `<text x="${x}" y="${MARGIN.top + plotH + 20}" font-size="12" text-anchor="middle">${escapeXml(table.x.names[i]!)}</text>`,
    );
  });
  parts.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 18}" font-size="13" text-anchor="middle">${escapeXml(table.x.label)}${xs.length > 2 ? ' (log scale)' : ''}</text>`,
    `<text transform="translate(22 ${MARGIN.top + plotH / 2}) rotate(-90)" font-size="13" text-anchor="middle">${escapeXml(table.unit)}${logY ? ' (log scale)' : ''}</text>`,
  );
  table.series.forEach((series, s) => {
    const colour = COLOURS[s % COLOURS.length]!;
    const points = series.values.flatMap((v, i) => (isFigure(v) ? [[xAt(i), yAt(v)] as const] : []));
    if (points.length > 1) {
      const d = points.map(([x, y], i) => `${i === 0 ? 'M' : 'L'}${x.toFixed(1)},${y.toFixed(1)}`).join(' ');
      parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2.5"/>`);
    }
    for (const [x, y] of points) parts.push(`<circle cx="${x}" cy="${y}" r="4" fill="${colour}"/>`);
    const legendY = MARGIN.top + 14 + s * 22;
    parts.push(
      `<line x1="${WIDTH - MARGIN.right + 16}" x2="${WIDTH - MARGIN.right + 40}" y1="${legendY - 4}" y2="${legendY - 4}" stroke="${colour}" stroke-width="3"/>`,
      `<text x="${WIDTH - MARGIN.right + 46}" y="${legendY}" font-size="12">${escapeXml(series.name)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="DejaVu Sans, sans-serif">${parts.join('')}</svg>`;
}

function isFigure(value: number | null): value is number {
  return value !== null && Number.isFinite(value);
}

function niceCeiling(value: number): number {
  const step = 10 ** Math.floor(Math.log10(value));
  return Math.ceil(value / step) * step;
}

/** 1,500 → 1.5k, 2,000,000 → 2M: axis labels. */
export function compact(value: number): string {
  const units: Array<[number, string]> = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, suffix] of units) {
    if (Math.abs(value) >= size) return `${Number((value / size).toPrecision(3))}${suffix}`;
  }
  return String(Number(value.toPrecision(3)));
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
