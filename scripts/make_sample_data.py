"""Write the sample scorecard data under data/ (a fictional alliance of 40 partners).

Run from the repository root:  python scripts/make_sample_data.py

Output is deterministic byte for byte (one `random.Random(20261122)`, consumed in a fixed order).
It (re)writes data/partners.csv, data/kpis.csv, data/targets.csv, data/baselines.csv and
data/metrics/*.csv, and
deletes any other file in data/metrics/. Every count is drawn first; values are then computed as
numerator / denominator * scale and rounded to the KPI's decimals, so they always agree.

Metrics cover 2023-11 .. 2026-10: monthly KPIs in YYYY-MM.csv, quarterly in YYYY-Qn.csv
(2023-Q4 .. 2026-Q3), annual in YYYY.csv (2023 .. 2025).

Planted stories (names are partner_ids):

- Improving: alderbrook-medical moves from the bad to the good end of every KPI's range over the
  36 months (readmit_30d about 18 % -> 12 %). Declining: marrowvale-regional, the reverse.
- Year-two joiner: bellwether-health-partners (physician_group) joined 2025-01-15 and has metrics
  from 2025-01 / 2025-Q1 on.
- No submission: wayfarer-housing has no rows in 2024-03, 2024-04 and 2025-08;
  larkspur-vale-nursing none in 2024-11, 2025-05, 2026-02 and 2026-06.
- Latest month: southgate-family-resource is absent from 2026-10 (no submission at all);
  quillfield-general's October rows are not in 2026-10.csv but in
  2026-10-quillfield-general-late.csv.
- Small numbers: wyndle-gardens-nursing, referral_acceptance, 2025-02 has denominator 8 (every
  other denominator of a count is at least 12); small partners naturally have numerators of 1-10.
- Peer groups: hh_acute_hosp is reported by only 3 partners (peer statistics withheld); every other
  KPI has at least 6 reporters.

2026-09-greywater-primary-care-resubmission.csv (line 1 is the header):

- line 2, 3: valid rows (admits_per_1000, operating_margin) moved out of 2026-09.csv.
- line 4  (a) unknown partner: near-typo `graywater-primary-care`.
- line 5  (b) unknown kpi_id `readmit_30`.
- line 6  (c) bad period `2026/09`.
- line 7  (d) non-numeric value `N/A` (appt_lead_days).
- line 8  (e) percent KPI with numerator > denominator: referral_acceptance 45 / 40, value 112.5.
- line 9  (f) ratio KPI with denominator 0 and an empty value (ed_visits_per_1000).
- line 10 (g) value disagrees with its counts (followup_7d, value 2.5 below numerator/denominator).
- line 11 (h) conflicting duplicate of greywater's data_timeliness row in 2026-09.csv.
- line 12 (i) identical duplicate of line 2 (good; collapses into line 2).
- line 13 (j) good: no_show_rate written "19.3%" (its own counts, 847 / 4398).
- line 14 (j) good: tcoc_pmpm written "1,069" (its own counts, 60067561 / 56195).
Rows a-h are the bad ones; the keys of d-g have no other valid row for greywater in 2026-09.

2026-Q3-high-tamber-hospital-cms.csv: high-tamber-hospital's hcahps_recommend for 2026-Q3 as CMS
publishes a small hospital's figure, suppressed at source: no value or counts, flag
`suppressed` and a footnote (its generated row is left out of 2026-Q3.csv).
SIR KPIs (clabsi_sir, cdi_sir) set small_cell_rule = no: their numerators count infections,
not people, and min_denominator = 1: NHSN computes no SIR below one predicted infection; and
counts = poisson (observed events over expected ones). operating_margin sets counts = none: a
margin counts dollars, not people, so it gets no interval and no funnel.
"""

from __future__ import annotations

import calendar
import csv
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SEED = 20261122
DATA = Path("data")
METRICS = DATA / "metrics"
FIRST_MONTH = date(2023, 11, 1)
N_MONTHS = 36
YEARS = (2023, 2024, 2025)
MIN_COUNT_DENOMINATOR = 12  # keeps every count denominator clear of the default threshold (11)

Row = tuple[str, str, str, str, str, str]
METRIC_HEADER = ("partner_id", "kpi_id", "period", "value", "numerator", "denominator")
FlaggedRow = tuple[str, str, str, str, str, str, str, str]
FLAGGED_HEADER = (*METRIC_HEADER, "flag", "footnote")
# partner, KPI, period: delivered suppressed at source, with the footnote CMS gives
SOURCE_SUPPRESSED = (
    "high-tamber-hospital",
    "hcahps_recommend",
    "2026-Q3",
    "Too Few to Report: fewer than 50 completed surveys",
)

IMPROVING = "alderbrook-medical"
DECLINING = "marrowvale-regional"
TRENDS = {IMPROVING: (0.03, 0.72), DECLINING: (0.80, 0.15)}  # performance at start -> end
YEAR_TWO_JOINER = "bellwether-health-partners"
YEAR_TWO_START = date(2025, 1, 1)
GAPS = {
    "wayfarer-housing": ("2024-03", "2024-04", "2025-08"),
    "larkspur-vale-nursing": ("2024-11", "2025-05", "2026-02", "2026-06"),
}
LATEST = "2026-10"
ABSENT_LATEST = "southgate-family-resource"
LATE_LATEST = "quillfield-general"
SMALL_DENOMINATOR = ("wyndle-gardens-nursing", "referral_acceptance", "2025-02", 8)
RESUBMITTER = "greywater-primary-care"
TYPO_ID = "graywater-primary-care"  # near-typo of RESUBMITTER, not a partner
RESUBMISSION_PERIOD = "2026-09"
NO_CONTACTS = ("tidewell-visiting-nurses", "lakeside-pharmacy-coop")


# ---------------------------------------------------------------------------------------------
# Partners


