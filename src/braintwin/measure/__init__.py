"""Tumour measurements: volumes, diameters, RANO bidimensional products, response, radiomics.

Lengths in mm, areas in mm², volumes in mL; positions in world RAS mm.
"""

from braintwin.measure.export import EXPORT_FORMATS, export_segmentation_outputs
from braintwin.measure.radiomics import radiomics_features, radiomics_table, volume_to_sitk
from braintwin.measure.regions import (
    Lesion,
    RegionMeasurement,
    bidimensional,
    measure_region,
    measure_segmentation,
)
from braintwin.measure.response import (
    compare_measurements,
    new_lesions,
    observable_regions,
    rano_category,
    stored_observable,
)
from braintwin.measure.series import VisitMeasurements, assess_response
from braintwin.measure.tables import measurements_table, write_table

__all__ = [
    "EXPORT_FORMATS",
    "Lesion",
    "RegionMeasurement",
    "VisitMeasurements",
    "assess_response",
    "bidimensional",
    "compare_measurements",
    "export_segmentation_outputs",
    "measure_region",
    "measure_segmentation",
    "measurements_table",
    "new_lesions",
    "observable_regions",
    "radiomics_features",
    "radiomics_table",
    "rano_category",
    "stored_observable",
    "volume_to_sitk",
    "write_table",
]
