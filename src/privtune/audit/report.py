"""report.json (for machines) and report.html (one self-contained page for a reviewer).

The page has no external assets: inline CSS, inline SVG plots, no scripts. Values shown are
measurements, record indices, masked PII and hashes; never record text or a raw value.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from privtune.fsutil import atomic_write_text

COLORS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"]
ATTACK_NAMES = {"loss": "LOSS", "zlib": "zlib ratio", "min_k": "Min-K%", "min_k_pp": "Min-K%++",
                "ref_ratio": "Reference ratio"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans CJK SC',sans-serif;
margin:0;background:#f6f7f9;color:#1d232b}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde;
padding-bottom:4px}h3{font-size:15px;margin:16px 0 6px}
.verdict{border-radius:8px;padding:18px 22px;margin:16px 0;color:#fff;font-size:20px}
.verdict.pass{background:#1e7d32}.verdict.fail{background:#b3261e}
.verdict small{display:block;font-size:13px;opacity:.9;margin-top:4px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 12px}
th,td{border:1px solid #dde1e6;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1e7d32;font-weight:600}.bad{color:#b3261e;font-weight:600}.skip{color:#6b7280}
.sev-critical{color:#fff;background:#b3261e;padding:1px 6px;border-radius:4px}
.sev-high{color:#fff;background:#e8710a;padding:1px 6px;border-radius:4px}
.sev-medium{background:#fde68a;padding:1px 6px;border-radius:4px}
.sev-info{background:#e5e7eb;padding:1px 6px;border-radius:4px}
.plots{display:flex;flex-wrap:wrap;gap:16px}.plot{background:#fff;border:1px solid #dde1e6;
padding:8px}code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;
word-break:break-all}.note{color:#4b5563;font-size:13px}
"""


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any, digits: int = 4) -> str:
    if isinstance(x, float):
        return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.0f}"
    return _e(x)


def _table(headers: list[str], rows: list[list[Any]], cls: str = "", raw: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = []
        for c in r:
            if raw and isinstance(c, tuple):  # (html, css class): pre-rendered
                cells.append(f'<td class="{c[1]}">{c[0]}</td>')
            elif isinstance(c, int | float) and not isinstance(c, bool):
                cells.append(f'<td class="num">{_num(c)}</td>')
            else:
                cells.append(f"<td>{_e(c)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body) + "</tbody></table>")


# --- plots -----------------------------------------------------------------------------------
def roc_svg(attacks: dict[str, Any], size: int = 360) -> str:
    pad = 40
    w = h = size
    inner = size - pad - 12

    def xy(f: float, t: float) -> str:
        return f"{pad + f * inner:.1f},{12 + (1 - t) * inner:.1f}"

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="roc-plot" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}" role="img" aria-label="ROC curves">',
             f'<rect x="{pad}" y="12" width="{inner}" height="{inner}" fill="#fff" '
             'stroke="#999"/>',
             f'<polyline points="{xy(0, 0)} {xy(1, 1)}" fill="none" stroke="#bbb" '
             'stroke-dasharray="4 3"/>']
    for i in range(6):
        v = i / 5
        parts.append(f'<text x="{pad + v * inner:.1f}" y="{h - 14}" font-size="10" '
                     f'text-anchor="middle">{v:.1f}</text>')
        parts.append(f'<text x="{pad - 4}" y="{12 + (1 - v) * inner + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{v:.1f}</text>')
    parts.append(f'<text x="{pad + inner / 2}" y="{h - 2}" font-size="11" '
                 'text-anchor="middle">false positive rate</text>')
    parts.append(f'<text x="10" y="{12 + inner / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 10 {12 + inner / 2})">true positive rate</text>')
    for i, (name, a) in enumerate(attacks.items()):
        color = COLORS[i % len(COLORS)]
        pts = " ".join(xy(f, t) for f, t in a["roc"])
        parts.append(f'<polyline class="roc-curve" data-attack="{_e(name)}" points="{pts}" '
                     f'fill="none" stroke="{color}" stroke-width="1.8"/>')
        ly = 12 + inner - 16 - (len(attacks) - i) * 14  # legend: lower right, under the curves
        parts.append(f'<rect x="{pad + inner - 178}" y="{ly + 4}" width="10" height="3" '
                     f'fill="{color}"/><text x="{pad + inner - 164}" y="{ly + 9}" '
                     f'font-size="10.5">{_e(ATTACK_NAMES.get(name, name))} '
                     f'(AUC {a["auc"]:.3f})</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(hist: dict[str, Any], width: int = 520, height: int = 260) -> str:
    edges, counts, marks = hist["edges"], hist["candidates"], hist["canaries"]
    pad_l, pad_b, top = 40, 34, 10
    iw, ih = width - pad_l - 10, height - pad_b - top
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    cmax = max(counts) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="exposure-histogram" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="canary log-perplexity histogram">',
             f'<rect x="{pad_l}" y="{top}" width="{iw}" height="{ih}" fill="#fff" stroke="#999"/>']
    for i, c in enumerate(counts):
        x0 = pad_l + (edges[i] - lo) / span * iw
        x1 = pad_l + (edges[i + 1] - lo) / span * iw
        bh = c / cmax * (ih - 4)
        parts.append(f'<rect class="hist-bar" x="{x0:.1f}" y="{top + ih - bh:.1f}" '
                     f'width="{max(x1 - x0 - 1, 0.5):.1f}" height="{bh:.1f}" fill="#1f77b4"/>')
    for j, m in enumerate(marks):
        x = pad_l + (m - lo) / span * iw
        parts.append(f'<line class="canary-mark" x1="{x:.1f}" x2="{x:.1f}" y1="{top}" '
                     f'y2="{top + ih}" stroke="#d62728" stroke-width="2"/>'
                     f'<text x="{x + 3:.1f}" y="{top + 12 + 12 * (j % 4)}" font-size="10" '
                     f'fill="#d62728">canary {j}</text>')
    for k in range(5):
        v = lo + span * k / 4
        parts.append(f'<text x="{pad_l + iw * k / 4:.1f}" y="{top + ih + 13}" font-size="10" '
                     f'text-anchor="middle">{v:.1f}</text>')
    parts.append(f'<text x="{pad_l + iw / 2}" y="{height - 4}" font-size="11" '
                 'text-anchor="middle">log-perplexity (nats): blue = never-inserted candidates, '
                 'red = inserted canaries</text></svg>')
    return "".join(parts)