@dataclass(frozen=True)
class Partner:
    """One alliance member; `profile` decides which KPIs it reports, `size` its volumes."""

    partner_id: str
    name: str
    partner_type: str
    profile: str
    size: str
    region: str


def group(
    partner_type: str, profile: str, members: list[tuple[str, str, str, str]]
) -> list[Partner]:
    """Partners of one type and profile from (partner_id, name, size, region) tuples."""
    return [
        Partner(pid, name, partner_type, profile, size, region)
        for pid, name, size, region in members
    ]


# fmt: off
PARTNERS = [
    *group("hospital", "hospital", [
        ("alderbrook-medical", "Alderbrook Medical Center", "large", "North"),
        ("quillfield-general", "Quillfield General Hospital", "large", "South"),
        ("kestrel-bay-hospital", "Kestrel Bay Hospital", "large", "East"),
        ("marrowvale-regional", "Marrowvale Regional Medical Center", "large", "Central"),
        ("thistlecombe-memorial", "Thistlecombe Memorial Hospital", "large", "West"),
        ("osprey-ridge-medical", "Osprey Ridge Medical Center", "large", "North"),
        ("fernhollow-university", "Fernhollow University Hospital", "large", "Central"),
        ("little-wren-community", "Little Wren Community Hospital", "small", "West"),
        ("saltmarsh-county", "Saltmarsh County Hospital", "small", "East"),
        ("high-tamber-hospital", "High Tamber Critical Access Hospital", "small", "North"),
    ]),
    *group("post_acute", "snf", [
        ("brambleton-rehab", "Brambleton Rehabilitation and Nursing", "large", "South"),
        ("cedar-lantern-care", "Cedar Lantern Care Center", "large", "East"),
        ("millpond-nursing", "Millpond Skilled Nursing", "large", "Central"),
        ("harrowgate-transitional", "Harrowgate Transitional Care", "large", "West"),
        ("sablewood-post-acute", "Sablewood Post-Acute", "large", "North"),
        ("wyndle-gardens-nursing", "Wyndle Gardens Nursing Center", "small", "South"),
        ("larkspur-vale-nursing", "Larkspur Vale Nursing and Rehab", "small", "West"),
    ]),
    *group("post_acute", "home_health", [
        ("emberlane-home-health", "Emberlane Home Health", "large", "Central"),
        ("lanternlight-home-care", "Lanternlight Home Care", "large", "North"),
        ("tidewell-visiting-nurses", "Tidewell Visiting Nurses", "small", "East"),
    ]),
    *group("physician_group", "physician_group", [
        ("northwind-physician-partners", "Northwind Physician Partners", "large", "North"),
        ("greywater-primary-care", "Greywater Primary Care Associates", "large", "South"),
        ("juniper-lane-medical", "Juniper Lane Medical Group", "large", "East"),
        ("bellwether-health-partners", "Bellwether Health Partners", "large", "Central"),
        ("amberfield-family-medicine", "Amberfield Family Medicine", "small", "West"),
        ("oakhurst-clinic-network", "Oakhurst Clinic Network", "small", "South"),
        ("stonebridge-specialty", "Stonebridge Specialty Group", "small", "East"),
    ]),
    *group("community_org", "community_transport", [
        ("harvest-circle-food", "Harvest Circle Food Network", "large", "Central"),
        ("meadowlark-senior-services", "Meadowlark Senior Services", "large", "North"),
        ("neighborly-miles", "Neighborly Miles Volunteer Drivers", "small", "West"),
        ("southgate-family-resource", "Southgate Family Resource Center", "small", "South"),
        ("bridgework-chw", "Bridgework Community Health Workers", "small", "East"),
    ]),
    *group("community_org", "community_org", [
        ("wayfarer-housing", "Wayfarer Housing Collaborative", "small", "Central"),
    ]),
    *group("payer", "payer", [
        ("silverpine-health-plan", "Silverpine Health Plan", "large", "North"),
        ("brightmoor-health-plan", "Brightmoor Community Health Plan", "large", "South"),
        ("tallgrass-medicaid-plan", "Tallgrass Medicaid Partners", "large", "West"),
    ]),
    *group("technology", "technology", [
        ("relaywell-exchange", "Relaywell Health Information Exchange", "small", "Central"),
        ("carethread-referrals", "CareThread Referral Network", "small", "East"),
    ]),
    *group("other", "other_transport", [
        ("tri-valley-ride-coop", "Tri-Valley Ride Cooperative", "small", "West"),
    ]),
    *group("other", "other_pharmacy", [
        ("lakeside-pharmacy-coop", "Lakeside Pharmacy Cooperative", "small", "South"),
    ]),
]
# fmt: on

# fmt: off
PROFILE_KPIS = {
    "hospital": (
        "readmit_30d", "clabsi_sir", "cdi_sir", "mortality_30d_hf", "hcahps_rating_9_10",
        "hcahps_recommend", "alos_inpatient", "ed_lwbs_rate", "bed_occupancy", "mspb_ratio",
        "cost_per_case", "operating_margin", "sdoh_screen_rate", "sdoh_referral_closed",
        "handoff_complete", "followup_7d", "data_timeliness",
    ),
    "snf": (
        "snf_readmit_30d", "client_nps", "snf_alos", "bed_occupancy", "snf_nurse_hprd",
        "operating_margin", "data_timeliness", "referral_acceptance", "handoff_complete",
    ),
    "home_health": (
        "hh_acute_hosp", "client_nps", "operating_margin", "data_timeliness",
        "referral_acceptance", "handoff_complete",
    ),
    "physician_group": (
        "client_nps", "ed_visits_per_1000", "admits_per_1000", "appt_lead_days", "no_show_rate",
        "tcoc_pmpm", "operating_margin", "sdoh_screen_rate", "data_timeliness",
        "referral_acceptance", "followup_7d",
    ),
    "community_org": (
        "client_nps", "no_show_rate", "sdoh_referral_closed", "clients_served", "data_timeliness",
        "referral_acceptance",
    ),
    "community_transport": (
        "client_nps", "no_show_rate", "sdoh_referral_closed", "transport_completion",
        "clients_served", "data_timeliness", "referral_acceptance",
    ),
    "payer": (
        "readmit_30d", "ed_visits_per_1000", "admits_per_1000", "tcoc_pmpm", "sdoh_screen_rate",
        "data_timeliness",
    ),
    "technology": ("client_nps", "data_timeliness"),
    "other_transport": ("client_nps", "transport_completion", "clients_served", "data_timeliness"),
    "other_pharmacy": ("clients_served", "data_timeliness", "referral_acceptance"),
}
# fmt: on

