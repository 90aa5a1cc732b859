"""The cell plugin template as a new author uses it: its README's rename recipe renames the
package and leaves the README's own steps alone, and the renamed plugin works."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "examples" / "cell-plugin-template"


def _rename_recipe() -> str:
    readme = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    found = re.search(r"2\. \*\*Rename\*\*.*?```bash\n(.*?)```", readme, re.S)
    assert found, "the template README no longer shows its rename recipe"
    return found.group(1)


def test_the_rename_recipe_renames_the_plugin_and_leaves_the_readme_alone(tmp_path):
    copy = tmp_path / "candlecast-peephole"
    shutil.copytree(TEMPLATE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    readme = (copy / "README.md").read_bytes()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _rename_recipe()],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert (copy / "README.md").read_bytes() == readme  # its steps still read right
    leftovers = [
        str(path.relative_to(copy))
        for path in copy.rglob("*")
        if path.is_file()
        and path.name != "README.md"
        and re.search(r"my_cell|my-cell|MyCell", path.read_text(encoding="utf-8"))
    ]
    assert leftovers == []
    assert 'peephole = "candlecast_peephole"' in (copy / "pyproject.toml").read_text()
    assert (
        'PACKAGE = "candlecast_peephole"'
        in (copy / "src" / "candlecast_peephole" / "layers.py").read_text()
    )
    assert (copy / "tests" / "test_peephole.py").is_file()

    code = (
        "import sys; sys.path.insert(0, 'src'); import candlecast_peephole as p; "
        "import keras; cell = p.PeepholeCell(); "
        "print(cell.name, keras.saving.get_registered_name(p.layers.StackedGRU))"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], cwd=copy, capture_output=True, text=True, timeout=300
    )
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert imported.stdout.split() == ["peephole", "candlecast_peephole>StackedGRU"]
