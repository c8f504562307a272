-- Peers: how each partner compares with the others reporting the same KPI in the same period,
-- over all partners and within its own partner_type. Only shown values take part (suppressed
-- ones count for nothing). A group of fewer than min_peers (5) partners is withheld: a median
-- of 2 would reveal the other partner's value.

-- (The KPI's grain is not carried: it follows from the KPI, and is joined where needed.)
CREATE OR REPLACE TABLE peer_values AS
SELECT v.partner_id, v.kpi_id, v.period_start, v.value,
       v.sign * v.value AS goodness, p.partner_type
FROM kpi_values v
JOIN partners p USING (partner_id)
WHERE NOT v.suppressed AND v.value IS NOT NULL;

-- Median and quartiles by linear interpolation between values (quantile_cont). The three are
-- asked for as one list, so that each group holds its values once, not three times: a holistic
-- aggregate cannot spill to disk, and at 10,000 partners three copies outgrow DuckDB's bound.
CREATE OR REPLACE TABLE peer_stats AS
WITH quantiles AS (
    SELECT kpi_id, period_start, 'all' AS scope, count(*) AS n,
           quantile_cont(value, [0.25, 0.5, 0.75]) AS q
    FROM peer_values
    GROUP BY kpi_id, period_start
    UNION ALL
    SELECT kpi_id, period_start, CAST(partner_type AS VARCHAR) AS scope, count(*) AS n,
           quantile_cont(value, [0.25, 0.5, 0.75])
    FROM peer_values
    GROUP BY kpi_id, period_start, partner_type
),
groups AS (
    SELECT kpi_id, kg.grain, period_start, scope, n, q[1] AS q1, q[2] AS median, q[3] AS q3
    FROM quantiles
    JOIN kpi_grains kg USING (kpi_id)
)
-- Published figures are rounded to the decimals the KPI's unit is shown with (sg_shown), in
-- charts and JSON as on the page, so that a handful of anonymous values cannot be read back
-- exactly. In a partner's own site the quartiles need min_peers_quartiles (10) contributors,
-- the median min_peers (5): of 5 values the quartiles are the 2nd and 4th values themselves,
-- and with its own value a partner could work the others out (own_site_q1, own_site_q3).
SELECT g.kpi_id, sg_label(g.period_start, g.grain) AS period, g.period_start, g.scope, g.n,
       CASE WHEN g.n >= getvariable('min_peers') THEN sg_shown(g.median, k.decimals) END
           AS median,
       CASE WHEN g.n >= getvariable('min_peers') THEN sg_shown(g.q1, k.decimals) END AS q1,
       CASE WHEN g.n >= getvariable('min_peers') THEN sg_shown(g.q3, k.decimals) END AS q3,
       CASE WHEN g.n >= getvariable('min_peers_quartiles') THEN sg_shown(g.q1, k.decimals) END
           AS own_site_q1,
       CASE WHEN g.n >= getvariable('min_peers_quartiles') THEN sg_shown(g.q3, k.decimals) END
           AS own_site_q3,
       g.n < getvariable('min_peers') AS withheld
FROM groups g
JOIN kpis k USING (kpi_id);

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
       CASE WHEN everyone_n >= getvariable('min_peers')
            THEN 100.0 * (everyone_position - 1) / (everyone_n - 1) END AS peer_percentile,
       CASE WHEN everyone_n >= getvariable('min_peers')
            THEN everyone_n - everyone_at_or_below + 1 END AS peer_rank,
       CASE WHEN type_n >= getvariable('min_peers')
            THEN 100.0 * (type_position - 1) / (type_n - 1) END AS type_percentile,
       CASE WHEN type_n >= getvariable('min_peers') THEN type_n - type_at_or_below + 1 END
           AS type_rank
FROM counted;
