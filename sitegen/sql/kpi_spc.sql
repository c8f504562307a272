-- Statistical process control: the NHS "Making Data Count" reading of each partner's KPI
-- series (an XmR chart), beside its status against the target (DESIGN.md, "Statistical
-- honesty"). Every rule is decided here, in words first.
--
-- The points: the partner's shown values in its trend chart's window (every KPI period up to
-- the one the as-of scorecard shows), in period order. Suppressed and missing periods are not
-- points: "consecutive" skips them, and a moving range spans the gap. A series needs 13
-- points (the MDC tool's minimum) for a reading.
--
-- A point is above or below a line only strictly, and "exactly on" allows for binary
-- fractions (1e-9 of the line's size, as sg_judge does): a point on the mean ends a run, a
-- point on a limit is inside it.
CREATE OR REPLACE TEMP MACRO sg_above(x, line) AS x - line > 1e-9 * greatest(1, abs(line));
CREATE OR REPLACE TEMP MACRO sg_below(x, line) AS line - x > 1e-9 * greatest(1, abs(line));

-- Baselines (data/baselines.csv): a row starts a new baseline for one partner's KPI, or for
-- every partner's (partner_id empty), at the first KPI period starting on or after
-- from_period's start.
-- Each baseline segment has its own mean and limits, and no run, trend or two-of-three
-- pattern crosses a segment boundary.
-- The series to read as they stood at the last review (kpis.review fills it, and sets
-- spc_end): only those with a special cause since, the rest need no second reading.
CREATE TABLE IF NOT EXISTS spc_candidates (partner_id partner_key, kpi_id kpi_key);

-- Two of three, for the three consecutive points a, b, c of a segment: all strictly on
-- side s of the mean, and at least two of them beyond the two-thirds line on that side.
CREATE OR REPLACE TEMP MACRO sg_three(side_a, side_b, side_c, zone_a, zone_b, zone_c, s) AS
    side_a = s AND side_b = s AND side_c = s
    AND (zone_a::INT + zone_b::INT + zone_c::INT) >= 2;

-- The side of the mean a value is on: 1 above, -1 below, 0 on it; NULL for no value (a
-- neighbour beyond the segment's ends).
CREATE OR REPLACE TEMP MACRO sg_side(x, mean) AS
    CASE WHEN x IS NULL THEN NULL WHEN sg_above(x, mean) THEN 1
         WHEN sg_below(x, mean) THEN -1 ELSE 0 END;

-- Whether a point's value is beyond the two-thirds line above (hi) or below (lo) the mean:
-- false for a series with no moving range yet. (A neighbour beyond the segment's ends has no
-- zone: NULL, as lag and lead give it.)
CREATE OR REPLACE TEMP MACRO sg_zone_hi(x, mean, mean_mr) AS
    coalesce(sg_above(x, mean + 2.0 / 3.0 * 2.66 * mean_mr), false);
CREATE OR REPLACE TEMP MACRO sg_zone_lo(x, mean, mean_mr) AS
    coalesce(sg_below(x, mean - 2.0 / 3.0 * 2.66 * mean_mr), false);

-- spc_points keeps the points its readers need, not every point (at national scale most of
-- ten million): each flagged point, each series' latest point, and the first and last
-- point of each baseline segment (the periods it spans).
CREATE OR REPLACE TABLE spc_points AS
WITH window_points AS (
    SELECT s.partner_id, s.kpi_id, s.period_start, s.value, s.target
    FROM scorecard_cells s  -- the stored cells: the view's peer figures are not needed here
    JOIN kpi_grains g USING (kpi_id)
    -- the window ends with the as-of period, or where kpis.review asks (spc_end: the last
    -- review's period, to read the series as it stood then)
    CROSS JOIN (SELECT coalesce(getvariable('spc_end'), period_end) AS period_end FROM as_of) a
    WHERE s.value IS NOT NULL
      AND s.period_start <= sg_judged_at(a.period_end, g.grain)
      AND (getvariable('spc_end') IS NULL
           OR EXISTS (SELECT 1 FROM spc_candidates c
                      WHERE c.partner_id = s.partner_id AND c.kpi_id = s.kpi_id))
),
-- The series with 13 points or more, and the period of each one's latest point.
series AS (
    SELECT partner_id, kpi_id, count(*) AS points, max(period_start) AS latest_start
    FROM window_points
    GROUP BY ALL
    HAVING count(*) >= 13
),
-- The starts of the baselines that apply to each series that has any (a few series, often
-- none: a join to them costs little, where a lookup per point cost seconds).
series_baselines AS (
    SELECT s.partner_id, s.kpi_id, list(b.from_start) AS starts
    FROM series s
    JOIN baselines b ON b.kpi_id = s.kpi_id
                    AND (b.partner_id IS NULL OR b.partner_id = s.partner_id)
    GROUP BY ALL
),
-- A point's segment is the latest baseline start on or before it.
segmented AS (
    SELECT w.partner_id, w.kpi_id, w.period_start, w.value, w.target,
           s.points, w.period_start = s.latest_start AS latest,
           coalesce(list_max(list_filter(b.starts, lambda x: x <= w.period_start)),
                    DATE '0001-01-01') AS segment
    FROM window_points w
    JOIN series s USING (partner_id, kpi_id)
    LEFT JOIN series_baselines b USING (partner_id, kpi_id)
),
-- Centre line = the mean of the segment's points; moving range MR = |xᵢ − xᵢ₋₁| between
-- consecutive points of the segment; process limits = mean ± 2.66 × mean(MR); the
-- two-of-three zone starts two thirds of the way to each limit.
--
-- Every window below is over one ordering, a segment's points by period (a sort each, the
-- costly part at national scale: so there are three, no run is counted by a GROUP BY joined
-- back, and what only the last step needs, the KPI's grain and direction, joins there rather
-- than riding through every sort), and each mean is summed in that order, so the same input
-- gives the same limits to the last bit (a mean grouped without an order is summed in the
-- order the threads happen to finish). Each pass carries only what the later ones need: a
-- point's side of the mean and its zones are worked out once, where the mean and limits are
-- known, and its neighbours' are read in the last pass (they are the same columns of the
-- points before and after it).
ranged AS (
    SELECT s.*,
           row_number() OVER seg AS i,
           s.value - lag(s.value) OVER seg AS step,
           lead(s.value) OVER seg - s.value AS next_step,
           lag(s.value) OVER seg AS value_b1, lead(s.value) OVER seg AS value_a1,
           avg(s.value) OVER whole AS mean
    FROM segmented s
    WINDOW seg AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start),
           whole AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
),
-- The side of the mean each point is on (a point on the mean is on neither: 0), and the
-- direction of each step and of the next: a repeated value is a step of 0.
sides AS (
    SELECT r.partner_id, r.kpi_id, r.period_start, r.value, r.target, r.points, r.latest,
           r.segment, r.i, r.step, r.mean,
           sg_side(r.value, r.mean) AS side,
           sg_side(r.value_b1, r.mean) IS DISTINCT FROM sg_side(r.value, r.mean) AS side_starts,
           sg_side(r.value_a1, r.mean) IS DISTINCT FROM sg_side(r.value, r.mean) AS side_ends,
           sign(r.step) AS d,
           sign(r.next_step) AS next_d
    FROM ranged r
),
-- Where each point's shift begins and ends (positions in the segment): a shift is a run of
-- consecutive points on one side of the mean. And the strict steps up and down so far.
bounded AS (
    SELECT s.*,
           avg(abs(s.step)) OVER whole AS mean_mr,
           last_value(CASE WHEN s.side_starts THEN s.i END IGNORE NULLS) OVER so_far
               AS side_from,
           first_value(CASE WHEN s.side_ends THEN s.i END IGNORE NULLS) OVER to_end AS side_to,
           count(*) FILTER (s.d = 1) OVER so_far AS ups,
           count(*) FILTER (s.d = -1) OVER so_far AS downs
    FROM sides s
    WINDOW whole AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start
                     ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING),
           so_far AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start
                      ROWS UNBOUNDED PRECEDING),
           to_end AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start
                      ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
),
-- Each point's shift length, and whether it is beyond the two-thirds lines (the limits are
-- known from here on).
zoned AS (
    SELECT b.partner_id, b.kpi_id, b.period_start, b.value, b.target, b.points, b.latest,
           b.segment, b.i, b.mean, b.mean_mr, b.side, b.d, b.next_d, b.ups, b.downs,
           b.side_to - b.side_from + 1 AS side_length,
           sg_zone_hi(b.value, b.mean, b.mean_mr) AS zone_hi,
           sg_zone_lo(b.value, b.mean, b.mean_mr) AS zone_lo
    FROM bounded b
),
-- How long each run is: points in a shift; points counted in a rising or falling run, its
-- first point and each strict step (a repeated value neither counts nor ends the run).
-- A rising run is everything between two falling steps (repeated values included): it
-- begins at the last point on or before this one that a fall reached (or the segment's
-- first), and ends at the first point on or after it that a fall leaves (or the segment's
-- last). Its length is 1 + the steps up between: the steps up so far at its end less those
-- at its beginning. A falling run likewise, with the steps down. (Each end is found by the
-- first or last value that is not NULL, which costs less than a filtered minimum or maximum.)
-- And the sides and zones of the two points before and after each one, for two of three.
counted AS (
    SELECT b.*,
           lag(b.side, 2) OVER seg AS side_b2, lag(b.side) OVER seg AS side_b1,
           lead(b.side) OVER seg AS side_a1, lead(b.side, 2) OVER seg AS side_a2,
           lag(b.zone_hi, 2) OVER seg AS hi_b2, lag(b.zone_hi) OVER seg AS hi_b1,
           lead(b.zone_hi) OVER seg AS hi_a1, lead(b.zone_hi, 2) OVER seg AS hi_a2,
           lag(b.zone_lo, 2) OVER seg AS lo_b2, lag(b.zone_lo) OVER seg AS lo_b1,
           lead(b.zone_lo) OVER seg AS lo_a1, lead(b.zone_lo, 2) OVER seg AS lo_a2,
           1 + first_value(CASE WHEN b.next_d IS NULL OR b.next_d = -1 THEN b.ups END
                           IGNORE NULLS) OVER to_end
             - last_value(CASE WHEN b.d IS NULL OR b.d = -1 THEN b.ups END IGNORE NULLS)
                   OVER so_far AS rise_length,
           1 + first_value(CASE WHEN b.next_d IS NULL OR b.next_d = 1 THEN b.downs END
                           IGNORE NULLS) OVER to_end
             - last_value(CASE WHEN b.d IS NULL OR b.d = 1 THEN b.downs END IGNORE NULLS)
                   OVER so_far AS fall_length
    FROM zoned b
    WINDOW seg AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start),
           so_far AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start
                      ROWS UNBOUNDED PRECEDING),
           to_end AS (PARTITION BY partner_id, kpi_id, segment ORDER BY period_start
                      ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)
),
sided AS (
    SELECT c.*,
           c.mean + 2.66 * c.mean_mr AS upper,
           c.mean - 2.66 * c.mean_mr AS lower
    FROM counted c
),
patterns AS (
    SELECT r.*,
           coalesce(r.d IN (0, 1), false) OR coalesce(r.next_d IN (0, 1), false) AS in_rise,
           coalesce(r.d IN (0, -1), false) OR coalesce(r.next_d IN (0, -1), false) AS in_fall,
           -- in a two of three: one of the three windows of three points that hold it qualifies
           coalesce(sg_three(r.side_b2, r.side_b1, r.side, r.hi_b2, r.hi_b1, r.zone_hi, 1), false)
               OR coalesce(sg_three(r.side_b1, r.side, r.side_a1, r.hi_b1, r.zone_hi, r.hi_a1, 1), false)
               OR coalesce(sg_three(r.side, r.side_a1, r.side_a2, r.zone_hi, r.hi_a1, r.hi_a2, 1), false)
               AS in_three_hi,
           coalesce(sg_three(r.side_b2, r.side_b1, r.side, r.lo_b2, r.lo_b1, r.zone_lo, -1), false)
               OR coalesce(sg_three(r.side_b1, r.side, r.side_a1, r.lo_b1, r.zone_lo, r.lo_a1, -1), false)
               OR coalesce(sg_three(r.side, r.side_a1, r.side_a2, r.zone_lo, r.lo_a1, r.lo_a2, -1), false)
               AS in_three_lo
    FROM sided r
),
-- The four special-cause rules, each flagging every point of its pattern, high or low:
--   outside       a point strictly beyond a process limit;
--   shift         7 or more consecutive points all strictly above, or all strictly below, the
--                 mean (a point on the mean ends the run);
--   trend         7 or more consecutive points each higher than the last, or each lower;
--   two_of_three  two of three consecutive points beyond the two-thirds line on one side,
--                 all three on that side of the mean (the points beyond are flagged).
flagged AS (
    SELECT p.*, g.grain, CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END AS sign,
           coalesce(sg_above(p.value, p.upper), false) AS outside_hi,
           coalesce(sg_below(p.value, p.lower), false) AS outside_lo,
           p.side = 1 AND p.side_length >= 7 AS shift_hi,
           p.side = -1 AND p.side_length >= 7 AS shift_lo,
           p.in_rise AND p.rise_length >= 7 AS trend_hi,
           p.in_fall AND p.fall_length >= 7 AS trend_lo,
           p.zone_hi AND p.in_three_hi AS three_of_hi,
           p.zone_lo AND p.in_three_lo AS three_of_lo
    FROM patterns p
    JOIN kpis k USING (kpi_id)
    JOIN kpi_grains g USING (kpi_id)
)
SELECT partner_id, kpi_id, sg_label(period_start, grain) AS period, period_start, value, target,
       sign, points, segment, mean, upper, lower,
       outside_hi OR outside_lo AS outside,
       shift_hi OR shift_lo AS shift,
       trend_hi OR trend_lo AS trend,
       three_of_hi OR three_of_lo AS two_of_three,
       -- a high pattern is good news where higher is better; a point in patterns of both
       -- directions reads as improving (as the MDC tool does)
       CASE WHEN sign = 1 THEN outside_hi OR shift_hi OR trend_hi OR three_of_hi
            ELSE outside_lo OR shift_lo OR trend_lo OR three_of_lo END AS improving,
       CASE WHEN sign = 1 THEN outside_lo OR shift_lo OR trend_lo OR three_of_lo
            ELSE outside_hi OR shift_hi OR trend_hi OR three_of_hi END AS concerning,
       latest
