"""Run mutated inputs through the readers in a worker process and classify every outcome.

Outcomes: ``ok`` (read), ``error`` (a one-line ``BraintwinError``), ``escape`` (any other
exception, or a multi-line message), ``hang`` (no answer within the timeout: the worker is
killed and restarted) and ``over_allocation`` (peak resident memory grew by more than twice
the size the input declares plus a margin). Peak memory is measured per input by resetting
the kernel's high-water mark (``/proc/self/clear_refs``, Linux) before each read; elsewhere
the memory check is skipped.

Case ``i`` of a run with seed ``S`` is generated from ``random.Random(f"{S}:{i}")``, so any
case can be regenerated on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import random
import shutil
import struct
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from braintwin.fuzz.mutators import Case, make_case
from braintwin.fuzz.seeds import make_seeds

__all__ = ["OUTCOMES", "Finding", "FuzzReport", "classify_read", "run_fuzz"]

OUTCOMES = ("ok", "error", "escape", "hang", "over_allocation")
_MARGIN_BYTES = 64 << 20  # interpreter, parser tables, lazily imported decoders
_SECRET = b"fuzz" * 8


@dataclass
class Finding:
    """A case that was not ``ok``/``error``: enough to regenerate and to group it."""

    index: int
    reader: str
    label: str
    outcome: str
    detail: str


@dataclass
class FuzzReport:
    """Counts by outcome and by reader, the non-clean findings, the wall time."""

    n: int = 0
    seed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    by_reader: dict[str, Counter[str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    memory_checked: bool = True

    @property
    def failures(self) -> int:
        return sum(self.outcomes[k] for k in ("escape", "hang", "over_allocation"))

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "seed": self.seed,
            "outcomes": {k: int(self.outcomes[k]) for k in OUTCOMES},
            "by_reader": {
                r: {k: int(c[k]) for k in OUTCOMES if c[k]}
                for r, c in sorted(self.by_reader.items())
            },
            "findings": [f.__dict__ for f in self.findings[:20]],
            "memory_checked": self.memory_checked,
            "seconds": round(self.seconds, 1),
        }


# -- worker side -----------------------------------------------------------------------------
def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _nifti_declared(path: Path) -> int:
    """Voxels x bytes of the result: the stored type, or float32/64 when scl_slope/inter
    scale the data."""
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        head = fh.read(348)
    for order in "<>":
        if len(head) == 348 and struct.unpack_from(order + "i", head, 0)[0] == 348:
            dims = struct.unpack_from(order + "8h", head, 40)
            bitpix = struct.unpack_from(order + "h", head, 72)[0]
            slope, inter = struct.unpack_from(order + "2f", head, 112)
            nvox = 1
            for d in dims[1 : max(1, min(dims[0], 7)) + 1]:
                nvox *= max(d, 1)
            size = max(bitpix // 8, 1)
            if (slope == slope and slope not in (0.0, 1.0)) or (slope == 1.0 and inter != 0.0):
                size = 8 if size == 8 else 4
            return nvox * size
    return 0


def _dicom_declared(path: Path) -> int:
    """Pixels x bytes of the result: BitsAllocated, or float32 when rescaled."""
    import pydicom

    total = 0
    for p in [path] if path.is_file() else sorted(x for x in path.iterdir() if x.is_file()):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True, force=True)
            frames = max(int(ds.get("NumberOfFrames", 1) or 1), 1)
            size = max(int(ds.BitsAllocated) // 8, 1)
            scaled = float(ds.get("RescaleSlope", 1) or 1) != 1 or float(
                ds.get("RescaleIntercept", 0) or 0
            )
            total += int(ds.Rows) * int(ds.Columns) * frames * (4 if scaled else size)
        except Exception:
            continue
    return total


def _image_declared(path: Path) -> int:
    if path.suffix.lower() == ".dcm":
        return _dicom_declared(path)
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            return w * h * max(4, len(im.getbands()) * 4)  # float32 working copy
    except Exception:
        return 0


def _declared(reader: str, path: Path) -> int:
    """What the input declares it needs in memory (0 when its header does not parse)."""
    try:
        if reader == "nifti":
            return _nifti_declared(path)
        if reader == "dicom":
            return _dicom_declared(path)
        if reader == "image":
            return _image_declared(path)
        total = 0
        for p in sorted(path.rglob("*")):
            if p.name.endswith((".nii", ".nii.gz")):
                total += _nifti_declared(p)
            elif p.is_dir():
                total += _dicom_declared(p)
        return total
    except Exception:
        return 0


def _read(reader: str, path: Path) -> None:
    if reader == "nifti":
        from braintwin.io.nifti import load_nifti

        load_nifti(path)
    elif reader == "dicom":
        from braintwin.io.dicom import load_dicom_series

        load_dicom_series(path, secret=_SECRET)
    elif reader == "image":
        from braintwin.classify.image_io import load_image

        load_image(path)
    else:
        from braintwin.io.layout import read_visit_images

        read_visit_images(path, secret=_SECRET)


def classify_read(reader: str, path: Path) -> tuple[str, str]:
    """Run one reader on ``path`` in this process: (outcome, detail) without memory checks."""
    from braintwin.errors import BraintwinError

    try:
        _read(reader, path)
    except BraintwinError as err:
        text = str(err)
        if "\n" in text or not text.strip():
            return "escape", f"{type(err).__name__} with a multi-line or empty message"
        return "error", text[:200]
    except Exception as err:
        tb = traceback.extract_tb(err.__traceback__)
        where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
        return "escape", f"{type(err).__name__} at {where}: {str(err)[:160]}"
    return "ok", ""


def _worker(conn: Connection) -> None:
    import warnings

    warnings.simplefilter("ignore")  # parsers warn about every broken header; outcomes count
    import braintwin.classify.image_io
    import braintwin.io  # noqa: F401 - import once, before any baseline is taken

    while True:
        msg = conn.recv()
        if msg is None:
            return
        reader, path_text = msg
        path = Path(path_text)
        declared = _declared(reader, path)
        size = (
            sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
            if path.is_dir()
            else path.stat().st_size
        )
        checked = _reset_peak()
        base = _status_kib("VmRSS")
        outcome, detail = classify_read(reader, path)
        grown = (_status_kib("VmHWM") - base) * 1024 if checked else 0
        conn.send((outcome, detail, grown, max(declared, size), checked))


# -- parent side -----------------------------------------------------------------------------
class _Worker:
    def __init__(self) -> None:
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()

    def ask(self, case: Case, timeout: float) -> tuple[Any, ...] | None:
        self.conn.send((case.reader, str(case.path)))
        if self.conn.poll(timeout):
            try:
                return tuple(self.conn.recv())
            except EOFError:
                return ("escape", "worker died (killed by the OS?)", 0, 0, False)
        return None

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)


def run_fuzz(
    n: int,
    seed: int = 0,
    timeout: float = 10.0,
    keep: Path | None = None,
    progress: Any = None,
) -> FuzzReport:
    """Generate ``n`` mutated inputs from the demo seeds and read each in a worker process.

    Args:
        n: number of inputs.
        seed: makes the run reproducible (case ``i`` comes from ``Random(f"{seed}:{i}")``).
        timeout: seconds after which a read counts as a hang.
        keep: folder to copy every escape/hang/over-allocation case into (for regression tests).
        progress: optional callback ``(done, n)``.
    """
    report = FuzzReport(n=n, seed=seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="braintwin-fuzz-") as tmp:
        seeds = make_seeds(Path(tmp) / "seeds")
        worker = _Worker()
        try:
            for i in range(n):
                folder = Path(tmp) / f"case{i}"
                folder.mkdir()
                case = make_case(random.Random(f"{seed}:{i}"), seeds, folder)
                answer = worker.ask(case, timeout)
                if answer is None:
                    worker.stop(kill=True)
                    worker = _Worker()
                    outcome, detail = "hang", f"no answer within {timeout:g} s"
                else:
                    outcome, detail, grown, declared, checked = answer
                    report.memory_checked = report.memory_checked and bool(checked)
                    if outcome in ("ok", "error") and grown > 2 * declared + _MARGIN_BYTES:
                        outcome = "over_allocation"
                        detail = f"grew {grown >> 20} MiB for {declared >> 20} MiB declared"
                report.outcomes[outcome] += 1
                report.by_reader.setdefault(case.reader, Counter())[outcome] += 1
                if outcome not in ("ok", "error"):
                    report.findings.append(Finding(i, case.reader, case.label, outcome, detail))
                    if keep is not None:
                        shutil.copytree(folder, keep / f"{outcome}-{seed}-{i}", dirs_exist_ok=True)
                shutil.rmtree(folder, ignore_errors=True)
                if progress is not None:
                    progress(i + 1, n)
        finally:
            worker.stop()
    report.seconds = time.perf_counter() - t0
    return report