EMAIL_ROLES = ("scorecards", "quality", "data", "finance", "operations", "partnerships")
EMAIL_DOMAINS = ("example.org", "example.com", "example.net")


def joined_date(rng: random.Random, partner: Partner) -> date:
    """When the partner joined: a founding-era date before 2023-10, or year two for one."""
    if partner.partner_id == YEAR_TWO_JOINER:
        return date(2025, 1, 15)
    start, end = date(2019, 1, 1), date(2023, 9, 30)
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def contact_emails(rng: random.Random, partner: Partner) -> str:
    """One to three fictional addresses at example domains; empty for NO_CONTACTS."""
    if partner.partner_id in NO_CONTACTS:
        return ""
    stem = partner.partner_id.split("-")[0]
    roles = rng.sample(EMAIL_ROLES, rng.randint(1, 3))
    return ";".join(f"{role}.{stem}@{rng.choice(EMAIL_DOMAINS)}" for role in roles)


def partner_rows(rng: random.Random) -> list[list[str]]:
    """Rows of partners.csv, header first."""
    rows = [["partner_id", "name", "partner_type", "region", "joined", "contact_emails"]]
    for p in PARTNERS:
        joined = joined_date(rng, p).isoformat()
        rows.append(
            [p.partner_id, p.name, p.partner_type, p.region, joined, contact_emails(rng, p)]
        )
    return rows


# ---------------------------------------------------------------------------------------------
# KPIs


@dataclass(frozen=True)
class Gen:
    """How sample values of one KPI are drawn.

    kind: binomial (percent of counts), poisson (per-1,000-member-year rate), per_unit (days,
    hours, dollars per unit), sir (observed / predicted), nps, margin (income / revenue),
    value (value only), volume (value-only count). `low`..`high` is the realistic value range;
    `large` and `small` are the denominator (or volume) range per period for each partner size.
    """

    kind: str
    low: float
    high: float
    large: tuple[float, float]
    small: tuple[float, float]
    decimals: int = 1
    season: float = 0.0  # winter amplitude, a fraction of the value (peak in January)
    wander: float = 0.05  # sd of period-to-period variation, a fraction of the range
    den_noise: float = 0.06  # sd of period-to-period variation of the denominator
    per_day: bool = False  # denominator = units (e.g. staffed beds) x days in the period
    shared: str = ""  # KPIs with the same name here share one denominator per partner and period


@dataclass(frozen=True)
class Kpi:
    """One row of kpis.csv (contract columns as written) and how to generate its values."""

    kpi_id: str
    name: str
    category: str
    unit: str
    direction: str
    target: str
    weight: str
    aggregation: str
    frequency: str
    description: str
    gen: Gen
    benchmark: str = ""
    benchmark_source: str = ""
    amber_band: str = ""
    min_denominator: str = ""
    scale: str = ""
    min_value: str = ""
    max_value: str = ""
    small_cell_rule: str = ""
    counts: str = ""


# fmt: off
KPI_COLUMNS = (
    "kpi_id", "name", "category", "unit", "direction", "target", "benchmark", "benchmark_source",
    "weight", "description", "aggregation", "frequency", "amber_band", "min_denominator", "scale",
    "min_value", "max_value", "small_cell_rule", "counts",
)
# fmt: on

HCUP_180 = "AHRQ HCUP Statistical Brief #180, 2012"
NHSN_2019 = "HHS national HAI metrics (CDC NHSN), 2019"

