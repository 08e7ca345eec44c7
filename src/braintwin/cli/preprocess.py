"""CLI: ``braintwin preprocess PATH --out DIR`` (one visit, without the store).

Thin: read the visit with ``braintwin.io``, run ``braintwin.preprocess.preprocess_visit``,
write NIfTI files named by modality only (never by input names, which may identify a patient).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from braintwin.atomic import atomic_write
from braintwin.cli.groups import emit_json

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this module's commands to app."""

    @app.command()
    def preprocess(
        path: Annotated[
            Path, typer.Argument(help="NIfTI file, BraTS case folder or DICOM folder (one visit).")
        ],
        out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (created).")],
        spacing: Annotated[
            float, typer.Option("--spacing", help="Isotropic voxel size of the output (mm).")
        ] = 1.0,
        n4: Annotated[bool, typer.Option("--n4/--no-n4", help="N4 bias-field correction.")] = True,
        register_: Annotated[
            bool,
            typer.Option("--register/--no-register", help="Co-register modalities to T1ce."),
        ] = True,
        skull_strip: Annotated[
            str, typer.Option("--skull-strip", help="auto | always | never.")
        ] = "auto",
        reference: Annotated[
            Path | None,
            typer.Option("--reference", help="NIfTI of an earlier visit to register to."),
        ] = None,
        input_spacing: Annotated[
            str | None,
            typer.Option(
                "--input-spacing",
                help="True voxel size of the input in mm (X,Y,Z), replacing the header's "
                "(what `ingest --spacing` does).",
            ),
        ] = None,
    ) -> None:
        """Reorient, resample, co-register, bias-correct, brain-mask and z-score one visit.

        Writes OUT/<modality>.nii.gz (z-scored), OUT/raw_<modality>.nii.gz, OUT/brain_mask.nii.gz,
        OUT/seg.nii.gz (if the input has one) and OUT/transforms.json (to map results back).
        """
        import numpy as np
        from pydantic import ValidationError

        from braintwin.cli.core import progress_bar
        from braintwin.errors import ConfigurationError
        from braintwin.io import load_nifti, read_visit_images, save_nifti
        from braintwin.preprocess import (
            PreprocessOptions,
            apply_transform,
            preprocess_visit,
            reorient_ras,
        )

        try:
            opts = PreprocessOptions(
                spacing=(spacing, spacing, spacing),
                n4=n4,
                register=register_,
                skull_strip=skull_strip,  # type: ignore[arg-type]
            )
        except ValidationError as err:
            first = err.errors()[0]
            raise ConfigurationError(
                f"invalid option {'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
                "see braintwin preprocess --help",
            ) from None
        start = time.perf_counter()
        from braintwin.cli.core import parse_spacing

        images = read_visit_images(path, spacing=parse_spacing(input_spacing))
        ref = load_nifti(reference) if reference is not None else None
        with progress_bar("preprocess") as update:
            result = preprocess_visit(images.volumes, reference=ref, options=opts, progress=update)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for m, v in result.volumes.items():
            written.append(save_nifti(v, out / f"{m.value}.nii.gz").name)
            written.append(save_nifti(result.raw[m], out / f"raw_{m.value}.nii.gz").name)
        written.append(save_nifti(result.brain_mask, out / "brain_mask.nii.gz").name)
        if images.segmentation is not None:
            # Labels share the fixed modality's native grid in the BraTS layout.
            fixed = result.transforms["fixed"]
            seg = apply_transform(
                reorient_ras(images.segmentation),
                np.asarray(result.transforms["modalities"][fixed]["matrix"]),
                result.brain_mask,
            )
            written.append(save_nifti(seg, out / "seg.nii.gz").name)
        atomic_write(out / "transforms.json", json.dumps(result.transforms, indent=1))
        written.append("transforms.json")
        seconds = time.perf_counter() - start
        for note in result.notes:
            typer.echo(note)
        typer.echo(f"wrote {len(written)} files to {out} in {seconds:.1f} s")
        emit_json({"seconds": round(seconds, 2), "timings": result.timings, "files": written})
