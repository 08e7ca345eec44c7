"""CLI commands: ingest, patients, show, report, demo, bench ingest.

Thin: parse arguments, call the twin, print. Identifiers typed by the user are turned into
pseudonyms before anything is stored or printed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from braintwin.cli.groups import InterruptReported, bench_app, emit_json
from braintwin.errors import InputError

__all__ = [
    "DbOpt",
    "echo_model_status",
    "open_store",
    "parse_date",
    "parse_spacing",
    "progress_bar",
    "register",
    "spacing_or_header",
]


DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: SQLite under $BRAINTWIN_HOME)."),
]


def parse_date(text: str | None) -> dt.date | None:
    """Parse YYYY-MM-DD; a clear error otherwise."""
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"not a date: {text!r}", "use YYYY-MM-DD, e.g. 2024-03-01") from None


def _modality_overrides(items: list[str] | None) -> tuple[dict[str, Any] | None, Any]:
    """``--modality t1ce`` (one image) or ``--modality NAME=t1ce`` (per file/series)."""
    from braintwin.types import Modality

    if not items:
        return None, None
    per: dict[str, Modality] = {}
    single = None
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            mod = Modality(value.strip().lower())
        except ValueError:
            allowed = ", ".join(m.value for m in Modality.mri())
            raise InputError(f"unknown modality {value!r}", f"use one of {allowed}") from None
        if sep:
            per[name] = mod
        else:
            single = mod
    return (per or None), single


def parse_spacing(text: str | None) -> tuple[float, float, float] | None:
    """``--spacing 1,1,5`` (mm along the image's three axes) or one number for isotropic."""
    if text is None:
        return None
    parts = [p for p in text.replace("x", ",").split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 3
    if len(values) != 3 or not all(0.05 <= v <= 20 for v in values):
        raise InputError(
            f"not a voxel size: {text!r}",
            "give three sizes in mm along the image axes, e.g. --spacing 0.9,0.9,5",
        )
    return (values[0], values[1], values[2])


def spacing_or_header(text: str) -> tuple[float, float, float] | None:
    """An evaluation's ``--spacing``: ``header`` trusts the files, anything else is a voxel size."""
    return None if text.strip().lower() == "header" else parse_spacing(text)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[str, float], None]]:
    """Progress on stderr driven by ``(message, fraction)`` callbacks: a rich bar on a
    terminal, otherwise one plain line per new step (so logs and pipes show progress too)."""
    import sys

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:  # logs, CI, pipes: plain lines with a heartbeat
        from braintwin.cli.steps import step_progress

        with step_progress(description, stream=sys.stderr) as plain:
            yield plain
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[step]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as prog:
        task = prog.add_task(description, total=1.0, step="")

        def update(message: str, fraction: float) -> None:
            prog.update(task, completed=max(0.0, min(1.0, fraction)), step=message)

        yield update
        prog.update(task, completed=1.0, step="done")


def open_store(db: str | None) -> Any:
    from braintwin.store import Store

    return Store.open(url=db)


def ingest_visit(
    path: Path,
    patient: str,
    date: dt.date | None,
    *,
    db: str | None = None,
    modality: list[str] | None = None,
    root: Path | None = None,
    segment: str | None = "unet",
    n4: bool = True,
    update_model: bool = True,
    classify: bool = True,
    spacing: tuple[float, float, float] | None = None,
    seg: Path | None = None,
    replace: bool = False,
) -> Any:
    """Ingest one visit for ``patient`` and return the ``AddVisitResult``."""
    from braintwin.twin import Twin

    opts = _ingest_options(modality, root, segment, n4, update_model, classify, spacing, seg)
    twin = Twin.open(patient, store=open_store(db), create=True)
    with progress_bar("ingest") as update:
        result = twin.add_visit(path, date, options=opts, progress=update, replace=replace)
    return twin, result


def _ingest_options(
    modality: list[str] | None, root: Path | None, segment: str | None, n4: bool,
    update_model: bool, classify: bool, spacing: tuple[float, float, float] | None,
    seg: Path | None,
) -> Any:  # fmt: skip
    """The ``IngestOptions`` of ``ingest``'s command-line options (one folder or BIDS)."""
    from braintwin.twin import IngestOptions

    per, single = _modality_overrides(modality)
    return IngestOptions(
        modalities=per,
        modality=single,
        root=root,
        segment=segment,
        n4=n4,
        update_model=update_model,
        classify=classify,
        spacing_override=spacing,
        segmentation=seg,
    )


