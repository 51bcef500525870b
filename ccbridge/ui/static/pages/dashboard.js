// Dashboard: traffic, errors, tokens and cost from the rollups, channel
// health and quota, active sessions and spend by key; refreshed every 15 s.
import { useState } from "../vendor/hooks.js";
import { get, query } from "../lib/api.js";
import { TimeChart } from "../lib/chart.js";
import { ErrorNote, fmtCost, fmtInt, fmtMs, fmtTime, html, useInterval, useLoad } from "../lib/ui.js";

// [label, seconds, history window]. The day chart asks for a window a minute
// over 24 h so it gets hourly points, which the rollups answer; 15-minute
// points would be summed from raw rows.
const PERIODS = { hour: ["Last hour", 3600, "1h"], day: ["Last day", 86400 + 60, "period"], week: ["Last week", 7 * 86400, "period"] };
export const REFRESH_MS = 15000;

// Five calls per refresh, so the dashboard stays well inside the /api rate limit.
async function loadDashboard(period) {
  const [, seconds, duration] = PERIODS[period];
  const now = new Date();
  const from = new Date(now - seconds * 1000).toISOString();
  const window = duration === "period" ? { duration, from, to: now.toISOString() } : { duration };
  const [stats, history, sessions, overview, perChannel] = await Promise.all([
    get(`/api/logs/stats${query({ from })}`),
    get(`/api/logs/stats/history${query(window)}`),
    get("/api/logs/sessions/active"),
    get("/api/dashboard/channels"),
    get(`/api/logs/stats/channels${query({ from })}`),
  ]);
  const range = [(now - seconds * 1000) / 1000, now / 1000];
  return { data: { stats, history, sessions, channels: overview.channels, perChannel, range } };
}

// Requests of models without a price are logged at cost 0: the cost figures
// undercount until a price is added, so the operator is told where they look.
function Unpriced({ stats }) {
  if (!stats.unpricedRequests) return null;
  const models = Object.entries(stats.unpricedModels || {}).sort((a, b) => b[1] - a[1]);
  return html`<div class="note warn" role="status">
    <strong>${fmtInt(stats.unpricedRequests)} request(s) of unpriced models</strong> counted at $0 in this period:
    ${models.map(([m, n], i) => html`${i ? ", " : " "}<code>${m}</code> (${fmtInt(n)})`)}. <a href="#/settings">Add their prices</a>.
  </div>`;
}

function Card({ label, value, sub }) {
  return html`<div class="card"><span class="label">${label}</span><strong>${value}</strong>${sub ? html`<small>${sub}</small>` : null}</div>`;
}

function SpendByKey({ byKey, names }) {
  const rows = Object.entries(byKey).sort((a, b) => b[1].cost - a[1].cost).slice(0, 10);
  const top = rows.length ? rows[0][1].cost || 1 : 1;
  if (!rows.length) return html`<p class="muted">No spend in this period.</p>`;
  return html`<ul class="bars">${rows.map(([k, g]) => html`<li>
    <span class="bar-label">${Number(k) <= 0 ? "master key" : names[k] || `key ${k}`}</span>
    <span class="bar" style=${{ width: `${Math.max(2, (g.cost / top) * 100)}%` }}></span>
    <span class="bar-value">${fmtCost(g.cost)} · ${fmtInt(g.count)} req</span>
  </li>`)}</ul>`;
}

// Latency and failovers come from the newest attempts (/api/logs/stats/channels);
// a busy period is sampled, and the caption says from when.
function Health({ channels, byProvider, perChannel }) {
  if (!channels.length) return html`<p class="empty">No channels yet. <a href="#/channels">Add one</a>.</p>`;
  const seen = Object.fromEntries(perChannel.channels.map((c) => [c.channelUid, c]));
  return html`<table class="health">
    <caption class="muted">${perChannel.complete ? `Latency and failovers over every attempt of the period (${fmtInt(perChannel.sampled)}).`
      : `Latency and failovers over the newest ${fmtInt(perChannel.sampled)} attempts, since ${fmtTime(perChannel.since)}.`}</caption>
    <thead><tr><th>Channel</th><th>Pool</th><th>State</th><th>Failure rate</th><th>Requests</th><th>Latency p50 / p95</th><th>Failovers</th><th>Quota used</th></tr></thead>
    <tbody>${channels.map((c) => {
      const q = c.quota;
      const state = c.broken ? "breaker open" : c.suspendedUntil ? "suspended" : c.status;
      const g = byProvider[c.name];
      const lat = seen[c.id];
      return html`<tr>
        <td>${c.name}</td><td>${c.pool}</td>
        <td><span class=${"badge " + state.replace(/ /g, "-")}>${state}</span>${c.suspendedUntil ? html`<br /><small>until ${fmtTime(c.suspendedUntil)}</small>` : null}</td>
        <td>${Math.round(c.failureRate * 100)} %</td>
        <td>${g ? fmtInt(g.count) : 0}</td>
        <td>${lat && lat.completed ? `${fmtMs(lat.p50LatencyMs)} / ${fmtMs(lat.p95LatencyMs)}` : "–"}</td>
        <td>${lat ? fmtInt(lat.failovers) : 0}</td>
        <td>${q && q.quotaType ? html`<meter min="0" max="100" value=${100 - q.remainingPercent} aria-label=${`Quota used by ${c.name}`}></meter> ${Math.round(100 - q.remainingPercent)} %` : html`<span class="muted">no quota</span>`}</td>
      </tr>`;
    })}</tbody></table>`;
}