# fmt: off
KPIS = [
    Kpi("readmit_30d", "30-day all-cause readmission rate", "quality", "percent", "lower", "15",
        "2", "ratio", "monthly",
        "Eligible index discharges followed by an unplanned admission to any acute hospital "
        "within 30 days, per 100 index discharges.",
        Gen("binomial", 9, 19, (1500, 2500), (40, 80)),
        benchmark="13.9", benchmark_source="AHRQ HCUP Statistical Brief #248, 2016", scale="100"),
    Kpi("snf_readmit_30d", "SNF 30-day rehospitalization rate", "quality", "percent", "lower",
        "20", "1.5", "ratio", "quarterly",
        "SNF stays starting within a day of a hospital discharge that were followed by an "
        "unplanned readmission within 30 days, per 100 such stays.",
        Gen("binomial", 15, 28, (120, 240), (18, 45)),
        benchmark="22.2", benchmark_source="RTI International SNFRM analysis of 2009 claims, 2013",
        scale="100"),
    Kpi("clabsi_sir", "CLABSI standardized infection ratio", "quality", "ratio", "lower", "0.8",
        "1.5", "ratio", "quarterly",
        "Observed central-line-associated bloodstream infections divided by the number NHSN "
        "predicts for the hospital's patients.",
        Gen("sir", 0.3, 1.4, (2, 6), (0.2, 0.8), decimals=2, wander=0.08),
        benchmark="0.69", benchmark_source=NHSN_2019, amber_band="0.10", min_denominator="1",
        scale="1", small_cell_rule="no", counts="poisson"),
    Kpi("cdi_sir", "Hospital-onset C. difficile SIR", "quality", "ratio", "lower", "0.7", "1",
        "ratio", "quarterly",
        "Observed hospital-onset C. difficile events divided by the number NHSN predicts.",
        Gen("sir", 0.2, 1.2, (3, 9), (0.3, 1.0), decimals=2, wander=0.08),
        benchmark="0.58", benchmark_source=NHSN_2019, amber_band="0.10", min_denominator="1",
        scale="1", small_cell_rule="no", counts="poisson"),
    Kpi("mortality_30d_hf", "30-day mortality, heart failure", "quality", "percent", "lower",
        "11", "1.5", "ratio", "annual",
        "Heart-failure admissions with death from any cause within 30 days of admission, per "
        "100 heart-failure admissions.",
        Gen("binomial", 8, 15, (400, 800), (15, 40)),
        benchmark="11.3", benchmark_source="CMS Hospital Compare, Jul 2007-Jun 2010", scale="100"),
    Kpi("hcahps_rating_9_10", "Overall hospital rating 9-10 (HCAHPS)", "patient_experience",
        "percent", "higher", "72", "1", "ratio", "quarterly",
        "Completed surveys rating the hospital 9 or 10 out of 10, per 100 surveys answering "
        "the item (unadjusted).",
        Gen("binomial", 62, 84, (150, 400), (15, 45)),
        benchmark="70", benchmark_source="CMS HCAHPS national (secondary), Jul 2012-Jun 2013",
        min_denominator="25", scale="100"),
    Kpi("hcahps_recommend", "Would definitely recommend (HCAHPS)", "patient_experience",
        "percent", "higher", "72", "1", "ratio", "quarterly",
        "Completed surveys answering definitely yes to recommending the hospital, per 100 "
        "surveys answering the item (unadjusted).",
        Gen("binomial", 62, 84, (150, 400), (15, 45)),
        benchmark="72", benchmark_source="CMS HCAHPS national (secondary), Jul 2015-Jun 2016",
        min_denominator="25", scale="100"),
    Kpi("client_nps", "Client Net Promoter Score", "patient_experience", "score", "higher",
        "40", "1", "ratio", "quarterly",
        "Promoters (9-10) minus detractors (0-6) among respondents to the partner's client "
        "survey, per 100 respondents.",
        Gen("nps", -10, 70, (150, 400), (30, 80)),
        scale="100", min_value="-100", max_value="100"),
    Kpi("alos_inpatient", "Average length of stay (acute)", "utilization", "days", "lower",
        "4.8", "1", "ratio", "monthly",
        "Inpatient days divided by inpatient discharges in the period.",
        Gen("per_unit", 3.6, 6.2, (1600, 2700), (45, 90)),
        benchmark="4.5", benchmark_source=HCUP_180, scale="1"),
    Kpi("ed_visits_per_1000", "ED visits per 1,000 members per year", "utilization", "rate",
        "lower", "450", "1", "ratio", "monthly",
        "Emergency department visits by attributed members divided by member-months, times "
        "12,000.",
        Gen("poisson", 320, 850, (50_000, 150_000), (2000, 8000), season=0.10,
            den_noise=0.015, shared="member_months"),
        benchmark="470", benchmark_source="CDC NCHS Data Brief No. 503, 2022", scale="12000"),
    Kpi("admits_per_1000", "Acute admissions per 1,000 members per year", "utilization", "rate",
        "lower", "180", "1", "ratio", "monthly",
        "Acute inpatient admissions of attributed members divided by member-months, times "
        "12,000.",
        Gen("poisson", 70, 320, (50_000, 150_000), (2000, 8000), season=0.08,
            den_noise=0.015, shared="member_months"),
        benchmark="116", benchmark_source=HCUP_180, scale="12000"),
    Kpi("hh_acute_hosp", "Home-health acute-care hospitalization", "utilization", "percent",
        "lower", "15", "1", "ratio", "quarterly",
        "Home-health episodes with an unplanned inpatient admission during the episode, per "
        "100 episodes.",
        Gen("binomial", 11, 21, (400, 900), (60, 150)),
        benchmark="16.4", benchmark_source="Home Health Compare via Fazzi Associates, 2016",
        scale="100"),
    Kpi("snf_alos", "SNF average length of stay", "utilization", "days", "lower", "25", "1",
        "ratio", "quarterly",
        "Covered skilled-nursing days divided by SNF discharges in the period.",
        Gen("per_unit", 19, 33, (120, 240), (20, 45)),
        scale="1"),
    Kpi("ed_lwbs_rate", "Left without being seen", "operations", "percent", "lower", "2.5", "1",
        "ratio", "monthly",
        "ED visits where the patient left before evaluation by a provider, per 100 ED visits.",
        Gen("binomial", 0.8, 6.5, (4000, 8000), (350, 900), wander=0.06),
        benchmark="2.6", benchmark_source="Hsia et al., Ann Emerg Med (262 California EDs), 2007",
        amber_band="0.20", scale="100"),
    Kpi("appt_lead_days", "Days to new-patient appointment", "operations", "days", "lower",
        "21", "1", "mean", "monthly",
        "Mean calendar days from a new patient's request to the first offered appointment.",
        Gen("value", 8, 45, (0, 0), (0, 0)),
        benchmark="31", benchmark_source="AMN Healthcare physician wait-time survey, 2025"),
    Kpi("no_show_rate", "Appointment no-show rate", "operations", "percent", "lower", "12", "1",
        "ratio", "monthly",
        "Scheduled appointments neither attended nor cancelled in advance, per 100 scheduled "
        "appointments.",
        Gen("binomial", 7, 26, (2500, 8000), (400, 1200)),
        benchmark="23", benchmark_source="Dantas et al., Health Policy (systematic review), 2018",
        scale="100"),
    Kpi("bed_occupancy", "Staffed-bed occupancy", "operations", "percent", "lower", "85", "1",
        "ratio", "monthly",
        "Patient days divided by staffed beds times days in the period, times 100; 85 is the "
        "ceiling target.",
        Gen("binomial", 66, 93, (250, 450), (15, 25), season=0.05, per_day=True, den_noise=0),
        benchmark="75.3", benchmark_source="Leuchter et al., JAMA Netw Open, May 2023-Apr 2024",
        scale="100"),
    Kpi("snf_nurse_hprd", "Nurse staffing hours per resident day", "operations", "ratio",
        "higher", "3.8", "1", "ratio", "quarterly",
        "Registered nurse, licensed practical nurse and aide hours divided by resident days.",
        Gen("per_unit", 3.1, 4.9, (9000, 15000), (3500, 6000), decimals=2),
        benchmark="3.61", benchmark_source="CMS Payroll-Based Journal via LTCCC, Q4 2022",
        scale="1"),
    Kpi("mspb_ratio", "Medicare spending per beneficiary ratio", "cost", "ratio", "lower", "1.0",
        "1", "last", "annual",
        "Risk-adjusted episode spending around a hospital stay divided by the national median "
        "episode spending, as published by CMS.",
        Gen("value", 0.86, 1.14, (0, 0), (0, 0), decimals=2),
        benchmark="1.0", benchmark_source="CMS Hospital Compare MSPB (1.0 = national median)",
        amber_band="0.10"),
    Kpi("tcoc_pmpm", "Total cost of care per member per month", "cost", "usd", "lower", "950",
        "1.5", "ratio", "monthly",
        "Total allowed medical and pharmacy cost of attributed members divided by member-months.",
        Gen("per_unit", 900, 1400, (50_000, 150_000), (2000, 8000), decimals=0, wander=0.04,
            den_noise=0.015, shared="member_months"),
        scale="1"),
    Kpi("cost_per_case", "Cost per inpatient stay", "cost", "usd", "lower", "13000", "1",
        "ratio", "quarterly",
        "Total cost (not charges) of inpatient stays divided by inpatient discharges.",
        Gen("per_unit", 9500, 19000, (4500, 7500), (130, 260), decimals=0),
        benchmark="10400", benchmark_source=HCUP_180, scale="1"),
    Kpi("operating_margin", "Operating margin", "financial", "percent", "higher", "3", "1.5",
        "ratio", "monthly",
        "Operating income divided by operating revenue, times 100.",
        Gen("margin", -4, 9, (45e6, 90e6), (2e6, 5e6), wander=0.10),
        benchmark="4.1",
        benchmark_source="Kaufman Hall National Hospital Flash Report, Jan-Jul 2024",
        amber_band="0.30", scale="100", min_value="-100", max_value="100", counts="none"),
    Kpi("sdoh_screen_rate", "Social-needs screening rate", "community", "percent", "higher",
        "70", "1", "ratio", "quarterly",
        "Adults admitted or enrolled who were screened for all five health-related social "
        "needs, per 100 such adults.",
        Gen("binomial", 25, 92, (3000, 7000), (120, 250)),
        scale="100"),
    Kpi("sdoh_referral_closed", "Closed-loop social-needs referrals", "community", "percent",
        "higher", "40", "1", "ratio", "monthly",
        "Accepted community referrals with a documented resolved need or delivered service, "
        "per 100 accepted referrals.",
        Gen("binomial", 22, 65, (150, 400), (14, 30)),
        scale="100"),
    Kpi("transport_completion", "Non-emergency ride completion", "community", "percent",
        "higher", "92", "1", "ratio", "monthly",
        "Rides completed per 100 rides scheduled, excluding rider cancellations made a day or "
        "more ahead.",
        Gen("binomial", 82, 97, (800, 2500), (60, 200)),
        scale="100"),
    Kpi("clients_served", "Clients served", "community", "count", "higher", "400", "1", "sum",
        "monthly",
        "Distinct clients who received at least one service from the partner in the period.",
        Gen("volume", 0, 0, (800, 2500), (60, 250), decimals=0)),
    Kpi("data_timeliness", "On-time, complete data submission", "partnership", "percent",
        "higher", "95", "1", "ratio", "monthly",
        "Required metric submissions received complete by the due date, per 100 required "
        "submissions.",
        Gen("binomial", 72, 99.5, (30, 60), (14, 24), den_noise=0),
        scale="100"),
    Kpi("referral_acceptance", "Referral acceptance rate", "partnership", "percent", "higher",
        "80", "1", "ratio", "monthly",
        "Referrals accepted by the partner per 100 referrals sent to it.",
        Gen("binomial", 55, 94, (80, 200), (14, 20)),
        scale="100"),
    Kpi("handoff_complete", "Care-transition handoff completeness", "partnership", "percent",
        "higher", "90", "1", "ratio", "monthly",
        "Transitions where a reconciled medication list and discharge summary reached the "
        "receiving provider at or before handoff, per 100 transitions.",
        Gen("binomial", 62, 98, (250, 600), (14, 30)),
        scale="100"),
    Kpi("followup_7d", "Follow-up visit within 7 days of discharge", "partnership", "percent",
        "higher", "60", "1", "ratio", "monthly",
        "Discharges to home with an outpatient follow-up visit within 7 days, per 100 "
        "discharges to home.",
        Gen("binomial", 32, 72, (700, 1400), (20, 45)),
        scale="100"),
]
# fmt: on

