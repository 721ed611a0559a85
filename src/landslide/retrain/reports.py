"""What a person reads: the cycle's comparison as Markdown (`summary_markdown`) and the
champion timeline of the registry (`model_history`, for `landslide model history`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from landslide.errors import RetrainError
from landslide.params import Params
from landslide.retrain.common import REJECTED, TAG
from landslide.tracking import mlflow_client


def summary_markdown(data: Mapping[str, Any]) -> str:
    """The cycle's comparison as Markdown: decision, data, both models on both test sets."""
    rule = data["rule"]
    lines = [
        f"# Retraining cycle {data['cycle']}: {data['decision']}",
        "",
        data.get("reason") or "",
        "",
    ]
    arrivals = data.get("arrivals")
    if arrivals:
        lines.append(
            f"- photos: {len(arrivals['new'])} new, {arrivals['ready']} curated and annotated, "
            f"{len(arrivals['waiting'])} waiting for a person, {len(arrivals['rejected'])} "
            f"rejected; last data version {arrivals['last_version'] or 'none'}"
        )
    version = data.get("data_version")
    if version:
        lines.append(f"- data version: {version['id']} ({version['method']}; {version['note']})")
    tests = data.get("test_sets")
    if tests:
        note = f" ({tests['note']})" if tests.get("note") else ""
        lines.append(
            f"- test: fixed set {tests['fixed_images']} photos, {tests['new_images']} new{note}"
        )
    lines.append(
        f"- rule: {rule['metric']} at threshold {rule['threshold']:g}, floor {rule['floor']:g}, "
        f"margin {rule['min_margin']:g}, recall tolerance {rule['recall_tolerance']:g}"
    )
    if data.get("failing_new_photos"):
        lines.append(f"- new photos failing validation: {', '.join(data['failing_new_photos'])}")
    if data.get("error"):
        lines += ["", "```", str(data["error"]), "```"]
    models = [m for m in [data.get("champion"), *data.get("challengers", [])] if m]
    if models:
        lines += [
            "",
            "| model | version | test set | images | precision | recall | F1 | accuracy "
            "| decision |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for m in models:
            for which in ("fixed", "new"):
                h = m.get(which)
                if not h:
                    continue
                cells = [_fmt(h.get(k)) for k in ("precision", "recall", "f1", "accuracy")]
                lines.append(
                    f"| {m['label']} | {m.get('version') or ''} | {which} | {h.get('images')} | "
                    + " | ".join(cells)
                    + f" | {m.get('decision') or ''} |"
                )
    if data.get("notes"):
        lines += ["", *[f"- {n}" for n in data["notes"]]]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


@dataclass
class HistoryRow:
    version: str
    when: str  # promoted at, else registered at (UTC)
    data_version: str
    backbone: str
    metric: str
    value: str
    champion_value: str
    decision: str
    reason: str
    current: bool

    def to_json(self) -> dict[str, Any]:
        """`landslide model history --json`: these keys, in this order, for every version."""
        return {
            "version": int(self.version) if self.version.isdigit() else self.version,
            "when": self.when,
            "data_version": self.data_version,
            "backbone": self.backbone,
            "metric": self.metric,
            "value": _number(self.value),
            "champion_value": _number(self.champion_value),
            "decision": self.decision,
            "reason": self.reason,
            "current": self.current,
        }


def _number(text: str) -> float | str | None:
    """A metric tag as a number (None when unset; kept as text when it is no number)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def model_history(params: Params) -> list[HistoryRow]:
    """Every registered version of `predict.model_name`, oldest first, with its decision."""
    from mlflow.exceptions import MlflowException

    from landslide.tracking import tracking_uri

    p = params.predict
    uri = tracking_uri(params.mlflow)
    client = mlflow_client(uri)
    try:
        registered = client.get_registered_model(p.model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise RetrainError(f"cannot read the model registry {uri}: {exc.message}") from None
    champion = registered.aliases.get(p.alias)
    rows = []
    versions = client.search_model_versions(f"name = '{p.model_name}'")
    for mv in sorted(versions, key=lambda v: int(v.version)):
        tags = dict(mv.tags or {})
        promoted_at = tags.get(TAG + "promoted_at")
        when = promoted_at or _stamp(mv.creation_timestamp)
        decision = tags.get(TAG + "decision") or "registered"
        rows.append(
            HistoryRow(
                version=str(mv.version),
                when=when.replace("+00:00", "Z"),
                data_version=tags.get(TAG + "data_version") or tags.get("data_version") or "",
                backbone=tags.get("backbone", ""),
                metric=tags.get(TAG + "metric", ""),
                value=tags.get(TAG + "value", ""),
                champion_value=tags.get(TAG + "champion_value", ""),
                decision=decision,
                reason=tags.get(TAG + "reason", ""),
                current=str(mv.version) == str(champion),
            )
        )
    return rows


def _stamp(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


HISTORY_COLUMNS = (  # heading, justify
    ("version", "right"),
    ("when (UTC)", "left"),
    ("data version", "left"),
    ("backbone", "left"),
    ("metric", "right"),
    ("champion had", "right"),
    ("decision", "left"),
    ("reason", "left"),
)


def _history_cells(row: HistoryRow, alias: str) -> tuple[str, ...]:
    metric = f"{row.metric} {row.value}" if row.metric else ""
    decision = row.decision + (f" -> {alias}" if row.current else "")
    cells = (f"v{row.version}", row.when, row.data_version, row.backbone, metric)
    cells += (row.champion_value or "-", decision, row.reason)
    return tuple(" ".join(cell.split()) for cell in cells)  # one line, whatever the tags hold


def _history_title(params: Params) -> str:
    p = params.predict
    return f"{p.model_name}: champion timeline (alias {p.alias!r})"


def history_table(rows: Sequence[HistoryRow], params: Params) -> Any:
    """The champion timeline as a rich table, for a terminal (columns fold to its width)."""
    from rich.table import Table

    table = Table(title=_history_title(params), title_justify="left")
    for name, justify in HISTORY_COLUMNS:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        style = "bold green" if row.current else ("dim" if row.decision == REJECTED else None)
        table.add_row(*_history_cells(row, params.predict.alias), style=style)
    return table


def history_text(rows: Sequence[HistoryRow], params: Params) -> str:
    """The champion timeline as plain text, for a pipe or a file: no width limit, a title,
    a header and one line per version, the columns aligned with spaces."""
    lines = [[name for name, _ in HISTORY_COLUMNS]]
    lines += [list(_history_cells(row, params.predict.alias)) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HISTORY_COLUMNS))]
    text = [_history_title(params)]
    for line in lines:
        cells = [
            cell.rjust(width) if justify == "right" else cell.ljust(width)
            for cell, width, (_, justify) in zip(line, widths, HISTORY_COLUMNS, strict=True)
        ]
        text.append("  ".join(cells).rstrip())
    return "\n".join(text) + "\n"
