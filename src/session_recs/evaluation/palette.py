"""The project's colours: Okabe-Ito's eight colour-blind-safe colours (no black), one per
model, shared by the report's charts, the notebooks and kedro-viz's chart.

Past eight models a colour comes back with another line dash, bar pattern, marker symbol
or hatch, so up to 48 models stay distinct in every chart of a run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: Okabe & Ito (2008), "Color Universal Design": orange, sky blue, bluish green, yellow,
#: blue, vermillion, reddish purple, grey (their black left out: invisible on a dark theme).
OKABE_ITO = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999",
)  # fmt: skip
#: A neutral for what is not a model (reference lines, error bars): legible on light and
#: dark backgrounds alike.
NEUTRAL = "#808080"
#: What tells apart two models of the same colour (the n-th colour cycle uses the n-th).
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
PATTERNS = ("", "/", "x", ".", "+", "-")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x")
HATCHES = ("", "//", "xx", "..", "++", "--")
LINESTYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (3, 1, 1, 1)))
MARKERS = ("o", "s", "D", "^", "P", "X")


@dataclass(frozen=True)
class Style:
    """How one model is drawn: its colour, and which of the variants above (0: plain)."""

    colour: str
    variant: int = 0

    @property
    def dash(self) -> str:
        """Its plotly line dash."""
        return DASHES[self.variant]

    @property
    def pattern(self) -> str:
        """Its plotly bar pattern ("" for plain)."""
        return PATTERNS[self.variant]

    @property
    def symbol(self) -> str:
        """Its plotly marker symbol."""
        return SYMBOLS[self.variant]

    @property
    def hatch(self) -> str:
        """Its matplotlib hatch ("" for plain)."""
        return HATCHES[self.variant]

    @property
    def matplotlib(self) -> dict[str, object]:
        """Its matplotlib line properties (``ax.plot(x, y, **style.matplotlib)``)."""
        return {
            "color": self.colour,
            "linestyle": LINESTYLES[self.variant],
            "marker": MARKERS[self.variant],
        }


def model_styles(models: Iterable[object]) -> dict[str, Style]:
    """A style per model, by the models' sorted names (the same in every chart of a run):
    the i-th model takes colour i mod 8 and variant i // 8 (mod 6)."""
    names = sorted({str(model) for model in models})
    n = len(OKABE_ITO)
    return {name: Style(OKABE_ITO[i % n], (i // n) % len(DASHES)) for i, name in enumerate(names)}


def model_colours(models: Iterable[object]) -> dict[str, str]:
    """A colour per model (:func:`model_styles`' colours)."""
    return {name: style.colour for name, style in model_styles(models).items()}