def _bids_ingest(
    path: Path, patient: str, date: str | None, modality: list[str] | None, root: Path | None,
    segment: str, n4: bool, update: bool, classify: bool, spacing: str | None,
    seg: Path | None, replace: bool, db: str | None, bids: dict[str, Any],
) -> bool:  # fmt: skip
    """Hand a BIDS folder to :mod:`braintwin.cli.bids`; False (nothing done) for other input.
    Refuses the BIDS-only options on other input."""
    from braintwin.io.bids import is_bids_input

    if not is_bids_input(path):
        given = [f"--{k.replace('_', '-')}" for k, v in bids.items() if v is not None]
        if given:
            raise InputError(f"{', '.join(given)} only apply to a BIDS folder", "drop them")
        return False
    from braintwin.cli.bids import ingest_bids_command

    segmenter = None if segment.lower() == "none" else segment
    opts = _ingest_options(
        modality, root, segmenter, n4, update, classify, parse_spacing(spacing), seg
    )
    if opts.modality is not None:
        raise InputError("a BIDS folder holds several images", "name each: --modality FILE=t1ce")
    try:
        ingest_bids_command(
            path, patient, parse_date(date), db=db, options=opts, replace=replace, **bids
        )
    except KeyboardInterrupt as err:
        raise _interrupted(err) from None
    return True


def _interrupted(err: KeyboardInterrupt) -> InterruptReported:
    """Ctrl-C: say in one line what was and was not stored; exit 130 like a shell."""
    typer.secho(str(err) or "interrupted", fg=typer.colors.RED, err=True)
    return InterruptReported()


ACTIONS = {
    "stored": "stored",
    "unchanged": "already stored (same images and options; nothing changed)",
    "resumed": "already stored; the model update it lacked was completed",
    "re-dated": "already stored; re-dated as asked",
    "replaced": "replaced (corrected images or options)",
}


def echo_model_status(twin: Any) -> None:
    """Warn when the model has not seen every visit as it is now."""
    status = twin.model_status()
    if status.stale:
        typer.secho(
            f"  model out of date: {status.reason}; run `braintwin update {twin.id}`",
            fg=typer.colors.YELLOW,
        )


def _clinical_summary(twin: Any) -> dict[str, Any]:
    """The imported clinical course and the twin's treatment plan (JSON-able)."""
    from braintwin.twin.clinical import load_course
    from braintwin.twin.model import load_plan

    stored = load_course(twin)
    plan = load_plan(twin)
    return {
        "clinical_course": None if stored is None else stored.course.model_dump(mode="json"),
        "plan": None if plan is None else plan.model_dump(mode="json"),
    }


def _echo_clinical(clinical: dict[str, Any]) -> None:
    from braintwin.clinical import ClinicalCourse
    from braintwin.clinical.summary import course_lines
    from braintwin.report.naming import plan_summary

    if clinical["clinical_course"] is not None:
        typer.echo("  clinical course (imported from FHIR):")
        course = ClinicalCourse.model_validate(clinical["clinical_course"])
        for line in course_lines(course):
            typer.echo("  " + line)
    if clinical["plan"] is not None:
        typer.echo(f"  treatment plan: {plan_summary(clinical['plan'])}")


