"""One look for the interactive (plotly) charts, legible on kedro-viz's light and dark
themes alike.

kedro-viz draws a plotly preview over its own theme: it replaces the background, the font
colour and the first x and y axes' colours (near-black ``#111111`` or light grey
``#EEEEEE``), and keeps everything else the figure says. So a chart here says nothing that
reads on one background only: bars in Okabe-Ito's colour-blind-safe colours (no black),
error bars, other axes and grid lines in a mid grey, and a transparent background.
"""

from __future__ import annotations

from typing import Any

from session_recs.evaluation.palette import NEUTRAL

GRID = "rgba(128, 128, 128, 0.25)"
TRANSPARENT = "rgba(0, 0, 0, 0)"


#: The hatching's colour, drawn over the bar's (the hatchings themselves are
#: :mod:`session_recs.evaluation.palette`'s, per model): dark enough on every palette colour.
HATCH = "rgba(0, 0, 0, 0.45)"


def theme_neutral(figure: Any, font_size: int = 11) -> Any:
    """``figure`` (a plotly Figure) restyled in place to read on any background: no template,
    a transparent background, grey axes, grid and error bars, titles at ``font_size``."""
    grey = {"color": NEUTRAL}
    figure.update_layout(
        template="none",
        paper_bgcolor=TRANSPARENT,
        plot_bgcolor=TRANSPARENT,
        font={**grey, "size": font_size},
    )
    axes = {
        "gridcolor": GRID,
        "linecolor": NEUTRAL,
        "tickcolor": NEUTRAL,
        "zerolinecolor": GRID,
        "showline": True,
        "tickfont": grey,
        "title_font": {**grey, "size": font_size},
    }
    figure.update_xaxes(**axes)
    figure.update_yaxes(**axes)
    figure.update_annotations(font_size=font_size)
    figure.update_traces(
        error_x={"color": NEUTRAL, "thickness": 1.5, "width": 3},
        # a hatching drawn over the bar's own colour, in a shade that reads on any colour
        marker_pattern={"fillmode": "overlay", "fgcolor": HATCH},
        selector={"type": "bar"},
    )
    return figure