FROM flagged
WHERE latest OR i = 1 OR next_d IS NULL  -- a segment's first point, and its last (no next)
   OR outside_hi OR outside_lo OR shift_hi OR shift_lo OR trend_hi OR trend_lo
   OR three_of_hi OR three_of_lo;

-- The reading of each series with 13 points or more, at its latest point:
--   variation  special_improving / special_concerning when the latest point is flagged by a
--              pattern in the good / bad direction (both: improving), else common;
--   assurance  against the target in force for the latest point's period: pass when both
--              limits are strictly on the good side of it, fail when both are strictly on
--              the bad side, else hit_or_miss (a limit equal to the target is neither).
--              mean and limits are those of the latest baseline segment.
CREATE OR REPLACE TABLE spc AS
SELECT partner_id, kpi_id, points, mean, lower, upper,
       CASE WHEN improving THEN 'special_improving'
            WHEN concerning THEN 'special_concerning'
            ELSE 'common' END AS variation,
       CASE WHEN target IS NULL OR upper IS NULL THEN NULL
            WHEN sign = 1 AND sg_above(lower, target) THEN 'pass'
            WHEN sign = -1 AND sg_below(upper, target) THEN 'pass'
            WHEN sign = 1 AND sg_below(upper, target) THEN 'fail'
            WHEN sign = -1 AND sg_above(lower, target) THEN 'fail'
            ELSE 'hit_or_miss' END AS assurance
FROM spc_points
WHERE latest;

-- How many partners' series read each way per KPI: the dashboard's summary of the readings.
CREATE OR REPLACE TABLE spc_counts AS
SELECT kpi_id, variation AS reading, count(*) AS partners FROM spc GROUP BY ALL
UNION ALL
SELECT kpi_id, assurance, count(*) FROM spc WHERE assurance IS NOT NULL GROUP BY ALL;
