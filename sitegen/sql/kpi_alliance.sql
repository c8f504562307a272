-- Alliance-wide value per KPI and KPI period, from the partners' shown values only (a
-- suppressed partner's counts could otherwise be derived by subtraction). Ratio KPIs pool
-- numerators and denominators, never averaging partner rates; sum KPIs add up; mean and last
-- KPIs average the partners' values. Judged against the KPI's own target like a partner;
-- published rounded to its unit's decimals (sg_shown).
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
        any_value(k.target) AS target,
        any_value(v.sign) AS sign,
        any_value(coalesce(k.amber_band, getvariable('amber_band'))) AS amber_band
    FROM kpi_values v
    JOIN kpis k USING (kpi_id)
    WHERE NOT v.suppressed
    GROUP BY v.kpi_id, v.grain, v.period_start
)
SELECT p.kpi_id, p.grain, sg_label(p.period_start, p.grain) AS period, p.period_start,
       sg_end(p.period_start, p.grain) AS period_end,
       sg_shown(p.value, k.decimals) AS value, p.numerator, p.denominator, p.partners, p.target,
       sg_judge(p.value, p.target, p.sign, p.amber_band) AS status
FROM pooled p
JOIN kpis k USING (kpi_id);

-- Everything below reads the scorecard; the per-partner values are no longer needed.
DROP TABLE kpi_values;
