// A uPlot time series that follows its container's width.
import { useEffect, useRef } from "../vendor/hooks.js";
import uPlot from "../vendor/uplot.js";
import { html } from "./ui.js";

const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"];

// series: [{label, values}], x: seconds since epoch; range: [from, to] of the x axis.
export function TimeChart({ title, x, series, range, height = 180, fmt = (v) => v }) {
  const span = useRef(range);
  span.current = range;
  const box = useRef(null);
  const plot = useRef(null);
  const key = series.map((s) => s.label).join("|");
  useEffect(() => {
    const opts = {
      width: Math.max(box.current.clientWidth, 300),
      height,
      legend: { show: true },
      // The period shown, not just the span of the buckets that have traffic.
      scales: { x: { time: true, range: (u, lo, hi) => span.current || [lo, hi] } },
      axes: [{}, { values: (u, vals) => vals.map(fmt), size: 70 }],
      series: [{}, ...series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 2, fill: i === 0 ? COLORS[0] + "22" : undefined, value: (u, v) => (v == null ? "–" : fmt(v)) }))],
    };
    plot.current = new uPlot(opts, [x, ...series.map((s) => s.values)], box.current);
    const resize = () => plot.current.setSize({ width: Math.max(box.current.clientWidth, 300), height });
    addEventListener("resize", resize);
    return () => { removeEventListener("resize", resize); plot.current.destroy(); plot.current = null; };
  }, [key, height]);
  useEffect(() => { if (plot.current) plot.current.setData([x, ...series.map((s) => s.values)]); });
  return html`<figure class="chart"><figcaption>${title}</figcaption>
    ${x.length ? null : html`<p class="nodata">No requests in this period.</p>`}
    <div ref=${box} role="img" aria-label=${title} hidden=${!x.length}></div></figure>`;
}
