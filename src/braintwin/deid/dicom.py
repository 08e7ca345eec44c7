"""DICOM de-identification: PS3.15 Annex E Basic Application Level Confidentiality Profile.

Options applied on top of the Basic Profile (PS3.15 Table E.1-1, codes from CID 7050):
- Retain Longitudinal Temporal Information with Modified Dates (113107): every DA/DT value is
  shifted by the patient's secret offset (``date_offset_days``), so intervals between visits
  survive while the real dates do not;
- Retain Patient Characteristics (113108), restricted to sex and age (ages over 89 are capped
  at 90, as the HIPAA Safe Harbor rule requires); size and weight are removed.

Beyond the attribute table, three catch-alls make the profile robust to vendors' surprises:
all private tags, unknown public tags, every person name (PN) and every non-kept attribute
of the Patient group (0010,xxxx) are removed; every UID that is not a well-known DICOM UID (SOP class, transfer
syntax, …) is replaced by an HMAC-derived ``2.25.<int>`` (consistent across series and
re-reads under one secret); overlays and curves (groups 60xx, 50xx), which may hold text,
are dropped. Pixel data are kept as they are: burned-in annotations are not detected.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
from collections.abc import Callable, Iterable

from pydicom.datadict import dictionary_has_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID_dictionary

from braintwin.deid.keys import date_offset_days, pseudonym, remap_uid

__all__ = [
    "DEIDENTIFICATION_METHOD",
    "REMOVED_KEYWORDS",
    "deidentify_dataset",
]

# DeidentificationMethod is LO (64 characters per value), multi-valued.
DEIDENTIFICATION_METHOD: tuple[str, ...] = (
    "braintwin PS3.15 E.1 Basic Application Confidentiality Profile",
    "Retain Longitudinal Temporal Information Modified Dates",
    "Retain Patient Characteristics (sex, age)",
)
_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    ("113108", "Retain Patient Characteristics Option"),
)

# Attributes the Basic Profile removes (X), or replaces with a dummy / empty value (D, Z) that
# carries no information; removing those is equally conformant and simpler to audit.
REMOVED_KEYWORDS: tuple[str, ...] = (
    # patient identity and demographics
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName",
    "PatientBirthTime", "PatientMotherBirthName", "PatientAddress", "PatientTelephoneNumbers",
    "PatientTelecomInformation", "PatientInsurancePlanCodeSequence", "IssuerOfPatientID",
    "MilitaryRank", "BranchOfService", "MedicalRecordLocator", "EthnicGroup", "Occupation",
    "PatientReligiousPreference", "PatientComments", "AdditionalPatientHistory",
    "PatientSize", "PatientWeight", "SmokingStatus", "PregnancyStatus", "MedicalAlerts",
    "Allergies", "CountryOfResidence", "RegionOfResidence", "PatientState", "SpecialNeeds",
    "PatientPrimaryLanguageCodeSequence", "ReferencedPatientSequence",
    "ReferencedPatientAliasSequence", "ResponsiblePerson", "ResponsibleOrganization",
    "CurrentPatientLocation", "ScheduledPatientInstitutionResidence",
    # visit / admission
    "AdmissionID", "IssuerOfAdmissionID", "AdmittingDiagnosesDescription",
    "AdmittingDiagnosesCodeSequence", "DischargeDiagnosisDescription", "VisitComments",
    "ServiceEpisodeID", "ServiceEpisodeDescription", "IssuerOfServiceEpisodeID",
    # institution, staff and devices
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
    "InstitutionCodeSequence", "InstitutionalDepartmentTypeCodeSequence",
    "ReferringPhysicianName", "ReferringPhysicianAddress", "ReferringPhysicianTelephoneNumbers",
    "ReferringPhysicianIdentificationSequence", "PhysiciansOfRecord",
    "PhysiciansOfRecordIdentificationSequence", "PerformingPhysicianName",
    "PerformingPhysicianIdentificationSequence", "NameOfPhysiciansReadingStudy",
    "PhysiciansReadingStudyIdentificationSequence", "OperatorsName",
    "OperatorIdentificationSequence", "RequestingPhysician", "RequestingService",
    "StationName", "DeviceSerialNumber", "DetectorID", "GantryID", "GeneratorID", "PlateID",
    "CassetteID", "ModifyingDeviceID", "ModifyingDeviceManufacturer", "PerformedStationName",
    "PerformedStationAETitle", "ScheduledStationName", "ScheduledStationAETitle",
    "PerformedLocation", "ContentCreatorName", "VerifyingObserverName", "PersonName",
    "PersonAddress", "PersonTelephoneNumbers", "HumanPerformerName",
    "HumanPerformerOrganization", "AuthorObserverSequence", "CustodialOrganizationSequence",
    # study / request / procedure
    "AccessionNumber", "StudyID", "StudyDescription", "SeriesDescription", "ProtocolName",
    "StudyComments", "RequestAttributesSequence", "RequestedProcedureID",
    "RequestedProcedureDescription", "RequestedProcedureComments",
    "RequestedProcedureLocation", "RequestedContrastAgent", "ReasonForStudy",
    "ReasonForTheRequestedProcedure", "ImagingServiceRequestComments", "OrderEnteredBy",
    "OrderEntererLocation", "OrderCallbackPhoneNumber", "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest", "ScheduledProcedureStepID",
    "ScheduledProcedureStepDescription", "ScheduledPerformingPhysicianName",
    "ScheduledPerformingPhysicianIdentificationSequence", "PerformedProcedureStepID",
    "PerformedProcedureStepDescription", "ReferencedPerformedProcedureStepSequence",
    "ReferencedStudySequence", "ProcedureCodeSequence", "NamesOfIntendedRecipientsOfResults",
    "IntendedRecipientsOfResultsIdentificationSequence", "ResultsDistributionListSequence",
    "PreMedication", "DistributionName", "DistributionAddress",
    # free text that may carry anything
    "ImageComments", "FrameComments", "AcquisitionComments", "TextComments", "TextString",
    "IdentifyingComments", "DerivationDescription", "ImagePresentationComments",
    "AcquisitionDeviceProcessingDescription", "ContributionDescription", "Arbitrary",
    "InterpretationText", "InterpretationAuthor", "InterpretationRecorder",
    "InterpretationTranscriber", "InterpretationApproverSequence", "Impressions",
    "PhysicianApprovingInterpretation", "ResultsComments", "ResultsIDIssuer",
    "InterpretationIDIssuer", "InterpretationDiagnosisDescription", "TopicTitle",
    "TopicSubject", "TopicAuthor", "TopicKeywords", "ContentSequence",
    "GraphicAnnotationSequence", "IconImageSequence", "DigitalSignaturesSequence",
    "OriginalAttributesSequence", "ModifiedAttributesSequence", "DataSetTrailingPadding",
    # clinical trials
    "ClinicalTrialSponsorName", "ClinicalTrialProtocolID", "ClinicalTrialProtocolName",
    "ClinicalTrialSiteID", "ClinicalTrialSiteName", "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID", "ClinicalTrialTimePointID",
    "ClinicalTrialTimePointDescription", "ClinicalTrialCoordinatingCenterName",
    # file meta
    "SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle", "PrivateInformation",
)  # fmt: skip

_REMOVED_TAGS: frozenset[int] = frozenset(
    t for t in (tag_for_keyword(k) for k in REMOVED_KEYWORDS) if t is not None
)
# Patient-module attributes kept (Retain Patient Characteristics); PatientName, PatientID and
# PatientBirthDate are removed at every level and re-set (pseudonym / empty) on the top level.
_PATIENT_KEEP: frozenset[int] = frozenset(
    t for t in (tag_for_keyword(k) for k in ("PatientSex", "PatientAge")) if t is not None
)


def _is_overlay_or_curve(tag: BaseTag) -> bool:
    return 0x5000 <= tag.group <= 0x50FF or 0x6000 <= tag.group <= 0x60FF


def _shift_da(value: str, days: int) -> str | None:
    value = value.strip()
    if not value:
        return value
    try:
        d = dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        return None  # unparseable: drop rather than keep a real date
    return (d + dt.timedelta(days=days)).strftime("%Y%m%d")


def _shift_dt(value: str, days: int) -> str | None:
    value = value.strip()
    if len(value) < 8:
        return None if value else value  # year-only or year-month cannot be shifted safely
    head = _shift_da(value[:8], days)
    return None if head is None else head + value[8:]


def _map_values(value: object, fn: Callable[[str], str | None]) -> tuple[object, bool]:
    """Apply ``fn`` (str -> str | None) to a single or multi-valued element; False = drop it."""
    values: Iterable[object] = value if isinstance(value, MultiValue | list) else [value]
    out = []
    for v in values:
        new = fn(str(v)) if v is not None else None
        if new is None and v is not None:
            return value, False
        out.append(new)
    if isinstance(value, MultiValue | list):
        return out, True
    return out[0], True


# UIDs that name software, not a patient's data.
_KEEP_UID_TAGS: frozenset[int] = frozenset(
    t for t in (tag_for_keyword("ImplementationClassUID"),) if t is not None
)


def _remap_if_instance(uid: str, secret: bytes) -> str:
    uid = uid.strip()
    if not uid or uid in UID_dictionary:  # SOP classes, transfer syntaxes, … identify nobody
        return uid
    return remap_uid(uid, secret)


def _clean(ds: Dataset, secret: bytes, offset: int) -> None:
    for tag in list(ds.keys()):
        elem = ds[tag]
        if tag.is_private or _is_overlay_or_curve(tag) or tag in _REMOVED_TAGS:
            del ds[tag]
            continue
        if tag.group == 0x0010 and tag not in _PATIENT_KEEP:
            del ds[tag]
            continue
        if tag.element != 0 and not dictionary_has_tag(tag):
            del ds[tag]  # a public tag this dictionary does not know: content unknown, drop it
            continue
        vr = elem.VR
        if vr == "PN":
            del ds[tag]
            continue
        if vr == "SQ":
            for item in elem.value or []:
                _clean(item, secret, offset)
            continue
        if elem.value is None or elem.value == "":
            continue
        if vr == "UI" and tag not in _KEEP_UID_TAGS:
            elem.value, _ = _map_values(elem.value, lambda u: _remap_if_instance(u, secret))
        elif vr in ("DA", "DT"):
            shift = functools.partial(_shift_da if vr == "DA" else _shift_dt, days=offset)
            new, ok = _map_values(elem.value, shift)
            if ok:
                elem.value = new
            else:
                del ds[tag]


def _cap_age(age: str) -> str:
    age = age.strip()
    if len(age) == 4 and age[:3].isdigit() and age[3] == "Y" and int(age[:3]) > 89:
        return "090Y"
    return age


def deidentify_dataset(ds: Dataset, secret: bytes, *, patient_id: str | None = None) -> Dataset:
    """A de-identified copy of ``ds`` (the input is left untouched).

    Args:
        ds: a DICOM dataset (pixel data, if loaded, are kept).
        secret: the installation's key (``load_or_create_secret``).
        patient_id: the key for the pseudonym and date shift; defaults to the dataset's own
            PatientID, so every series of one patient shifts by the same number of days.

    Returns:
        A dataset with PatientName = PatientID = the pseudonym, dates shifted, UIDs remapped,
        identifying attributes and private tags removed, PatientIdentityRemoved = YES.
    """
    out = copy.deepcopy(ds)
    key = (
        patient_id
        or str(ds.get("PatientID", "") or "").strip()
        or str(ds.get("PatientName", "") or "").strip()
        or "anonymous"
    )
    offset = date_offset_days(key, secret)
    _clean(out, secret, offset)
    meta = getattr(out, "file_meta", None)
    if meta is not None:
        _clean(meta, secret, offset)
        if "SOPInstanceUID" in out:
            meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    alias = pseudonym(key, secret)
    out.PatientName = alias
    out.PatientID = alias
    out.PatientBirthDate = ""
    if "PatientAge" in out and out.PatientAge:
        out.PatientAge = _cap_age(str(out.PatientAge))
    if "ContrastBolusAgent" in out and str(out.ContrastBolusAgent).strip():
        # Basic Profile "D": the free text may name a person; keep only *that* contrast was given.
        out.ContrastBolusAgent = "CONTRAST"
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = list(DEIDENTIFICATION_METHOD)
    codes = Sequence()
    for value, meaning in _METHOD_CODES:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    out.DeidentificationMethodCodeSequence = codes
    out.LongitudinalTemporalInformationModified = "MODIFIED"
    return out
