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
--
-- The grid is the KPI periods with a value (kpi_values) and the gaps between and after them:
-- each period with a value is followed by the periods up to the next one with a value, or up
-- to the last KPI period. (Found so rather than by joining every period to its value: at
-- national scale the join is tens of millions of rows, the gaps a few.)
CREATE OR REPLACE TABLE kpi_last AS
SELECT kpi_id, sg_step(grain) AS step,
       sg_judged_at((SELECT max(period_end) FROM calendar), grain) AS last
FROM kpi_grains;

CREATE OR REPLACE TABLE scorecard_gaps AS
WITH present AS (
    SELECT v.partner_id, v.kpi_id, v.period_start, l.step,
           least(coalesce(lead(v.period_start) OVER (PARTITION BY v.partner_id, v.kpi_id
                                                     ORDER BY v.period_start) - l.step,
                          l.last),
                 l.last) AS gap_end
    FROM kpi_values v
    JOIN kpi_last l USING (kpi_id)
)
SELECT partner_id, kpi_id,
       CAST(unnest(generate_series(period_start + step, gap_end, step)) AS DATE) AS period_start
FROM present
WHERE period_start + step <= gap_end;

-- Changes against the previous KPI period and the same period a year earlier, both between
-- shown values (peer_values holds exactly those): the previous period's value is the one
-- before in the partner's series when that is one step back; the year-ago one is found by its
-- date, as the series may have gaps.
CREATE OR REPLACE TABLE shown_changes AS
SELECT v.partner_id, v.kpi_id, v.period_start,
       CASE WHEN lag(v.period_start) OVER series = v.period_start - l.step
            THEN v.value - lag(v.value) OVER series END AS change_prev,
       v.value - first_value(v.value) OVER (series RANGE BETWEEN INTERVAL 1 YEAR PRECEDING
                                                         AND INTERVAL 1 YEAR PRECEDING)
           AS change_yoy
FROM peer_values v
JOIN kpi_last l USING (kpi_id)
WINDOW series AS (PARTITION BY partner_id, kpi_id ORDER BY period_start);

