"""The example notebook runs top to bottom in a real Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook" / "flow.ipynb"


def _outputs(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return list(cell.get("outputs", []))


def test_the_flow_notebook_displays_the_diagram_and_posts(tmp_path: Path) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=45, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [out for cell in code for out in _outputs(cell) if out.output_type == "error"]
    assert errors == []
    displayed = [out for out in _outputs(code[1]) if out.output_type in ("execute_result", "display_data")]
    assert displayed, "displaying the Flow produced no output"
    svg = displayed[0]["data"]["image/svg+xml"]
    assert "<svg" in svg and "upper" in svg and "audit" in svg
    printed = "".join(out.get("text", "") for out in _outputs(code[2]) if out.output_type == "stream")
    assert "['HELLO', 'NOTEBOOK']" in printed