KPI_BY_ID = {k.kpi_id: k for k in KPIS}

# Where a partner profile's volumes or levels differ from the KPI's default generation.
PROFILE_GEN: dict[tuple[str, str], dict[str, Any]] = {
    ("readmit_30d", "payer"): {"large": (700, 1400)},
    ("bed_occupancy", "snf"): {"large": (100, 180), "small": (40, 70)},
    ("tcoc_pmpm", "payer"): {"low": 380, "high": 800},
    ("no_show_rate", "community_org"): {"large": (300, 900), "small": (40, 120)},
    ("no_show_rate", "community_transport"): {"large": (300, 900), "small": (40, 120)},
    ("operating_margin", "snf"): {"large": (2e6, 4.5e6), "small": (6e5, 1.2e6)},
    ("operating_margin", "home_health"): {"large": (1.5e6, 4e6), "small": (4e5, 1e6)},
    ("operating_margin", "physician_group"): {"large": (5e6, 15e6), "small": (8e5, 2e6)},
    ("sdoh_screen_rate", "physician_group"): {"large": (1500, 4000), "small": (150, 400)},
    ("handoff_complete", "snf"): {"large": (60, 150), "small": (15, 30)},
    ("handoff_complete", "home_health"): {"large": (80, 200), "small": (15, 30)},
    ("followup_7d", "physician_group"): {"large": (150, 400), "small": (20, 45)},
    ("clients_served", "other_pharmacy"): {"small": (300, 600)},
}


