-- The reference files, typed. load.py has already checked every cell, so these hold only
-- values that passed: one row per partner, per KPI, per partner commitment, per action or note.

CREATE OR REPLACE TABLE partners (
    partner_id     VARCHAR PRIMARY KEY,
    name           VARCHAR NOT NULL,
    partner_type   VARCHAR NOT NULL,
    region         VARCHAR NOT NULL,
    joined         DATE NOT NULL,
    contact_emails VARCHAR[] NOT NULL,
    line           INTEGER NOT NULL
);

-- Optional kpis.csv columns arrive here with their defaults applied: scale (100 for percent,
-- else 1), value bounds (percent 0..100, score unbounded, everything else >= 0).
-- amber_band and min_denominator stay NULL when the project-wide default applies.
CREATE OR REPLACE TABLE kpis (
    kpi_id           VARCHAR PRIMARY KEY,
    name             VARCHAR NOT NULL,
    category         VARCHAR NOT NULL,
    unit             VARCHAR NOT NULL,
    direction        VARCHAR NOT NULL,
    target           DOUBLE NOT NULL,
    benchmark        DOUBLE,
    benchmark_source VARCHAR,
    weight           DOUBLE NOT NULL,
    description      VARCHAR,
    aggregation      VARCHAR NOT NULL,
    frequency        VARCHAR NOT NULL,
    amber_band       DOUBLE,
    min_denominator  INTEGER,
    scale            DOUBLE NOT NULL,
    min_value        DOUBLE,
    max_value        DOUBLE,
    decimals         INTEGER NOT NULL,  -- as the unit is shown (sitegen/filters.py)
    small_cell_rule  BOOLEAN NOT NULL,  -- a numerator of 1-10 counts people: privacy applies
    counts           VARCHAR NOT NULL,  -- binomial, poisson or none: which intervals apply
    line             INTEGER NOT NULL
);

-- A partner's own commitment for a KPI, valid from the first day of valid_from to the last
-- day of valid_to (open ends stored as far-away dates). Windows never overlap.
CREATE OR REPLACE TABLE targets (
    partner_id  VARCHAR NOT NULL,
    kpi_id      VARCHAR NOT NULL,
    target      DOUBLE NOT NULL,
    valid_start DATE NOT NULL,
    valid_end   DATE NOT NULL,
    valid_from  VARCHAR,
    valid_to    VARCHAR,
    line        INTEGER NOT NULL
);

-- Where a KPI's SPC reading starts a new baseline: from the first period starting on or
-- after from_start, for one partner, or for every partner (partner_id NULL).
CREATE OR REPLACE TABLE baselines (
    partner_id  VARCHAR,
    kpi_id      VARCHAR NOT NULL,
    from_period VARCHAR NOT NULL,
    from_start  DATE NOT NULL,
    line        INTEGER NOT NULL
);

-- What a partner is doing about a KPI, or a comment on its figure, for one period. A row says
-- something: an action (with a due date and a status, open or done), a note, or both; a note
-- alone may leave owner, due and status empty (NULL). Rows that broke a rule are not here:
-- load.py quarantined them with their reasons. No two rows repeat partner, KPI, period,
-- action and note.
CREATE OR REPLACE TABLE actions (
    partner_id   VARCHAR NOT NULL,
    kpi_id       VARCHAR NOT NULL,
    period       VARCHAR NOT NULL,
    period_start DATE NOT NULL,
    period_end   DATE NOT NULL,
    owner        VARCHAR,
    action       VARCHAR,
    due          DATE,
    status       VARCHAR,  -- open or done (lower case); NULL on a note without an action
    note         VARCHAR,
    line         INTEGER NOT NULL
);
