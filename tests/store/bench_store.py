"""Store timings on one real BraTS case (not a test; run by hand).

    python tests/store/bench_store.py ../shared/data/brats2018/Brats18_2013_11_1 [DB_URL]

Saves one visit (4 MRI volumes, segmentation, brain mask, 2 extras = 8 volumes, 7 unique
files), re-saves it (idempotent), loads it with and without checksum verification, reopens the
store. Prints one JSON line.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from braintwin.io import load_nifti
from braintwin.store import Store
from braintwin.types import Modality, Visit


def main(case: Path, url: str | None) -> dict[str, object]:
    name = case.name
    vols = {
        m: load_nifti(case / f"{name}_{m.value}.nii.gz", m).astype(np.float32)
        for m in Modality.mri()
    }
    seg = load_nifti(case / f"{name}_seg.nii.gz", Modality.SEG).astype(np.uint8)
    ref = vols[Modality.T1CE]
    noise = np.random.default_rng(0).random(ref.shape, dtype=np.float32)
    visit = Visit(
        dt.date(2020, 1, 1),
        vols,
        seg,
        ref.with_data(ref.data > 0, Modality.MASK),
        extras={"raw_t1ce": ref, "uncertainty": ref.with_data(noise)},
    )
    out: dict[str, object] = {"backend": "postgresql" if url else "sqlite"}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with Store.open(url=url, home=home) as st:
            t = time.perf_counter()
            st.save_visit("BT-BENCH", visit, digest="e" * 64)
            out["save_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            st.save_visit("BT-BENCH", visit, digest="e" * 64)
            out["idempotent_resave_s"] = round(time.perf_counter() - t, 3)
            t = time.perf_counter()
            patient = st.load_patient("BT-BENCH")
            out["load_s"] = round(time.perf_counter() - t, 2)
            t = time.perf_counter()
            st.load_patient("BT-BENCH", verify=False)
            out["load_noverify_s"] = round(time.perf_counter() - t, 2)
            out["objects_MB"] = round(
                sum(f.stat().st_size for f in (home / "objects").rglob("*.nii.gz")) / 1e6, 1
            )
            if url:
                st.delete_patient("BT-BENCH")  # leave the shared PostgreSQL database clean
        t = time.perf_counter()
        Store.open(url=url, home=home).close()
        out["reopen_s"] = round(time.perf_counter() - t, 3)
        got = patient.visits[0].volumes
        out["exact"] = all(np.array_equal(got[m].data, vols[m].data) for m in vols)
    out["shape"] = list(ref.shape)
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)))