def kpi_rows() -> list[list[str]]:
    """Rows of kpis.csv, header first."""
    return [list(KPI_COLUMNS), *([getattr(k, c) for c in KPI_COLUMNS] for k in KPIS)]


def reports(partner: Partner) -> list[Kpi]:
    """The KPIs a partner reports, in catalog order."""
    wanted = PROFILE_KPIS[partner.profile]
    return [k for k in KPIS if k.kpi_id in wanted]


# ---------------------------------------------------------------------------------------------
# Commitments

TARGETS = [
    ("alderbrook-medical", "readmit_30d", "16", "", "2024-12"),
    ("alderbrook-medical", "readmit_30d", "14", "2025-01", ""),
    ("little-wren-community", "readmit_30d", "16.5", "", ""),
    ("marrowvale-regional", "bed_occupancy", "88", "", ""),
    ("silverpine-health-plan", "tcoc_pmpm", "460", "", ""),
    ("brightmoor-health-plan", "tcoc_pmpm", "720", "", ""),
    ("tallgrass-medicaid-plan", "tcoc_pmpm", "410", "2024-01", ""),
    ("northwind-physician-partners", "tcoc_pmpm", "920", "", ""),
    ("greywater-primary-care", "appt_lead_days", "12", "", ""),
    ("emberlane-home-health", "hh_acute_hosp", "14.5", "2025-07", ""),
    ("sablewood-post-acute", "snf_readmit_30d", "19", "2024-01", "2026-12"),
    ("neighborly-miles", "transport_completion", "90", "", ""),
    ("harvest-circle-food", "clients_served", "1500", "2025-01", ""),
]


def target_rows() -> list[list[str]]:
    """Rows of targets.csv, header first; every commitment is for a KPI the partner reports."""
    reported = {p.partner_id: {k.kpi_id for k in reports(p)} for p in PARTNERS}
    for partner_id, kpi_id, *_ in TARGETS:
        assert kpi_id in reported[partner_id], (partner_id, kpi_id)
    return [["partner_id", "kpi_id", "target", "valid_from", "valid_to"], *map(list, TARGETS)]


# ---------------------------------------------------------------------------------------------
# Periods


@dataclass(frozen=True)
class Period:
    """A reporting period: its label (also its file name) and dates for trend and season."""

    label: str
    start: date
    months: int

    @property
    def mid_month(self) -> int:
        """Calendar month in the middle of the period (drives seasonality)."""
        return self.start.month + (self.months - 1) // 2

    @property
    def days(self) -> int:
        """Number of days in the period."""
        total, year, month = 0, self.start.year, self.start.month
        for _ in range(self.months):
            total += calendar.monthrange(year, month)[1]
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return total

    @property
    def t(self) -> float:
        """Position of the period's middle in the 36-month series, clipped to 0..1."""
        mid = (self.start.year - FIRST_MONTH.year) * 12 + self.start.month - FIRST_MONTH.month
        mid += (self.months - 1) / 2
        return min(max(mid / (N_MONTHS - 1), 0.0), 1.0)


def month_periods() -> list[Period]:
    """The 36 months 2023-11 .. 2026-10."""
    out = []
    for i in range(N_MONTHS):
        index = FIRST_MONTH.month - 1 + i
        year, month = FIRST_MONTH.year + index // 12, index % 12 + 1
        out.append(Period(f"{year}-{month:02d}", date(year, month, 1), 1))
    return out


def quarter_periods() -> list[Period]:
    """The 12 quarters 2023-Q4 .. 2026-Q3."""
    out = []
    for i in range(12):
        year, quarter = 2023 + (3 + i) // 4, (3 + i) % 4 + 1
        out.append(Period(f"{year}-Q{quarter}", date(year, quarter * 3 - 2, 1), 3))
    return out


def periods_for(kpi: Kpi) -> list[Period]:
    """The periods a KPI is reported for, at its frequency."""
    if kpi.frequency == "monthly":
        return month_periods()
    if kpi.frequency == "quarterly":
        return quarter_periods()
    return [Period(str(year), date(year, 1, 1), 12) for year in YEARS]


# ---------------------------------------------------------------------------------------------
# Drawing counts


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw: exact for small n, normal approximation for large n."""
    if n <= 200:
        return sum(rng.random() < p for _ in range(n))
    draw = round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))
    return min(max(draw, 0), n)


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson(lam) draw: Knuth's method for small lam, normal approximation for large lam."""
    if lam >= 50:
        return max(round(rng.gauss(lam, math.sqrt(lam))), 0)
    limit, k, product = math.exp(-lam), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def clamp(x: float, low: float, high: float) -> float:
    """x limited to low..high."""
    return min(max(x, low), high)


def season(month: int, amplitude: float) -> float:
    """Multiplicative winter factor: 1 + amplitude in January, 1 - amplitude in July."""
    return 1 + amplitude * math.cos(2 * math.pi * (month - 1) / 12)