# --- sections --------------------------------------------------------------------------------
def _status(check: dict[str, Any]) -> tuple[str, str]:
    if check["status"] == "pass":
        return "pass", "ok"
    if check["status"] == "fail":
        return "FAIL", "bad"
    return check["status"], "skip"


def _dp_line(report: dict[str, Any]) -> list[str]:
    """One line on differential privacy: the budget the training run spent, and the canary
    exposure it bounds (about epsilon / ln 2 bits)."""
    dp = (report.get("training") or {}).get("dp")
    if not dp:
        return []
    eps = dp.get("epsilon")
    bound = f"{float(eps) / math.log(2):.1f}" if isinstance(eps, int | float) else "?"
    return [f'<p id="dp">Trained with differential privacy: ε={_num(eps)}, '
            f"δ={_num(dp.get('delta'))}, accountant {_e(str(dp.get('accountant')))}; "
            f"canary exposure bound ≈ {bound} bits.</p>"]


def _probe_section(out: list[str], probes: dict[str, Any], name: str,
                   title: str) -> dict[str, Any] | None:
    """Append the section heading; the probe's results to render, or None (after a
    "skipped: <reason>" line) when the probe did not run or was not requested."""
    out.append(f'<h2 id="{_e(name)}">{_e(title)}</h2>')
    p = probes.get(name)
    if isinstance(p, dict) and "skipped" not in p:
        return p
    why = p.get("skipped") if isinstance(p, dict) else None
    out.append(f'<p class="skip" id="{_e(name)}-skipped" data-skipped="{_e(name)}">'
               f"skipped: {_e(why or 'not requested')}</p>")
    return None