def register(app: typer.Typer) -> None:
    """Add the core commands to ``app``."""

    @app.command()
    def ingest(
        path: Annotated[
            Path,
            typer.Argument(help="NIfTI file, BraTS case, DICOM or BIDS (dataset/sub/ses) folder."),
        ],
        patient: Annotated[
            str, typer.Option("--patient", "-p", help="Patient identifier (pseudonymised).")
        ],
        date: Annotated[
            str | None,
            typer.Option("--date", "-d", help="Visit date YYYY-MM-DD (DICOM: StudyDate)."),
        ] = None,
        modality: Annotated[
            list[str] | None,
            typer.Option("--modality", "-m", help="Override: 't1ce' or 'NAME=t1ce' (repeatable)."),
        ] = None,
        root: Annotated[
            Path | None, typer.Option("--root", help="Refuse inputs outside this data folder.")
        ] = None,
        segment: Annotated[
            str, typer.Option("--segment", help="Segmentation method, or 'none'.")
        ] = "unet",
        n4: Annotated[bool, typer.Option("--n4/--no-n4", help="N4 bias-field correction.")] = True,
        update: Annotated[
            bool,
            typer.Option(
                "--update/--no-update",
                help="Calibrate/assimilate the growth model and forecast after storing.",
            ),
        ] = True,
        classify: Annotated[
            bool, typer.Option("--classify/--no-classify", help="Classify the tumour type.")
        ] = True,
        spacing: Annotated[
            str | None,
            typer.Option(
                "--spacing",
                help="Voxel size in mm (X,Y,Z along the image axes) replacing the header's, "
                "for files whose header lies about it.",
            ),
        ] = None,
        seg: Annotated[
            Path | None,
            typer.Option(
                "--seg",
                help="Expert or corrected label file (BraTS labels 0/1/2/4, or a binary "
                "enhancing-tumour mask) on the grid of one of the images; used instead of "
                "the network and drives the model.",
            ),
        ] = None,
        replace: Annotated[
            bool,
            typer.Option("--replace", help="Replace a different visit stored on the same date."),
        ] = False,
        subject: Annotated[
            str | None, typer.Option("--subject", help="BIDS: the subject (sub-LABEL) to ingest.")
        ] = None,
        session: Annotated[
            str | None, typer.Option("--session", help="BIDS: only this session (ses-LABEL).")
        ] = None,
        run: Annotated[
            int | None,
            typer.Option("--run", help="BIDS: the run to use where a sequence has several."),
        ] = None,
        seg_from: Annotated[
            str | None,
            typer.Option(
                "--seg-from",
                help="BIDS: use each session's *_dseg from derivatives/PIPELINE as its label.",
            ),
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """Ingest one visit (a BIDS folder: one visit per session): de-identify, preprocess,
        segment, store, update the model."""
        bids = {"subject": subject, "session": session, "run": run, "seg_from": seg_from}
        if _bids_ingest(path, patient, date, modality, root, segment, n4, update, classify,
                        spacing, seg, replace, db, bids):  # fmt: skip
            return
        try:
            twin, result = ingest_visit(
                path,
                patient,
                parse_date(date),
                db=db,
                modality=modality,
                root=root,
                segment=None if segment.lower() == "none" else segment,
                n4=n4,
                update_model=update,
                classify=classify,
                spacing=parse_spacing(spacing),
                seg=seg,
                replace=replace,
            )
        except KeyboardInterrupt as err:
            raise _interrupted(err) from None
        mods = ", ".join(m.value for m in result.modalities)
        typer.echo(f"patient {twin.id}: visit {result.date} {ACTIONS[result.action]} [{mods}]")
        for flag in result.flags:
            typer.secho(f"  note: {flag}", fg=typer.colors.YELLOW)
        for note in result.model_notes:
            typer.echo(f"  model: {note}")
        echo_model_status(twin)

    @app.command()
    def update(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        db: DbOpt = None,
    ) -> None:
        """Bring the growth model up to date with every stored visit (resume after Ctrl-C)."""
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        try:
            with progress_bar("update") as bar:
                result = twin.update(progress=bar)
        except KeyboardInterrupt as err:
            raise _interrupted(
                KeyboardInterrupt("interrupted: the model was left as it was before")
            ) from err
        for note in result.notes:
            typer.echo(f"  model: {note}")
        for score in result.scores:
            typer.echo(f"  model: {score.line()}")
        echo_model_status(twin)

    @app.command()
    def patients(db: DbOpt = None) -> None:
        """List the patients in the store (pseudonyms and visit counts)."""
        rows = open_store(db).list_patients()
        if not rows:
            typer.echo(
                "no patients yet: add one with `braintwin ingest PATH --patient ID --date YYYY-MM-DD`"
            )
            return
        for r in rows:
            typer.echo(f"{r.id}  visits={r.n_visits}  first={r.first_date}  last={r.last_date}")

    @app.command()
    def show(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False,
        db: DbOpt = None,
    ) -> None:
        """Show a patient's twin: visits, modalities, measurements, history."""
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        summary = twin.summary()
        clinical = _clinical_summary(twin)
        if as_json:
            typer.echo(json.dumps({**summary, **clinical}, default=str))
            return
        typer.echo(
            f"patient {summary['patient']}  ({len(summary['visits'])} visit(s); dates shifted)"
        )
        _echo_clinical(clinical)
        for v in summary["visits"]:
            mods = [n for n in v["volumes"] if n in {"t1", "t1ce", "t2", "flair"}]
            seg = v["segmentation"]
            state = f"segmented ({seg['method']})" if seg else "not segmented"
            if "extra:reference_seg" in v["volumes"]:
                state += "; expert label on file"
            if v.get("synthetic"):
                state += "; SYNTHETIC (in-silico visit, not patient data)"
            typer.echo(f"  {v['date']}  {','.join(mods)}  {state}")
            for region, m in (v["measurements"] or {}).items():
                if isinstance(m, dict) and "volume_ml" in m:
                    typer.echo(f"      {region:<9} {m['volume_ml']:8.2f} mL")
            cls = v.get("classification")
            if cls:
                p = cls["probabilities"][cls["label"]]
                typer.echo(f"      tumour type: {cls['label']} (p={p:.2f}; {cls['note']})")
        model = summary["model"]
        if model["posteriors"]:
            last = model["posteriors"][-1]
            typer.echo(
                f"  model: {len(model['posteriors'])} posterior(s), latest after {last['visit_date']}"
                f" ({last['source']}); {model['forecasts']} forecast(s) stored"
            )
            for name, summ in (last["summary"] or {}).items():
                lo, hi = summ["interval_90"]
                typer.echo(
                    f"      {name:<6} {summ['median']:.4g} (90% {lo:.4g}-{hi:.4g}) {summ['unit']}"
                )
        from braintwin.twin.model import ForecastScore

        for sc in model["forecast_scores"]:
            typer.echo(f"  {ForecastScore.from_dict(sc).line()}")
        echo_model_status(twin)

    visits_app = typer.Typer(
        help="Correct a twin's timeline: delete or re-date a stored visit (recorded as events).",
        no_args_is_help=True,
    )
    app.add_typer(visits_app, name="visits")

    @visits_app.command("delete")
    def visits_delete(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        date: Annotated[
            str, typer.Argument(help="The visit's stored (shifted) date, from `show`.")
        ],
        db: DbOpt = None,
    ) -> None:
        """Delete one visit; the model is marked out of date (`braintwin update` re-builds it)."""
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        day = parse_date(date)
        assert day is not None  # typer: the argument is required
        twin.delete_visit(day)
        typer.echo(f"patient {twin.id}: visit {day} deleted")
        echo_model_status(twin)

    @visits_app.command("redate")
    def visits_redate(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        date: Annotated[
            str, typer.Argument(help="The visit's stored (shifted) date, from `show`.")
        ],
        to: Annotated[
            str, typer.Option("--to", help="The correct REAL date YYYY-MM-DD (as for ingest).")
        ],
        db: DbOpt = None,
    ) -> None:
        """Move a visit to its correct date (typed as a real date; stored shifted)."""
        from braintwin.twin import Twin

        twin = Twin.open(patient, store=open_store(db))
        day, real = parse_date(date), parse_date(to)
        assert day is not None and real is not None  # typer: both are required
        new = twin.redate_visit(day, real)
        typer.echo(f"patient {twin.id}: visit {day} moved to {new} (shifted)")
        echo_model_status(twin)

    @app.command()
    def report(
        patient: Annotated[str, typer.Argument(help="Patient identifier or pseudonym.")],
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Output file (.html, or .pdf for the PDF)."),
        ] = None,
        pdf: Annotated[
            bool, typer.Option("--pdf", help="Write the PDF (A4) instead of the HTML page.")
        ] = False,
        db: DbOpt = None,
    ) -> None:
        """Write the patient's report: HTML page, or PDF with --pdf (summary, course over
        time, RANO table, slices per visit, registration checks, model and forecasts)."""
        from braintwin.twin import Twin
        from braintwin.twin.reporting import write_report, write_report_pdf

        as_pdf = pdf or (out is not None and out.suffix.lower() == ".pdf")
        if as_pdf and out is not None and out.suffix.lower() not in {".pdf", ""}:
            raise InputError(
                f"--pdf writes a PDF, but the output file ends in {out.suffix!r}",
                "name the output file *.pdf",
            )
        twin = Twin.open(patient, store=open_store(db))
        path = write_report_pdf(twin, out) if as_pdf else write_report(twin, out)
        typer.echo(f"report written: {path}")

    @app.command()
    def demo(
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Where to write the report.")
        ] = None,
        db: DbOpt = None,
    ) -> None:
        """End-to-end demo on a real BraTS case shipped with braintwin."""
        from braintwin.twin.demo import run_demo

        with progress_bar("demo") as update:
            result = run_demo(store=open_store(db), out=out, progress=update)
        for line in result.lines:
            typer.echo(line)

    @bench_app.command("ingest")
    def bench_ingest(
        case_dir: Annotated[Path, typer.Argument(help="A BraTS case folder (4 modalities).")],
        repeat: Annotated[int, typer.Option(help="Timed repetitions (median reported).")] = 1,
    ) -> None:
        """Time ingest + preprocessing of one case (read, RAS, resample, register, N4, mask, z-score)."""
        import statistics
        import time

        from braintwin.twin import prepare_visit
        from braintwin.twin.ingest import IngestOptions

        times: list[float] = []
        steps: dict[str, float] = {}
        for _ in range(max(1, repeat)):
            t0 = time.perf_counter()
            prepared = prepare_visit(
                case_dir,
                date=dt.date(2000, 1, 1),
                date_offset_days=0,
                options=IngestOptions(segment=None),
            )
            times.append(time.perf_counter() - t0)
            steps = {k: round(v, 2) for k, v in prepared.timings_s.items()}
        secs = statistics.median(times)
        typer.echo(f"ingest + preprocessing: {secs:.1f} s (steps: {steps})")
        emit_json({"seconds": round(secs, 2), "steps_s": steps, "repeat": len(times)})