def fmt(x: float, decimals: int) -> str:
    """A number with a fixed number of decimals, never '-0'."""
    text = f"{x:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def performance(rng: random.Random, partner_id: str, skill: float) -> Callable[[float], float]:
    """Position (0 = worst, 1 = best end of the range) of a partner on one KPI over time t."""
    if partner_id in TRENDS:
        start, end = TRENDS[partner_id]
        return lambda t: start + (end - start) * t
    level = clamp(skill + rng.gauss(0, 0.18), 0.05, 0.95)
    drift = rng.gauss(0, 0.12)
    return lambda t: clamp(level + drift * (t - 0.5), 0.02, 0.98)


def level_at(kpi: Kpi, gen: Gen, p: float) -> float:
    """The value at performance position p, direction-aware."""
    span = gen.high - gen.low
    return gen.high - p * span if kpi.direction == "lower" else gen.low + p * span


def denominator(rng: random.Random, gen: Gen, base: float, period: Period) -> float:
    """The period's denominator around the partner's base volume."""
    noisy = base * (1 + rng.gauss(0, gen.den_noise)) if gen.den_noise else base
    if gen.per_day:
        return round(base) * period.days
    if gen.kind == "sir":
        return max(round(noisy, 2), 0.05)
    return max(round(noisy), MIN_COUNT_DENOMINATOR)


def numerator(rng: random.Random, gen: Gen, den: float, value: float) -> int:
    """Draw the count (or total) whose ratio to `den` lands near `value`."""
    if gen.kind == "binomial":
        return binomial(rng, int(den), clamp(value / 100, 0.001, 0.999))
    if gen.kind == "poisson":
        return poisson(rng, den * value / 12000)
    if gen.kind == "sir":
        return poisson(rng, den * max(value, 0.0))
    if gen.kind == "per_unit":
        return round(den * value * (1 + rng.gauss(0, 0.01)))
    if gen.kind == "margin":
        return round(den * value / 100)
    if gen.kind == "nps":
        # 20 % passives; promoters - detractors = score among the rest.
        score = clamp(value / 100, -0.6, 0.75)
        promoters = binomial(rng, int(den), (0.8 + score) / 2)
        detractors = binomial(rng, int(den) - promoters, (0.8 - score) / (1.2 - score))
        return promoters - detractors
    raise ValueError(f"no numerator for kind {gen.kind}")


def counts_row(partner_id: str, kpi: Kpi, period: str, num: int, den: float, decimals: int) -> Row:
    """A metrics row whose value is numerator / denominator * scale, rounded."""
    den_text = f"{den:.2f}" if isinstance(den, float) else str(den)
    value = num / float(den_text) * float(kpi.scale)
    return (partner_id, kpi.kpi_id, period, fmt(value, decimals), str(num), den_text)


def series(
    rng: random.Random,
    partner: Partner,
    kpi: Kpi,
    skill: float,
    size: float,
    shared: dict[tuple[str, str], float],
) -> list[Row]:
    """Every row one partner submits for one KPI; `shared` holds the partner's denominators
    that several KPIs have in common (e.g. member-months), by (Gen.shared, period)."""
    gen = replace(kpi.gen, **PROFILE_GEN.get((kpi.kpi_id, partner.profile), {}))
    low, high = gen.large if partner.size == "large" else gen.small
    base = low + clamp(size + rng.gauss(0, 0.15), 0, 1) * (high - low)
    perf = performance(rng, partner.partner_id, skill)
    rows = []
    for period in periods_for(kpi):
        if partner.partner_id == YEAR_TWO_JOINER and period.start < YEAR_TWO_START:
            continue
        p = perf(period.t)
        if gen.kind == "volume":
            volume = base * (0.85 + 0.3 * p) * (1 + rng.gauss(0, 0.06))
            rows.append((partner.partner_id, kpi.kpi_id, period.label, str(round(volume)), "", ""))
            continue
        value = level_at(kpi, gen, p) + rng.gauss(0, gen.wander * (gen.high - gen.low))
        value *= season(period.mid_month, gen.season)
        if gen.kind == "value":
            rows.append(
                (partner.partner_id, kpi.kpi_id, period.label, fmt(value, gen.decimals), "", "")
            )
            continue
        den = denominator(rng, gen, base, period)
        if gen.shared:
            den = shared.setdefault((gen.shared, period.label), den)
        num = numerator(rng, gen, den, value)
        rows.append(counts_row(partner.partner_id, kpi, period.label, num, den, gen.decimals))
    return rows


def generate(rng: random.Random) -> list[Row]:
    """All metric rows, partner by partner, KPI by KPI, period by period."""
    rows: list[Row] = []
    for partner in PARTNERS:
        skill, size = rng.uniform(0.2, 0.8), rng.random()
        shared: dict[tuple[str, str], float] = {}
        for kpi in reports(partner):
            rows.extend(series(rng, partner, kpi, skill, size, shared))
    return rows


# ---------------------------------------------------------------------------------------------
# Planted situations


def drop_gaps(rows: list[Row]) -> list[Row]:
    """Remove the months in GAPS (no submission)."""
    return [r for r in rows if r[2] not in GAPS.get(r[0], ())]


def plant_small_denominator(rng: random.Random, rows: list[Row]) -> list[Row]:
    """Give SMALL_DENOMINATOR's row a denominator below the suppression threshold."""
    partner_id, kpi_id, period, den = SMALL_DENOMINATOR
    kpi = KPI_BY_ID[kpi_id]
    out = []
    for row in rows:
        if row[:3] == (partner_id, kpi_id, period):
            num = binomial(rng, den, 0.75)
            row = counts_row(partner_id, kpi, period, num, den, kpi.gen.decimals)
        out.append(row)
    return out


