import uPlot from 'uplot';
import { fmtNum, fmtTime } from './format.ts';
import { SERIES, type SeriesBuffer } from './model.ts';
import { h } from './dom.ts';

type Spec = (typeof SERIES)[number];

const AXIS = {
  stroke: '#8b93a7',
  font: '11px system-ui, sans-serif',
  grid: { stroke: '#232a3d', width: 1 },
  ticks: { stroke: '#232a3d', width: 1, size: 4 },
};
const HEIGHT = 140;
/** The x axis spans at least this much (s); its ticks are whole seconds or more. */
const MIN_SPAN_S = 10;
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200, 86_400];
/** Tick steps for count series (no fractional connections). */
const INTEGER_INCRS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8,
];

/** The data's span, at least MIN_SPAN_S wide; the last seconds until there is data. */
function xRange(min: number | null, max: number | null): [number, number] {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) {
    const now = Math.floor(Date.now() / 1000);
    return [now - MIN_SPAN_S, now];
  }
  return [Math.min(min, max - MIN_SPAN_S), max];
}

/** One live time-series panel (uPlot on a canvas), redrawn from the shared buffer. */
export class Chart {
  readonly el: HTMLElement;
  readonly #spec: Spec;
  readonly #value: HTMLElement;
  readonly #body: HTMLElement;
  #plot: uPlot | undefined;
  #updates = 0;

  constructor(spec: Spec) {
    this.#spec = spec;
    this.#value = h('span', { class: 'chart-value' }, '–');
    this.#body = h('div', { class: 'chart-body' });
    this.el = h(
      'section',
      { class: 'panel chart', 'data-chart': spec.key, 'data-updates': '0', 'data-points': '0' },
      h('header', { class: 'panel-head' }, h('h3', {}, spec.title), this.#value),
      this.#body,
    );
  }

  /** Creates the plot once the panel is in the document (it needs a width). */
  mount(): void {
    const width = Math.max(200, this.#body.clientWidth);
    const spec = this.#spec;
    this.#plot = new uPlot(
      {
        width,
        height: HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false }, points: { size: 6 } },
        padding: [8, 26, 0, 0], // room for the last time label
        scales: {
          x: { time: true, range: (_u, min, max) => xRange(min, max) },
          y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.2 : 1] },
        },
        axes: [
          {
            ...AXIS,
            size: 30,
            space: 70,
            incrs: TIME_INCRS,
            values: (_u, splits) => splits.map((v) => fmtTime(v * 1000)),
          },
          {
            ...AXIS,
            size: 46,
            values: (_u, splits) => splits.map((v) => fmtNum(v)),
            ...(spec.integer ? { incrs: INTEGER_INCRS } : {}),
          },
        ],
        series: [
          {},
          {
            label: spec.title,
            stroke: spec.color,
            width: 2,
            fill: `${spec.color}26`,
            points: { show: false },
            spanGaps: false,
          },
        ],
      },
      [[], []],
      this.#body,
    );
    new ResizeObserver(() => {
      const w = Math.max(200, this.#body.clientWidth);
      if (this.#plot && w !== this.#plot.width) this.#plot.setSize({ width: w, height: HEIGHT });
    }).observe(this.#body);
  }

  /** Redraws from the buffer; `live` counts updates that came from a push. */
  update(buf: SeriesBuffer, live: boolean): void {
    const ys = buf.ys(this.#spec.key);
    this.#plot?.setData([buf.xs(), ys]);
    const last = ys.at(-1);
    this.#value.textContent =
      last === undefined || last === null
        ? '–'
        : `${fmtNum(last)}${this.#spec.unit ? ` ${this.#spec.unit}` : ''}`;
    if (live) this.el.dataset['updates'] = String(++this.#updates);
    this.el.dataset['points'] = String(ys.length);
  }
}

export function createCharts(): Chart[] {
  return SERIES.map((s) => new Chart(s));
}
