"""``stepforge report``: one self-contained HTML page about the labels in the lake.

Plots are inline SVG drawn here (no JavaScript, no network): consensus labels by step position
per strategy, the annotators' agreement heat maps (Cohen's kappa, first-error agreement),
retention per strategy, cost per labelled step per annotator and a reliability diagram of soft
labels against gold (human reviews, or a gold file); tables add Fleiss' kappa, the
Dawid-Skene reliabilities (and accuracy against human reviews where there are any) and the
disputed solutions to review first. Data comes from the catalog's analytics views.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from report.bounded import bounded
from report.calibration import calibration
from report.annotator_model import model_stats
from store.lake import Lake
from report.review_first import review_first, review_swings, swing_notes

MAX_POSITION = 20  # steps at or beyond this position share the last column
COLORS = {"agreed correct": "#2e7d32", "agreed wrong": "#c62828", "human correct": "#81c784",
          "human wrong": "#ef9a9a", "disputed": "#ffb300"}


@dataclass
class ReportData:
    """Everything the page shows, read from the lake."""

    lake: str
    counts: dict[str, int] = field(default_factory=dict)
    retention: list[dict] = field(default_factory=list)
    mc_modes: list[dict] = field(default_factory=list)  # consensus labels per MC annotator used
    positions: list[dict] = field(default_factory=list)
    agreement: list[dict] = field(default_factory=list)
    costs: list[dict] = field(default_factory=list)
    disputed: list[dict] = field(default_factory=list)
    fleiss: float | None = None
    reliabilities: list[dict] = field(default_factory=list)
    gold_source: str = ""
    calibration: list[dict] = field(default_factory=list)  # per annotator: reliability bins
    health: Any = None  # report.label_health.LabelHealth: the first panel
    swings: list[dict] = field(default_factory=list)  # strategies human reviews moved > 20 points


def gather(lake: Lake, gold: str | None = None, memory_limit: str | None = None,
           export: Any = None) -> ReportData:
    """Read the report's data from the lake's views (and fit Dawid-Skene for reliabilities);
    soft labels are checked against human reviews and the ``gold`` file when given; label
    health judges the labels ``export`` (an ExportConfig; default: the export's defaults)
    would ship. Every query
    is a DuckDB aggregate returning a small table; DuckDB stays under ``memory_limit`` (default:
    an eighth of RAM, at most 4 GB: ``bounded``) and spills to a temporary folder."""
    with bounded(lake, memory_limit) as limited:
        return _gather(limited, gold, export)


def _gather(lake: Lake, gold: str | None, export: Any = None) -> ReportData:
    data = ReportData(lake=lake.uri)
    for table in ("problems", "solutions", "step_votes", "consensus", "reviews"):
        data.counts[table] = lake.query(f"SELECT count(*) AS n FROM {table}")["n"][0].as_py()
    data.retention = lake.query("SELECT * FROM retention").to_pylist()
    data.mc_modes = lake.query("""
        SELECT strategy, json_extract_string(details, '$.mc_annotator') AS mc_annotator,
               count(*) AS labels, count(*) FILTER (WHERE status = 'agreed') AS agreed
        FROM consensus WHERE label IS NOT NULL AND status <> 'human'
          AND json_extract_string(details, '$.mc_annotator') IS NOT NULL
        GROUP BY ALL ORDER BY strategy, mc_annotator""").to_pylist()
    data.positions = lake.query(f"""
        SELECT strategy, least(step_index, {MAX_POSITION - 1}) AS position,
               sum(agreed_correct)::BIGINT AS "agreed correct", sum(agreed_wrong)::BIGINT AS "agreed wrong",
               sum(human_correct)::BIGINT AS "human correct", sum(human_wrong)::BIGINT AS "human wrong",
               sum(disputed)::BIGINT AS disputed
        FROM labels_by_position GROUP BY ALL ORDER BY strategy, position""").to_pylist()
    data.agreement = lake.query("SELECT * FROM annotator_agreement").to_pylist()
    data.costs = lake.query("SELECT * FROM annotator_costs").to_pylist()
    data.disputed = review_first(lake)
    data.swings = review_swings(lake)
    data.health = label_health(lake, export)
    if data.counts["step_votes"]:
        data.fleiss, data.reliabilities = model_stats(lake)
        data.gold_source, data.calibration = calibration(lake, gold)
    return data


def label_health(lake: Lake, export: Any = None) -> Any:
    """The label health (``report.label_health.assess``: the run summary prints the same)."""
    from report.label_health import assess

    return assess(lake, export)


def label_health_section(data: ReportData) -> str:
    from report.label_health import health_panel

    return health_panel(data.health) if data.health is not None else ""


# -- SVG charts (small, dependency-free) -------------------------------------------------------

def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def legend(items: Sequence[tuple[str, str]]) -> str:
    """Colour keys as a line of HTML."""
    return '<p class="legend">' + "".join(
        f'<span><i style="background:{c}"></i>{_e(n)}</span>' for n, c in items) + "</p>"


def stacked_columns(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float], str]],
                    x_title: str = "", width: int | None = None, height: int = 220) -> str:
    """Columns of shares (each column sums to 100%), one stacked segment per series; the counts
    are in each segment's tooltip."""
    n = max(len(labels), 1)
    width = width or max(260, 28 * n + 70)
    left, bottom, top = 40, 36, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    step = plot_w / n
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" font-size="11">']
    for tick in (0, 0.5, 1.0):
        y = top + plot_h * (1 - tick)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#ddd"/><text x="{left - 4}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{int(tick * 100)}%</text>')
    for i, label in enumerate(labels):
        total = sum(values[i] for _, values, _ in series) or 1.0
        y = top + plot_h
        x = left + i * step + step * 0.12
        for name, values, color in series:
            h = plot_h * values[i] / total
            if h > 0:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{step * 0.76:.1f}" '
                             f'height="{h:.1f}" fill="{color}"><title>{_e(label)}: {_e(name)} '
                             f'{values[i]:g} ({values[i] / total:.1%})</title></rect>')
        parts.append(f'<text x="{x + step * 0.38:.1f}" y="{top + plot_h + 14}" '
                     f'text-anchor="middle">{_e(label)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
                 f'fill="#555">{_e(x_title)}</text></svg>')
    return "".join(parts)


