"""Mutation fuzzing of braintwin's readers (NIfTI, DICOM series, 2D images, visit folders).

``run_fuzz(n, seed)`` mutates seeds made from the shipped demo case and reads every mutant in
a worker process, counting ``ok``, ``error`` (a clean ``BraintwinError``), ``escape``,
``hang`` and ``over_allocation``. The test suite runs a bounded pass; ``braintwin bench fuzz``
a long one.
"""

from braintwin.fuzz.mutators import MUTATORS, Case, make_case
from braintwin.fuzz.runner import OUTCOMES, Finding, FuzzReport, classify_read, run_fuzz
from braintwin.fuzz.seeds import Seeds, make_seeds

__all__ = [
    "MUTATORS",
    "OUTCOMES",
    "Case",
    "Finding",
    "FuzzReport",
    "Seeds",
    "classify_read",
    "make_case",
    "make_seeds",
    "run_fuzz",
]
