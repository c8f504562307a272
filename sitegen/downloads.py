"""Each partner's scorecard as data: partners/<id>.json exactly as DESIGN.md specifies, and the
same rows as CSV. The site writes them; the mail checks the live site's against the model.
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any

from sitegen.model import KpiResult, Model, Scorecard, Spc

# A spreadsheet treats a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def scorecard_json(card: Scorecard) -> dict[str, Any]:
    """partners/<id>.json exactly as DESIGN.md specifies; numbers are numbers or null."""
    return {
        "partner": {
            "partner_id": card.partner.partner_id,
            "name": card.partner.name,
            "partner_type": card.partner.partner_type,
            "region": card.partner.region,
        },
        "period": card.period,
        "composite": {
            "score": _finite(card.composite.score),
            "rank": card.composite.rank,
            "of": card.composite.of,
            "type_rank": card.composite.type_rank,
            "type_of": card.composite.type_of,
            "standing": card.composite.standing,
        },
        "kpis": [_kpi_json(r) for r in card.results],
    }


def alliance_json(model: Model) -> dict[str, Any]:
    """alliance.json: each KPI's alliance-wide figure for the as-of period, as DESIGN.md
    specifies; value, numerator and denominator are null when the figure is withheld."""
    kpis = []
    for kpi in model.kpis:
        point = model.alliance_as_of.get(kpi.kpi_id)
        if point is None:
            continue
        kpis.append(
            {
                "kpi_id": kpi.kpi_id,
                "period": point.period,
                "value": _finite(point.value),
                "numerator": _finite(point.numerator),
                "denominator": _finite(point.denominator),
                "partners": point.partners,
                "suppressed_partners": point.suppressed_partners,
                "target": _finite(point.target),
                "status": point.status,
                "withheld": point.withheld,
            }
        )
    return {"period": model.period, "kpis": kpis}


def _finite(number: float | None) -> float | None:
    if number is None or math.isnan(number) or math.isinf(number):
        return None
    return round(number, 6)


def _kpi_json(r: KpiResult) -> dict[str, Any]:
    return {
        "kpi_id": r.kpi.kpi_id,
        "name": r.kpi.name,
        "category": r.kpi.category,
        "unit": r.kpi.unit,
        "direction": r.kpi.direction,
        "value": _finite(r.value),
        "numerator": _finite(r.numerator),
        "denominator": _finite(r.denominator),
        "target": _finite(r.target),
        "target_source": r.target_source,
        "benchmark": _finite(r.kpi.benchmark),
        "peer_median": _finite(r.peers.median),
        "peer_percentile": _finite(r.peers.percentile),
        "status": r.status,
        "suppression": r.suppression,
        "footnote": r.footnote,
        "partial": {"periods": r.parts, "of": r.parts_of} if r.partial else None,
        "change_prev": _finite(r.change_prev),
        "change_yoy": _finite(r.change_yoy),
        "ci_low": _finite(r.ci_low),
        "ci_high": _finite(r.ci_high),
        "within_noise": r.within_noise,
        "spc": _spc_json(r.spc),
        "funnel": r.funnel,
    }


def _spc_json(spc: Spc | None) -> dict[str, Any] | None:
    if spc is None:
        return None
    return {
        "points": spc.points,
        "mean": _finite(spc.mean),
        "lower": _finite(spc.lower),
        "upper": _finite(spc.upper),
        "variation": spc.variation,
        "assurance": spc.assurance,
        "signals": [{"period": s.period, "rule": s.rule} for s in spc.signals],
    }


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A JSON row as CSV cells: nested objects become columns of their own (partial_periods,
    spc_variation, …), the list of signals one cell ("2026-03 outside; …")."""
    cells: dict[str, Any] = {}
    for key, cell in row.items():
        if key == "partial":
            cells["partial_periods"] = cell["periods"] if cell else None
            cells["partial_of"] = cell["of"] if cell else None
        elif key == "spc":
            for name in ("points", "mean", "lower", "upper", "variation", "assurance"):
                cells[f"spc_{name}"] = cell[name] if cell else None
            signals = cell["signals"] if cell else []
            cells["spc_signals"] = "; ".join(f"{s['period']} {s['rule']}" for s in signals)
        else:
            cells[key] = cell
    return cells


def safe_cell(text: str) -> str:
    """Neutralise a cell a spreadsheet would run as a formula (prefix it with a quote)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def scorecard_csv(card: Scorecard) -> str:
    """partners/<id>.csv: one row per KPI; text cells that could start a formula neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    rows = [_flat(row) for row in scorecard_json(card)["kpis"]]
    header = ["partner_id", "partner_name", "period", *rows[0].keys()] if rows else []
    writer.writerow(header)
    for row in rows:
        cells = [card.partner.partner_id, card.partner.name, card.period, *row.values()]
        writer.writerow(
            [safe_cell(c) if isinstance(c, str) else ("" if c is None else c) for c in cells]
        )
    return out.getvalue()
