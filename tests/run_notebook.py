"""Executes a notebook headless with nbclient; fails on any cell error.

    run_notebook.py NOTEBOOK.ipynb OUTPUT.ipynb [MIN_IMAGES]

Exits 77 (ctest's skip code) when nbclient is not installed. The executed
notebook is written to OUTPUT for inspection; the run also fails when fewer
than MIN_IMAGES image outputs (figures) were produced.
"""
import os
import sys

try:
    import nbclient
    import nbformat
except ImportError as e:
    print("skipped: %s (install python3-nbclient python3-ipykernel, see scripts/setup.sh)" % e)
    sys.exit(77)


def main():
    source, output = sys.argv[1], sys.argv[2]
    min_images = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    nb = nbformat.read(source, as_version=4)
    # The kernel must be this interpreter (Debian's, with numpy): put it first on PATH.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": os.path.dirname(os.path.abspath(source))}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        nbformat.write(nb, output)
        print("notebook failed (executed copy: %s):\n%s" % (output, e))
        return 1
    nbformat.write(nb, output)
    images = sum(1 for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
                 if "image/png" in out.get("data", {}))
    print("notebook ran: %d code cells, %d figure(s); executed copy: %s" %
          (sum(c.cell_type == "code" for c in nb.cells), images, output))
    if images < min_images:
        print("expected at least %d figure(s)" % min_images)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
