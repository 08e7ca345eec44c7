"""A trial's results folder: a manifest of its settings and one JSON file per patient.

Layout::

    OUT/manifest.json        trial settings, arms (name + plan fingerprint), format version
    OUT/patients/p00007.json  one finished patient (written atomically as it finishes)
    OUT/summary.json, OUT/pfs.png   written by the analysis (``braintwin trial report``)

Every file is written through ``braintwin.atomic``, so a patient's file is complete or absent:
an interrupted run leaves only finished patients, and a re-run with the same folder skips them.
A folder made with other settings or arms is refused (nothing is mixed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from braintwin.atomic import atomic_write, is_temp_name
from braintwin.cohort.spec import ArmSpec, PatientOutcome, TrialSettings, arm_fingerprint
from braintwin.errors import InputError

__all__ = ["FORMAT", "ResultsFolder"]

FORMAT = "braintwin-virtual-trial/1"


@dataclass(frozen=True)
class ResultsFolder:
    """The results folder ``root`` of one trial."""

    root: Path

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def patients_dir(self) -> Path:
        return self.root / "patients"

    def patient_path(self, index: int) -> Path:
        return self.patients_dir / f"p{index:05d}.json"

    @staticmethod
    def manifest_for(settings: TrialSettings, arms: tuple[ArmSpec, ...]) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "synthetic": True,
            "settings": settings.to_json(),
            "arms": [{"name": a.name, "plan": arm_fingerprint(a)} for a in arms],
        }

    def open(
        self, settings: TrialSettings, arms: tuple[ArmSpec, ...], *, create: bool = True
    ) -> None:
        """Check that the folder holds this trial, or is new (then create it unless
        ``create`` is False: nothing is written before the cluster is reachable)."""
        want = self.manifest_for(settings, arms)
        if self.manifest_path.exists():
            have = self.read_manifest()
            diff = [
                f"{k}={have['settings'].get(k)!r} (now {v!r})"
                for k, v in want["settings"].items()
                if have["settings"].get(k) != v
            ]
            if have.get("arms") != want["arms"]:
                names = [a["name"] for a in have.get("arms", [])]
                diff.append(f"arms={','.join(names)} (now {','.join(a.name for a in arms)})")
            if diff:
                raise InputError(
                    f"results folder {self.root} holds another trial: {'; '.join(diff)}",
                    "resume with the same settings, or give a new folder",
                )
            return
        if self.root.exists() and any(self.root.iterdir()):
            raise InputError(
                f"{self.root} is not empty and is not a trial results folder",
                "give a new or empty folder",
            )
        if not create:
            return
        self.patients_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.manifest_path, json.dumps(want, indent=2) + "\n")

    def read_manifest(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(
                f"{self.root} is not a trial results folder (no manifest.json)",
                "run `braintwin trial run` into it first",
            ) from None
        except (OSError, ValueError) as err:
            raise InputError(f"cannot read {self.manifest_path}: {err}") from None
        if data.get("format") != FORMAT:
            raise InputError(f"{self.manifest_path} is not a {FORMAT} manifest")
        return data

    def settings(self) -> TrialSettings:
        return TrialSettings(**self.read_manifest()["settings"])

    def arm_names(self) -> list[str]:
        return [a["name"] for a in self.read_manifest()["arms"]]

    def done(self) -> set[int]:
        """Indices of the patients already stored (temporary leftovers are ignored)."""
        if not self.patients_dir.is_dir():
            return set()
        out = set()
        for p in self.patients_dir.iterdir():
            if p.suffix == ".json" and not is_temp_name(p.name) and p.name.startswith("p"):
                try:
                    out.add(int(p.stem[1:]))
                except ValueError:
                    continue
        return out

    def write(self, outcome: PatientOutcome) -> Path:
        return atomic_write(
            self.patient_path(outcome.index), json.dumps(outcome.to_json(), indent=1) + "\n"
        )

    def load(self) -> list[PatientOutcome]:
        """Every stored patient, in index order."""
        out = []
        for i in sorted(self.done()):
            path = self.patient_path(i)
            try:
                out.append(PatientOutcome.from_json(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, KeyError, TypeError) as err:
                raise InputError(
                    f"cannot read stored patient {path.name}: {err}",
                    "delete that file and run the trial again to recompute it",
                ) from None
        return out