export function Dashboard() {
  const [period, setPeriod] = useState("day");
  const state = useLoad(() => loadDashboard(period), [period]);
  const keys = useLoad("/api/keys?limit=500"); // names for spend by key, read once
  const names = keys.data ? Object.fromEntries(keys.data.keys.map((k) => [String(k.id), k.name])) : {};
  useInterval(state.reload, REFRESH_MS);
  const d = state.data;
  const s = d && d.stats;
  const pts = d ? d.history.dataPoints : [];
  const x = pts.map((p) => Date.parse(p.timestamp) / 1000);
  return html`<h1>Dashboard</h1>
    <div class="toolbar" role="group" aria-label="Period">
      ${Object.entries(PERIODS).map(([k, [label]]) => html`<button type="button" aria-pressed=${k === period ? "true" : "false"} onClick=${() => setPeriod(k)}>${label}</button>`)}
      <span class="muted">${state.loading ? "refreshing…" : `refreshes every ${REFRESH_MS / 1000} s`}</span>
    </div>
    <${ErrorNote} error=${state.error} onReload=${state.reload} />
    ${s ? html`
      <${Unpriced} stats=${s} />
      <div class="cards">
        <${Card} label="Requests" value=${fmtInt(s.totalRequests)} sub=${`${fmtInt(s.totalSuccess)} succeeded`} />
        <${Card} label="Errors" value=${fmtInt(s.totalFailure)} sub=${s.totalRequests ? `${((s.totalFailure / s.totalRequests) * 100).toFixed(1)} % of requests` : "–"} />
        <${Card} label="Tokens" value=${fmtInt(s.totalTokens.totalTokens)} sub=${`${fmtInt(s.totalTokens.inputTokens)} in · ${fmtInt(s.totalTokens.outputTokens)} out`} />
        <${Card} label="Cost" value=${fmtCost(s.totalCost)} />
        <${Card} label="Latency" value=${fmtMs(s.avgLatencyMs)} sub=${`p95 ${fmtMs(s.p95LatencyMs)}`} />
      </div>
      <div class="charts">
        <${TimeChart} title="Requests and errors" x=${x} range=${d.range} series=${[{ label: "Requests", values: pts.map((p) => p.requests) }, { label: "Errors", values: pts.map((p) => p.failure) }]} />
        <${TimeChart} title="Cost (USD)" x=${x} range=${d.range} fmt=${(v) => "$" + Number(v).toFixed(2)} series=${[{ label: "Cost", values: pts.map((p) => p.cost) }]} />
      </div>
      <section><h2>Channel health and quota</h2><${Health} channels=${d.channels} byProvider=${s.byProvider} perChannel=${d.perChannel} /></section>
      <div class="split">
        <section><h2>Spend by key</h2><${SpendByKey} byKey=${s.byApiKey} names=${names} /></section>
        <section><h2>Active sessions</h2>
          ${d.sessions.length ? html`<table><thead><tr><th>Session</th><th>Requests</th><th>Tokens in/out</th><th>Cost</th><th>Last</th></tr></thead>
            <tbody>${d.sessions.slice(0, 15).map((x) => html`<tr><td><small>${x.sessionId}</small></td><td>${fmtInt(x.count)}</td><td>${fmtInt(x.inputTokens)} / ${fmtInt(x.outputTokens)}</td><td>${fmtCost(x.cost)}</td><td>${fmtTime(x.lastRequestTime)}</td></tr>`)}</tbody></table>`
            : html`<p class="muted">No session active in the last 30 minutes.</p>`}
        </section>
      </div>` : html`<p class="muted" aria-busy="true">Loading…</p>`}`;
}