def key_row(rows: list[Row], partner_id: str, kpi_id: str, period: str) -> Row:
    """The one generated row for a partner, KPI and period."""
    (row,) = [r for r in rows if r[:3] == (partner_id, kpi_id, period)]
    return row


def resubmission(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Split out RESUBMITTER's 2026-09 resubmission; return (remaining rows, resubmission rows).

    The layout (lines 2-14) is documented in the module docstring.
    """
    pid, per = RESUBMITTER, RESUBMISSION_PERIOD
    moved = ("admits_per_1000", "operating_margin")
    replaced = (
        "appt_lead_days",
        "referral_acceptance",
        "ed_visits_per_1000",
        "followup_7d",
        "no_show_rate",
        "tcoc_pmpm",
    )
    take = {(pid, k, per) for k in moved + replaced}
    remaining = [r for r in rows if r[:3] not in take]
    own = {k: key_row(rows, pid, k, per) for k in (*moved, *replaced, "data_timeliness")}
    accept, follow, timely = own["referral_acceptance"], own["followup_7d"], own["data_timeliness"]
    timely_num = int(timely[4]) - 2 if int(timely[4]) >= 2 else int(timely[4]) + 2
    timely_dup = counts_row(pid, KPI_BY_ID["data_timeliness"], per, timely_num, int(timely[5]), 1)
    no_show, tcoc = own["no_show_rate"], own["tcoc_pmpm"]
    assert int(tcoc[3]) >= 1000, "the thousands separator needs a value of at least 1,000"
    bad_followup = float(follow[3]) - 2.5
    resub = [
        own["admits_per_1000"],
        own["operating_margin"],
        (TYPO_ID, *accept[1:]),  # (a)
        (pid, "readmit_30", per, "12.9", "31", "240"),  # (b)
        (pid, "referral_acceptance", "2026/09", *accept[3:]),  # (c)
        (pid, "appt_lead_days", per, "N/A", "", ""),  # (d)
        (pid, "referral_acceptance", per, "112.5", "45", "40"),  # (e)
        (pid, "ed_visits_per_1000", per, "", own["ed_visits_per_1000"][4], "0"),  # (f)
        (pid, "followup_7d", per, fmt(bad_followup, 1), follow[4], follow[5]),  # (g)
        timely_dup,  # (h)
        own["admits_per_1000"],  # (i)
        (pid, "no_show_rate", per, no_show[3] + "%", *no_show[4:]),  # (j)
        (pid, "tcoc_pmpm", per, f"{int(tcoc[3]):,}", *tcoc[4:]),  # (j)
    ]
    return remaining, resub


def source_suppressed(rows: list[Row]) -> tuple[list[Row], list[FlaggedRow]]:
    """Take SOURCE_SUPPRESSED's generated row out; return (remaining rows, the flagged row that
    replaces it, as CMS files deliver it: no figures, a flag and a footnote)."""
    partner_id, kpi_id, period, footnote = SOURCE_SUPPRESSED
    remaining = [r for r in rows if r[:3] != (partner_id, kpi_id, period)]
    assert len(remaining) == len(rows) - 1
    return remaining, [(partner_id, kpi_id, period, "", "", "", "suppressed", footnote)]


def metric_files(rng: random.Random, rows: list[Row]) -> dict[str, list[Row]]:
    """File name -> rows, with the late and absent latest-month partners applied."""
    rows = plant_small_denominator(rng, drop_gaps(rows))
    rows, resub = resubmission(rows)
    rows, flagged = source_suppressed(rows)
    files: dict[str, list[Row]] = {}
    for row in rows:
        partner_id, period = row[0], row[2]
        if period == LATEST and partner_id == ABSENT_LATEST:
            continue
        name = period
        if period == LATEST and partner_id == LATE_LATEST:
            name = f"{LATEST}-{LATE_LATEST}-late"
        files.setdefault(f"{name}.csv", []).append(row)
    files[f"{RESUBMISSION_PERIOD}-{RESUBMITTER}-resubmission.csv"] = resub
    files[f"{SOURCE_SUPPRESSED[2]}-{SOURCE_SUPPRESSED[0]}-cms.csv"] = flagged
    return dict(sorted(files.items()))


# ---------------------------------------------------------------------------------------------
# Writing


def write_csv(path: Path, rows: Iterable[Iterable[str]]) -> None:
    """Write rows as UTF-8 CSV with LF line endings and minimal quoting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerows(rows)


def write_metrics(files: dict[str, list[Row]]) -> None:
    """Write every metrics file and delete any other file left in data/metrics/; a file of
    flagged rows has the flag and footnote columns too."""
    for name, rows in files.items():
        header = FLAGGED_HEADER if rows and len(rows[0]) == len(FLAGGED_HEADER) else METRIC_HEADER
        write_csv(METRICS / name, [header, *rows])
    for path in sorted(METRICS.iterdir()):
        if path.is_file() and path.name not in files:
            path.unlink()


# New SPC baselines: alderbrook-medical started a discharge-planning programme in July 2025,
# so its readmission rate is read against its own process since then, not the one before.
BASELINES = [("alderbrook-medical", "readmit_30d", "2025-07")]


def main() -> None:
    """Generate and write every sample data file."""
    rng = random.Random(SEED)
    write_csv(DATA / "partners.csv", partner_rows(rng))
    write_csv(DATA / "kpis.csv", kpi_rows())
    write_csv(DATA / "targets.csv", target_rows())
    write_csv(DATA / "baselines.csv", [["partner_id", "kpi_id", "from_period"], *BASELINES])
    files = metric_files(rng, generate(rng))
    write_metrics(files)
    total = sum(len(rows) for rows in files.values())
    print(
        f"wrote {len(PARTNERS)} partners, {len(KPIS)} KPIs, {len(TARGETS)} commitments, "
        f"{len(files)} metrics files with {total} rows"
    )


if __name__ == "__main__":
    main()
