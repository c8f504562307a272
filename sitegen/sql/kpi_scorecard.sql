-- The scorecard: one row per partner × KPI it reports × KPI period, with value, target,
-- status, changes and peer position. This file is where the status of a KPI is decided.

-- Status against the target, direction-aware: gap = sign × (value − target) is positive when
-- the value is better than the target whatever the direction (sign +1 higher, −1 lower).
-- met when gap ≥ 0; at_risk when the value misses by no more than the amber band, a fraction
-- of the target (−band ≤ gap < 0, boundary included); missed otherwise. The 1e-9 keeps
-- "exactly on target" exact despite binary fractions.
CREATE OR REPLACE TEMP MACRO sg_judge(value, target, sign, amber_band) AS
    CASE WHEN sign * (value - target) >= -1e-9 THEN 'met'
         WHEN sign * (value - target) >= -(amber_band * abs(target)) - 1e-9 THEN 'at_risk'
         ELSE 'missed' END;

-- The grid: a partner is expected to report a KPI from the first KPI period it submitted the
-- KPI for (a row suppressed at source is a submission), in every KPI period after it, to the
-- one the calendar's last period is judged at, and from the period in which it joined. So the
-- KPIs on a scorecard for period P are exactly those the partner submitted for a period ending
-- on or before P: the page, its JSON and PDF and the composite all count this one set, and
-- data for later periods never change what an earlier period's scorecard shows. A missing
-- value is a finding (no_data).
CREATE OR REPLACE TABLE scorecard_grid AS
WITH reported AS (
    SELECT m.partner_id, m.kpi_id, g.grain,
           min(date_trunc(g.grain, m.period_start))::DATE AS first
    FROM metrics m
    JOIN kpi_grains g USING (kpi_id)
    GROUP BY ALL
),
spans AS (
    SELECT r.*,
           CAST(date_trunc(r.grain, (SELECT max(period_end) FROM calendar) + INTERVAL 1 DAY)
                - sg_step(r.grain) AS DATE) AS last
    FROM reported r
),
periods AS (
    SELECT partner_id, kpi_id, grain,
           CAST(unnest(generate_series(first, last, sg_step(grain))) AS DATE) AS period_start
    FROM spans
    WHERE first <= last
)
SELECT s.partner_id, s.kpi_id, s.grain, s.period_start,
       sg_end(s.period_start, s.grain) AS period_end,
       CAST(s.period_start - sg_step(s.grain) AS DATE) AS previous_start,
       CAST(s.period_start - INTERVAL 1 YEAR AS DATE) AS year_ago_start
FROM periods s
JOIN partners p USING (partner_id)
WHERE sg_end(s.period_start, s.grain) >= p.joined;

-- Values that may be shown, by partner × KPI × period: the other side of every change.
CREATE OR REPLACE TABLE shown_values AS
SELECT partner_id, kpi_id, period_start, value
FROM kpi_values
WHERE NOT suppressed AND value IS NOT NULL;

CREATE OR REPLACE TABLE scorecard AS
WITH judged AS (
    SELECT
        g.partner_id, g.kpi_id, g.grain, sg_label(g.period_start, g.grain) AS period,
        g.period_start, g.period_end, g.previous_start, g.year_ago_start,
        -- Suppressed values and their counts are shown to no one but their owner: `value`
        -- is what everyone may see, `own_value` what the partner's own site and PDF show.
        CASE WHEN NOT v.suppressed THEN v.value END AS value,
        CASE WHEN NOT v.suppressed THEN v.numerator END AS numerator,
        CASE WHEN NOT v.suppressed THEN v.denominator END AS denominator,
        v.value AS own_value, v.numerator AS own_numerator, v.denominator AS own_denominator,
        v.suppression, v.footnote, coalesce(v.parts, 0) AS parts, kg.parts_of,
        -- Target: the partner's commitment in force on the last day of the period, else the
        -- KPI's own target.
        coalesce(t.target, k.target) AS target,
        CASE WHEN t.target IS NOT NULL THEN 'partner' ELSE 'kpi' END AS target_source,
        CASE
            WHEN v.suppressed THEN 'suppressed'
            WHEN v.value IS NULL THEN 'no_data'
            ELSE sg_judge(v.value, coalesce(t.target, k.target),
                          CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END,
                          coalesce(k.amber_band, getvariable('amber_band')))
        END AS status,
        CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END AS sign
    FROM scorecard_grid g
    JOIN kpis k USING (kpi_id)
    JOIN kpi_grains kg USING (kpi_id)
    LEFT JOIN kpi_values v USING (partner_id, kpi_id, period_start)
    LEFT JOIN targets t
        ON t.partner_id = g.partner_id AND t.kpi_id = g.kpi_id
       AND t.valid_start <= g.period_end AND g.period_end <= t.valid_end
),
changed AS (
    -- Changes against the previous period and the same period a year earlier, both shown.
    SELECT j.*,
           j.value - prev.value AS change_prev,
           j.value - year_ago.value AS change_yoy
    FROM judged j
    LEFT JOIN shown_values prev
        ON prev.partner_id = j.partner_id AND prev.kpi_id = j.kpi_id
       AND prev.period_start = j.previous_start
    LEFT JOIN shown_values year_ago
        ON year_ago.partner_id = j.partner_id AND year_ago.kpi_id = j.kpi_id
       AND year_ago.period_start = j.year_ago_start
)
SELECT
    c.partner_id, c.kpi_id, c.grain, c.period, c.period_start, c.period_end,
    c.value, c.numerator, c.denominator, c.target, c.target_source, c.status,
    c.own_value, c.own_numerator, c.own_denominator, c.suppression, c.footnote,
    c.parts, c.parts_of,
    -- The label follows the KPI's direction: a falling readmission rate is improving.
    c.change_prev, sg_change_label(c.change_prev, c.sign) AS change_prev_label,
    -- The change read in the KPI's direction, as a share of the target, so that changes in
    -- different units compare (a falling readmission rate counts as positive): what picks a
    -- scorecard's biggest improvement and decline.
    c.sign * c.change_prev / CASE WHEN abs(c.target) > 0 THEN abs(c.target) ELSE 1 END
        AS relative_change,
    c.change_yoy, sg_change_label(c.change_yoy, c.sign) AS change_yoy_label,
    coalesce(a.n, 0) AS peer_n, a.median AS peer_median, a.q1 AS peer_q1, a.q3 AS peer_q3,
    a.own_site_q1 AS peer_own_site_q1, a.own_site_q3 AS peer_own_site_q3,
    pos.peer_percentile, pos.peer_rank,
    coalesce(t.n, 0) AS type_n, t.median AS type_median, t.q1 AS type_q1, t.q3 AS type_q3,
    pos.type_percentile, pos.type_rank
FROM changed c
JOIN partners p USING (partner_id)
LEFT JOIN peer_stats a
    ON a.kpi_id = c.kpi_id AND a.period_start = c.period_start AND a.scope = 'all'
LEFT JOIN peer_stats t
    ON t.kpi_id = c.kpi_id AND t.period_start = c.period_start AND t.scope = p.partner_type
LEFT JOIN peer_positions pos
    ON pos.partner_id = c.partner_id AND pos.kpi_id = c.kpi_id
   AND pos.period_start = c.period_start;

DROP TABLE scorecard_grid;
DROP TABLE shown_values;
DROP TABLE peer_positions;
DROP TABLE peer_values;
