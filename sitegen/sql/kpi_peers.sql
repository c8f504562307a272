-- Peers: how each partner compares with the others reporting the same KPI in the same period,
-- over all partners and within its own partner_type. Only shown values take part (suppressed
-- ones count for nothing). A group of fewer than 5 partners is withheld: a median of 2 would
-- reveal the other partner's value.

CREATE OR REPLACE TABLE peer_values AS
SELECT v.partner_id, v.kpi_id, v.grain, v.period_start, v.value,
       v.sign * v.value AS goodness, p.partner_type
FROM kpi_values v
JOIN partners p USING (partner_id)
WHERE NOT v.suppressed;

-- Median and quartiles by linear interpolation between values (quantile_cont).
CREATE OR REPLACE TABLE peer_stats AS
WITH groups AS (
    SELECT kpi_id, grain, period_start, 'all' AS scope, count(*) AS n,
           quantile_cont(value, 0.5) AS median,
           quantile_cont(value, 0.25) AS q1,
           quantile_cont(value, 0.75) AS q3
    FROM peer_values
    GROUP BY kpi_id, grain, period_start
    UNION ALL
    SELECT kpi_id, grain, period_start, partner_type AS scope, count(*) AS n,
           quantile_cont(value, 0.5), quantile_cont(value, 0.25), quantile_cont(value, 0.75)
    FROM peer_values
    GROUP BY kpi_id, grain, period_start, partner_type
)
SELECT kpi_id, sg_label(period_start, grain) AS period, period_start, scope, n,
       CASE WHEN n >= 5 THEN median END AS median,
       CASE WHEN n >= 5 THEN q1 END AS q1,
       CASE WHEN n >= 5 THEN q3 END AS q3,
       n < 5 AS withheld
FROM groups;

-- Percentile, direction-aware: 100 × (position − 1) ÷ (n − 1), positions counted from the
-- worst, ties taking the lowest position (SQL percent_rank): best 100, worst 0.
-- Rank: 1 is best; ties share a rank and the next one is skipped (1, 2, 2, 4), the same way
-- every time. Counted from the same worst-to-best order: rank = n − (partners at or below) + 1.
CREATE OR REPLACE TABLE peer_positions AS
WITH counted AS (
    SELECT partner_id, kpi_id, period_start,
           rank() OVER everyone AS everyone_position,
           count(*) OVER everyone AS everyone_at_or_below,
           count(*) OVER (everyone ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
               AS everyone_n,
           rank() OVER own_type AS type_position,
           count(*) OVER own_type AS type_at_or_below,
           count(*) OVER (own_type ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
               AS type_n
    FROM peer_values
    WINDOW everyone AS (PARTITION BY kpi_id, period_start ORDER BY goodness),
           own_type AS (PARTITION BY kpi_id, period_start, partner_type ORDER BY goodness)
)
SELECT partner_id, kpi_id, period_start,
       CASE WHEN everyone_n >= 5
            THEN 100.0 * (everyone_position - 1) / (everyone_n - 1) END AS peer_percentile,
       CASE WHEN everyone_n >= 5 THEN everyone_n - everyone_at_or_below + 1 END AS peer_rank,
       CASE WHEN type_n >= 5
            THEN 100.0 * (type_position - 1) / (type_n - 1) END AS type_percentile,
       CASE WHEN type_n >= 5 THEN type_n - type_at_or_below + 1 END AS type_rank
FROM counted;
