"""Ingest one subject of a BIDS dataset: every session through :meth:`Twin.add_visit`.

The whole subject is read and checked first (:func:`braintwin.io.bids.read_bids_subject`:
layout, one image per sequence, dates), so bad input stores nothing. Then each session, in
date order, goes the one ingest path (de-identify, preprocess, segment, store, classify,
update). Each stored session is a complete visit: if session *k* fails, the sessions before
it stay stored and the error says which; re-running the same command skips them
("unchanged": same images, same options) and continues.

Each session's chosen files are linked into a private temporary folder under neutral names
(``t1ce.nii.gz``, …): the visit's identity is a hash of the file *contents*, so this changes
nothing stored, and no BIDS file name (which carries the ``sub-`` label) reaches the store,
the logs or an error message from the readers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from braintwin.errors import BraintwinError, InputError
from braintwin.io.bids import BidsSession, read_bids_subject
from braintwin.twin.ingest import IngestOptions
from braintwin.types import Modality

if TYPE_CHECKING:
    from braintwin.twin.twin import AddVisitResult, Twin

__all__ = ["BidsIngestError", "BidsIngestResult", "BidsSelection", "ingest_bids"]

Progress = Callable[[str, float], None]


@dataclass
class BidsSelection:
    """What to take from the dataset (``ingest --subject/--session/--run/--seg-from``)."""

    subject: str | None = None
    session: str | None = None
    run: int | None = None
    seg_pipeline: str | None = None


@dataclass
class BidsIngestResult:
    """The outcome per session, in date order, and the notes made while reading."""

    results: list[AddVisitResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class BidsIngestError(BraintwinError):
    """A session failed after earlier ones were stored (they stay: each is a whole visit)."""


@contextmanager
def _staged(session: BidsSession) -> Iterator[tuple[Path, dict[str, Modality]]]:
    folder = Path(tempfile.mkdtemp(prefix="braintwin-bids-"))
    try:
        names: dict[str, Modality] = {}
        for m, src in session.images.items():
            name = m.value + (".nii.gz" if src.name.lower().endswith(".gz") else ".nii")
            try:
                os.symlink(src.resolve(), folder / name)
            except OSError:  # a file system without links
                shutil.copyfile(src, folder / name)
            names[name] = m
        yield folder, names
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _check_dates(sessions: list[BidsSession], date: dt.date | None) -> None:
    if date is not None:
        if len(sessions) > 1:
            raise InputError(
                f"--date gives one date for {len(sessions)} sessions",
                "pick one session with --session, or put acq_time in the sessions.tsv",
            )
        known = sessions[0]
        if known.date is not None and known.date != date:
            known.warnings.append(
                f"{known.name}: --date differs from the date in the {known.date_source}; "
                "--date is used"
            )
        known.date, known.date_source = date, "--date"
        return
    undated = [s.name for s in sessions if s.date is None]
    if undated:
        raise InputError(
            f"no date for {', '.join(undated)} (no acq_time in sessions.tsv or scans.tsv, no "
            "AcquisitionDateTime in the sidecars)",
            "pass --date YYYY-MM-DD (one session: pick it with --session), or fill acq_time in "
            "the subject's sessions.tsv",
        )


def ingest_bids(
    twin: Twin,
    path: Path,
    *,
    date: dt.date | None = None,
    options: IngestOptions | None = None,
    selection: BidsSelection | None = None,
    progress: Progress | None = None,
    replace: bool = False,
) -> BidsIngestResult:
    """Ingest one subject's sessions as visits of ``twin`` (see the module docstring).

    ``options.modalities`` are BIDS file-name overrides; ``options.root`` guards every file
    read; ``options.segmentation`` (``--seg``) is allowed with one session only.
    """
    opts = options or IngestOptions()
    sel = selection or BidsSelection()
    subject = read_bids_subject(
        path,
        subject=sel.subject,
        session=sel.session,
        run=sel.run,
        modalities=opts.modalities,
        root=opts.root,
        seg_pipeline=sel.seg_pipeline,
        spacing=opts.spacing_override,
    )
    sessions = subject.sessions
    _check_dates(sessions, date)
    if opts.segmentation is not None and len(sessions) > 1:
        raise InputError(
            f"--seg is one label file for {len(sessions)} sessions",
            "pick the session with --session, or use --seg-from PIPELINE (derivatives/)",
        )
    if opts.segmentation is not None and opts.root is not None:
        from braintwin.io import safe_path

        safe_path(opts.segmentation, opts.root)
    out = BidsIngestResult(warnings=[w for s in sessions for w in s.warnings])
    for n, session in enumerate(sessions):
        with _staged(session) as (folder, names):
            per = dataclasses.replace(
                opts,
                modalities=names,
                modality=None,
                root=None,  # checked above on the real files; the staged links are ours
                segmentation=session.segmentation or opts.segmentation,
            )
            try:
                result = twin.add_visit(
                    folder, session.date, options=per, progress=progress, replace=replace
                )
            except BraintwinError as err:
                if not out.results:
                    raise
                raise BidsIngestError(
                    f"session {n + 1} of {len(sessions)} ({session.name}) failed: {err.message}; "
                    f"{_stored(out)}",
                    (err.hint + "; " if err.hint else "")
                    + "fix it and re-run the same command: stored sessions are skipped",
                ) from err
            except KeyboardInterrupt as exc:
                if out.results:
                    raise type(exc)(f"{exc} ({_stored(out)})") from exc
                raise
        out.results.append(result)
    return out


def _stored(out: BidsIngestResult) -> str:
    dates = ", ".join(str(r.date) for r in out.results)
    return f"{len(out.results)} earlier session(s) stay stored as visits {dates} (shifted)"