def _diverging(value: float, low: float) -> str:
    """White at the middle of [low, 1], blue towards 1, red towards low; grey when unknown."""
    if np.isnan(value):
        return "#eeeeee"
    t = (value - (low + 1) / 2) / ((1 - low) / 2)
    t = max(-1.0, min(1.0, t))
    target = (33, 102, 172) if t >= 0 else (178, 24, 43)
    r, g, b = (round(255 + (c - 255) * abs(t)) for c in target)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(names: Sequence[str], values: np.ndarray, low: float = -1.0, cell: int = 56) -> str:
    """A square annotator x annotator heat map with the value written in each cell."""
    pad = max(60, 7 * max((len(n) for n in names), default=4))
    size = pad + cell * len(names) + 4
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'role="img" font-size="11">']
    for i, name in enumerate(names):
        y = pad + i * cell
        parts.append(f'<text x="{pad - 4}" y="{y + cell / 2 + 4:.1f}" '
                     f'text-anchor="end">{_e(name)}</text>')
        cx = pad + i * cell + cell / 2
        parts.append(f'<text x="{cx:.1f}" y="{pad - 6}" text-anchor="start" '
                     f'transform="rotate(-40 {cx:.1f} {pad - 6})">{_e(name)}</text>')
        for j in range(len(names)):
            v = values[i, j]
            text = "–" if np.isnan(v) else f"{v:.2f}"
            dark = not np.isnan(v) and abs((v - (low + 1) / 2) / ((1 - low) / 2)) > 0.6
            parts.append(f'<rect x="{pad + j * cell}" y="{y}" width="{cell - 2}" '
                         f'height="{cell - 2}" fill="{_diverging(v, low)}"><title>'
                         f'{_e(names[i])} / {_e(names[j])}: {text}</title></rect>'
                         f'<text x="{pad + j * cell + cell / 2 - 1:.1f}" y="{y + cell / 2 + 3:.1f}"'
                         f' text-anchor="middle" fill="{"#fff" if dark else "#222"}">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bars(labels: Sequence[str], values: Sequence[float], unit: str = "") -> str:
    """Horizontal bars with their values, longest = full width."""
    pad = max(80, 7 * max((len(n) for n in labels), default=4))
    width, row = 620, 26
    top = max(values, default=0) or 1.0
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{row * len(labels) + 8}" role="img" font-size="11">']
    for i, (label, value) in enumerate(zip(labels, values)):
        y = 4 + i * row
        w = (width - pad - 110) * value / top
        parts.append(f'<text x="{pad - 6}" y="{y + 15}" text-anchor="end">{_e(label)}</text>'
                     f'<rect x="{pad}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" '
                     f'fill="#5c6bc0"><title>{_e(label)}: {value:,.1f} {_e(unit)}</title></rect>'
                     f'<text x="{pad + w + 6:.1f}" y="{y + 15}">{value:,.1f} {_e(unit)}</text>')
    parts.append("</svg>")
    return "".join(parts)


PALETTE = ["#1e88e5", "#d81b60", "#43a047", "#fb8c00", "#8e24aa", "#00897b", "#6d4c41"]


def reliability_diagram(curves: Sequence[dict], size: int = 300) -> str:
    """Mean score (x) vs share of gold-correct steps (y) per bin, one line per annotator; the
    diagonal is perfect calibration; dot area grows with the bin's step count."""
    pad, plot = 40, size - 50
    xy = lambda v: pad + plot * v  # noqa: E731
    yx = lambda v: 10 + plot * (1 - v)  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
             f'role="img" font-size="11"><rect x="{pad}" y="10" width="{plot}" height="{plot}" '
             f'fill="none" stroke="#bbb"/><line x1="{xy(0)}" y1="{yx(0)}" x2="{xy(1)}" '
             f'y2="{yx(1)}" stroke="#999" stroke-dasharray="4 3"/>']
    for tick in (0, 0.5, 1):
        parts.append(f'<text x="{xy(tick):.1f}" y="{yx(0) + 14:.1f}" text-anchor="middle">'
                     f'{tick:g}</text><text x="{pad - 4}" y="{yx(tick) + 4:.1f}" '
                     f'text-anchor="end">{tick:g}</text>')
    for k, curve in enumerate(curves):
        color = PALETTE[k % len(PALETTE)]
        points = [(xy(b["mean_score"]), yx(b["share_correct"]), b) for b in curve["bins"]]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.5"/>')
        for x, y, b in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2 + 6 * (b["count"] / curve["steps"]) ** 0.5:.1f}" '
                         f'fill="{color}" fill-opacity="0.6"><title>{_e(curve["annotator"])}: score '
                         f'{b["mean_score"]:.2f}, correct {b["share_correct"]:.2f}, {b["count"]} steps'
                         f'</title></circle>')
    parts.append(f'<text x="{pad + plot / 2}" y="{size - 4}" text-anchor="middle" fill="#555">'
                 'mean soft label (score) in the bin</text></svg>')
    return "".join(parts)


