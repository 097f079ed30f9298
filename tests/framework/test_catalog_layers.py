"""Every catalog entry's kedro-viz layer is the one its data folder names, so kedro-viz
draws the pipelines in the order the files are written (data/06_models -> layer models)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FOLDER = re.compile(r"data/\d\d_(?P<layer>[a-z_]+)/")


def entries() -> dict[str, tuple[str, str]]:
    """name -> (filepath, layer) of every catalog entry in conf/base with both."""
    found = {}
    for path in sorted((ROOT / "conf/base").glob("catalog*.yml")):
        for name, entry in (yaml.safe_load(path.read_text()) or {}).items():
            if name.startswith("_") or not isinstance(entry, dict):
                continue
            filepath = entry.get("filepath") or (entry.get("dataset") or {}).get("filepath")
            layer = ((entry.get("metadata") or {}).get("kedro-viz") or {}).get("layer")
            if filepath and layer:
                found[f"{path.name}:{name}"] = (filepath, layer)
    return found


def test_every_entry_lives_in_the_folder_of_its_layer():
    found = entries()
    assert len(found) >= 25
    assert "catalog.yml:tune_results" in found
    wrong = {
        name: (filepath, layer)
        for name, (filepath, layer) in found.items()
        if (match := FOLDER.search(filepath)) is None or match["layer"] != layer
    }
    assert not wrong
