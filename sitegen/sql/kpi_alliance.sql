-- Alliance-wide value per KPI and KPI period, pooled from every accepted row with a value:
-- suppressed partners' counts included, so that the figure is not biased towards the large
-- partners whose values may be shown. Ratio KPIs pool numerators and denominators, never
-- averaging partner rates; sum KPIs add up; mean and last KPIs average the partners' values.
-- A row suppressed at source has no value and does not contribute.
--
-- The pooled figure is itself judged, then withheld (value, numerator and denominator NULL,
-- status suppressed) with the first reason that applies:
--   fewer_than_5    fewer than min_peers (5) partners contribute: it could be one of them;
--   one_suppressed  exactly one contributor is suppressed: the others' shown counts taken
--                   from the total would give its counts back (complementary suppression);
--   small_counts    the pooled counts fail the thresholds a partner's do (a numerator of 1 to
--                   10 where the small-cell rule applies, a denominator below the minimum).
-- Otherwise it is judged against the KPI's own target like a partner, and published rounded
-- to its unit's decimals (sg_shown).
CREATE OR REPLACE TABLE alliance AS
WITH pooled AS (
    SELECT
        v.kpi_id, v.grain, v.period_start,
        CASE any_value(k.aggregation)
            WHEN 'ratio' THEN sum(v.numerator) / sum(v.denominator) * any_value(k.scale)
            WHEN 'sum' THEN sum(v.value)
            ELSE avg(v.value)
        END AS value,
        CASE WHEN any_value(k.aggregation) = 'ratio' THEN sum(v.numerator) END AS numerator,
        CASE WHEN any_value(k.aggregation) = 'ratio' THEN sum(v.denominator) END AS denominator,
        count(*) AS partners,
        count(*) FILTER (v.suppressed) AS suppressed_partners,
        any_value(k.target) AS target,
        any_value(v.sign) AS sign,
        any_value(coalesce(k.amber_band, getvariable('amber_band'))) AS amber_band,
        any_value(k.aggregation) = 'ratio'
            AND ((any_value(k.small_cell_rule) AND sum(v.numerator) BETWEEN 1 AND 10)
                 OR sum(v.denominator)
                    < any_value(coalesce(k.min_denominator, getvariable('min_denominator'))))
            AS small_counts,
        any_value(k.decimals) AS decimals
    FROM kpi_values v
    JOIN kpis k USING (kpi_id)
    WHERE v.value IS NOT NULL
    GROUP BY v.kpi_id, v.grain, v.period_start
),
withheld AS (
    SELECT *,
           CASE WHEN partners < getvariable('min_peers') THEN 'fewer_than_5'
                WHEN suppressed_partners = 1 THEN 'one_suppressed'
                WHEN small_counts THEN 'small_counts' END AS withheld
    FROM pooled
)
SELECT kpi_id, grain, sg_label(period_start, grain) AS period, period_start,
       sg_end(period_start, grain) AS period_end,
       CASE WHEN withheld IS NULL THEN sg_shown(value, decimals) END AS value,
       CASE WHEN withheld IS NULL THEN numerator END AS numerator,
       CASE WHEN withheld IS NULL THEN denominator END AS denominator,
       partners, suppressed_partners, target,
       CASE WHEN withheld IS NULL THEN sg_judge(value, target, sign, amber_band)
            ELSE 'suppressed' END AS status,
       withheld
FROM withheld;

-- Everything below reads the scorecard; the per-partner values are no longer needed.
DROP TABLE kpi_values;