def render_html(report: dict[str, Any]) -> str:
    verdict = report["verdict"]
    probes = report["probes"]
    gate = report["gate"]
    failed = [c["name"] for c in gate if c["status"] == "fail"]
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
           "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">",
           f"<title>privtune audit: {_e(verdict.upper())}</title><style>{CSS}</style></head>",
           "<body><main>",
           f"<h1>privtune audit report</h1><div class=\"note\">model "
           f"<span class=\"mono\">{_e(report['model']['path'])}</span> · "
           f"{_e(report['created'])} · privtune {_e(report['privtune_version'])}</div>",
           f'<div id="verdict" class="verdict {_e(verdict)}" data-verdict="{_e(verdict)}">'
           f"Verdict: <strong>{_e(verdict.upper())}</strong>"
           f"<small>{_e('failed: ' + ', '.join(failed) if failed else 'every check is within its threshold')}"
           "</small></div>",
           *_dp_line(report),
           "<h2 id=\"gate\">Release gate</h2>"]
    rows = []
    for c in gate:
        label, cls = _status(c)
        value = "—" if c["value"] is None else _num(c["value"])
        rows.append([c["name"], (value, "num"), (_e(f"≤ {c['threshold']}"), "num"),
                     (_e(label), cls), c.get("note", "")])
    out.append(_table(["check", "measured", "threshold", "status", "note"], rows,
                      "gate-table", raw=True))

    p = _probe_section(out, probes, "extraction", "Extraction (k-extractability)")
    if p is not None:
        out.append(_table(["", "training records", "held-out records"], [
            ["records probed", p["records"], p["heldout_records"]],
            ["exact suffix match rate", p["exact_rate"], p["heldout_exact_rate"]],
            [f"approximate match rate (similarity ≥ {p['approx_threshold']})", p["approx_rate"],
             p["heldout_approx_rate"]]]))
        top = sorted(p["per_record"], key=lambda r: -r["similarity"])[:10]
        out.append(f"<p class=\"note\">Prefix {p['prefix_tokens']} tokens, greedy suffix "
                   f"{p['suffix_tokens']} tokens. Gated: excess exact rate over held-out "
                   f"= {p['excess_rate']}. Most extractable records (by index):</p>")
        out.append(_table(["record", "exact", "similarity", "suffix tokens"],
                          [[r["index"], "yes" if r["exact"] else "no", r["similarity"],
                            r["suffix_tokens"]] for r in top]))

    p = _probe_section(out, probes, "pii", "PII regurgitation")
    if p is not None:
        out.append(_table(["inventory values", "prompts", "generations", "regurgitated",
                           "subtracted (base model emits them too)",
                           "echoed from the prompt (not leaks)", "other PII in outputs"],
                          [[p["inventory_size"], ", ".join(f"{k} {v}" for k, v in
                                                          p["prompts"].items()),
                            p["generations"], p["regurgitated"], p["base_subtracted"],
                            p.get("echoed_from_prompt", 0), p["other_pii_in_outputs"]]]))
        if p["by_type"]:
            out.append("<h3>Leaked values by type</h3>")
            out.append(_table(["type", "distinct values"],
                              [[t, n] for t, n in p["by_type"].items()], "pii-by-type"))
        out.append("<h3>Leaked values (masked)</h3>")
        if p["leaked"]:
            headers = ["type", "value (masked)", "fingerprint", "field", "generations",
                       "prompt kinds"]
            rows = [[f["type"], f["masked"], f["fp_prefix"] + "…", f["field"], f["generations"],
                     ", ".join(f["kinds"])]
                    for f in sorted(p["leaked"], key=lambda f: -f["generations"])]
            out.append(_table(headers, rows[:25], "leaked-pii"))
            if len(rows) > 25:
                out.append(f"<details><summary>{len(rows) - 25} more leaked values</summary>"
                           + _table(headers, rows[25:], "leaked-pii-more") + "</details>")
        else:
            out.append('<p class="ok" id="no-leaked-pii">No inventory value was emitted.</p>')

    p = _probe_section(out, probes, "canaries", "Canary exposure (Secret Sharer)")
    if p is not None:
        out.append(f"<p class=\"note\">Randomness space {p['space_bits']} bits (the maximum "
                   f"exposure); {p['candidates']} never-inserted candidates (rank-based "
                   f"exposure shows at most {p['max_rank_bits']} bits; the skew-normal "
                   "extrapolation goes to the maximum).</p>")
        out.append(_table(["canary", "repeats", "rank", "log-perplexity",
                           "exposure by rank (bits)", "exposure, extrapolated (bits)",
                           "of max"],
                          [[c["index"], c["repeats"], c["rank"], c["log_perplexity"],
                            c["exposure_rank_bits"], c["exposure_bits"],
                            f"{100 * c['exposure_bits'] / max(p['space_bits'], 1e-9):.0f}%"]
                           for c in p["canaries"]], "canary-table"))
        out.append(f'<div class="plots"><div class="plot">{histogram_svg(p["histogram"])}'
                   "</div></div>")

    p = _probe_section(out, probes, "membership", "Membership inference")
    if p is not None:
        out.append(f"<p class=\"note\">{p['members']} training vs {p['nonmembers']} held-out "
                   f"records; Min-K% k = {p['min_k']}; AUC standard error ≈ "
                   f"{p['auc_stderr']}. With {p['nonmembers']} held-out records the lowest "
                   f"measurable FPR is {1 / max(p['nonmembers'], 1):.3g}: a TPR at a lower FPR "
                   "is the TPR at zero false positives.</p>")
        if p.get("reference"):
            out.append("<p class=\"note\">Each attack also runs on the base model: an AUC the "
                       "base model reaches on the same two sets comes from how they differ, not "
                       "from training. The gate reads the AUC beyond the base model's "
                       "(0.5 + AUC − base AUC).</p>")
        out.append(_table(["attack", "AUC", "base model AUC", "beyond base", "TPR @ 1% FPR",
                           "TPR @ 0.1% FPR"],
                          [[ATTACK_NAMES.get(n, n), a["auc"], a.get("base_auc", "—"),
                            a.get("excess_auc", "—"), a["tpr_at_1pct_fpr"],
                            a["tpr_at_0_1pct_fpr"]] for n, a in p["attacks"].items()],
                          "mia-table"))
        out.append(f'<div class="plots"><div class="plot">{roc_svg(p["attacks"])}</div></div>')

    p = _probe_section(out, probes, "generalization", "Generalization")
    if p is not None:
        out.append(_table(["", "train", "held-out", "gap"], [
            ["loss (nats/token)", p["train_loss"], p["heldout_loss"], p["loss_gap"]],
            ["perplexity", p["train_perplexity"], p["heldout_perplexity"],
             f"× {p['perplexity_ratio']}"]]))

    p = _probe_section(out, probes, "artifacts", "Artifact scan")
    if p is not None:
        c = p["counts"]
        out.append(f"<p class=\"note\">{len(p['files'])} files identified by content; "
                   f"critical {c['critical']}, high {c['high']}, medium {c['medium']}, "
                   f"info {c['info']}. Nothing was unpickled.</p>")
        if p["findings"]:
            out.append(_table(["severity", "file", "kind", "detail"],
                              [[(f'<span class="sev-{_e(f["severity"])}">'
                                 f'{_e(f["severity"])}</span>', ""), (_e(f["path"]), "mono"),
                                (_e(f["kind"]), ""), (_e(f["detail"]), "")]
                               for f in p["findings"]],
                              "artifact-findings", raw=True))
        out.append("<details><summary>Files</summary>")
        out.append(_table(["file", "kind (by content)", "bytes", "findings"],
                          [[f["path"], f["kind"], f["size"], f["findings"]]
                           for f in p["files"]]))
        out.append("</details>")

    out.append('<h2 id="provenance">Configuration and hashes</h2>')
    out.append(_table(["file", "sha256"], [[k, v] for k, v in report["model_sha256"].items()],
                      "hashes"))
    out.append(f"<p class=\"note\">Configuration sha256 <span class=\"mono\">"
               f"{_e(report['config_sha256'])}</span>; backend {_e(report['backend'])}; "
               f"inputs: {_e(', '.join(f'{k}={v}' for k, v in report['inputs'].items() if v))}"
               f"; took {report['seconds']:.1f} s.</p>")
    out.append(f"<details><summary>Configuration</summary><pre class=\"mono\">"
               f"{_e(json.dumps(report['config'], indent=2))}</pre></details>")
    out.append("</main></body></html>")
    return "\n".join(out)


def write_report(report: dict[str, Any], out_dir: Any) -> None:
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json",
                      json.dumps(report, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
    atomic_write_text(out / "report.html", render_html(report))
