-- Periods: labels, steps and the grain each KPI is reported at.
--
-- Settings arrive as variables set by kpis.py: grain (month | quarter | year), amber_band,
-- min_denominator, today, period ('latest' or a label at the grain).

CREATE OR REPLACE TEMP MACRO sg_grain_rank(g) AS
    CASE g WHEN 'month' THEN 1 WHEN 'quarter' THEN 2 WHEN 'year' THEN 3 END;

CREATE OR REPLACE TEMP MACRO sg_step(g) AS
    CASE g WHEN 'month' THEN INTERVAL 1 MONTH
           WHEN 'quarter' THEN INTERVAL 3 MONTH
           ELSE INTERVAL 1 YEAR END;

-- Labels as partners write them: 2025-09, 2025-Q3, 2025.
CREATE OR REPLACE TEMP MACRO sg_label(d, g) AS
    CASE g WHEN 'month' THEN strftime(d, '%Y-%m')
           WHEN 'quarter' THEN strftime(d, '%Y') || '-Q' || quarter(d)
           ELSE strftime(d, '%Y') END;

-- The last day of the period that starts on d.
CREATE OR REPLACE TEMP MACRO sg_end(d, g) AS CAST(d + sg_step(g) - INTERVAL 1 DAY AS DATE);

-- The KPI period at grain g that a scorecard period ending on last_day is judged at: the
-- latest one ending on or before that day (a monthly scorecard for 2025-11 judges a
-- quarterly KPI at 2025-Q3).
CREATE OR REPLACE TEMP MACRO sg_judged_at(last_day, g) AS
    CAST(date_trunc(g, last_day + INTERVAL 1 DAY) - sg_step(g) AS DATE);

-- A figure as published: rounded half away from zero to the decimals its unit is shown with
-- (0 to 2), on the number as written (2.675 → 2.68, as by hand and as sitegen/filters.py
-- rounds), so that what a chart's data or a JSON file holds is what the page shows.
CREATE OR REPLACE TEMP MACRO sg_decimal(x) AS CAST(CAST(x AS VARCHAR) AS DECIMAL(38, 12));
CREATE OR REPLACE TEMP MACRO sg_shown(x, decimals) AS
    CASE WHEN x IS NULL OR NOT isfinite(x) OR abs(x) >= 1e24 THEN x
         WHEN decimals = 0 THEN CAST(round(sg_decimal(x), 0) AS DOUBLE)
         WHEN decimals = 1 THEN CAST(round(sg_decimal(x), 1) AS DOUBLE)
         ELSE CAST(round(sg_decimal(x), 2) AS DOUBLE) END;

-- Improving or worsening: a change read in the KPI's direction (sign +1 higher, -1 lower).
CREATE OR REPLACE TEMP MACRO sg_change_label(change, sign) AS
    CASE WHEN change IS NULL THEN NULL
         WHEN sign * change > 1e-9 THEN 'improving'
         WHEN sign * change < -1e-9 THEN 'worsening'
         ELSE 'unchanged' END;

-- A KPI is reported at the coarser of the scorecard's grain and its own frequency: on a
-- monthly scorecard a quarterly KPI is judged per quarter; on a quarterly scorecard a monthly
-- KPI is rolled up to quarters.
CREATE OR REPLACE TABLE kpi_grains AS
WITH native AS (
    SELECT kpi_id,
           CASE frequency WHEN 'monthly' THEN 'month' WHEN 'quarterly' THEN 'quarter'
                          ELSE 'year' END AS native
    FROM kpis
)
SELECT kpi_id, native, grain,
       -- native periods in one KPI period: 3 months in a quarter, 12 in a year, 4 quarters
       CASE WHEN native = grain THEN 1
            WHEN native = 'month' AND grain = 'quarter' THEN 3
            WHEN native = 'month' THEN 12
            ELSE 4 END AS parts_of
FROM (
    SELECT kpi_id, native,
           CASE WHEN sg_grain_rank(native) >= sg_grain_rank(getvariable('grain')) THEN native
                ELSE getvariable('grain') END AS grain
    FROM native
);

-- The scorecard calendar: every period at the configured grain from the first to the last
-- one that any accepted row falls in.
CREATE OR REPLACE TABLE calendar AS
WITH bounds AS (
    SELECT date_trunc(getvariable('grain'), min(period_start))::DATE AS first,
           date_trunc(getvariable('grain'), max(period_start))::DATE AS last
    FROM metrics
),
starts AS (
    SELECT CAST(unnest(generate_series(first, last, sg_step(getvariable('grain')))) AS DATE)
               AS period_start
    FROM bounds
    WHERE first IS NOT NULL
)
SELECT sg_label(period_start, getvariable('grain')) AS period,
       period_start,
       sg_end(period_start, getvariable('grain')) AS period_end
FROM starts;