def calibration_section(data: ReportData) -> str:
    if not data.calibration:
        return ("<p>No gold for the scored steps yet: pull human reviews (<code>stepforge review "
                "pull</code>) or pass <code>stepforge report --gold FILE</code> (ProcessBench or "
                "per-step ratings).</p>")
    keys = legend([(c["annotator"], PALETTE[k % len(PALETTE)]) for k, c in enumerate(data.calibration)])
    table = _table(data.calibration, ["annotator", "steps", "ece", "accuracy"],
                   ["annotator", "gold steps", "ECE", "accuracy at 0.5"])
    return f"<p>Gold: {_e(data.gold_source)}.</p>{keys}{reliability_diagram(data.calibration)}{table}"


# -- rendering ---------------------------------------------------------------------------------

def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


def _table(rows: Sequence[dict], columns: Sequence[str], titles: Sequence[str] | None = None) -> str:
    if not rows:
        return '<p class="empty">nothing yet</p>'
    head = "".join(f"<th>{html.escape(t)}</th>" for t in (titles or columns))
    body = "".join("<tr>" + "".join(
        f'<td{" class=t" if isinstance(r.get(c), str) else ""}>{_fmt(r.get(c))}</td>'
        for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def positions_section(data: ReportData) -> str:
    """Stacked shares of consensus labels by step position, one chart per strategy."""
    charts = []
    for strategy in sorted({r["strategy"] for r in data.positions}):
        rows = [r for r in data.positions if r["strategy"] == strategy]
        labels = [str(r["position"] + 1) + ("+" if r["position"] == MAX_POSITION - 1 else "")
                  for r in rows]
        series = [(name, [float(r[name]) for r in rows], color) for name, color in COLORS.items()]
        charts.append(f"<figure><figcaption>{html.escape(strategy)}</figcaption>"
                      f"{stacked_columns(labels, series, x_title='step position')}</figure>")
    if not charts:
        return '<p class="empty">no consensus rows yet: run <code>stepforge reconcile</code></p>'
    return legend(list(COLORS.items())) + '<div class="grid">' + "".join(charts) + "</div>"


def agreement_section(data: ReportData) -> str:
    names = sorted({r["annotator_a"] for r in data.agreement} | {r["annotator_b"] for r in data.agreement})
    if not names:
        return '<p class="empty">fewer than two annotators labelled the same steps</p>'
    kappa = np.full((len(names), len(names)), np.nan)
    rate = np.full((len(names), len(names)), np.nan)
    np.fill_diagonal(kappa, 1.0)
    np.fill_diagonal(rate, 1.0)
    for r in data.agreement:
        i, j = names.index(r["annotator_a"]), names.index(r["annotator_b"])
        for grid, key in ((kappa, "kappa"), (rate, "first_error_rate")):
            if r[key] is not None:
                grid[i, j] = grid[j, i] = r[key]
    fleiss = "undefined" if data.fleiss is None else f"{data.fleiss:.3f}"
    return (f"<p>Fleiss' kappa over all annotators: <b>{fleiss}</b></p><div class=\"grid\">"
            f"<figure><figcaption>Cohen's kappa (step labels)</figcaption>"
            f"{heatmap(names, kappa, low=-1.0)}</figure>"
            f"<figure><figcaption>first-error agreement rate</figcaption>"
            f"{heatmap(names, rate, low=0.0)}</figure></div>"
            + _table(data.agreement, ["annotator_a", "annotator_b", "steps", "observed", "expected",
                                      "kappa", "solutions", "first_error_rate"]))


def retention_section(data: ReportData) -> str:
    if not data.retention:
        return '<p class="empty">no consensus rows yet</p>'
    notes = swing_notes(data.swings)
    labels = [r["strategy"] for r in data.retention]
    series = [("agreed", [float(r["agreed"]) for r in data.retention], "#2e7d32"),
              ("human", [float(r["human"]) for r in data.retention], "#81c784"),
              ("disputed", [float(r["disputed"]) for r in data.retention], "#ffb300")]
    return (notes + legend([(n, c) for n, _, c in series])
            + stacked_columns(labels, series, x_title="strategy", width=120 * len(labels) + 120)
            + _table(data.retention, ["strategy", "solutions", "kept", "agreed", "human",
                                      "disputed", "kept_share", "steps_agreed", "steps_disputed"])
            + ("<p>Machine labels per MC annotator (the MC role of consensus: mc-binary "
               "searched the first error, mc-verify checked the judge's):</p>"
               + _table(data.mc_modes, ["strategy", "mc_annotator", "labels", "agreed"],
                        ["strategy", "MC annotator", "labels", "agreed"])
               if data.mc_modes else ""))


def costs_section(data: ReportData) -> str:
    rows = [r for r in data.costs if r["tokens_per_labeled_step"] is not None]
    if not rows:
        return '<p class="empty">no labeled votes yet</p>'
    chart = bars([r["annotator"] for r in rows],
                 [float(r["tokens_per_labeled_step"]) for r in rows], unit="tokens")
    return chart + _table(data.costs, ["annotator", "votes", "labeled", "tokens", "rollouts",
                                       "tokens_per_labeled_step", "rollouts_per_labeled_step"],
                          ["annotator", "votes (all)", "labelled votes", "tokens", "rollouts",
                           "tokens per labelled vote", "rollouts per labelled vote"])


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f5f5f5}td:first-child,th:first-child{text-align:left}
.grid{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-weight:600}
.empty{color:#888}.note{background:#fff3e0;border-left:4px solid #fb8c00;padding:6px 10px}
td{max-width:420px}td.t{text-align:left}.legend span{display:inline-block;margin-right:14px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-1px}"""


def render(data: ReportData, now: datetime | None = None) -> str:
    """The whole page as one HTML string."""
    now = now or datetime.now(timezone.utc)
    counts = " · ".join(f"{v} {k.replace('_', ' ')}" for k, v in data.counts.items())
    sections = [
        ("Label health", label_health_section(data)),
        ("Labels by step position", positions_section(data)),
        ("Agreement between annotators", agreement_section(data)),
        ("Retention per strategy", retention_section(data)),
        ("Cost per labelled step", costs_section(data)),
        ("Annotator reliabilities (Dawid-Skene, reviews as truth)",
         "<p>Annotators with labelled votes only (unparsed and skipped votes carry no label).</p>"
         + _table(data.reliabilities, ["annotator", "votes", "sensitivity", "specificity",
                                       "accuracy", "human_steps", "accuracy_vs_human"],
                  ["annotator", "labelled votes", "sensitivity", "specificity", "accuracy",
                   "human-reviewed steps", "accuracy vs human"])),
        ("Soft labels vs gold (reliability diagram)", calibration_section(data)),
        ("Disputed solutions to review first",
         "<p>Priority: the expected information of a review (summed step entropy, in bits, "
         "times 1 + ln of the annotators involved); ties by disputed steps.</p>"
         + _table(data.disputed, ["solution_id", "strategies", "priority", "disputed_steps",
                                  "problem", "step", "why"],
                  ["solution", "strategies", "priority", "disputed steps", "problem",
                   "step in question", "why disputed"])),
    ]
    body = "".join(f"<h2>{html.escape(t)}</h2>{content}" for t, content in sections)
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>stepforge report</title><style>{CSS}</style></head><body>"
            f"<h1>stepforge report</h1><p>lake <code>{html.escape(data.lake)}</code> · "
            f"{now:%Y-%m-%d %H:%M} UTC</p><p>{html.escape(counts)}</p>{body}</body></html>")


def write_report(lake: Lake, out: str | Path, gold: str | None = None, export: Any = None) -> Path:
    """Gather, render and write the page; returns its path. ``export``: the ExportConfig whose
    labels label health judges (default: the export's defaults)."""
    return save(gather(lake, gold, export=export), out)


def save(data: ReportData, out: str | Path) -> Path:
    """Render ``data`` and write the page to ``out``; returns its path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(data), encoding="utf-8")
    return path
