-- Values: one per partner × KPI × KPI period (see kpi_grains), and whether it may be shown.

-- Rollup of accepted rows. Rates are never averaged: ratio KPIs sum numerators and
-- denominators first, then divide (a quarter is Σ of its months, not the mean of three monthly
-- rates). `mean` KPIs average their values, `sum` KPIs add them, `last` KPIs take the latest
-- sub-period submitted.
--
-- Small cells (the CMS rule): a value whose denominator is below the minimum (the KPI's own,
-- else [status] min_denominator), or whose numerator is 1 to 10, is suppressed. Rollups are
-- judged on their summed counts. A suppressed value counts for nothing: no status, no change,
-- no peer figure, no alliance total, and its counts are never shown.
CREATE OR REPLACE TABLE kpi_values AS
WITH rolled AS (
    SELECT m.partner_id, m.kpi_id, g.grain,
           date_trunc(g.grain, m.period_start)::DATE AS period_start,
           sum(m.numerator) AS numerators,
           sum(m.denominator) AS denominators,
           avg(m.value) AS mean,
           sum(m.value) AS total,
           arg_max(m.value, m.period_start) AS latest
    FROM metrics m
    JOIN kpi_grains g USING (kpi_id)
    GROUP BY ALL
)
SELECT r.partner_id, r.kpi_id, r.grain, r.period_start,
       CASE k.aggregation
           WHEN 'ratio' THEN r.numerators / r.denominators * k.scale
           WHEN 'mean' THEN r.mean
           WHEN 'sum' THEN r.total
           WHEN 'last' THEN r.latest
       END AS value,
       CASE WHEN k.aggregation = 'ratio' THEN r.numerators END AS numerator,
       CASE WHEN k.aggregation = 'ratio' THEN r.denominators END AS denominator,
       CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END AS sign,
       k.aggregation = 'ratio'
           AND (r.denominators < coalesce(k.min_denominator, getvariable('min_denominator'))
                OR r.numerators BETWEEN 1 AND 10) AS suppressed
FROM rolled r
JOIN kpis k USING (kpi_id);
