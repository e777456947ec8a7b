"""The generated text as HTML, each token coloured by its surprisal or entropy.

Token text is model output (or user input) and is always HTML-escaped; the only markup is the
spans written here. The cursor's token is outlined and carries ``id="memscope-cursor"``.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

COLOR_BY = ("surprisal", "entropy", "kl")

# A white -> amber -> red ramp: low values stay readable, high ones stand out.
_RAMP = ((255, 255, 255), (253, 224, 71), (239, 68, 68))


def _ramp(t: float) -> str:
    """Colour of ``t`` in [0, 1] on the white-amber-red ramp, as ``rgb(r,g,b)``."""
    t = min(max(t, 0.0), 1.0) * (len(_RAMP) - 1)
    i = min(int(t), len(_RAMP) - 2)
    f = t - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(_RAMP[i], _RAMP[i + 1]))
    return f"rgb({r},{g},{b})"


def token_colors(values: np.ndarray, *, vmax: float | None = None) -> list[str]:
    """One background colour per value, scaled to ``[0, vmax]`` (default: the 95th percentile).

    Missing values (NaN, e.g. the first token's surprisal) get a neutral grey.
    """
    finite = values[np.isfinite(values)]
    if vmax is None:
        vmax = float(np.percentile(finite, 95)) if finite.size else 1.0
    vmax = vmax if vmax > 0 else 1.0
    return ["rgb(229,231,235)" if not math.isfinite(v) else _ramp(v / vmax) for v in values]


def tokens_html(
    steps: pd.DataFrame,
    *,
    color_by: str = "surprisal",
    cursor: int | None = None,
    vmax: float | None = None,
    dim_after_cursor: bool = False,
) -> str:
    """A ``<div>`` of ``<span>`` tokens coloured by ``color_by``; hover (title) shows the value.

    Args:
        steps: rows ``step, token_text`` and the ``color_by`` column, in order.
        color_by: ``surprisal``, ``entropy`` or ``kl``.
        cursor: the step whose token is outlined (``id="memscope-cursor"``).
        vmax: the value drawn darkest (default: the 95th percentile of the shown values).
        dim_after_cursor: fade the tokens after the cursor (Replay: the future is grey).
    """
    if color_by not in COLOR_BY:
        raise ValueError(f"unknown colour {color_by!r}: choose one of {', '.join(COLOR_BY)}")
    values = steps[color_by].to_numpy(np.float64) if len(steps) else np.zeros(0)
    colors = token_colors(values, vmax=vmax)
    spans = []
    for step, text, value, color in zip(steps["step"].to_numpy(), steps["token_text"].to_numpy(), values, colors):
        label = f"step {int(step)}: {color_by} {value:.3f}" if math.isfinite(value) else f"step {int(step)}: {color_by} n/a"
        style = f"background:{color};border-radius:3px;padding:0 1px;"
        attrs = ""
        if cursor is not None and int(step) == cursor:
            style += "outline:2px solid #111827;outline-offset:1px;"
            attrs = ' id="memscope-cursor"'
        elif dim_after_cursor and cursor is not None and int(step) > cursor:
            style += "opacity:0.35;"
        token = html.escape("" if text is None or (isinstance(text, float) and math.isnan(text)) else str(text), quote=True)
        spans.append(f'<span class="memscope-token" data-step="{int(step)}"{attrs} title="{html.escape(label, quote=True)}" style="{style}">{token}</span>')
    return '<div class="memscope-tokens" style="white-space:pre-wrap;font-family:monospace;line-height:1.9;">' + "".join(spans) + "</div>"