-- The cells as stored: what the view below can derive from the KPI (its grain, the period's
-- label and end, the changes' labels) is left out, as is text where a flag will do. At
-- national scale every text column written costs seconds.
CREATE OR REPLACE TABLE scorecard_cells AS
WITH cells AS (
    SELECT partner_id, kpi_id, period_start, value, numerator, denominator, suppression,
           suppressed, footnote, parts
    FROM kpi_values
    UNION ALL BY NAME
    SELECT partner_id, kpi_id, period_start FROM scorecard_gaps
),
-- Positions and changes join the cells before the rules and filters below: then DuckDB holds
-- the narrow positions and changes in its hash tables. (Joined after, it takes the filtered
-- cells for the fewer and holds them, every column of ten million rows, and spills.)
placed AS (
    SELECT c.*, ch.change_prev, ch.change_yoy,
           pos.peer_percentile, pos.peer_rank, pos.type_percentile, pos.type_rank
    FROM cells c
    LEFT JOIN peer_positions pos
        ON pos.partner_id = c.partner_id AND pos.kpi_id = c.kpi_id
       AND pos.period_start = c.period_start
    LEFT JOIN shown_changes ch
        ON ch.partner_id = c.partner_id AND ch.kpi_id = c.kpi_id
       AND ch.period_start = c.period_start
),
judged AS (
    SELECT
        v.partner_id, v.kpi_id, v.period_start,
        -- Suppressed values and their counts are shown to no one but their owner: `value`
        -- is what everyone may see, `own_value` what the partner's own site and PDF show.
        CASE WHEN NOT v.suppressed THEN v.value END AS value,
        CASE WHEN NOT v.suppressed THEN v.numerator END AS numerator,
        CASE WHEN NOT v.suppressed THEN v.denominator END AS denominator,
        v.value AS own_value, v.numerator AS own_numerator, v.denominator AS own_denominator,
        v.suppression, v.footnote, coalesce(v.parts, 0) AS parts,
        -- Target: the partner's commitment in force on the last day of the period, else the
        -- KPI's own target.
        coalesce(t.target, k.target) AS target,
        t.target IS NOT NULL AS partner_target,
        CASE
            WHEN v.suppressed THEN 'suppressed'
            WHEN v.value IS NULL THEN 'no_data'
            ELSE sg_judge(v.value, coalesce(t.target, k.target),
                          CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END,
                          coalesce(k.amber_band, getvariable('amber_band')))
        END AS status,
        CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END AS sign,
        v.change_prev, v.change_yoy, v.peer_percentile, v.peer_rank, v.type_percentile,
        v.type_rank
    FROM placed v
    JOIN kpi_last l USING (kpi_id)
    JOIN partners p USING (partner_id)
    JOIN kpis k USING (kpi_id)
    JOIN kpi_grains kg USING (kpi_id)
    LEFT JOIN targets t
        ON t.partner_id = v.partner_id AND t.kpi_id = v.kpi_id
       AND t.valid_start <= sg_end(v.period_start, kg.grain)
       AND sg_end(v.period_start, kg.grain) <= t.valid_end
    WHERE v.period_start <= l.last AND sg_end(v.period_start, kg.grain) >= p.joined
)
SELECT
    c.partner_id, c.kpi_id, c.period_start,
    c.value, c.numerator, c.denominator, c.target, c.partner_target, c.status,
    c.own_value, c.own_numerator, c.own_denominator, c.suppression, c.footnote, c.parts,
    c.change_prev,
    -- The change read in the KPI's direction, as a share of the target, so that changes in
    -- different units compare (a falling readmission rate counts as positive): what picks a
    -- scorecard's biggest improvement and decline.
    c.sign * c.change_prev / CASE WHEN abs(c.target) > 0 THEN abs(c.target) ELSE 1 END
        AS relative_change,
    c.change_yoy, c.peer_percentile, c.peer_rank, c.type_percentile, c.type_rank
FROM judged c;

-- The scorecard as every reader sees it: each cell with the peer figures of its KPI period,
-- over all partners and within the partner's own type. Those are kept once per KPI period in
-- peer_stats, not once per cell: 10 columns fewer to write for 10 million cells.
-- The changes' labels follow the KPI's direction: a falling readmission rate is improving.
-- (The view uses this run's macros: like them, it is for the run's own connection.)
CREATE OR REPLACE VIEW scorecard AS
SELECT c.partner_id, c.kpi_id, g.grain, sg_label(c.period_start, g.grain) AS period,
       c.period_start, sg_end(c.period_start, g.grain) AS period_end,
       c.value, c.numerator, c.denominator, c.target,
       CASE WHEN c.partner_target THEN 'partner' ELSE 'kpi' END AS target_source, c.status,
       c.own_value, c.own_numerator, c.own_denominator, c.suppression, c.footnote,
       c.parts, g.parts_of, c.change_prev,
       sg_change_label(c.change_prev, CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END)
           AS change_prev_label,
       c.relative_change, c.change_yoy,
       sg_change_label(c.change_yoy, CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END)
           AS change_yoy_label,
       coalesce(a.n, 0) AS peer_n, a.median AS peer_median, a.q1 AS peer_q1, a.q3 AS peer_q3,
       a.own_site_q1 AS peer_own_site_q1, a.own_site_q3 AS peer_own_site_q3,
       c.peer_percentile, c.peer_rank,
       coalesce(t.n, 0) AS type_n, t.median AS type_median, t.q1 AS type_q1, t.q3 AS type_q3,
       c.type_percentile, c.type_rank
FROM scorecard_cells c
JOIN partners p USING (partner_id)
JOIN kpis k USING (kpi_id)
JOIN kpi_grains g USING (kpi_id)
LEFT JOIN peer_stats a
    ON a.kpi_id = c.kpi_id AND a.period_start = c.period_start AND a.scope = 'all'
LEFT JOIN peer_stats t
    ON t.kpi_id = c.kpi_id AND t.period_start = c.period_start AND t.scope = p.partner_type;

DROP TABLE kpi_last;
DROP TABLE scorecard_gaps;
DROP TABLE shown_changes;
DROP TABLE peer_positions;
DROP TABLE peer_values;
