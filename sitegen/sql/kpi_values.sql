-- Values: one per partner × KPI × KPI period (see kpi_grains), and whether it may be shown.

-- Rollup of accepted rows. Rates are never averaged: ratio KPIs sum numerators and
-- denominators first, then divide (a quarter is Σ of its months, not the mean of three monthly
-- rates). `mean` KPIs average their values, `sum` KPIs add them, `last` KPIs take the latest
-- sub-period submitted. A row suppressed at source (flag) is a submission without a value: it
-- adds nothing to the rollup.
--
-- A period rolled up from fewer sub-periods than it has (two of a quarter's three months) is
-- partial: `parts` of `parts_of`, shown wherever the value is.
--
-- Suppression: `suppression` says why a value may be shown to its owner only, and is judged
-- on a rollup's summed counts:
--   small_cell       the KPI counts people (kpis.csv small_cell_rule) and the numerator is
--                    1 to 10 (the CMS small-cell rule: privacy);
--   min_denominator  the denominator is below the minimum (the KPI's own min_denominator, else
--                    [status] min_denominator; for an SIR the predicted count, 1): too few to
--                    judge reliably;
--   source           every row of the period came suppressed at source (flag = suppressed).
-- A suppressed value counts for nothing: no status, no change, no peer figure, and its counts
-- are never shown to anyone but its owner. It still adds to the alliance's pooled figure (see
-- kpi_alliance.sql), which is judged by the same thresholds.
--
-- A KPI period that is one native period (a monthly KPI on a monthly scorecard, the usual
-- case) has one accepted row at most: that row is its rollup, with nothing to group.
CREATE OR REPLACE TABLE kpi_values AS
WITH rolled AS (
    SELECT m.partner_id, m.kpi_id, g.grain,
           date_trunc(g.grain, m.period_start)::DATE AS period_start,
           sum(m.numerator) AS numerators,
           sum(m.denominator) AS denominators,
           avg(m.value) AS mean,
           sum(m.value) AS total,
           arg_max(m.value, m.period_start) FILTER (m.value IS NOT NULL) AS latest,
           count(m.value) AS parts,
           count(*) FILTER (m.flag = 'suppressed') AS flagged_suppressed
    FROM metrics m
    JOIN kpi_grains g USING (kpi_id)
    WHERE g.parts_of > 1
    GROUP BY ALL
),
-- Footnotes: each distinct one of the period's rows, in alphabetical order, joined by "; ".
-- Gathered apart from the rollup, over the rows that have one: an ordered aggregate is
-- several times slower than the sums, and most rows have no footnote.
notes AS (
    SELECT m.partner_id, m.kpi_id, date_trunc(g.grain, m.period_start)::DATE AS period_start,
           string_agg(DISTINCT m.footnote, '; ' ORDER BY m.footnote) AS footnote
    FROM metrics m
    JOIN kpi_grains g USING (kpi_id)
    WHERE m.footnote IS NOT NULL AND g.parts_of > 1
    GROUP BY ALL
),
single AS (
    -- (+ 0.0 as the sums and means of one row have it: a "-0" written comes out 0, not -0)
    SELECT m.partner_id, m.kpi_id, g.grain, m.period_start,
           m.numerator + 0.0 AS numerators, m.denominator + 0.0 AS denominators,
           m.value + 0.0 AS mean, m.value + 0.0 AS total, m.value AS latest,
           CASE WHEN m.value IS NOT NULL THEN 1 ELSE 0 END AS parts,
           CASE WHEN m.flag = 'suppressed' THEN 1 ELSE 0 END AS flagged_suppressed,
           m.footnote
    FROM metrics m
    JOIN kpi_grains g USING (kpi_id)
    WHERE g.parts_of = 1
),
valued AS (
    SELECT r.*, k.aggregation, k.scale, k.direction, k.small_cell_rule,
           coalesce(k.min_denominator, getvariable('min_denominator')) AS min_denominator,
           g.parts_of,
           CASE WHEN r.parts = 0 THEN NULL
                WHEN k.aggregation = 'ratio' THEN r.numerators / r.denominators * k.scale
                WHEN k.aggregation = 'mean' THEN r.mean
                WHEN k.aggregation = 'sum' THEN r.total
                WHEN k.aggregation = 'last' THEN r.latest
           END AS value
    FROM (
        SELECT r.*, n.footnote
        FROM rolled r
        LEFT JOIN notes n USING (partner_id, kpi_id, period_start)
        UNION ALL BY NAME
        SELECT * FROM single
    ) r
    JOIN kpis k USING (kpi_id)
    JOIN kpi_grains g USING (kpi_id)
),
judged AS (
    SELECT partner_id, kpi_id, grain, period_start, value,
           CASE WHEN aggregation = 'ratio' AND parts > 0 THEN numerators END AS numerator,
           CASE WHEN aggregation = 'ratio' AND parts > 0 THEN denominators END AS denominator,
           CASE direction WHEN 'higher' THEN 1 ELSE -1 END AS sign,
           parts, parts_of, footnote,
           CASE WHEN parts = 0 AND flagged_suppressed > 0 THEN 'source'
                WHEN parts = 0 OR aggregation <> 'ratio' THEN NULL
                WHEN small_cell_rule AND numerators BETWEEN 1 AND 10 THEN 'small_cell'
                WHEN denominators < min_denominator THEN 'min_denominator'
           END AS suppression
    FROM valued
)
SELECT *, suppression IS NOT NULL AS suppressed FROM judged;
