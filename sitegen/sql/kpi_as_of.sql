-- The as-of period: the configured one, or else the latest scorecard period that has ended
-- (before today) in which more than half of the partners that had joined by its end
-- submitted; failing that, the latest ended period with any submission.
CREATE OR REPLACE TABLE as_of AS
WITH candidates AS (
    SELECT c.period, c.period_start, c.period_end,
           count(*) FILTER (s.submitted) AS submitted,
           count(*) AS eligible
    FROM calendar c
    JOIN submissions s USING (period)
    WHERE c.period_end < getvariable('today')
    GROUP BY c.period, c.period_start, c.period_end
),
chosen AS (
    SELECT coalesce(
        (SELECT max(period_start) FROM candidates WHERE 2 * submitted > eligible),
        (SELECT max(period_start) FROM candidates WHERE submitted > 0)
    ) AS period_start
)
SELECT sg_label(period_start, getvariable('grain')) AS period, getvariable('grain') AS grain,
       period_start, sg_end(period_start, getvariable('grain')) AS period_end
FROM (
    SELECT CASE WHEN getvariable('period') = 'latest' THEN (SELECT period_start FROM chosen)
                ELSE getvariable('period_start') END AS period_start
)
WHERE period_start IS NOT NULL;

-- What the scorecard shows for the as-of period: each KPI at its latest KPI period ending on
-- or before the as-of period's end (the same rule the composite uses), so a monthly
-- scorecard for 2025-11 shows a quarterly KPI's 2025-Q3. (The KPI periods are found first,
-- one per KPI, and joined: DuckDB then reads only their cells, not all ten million.)
CREATE OR REPLACE TABLE scorecard_as_of AS
WITH shown AS (
    SELECT g.kpi_id, sg_judged_at(a.period_end, g.grain) AS period_start
    FROM kpi_grains g
    CROSS JOIN as_of a
)
SELECT s.*
FROM scorecard s
JOIN shown w ON w.kpi_id = s.kpi_id AND w.period_start = s.period_start;

-- Each partner's biggest improvement and biggest decline on the previous period, for its
-- summary: the KPI with the largest relative change above 0 and the one with the smallest
-- below 0, ties to the KPI listed first in kpis.csv.
CREATE OR REPLACE TABLE biggest_changes AS
WITH ordered AS (
    SELECT s.partner_id, s.kpi_id, s.relative_change,
           row_number() OVER (PARTITION BY s.partner_id ORDER BY s.relative_change DESC, k.line)
               AS best,
           row_number() OVER (PARTITION BY s.partner_id ORDER BY s.relative_change ASC, k.line)
               AS worst
    FROM scorecard_as_of s
    JOIN kpis k USING (kpi_id)
    WHERE s.relative_change IS NOT NULL
)
SELECT partner_id, kpi_id, CASE WHEN best = 1 THEN 'improvement' ELSE 'decline' END AS kind
FROM ordered
WHERE (best = 1 AND relative_change > 0) OR (worst = 1 AND relative_change < 0);

-- The alliance-wide figure shown for the as-of period, by the same rule; a KPI whose partners'
-- values for that period are all suppressed or missing has no row here.
CREATE OR REPLACE TABLE alliance_as_of AS
SELECT al.*
FROM alliance al
JOIN kpi_grains g USING (kpi_id)
CROSS JOIN as_of a
WHERE al.period_start = sg_judged_at(a.period_end, g.grain);

-- Whether the as-of period can be reported at all: how many partners submitted for it, and
-- the first and last periods anybody submitted for. A configured period nobody submitted for
-- (in the future, before the first data, a gap) would publish a site of "no submission"
-- everywhere; kpis.py refuses it and names these periods instead.
CREATE OR REPLACE TABLE as_of_support AS
SELECT a.period, a.period_start,
       (SELECT count(*) FROM submissions s WHERE s.period = a.period AND s.submitted)
           AS submitted,
       (SELECT sg_label(min(period_start), a.grain) FROM submissions WHERE submitted) AS first,
       (SELECT sg_label(max(period_start), a.grain) FROM submissions WHERE submitted) AS last
FROM as_of a;

-- The dashboard's biggest movers: the 5 partners whose composite score rose most since the
-- previous period, and the 5 whose fell most, ties by name.
CREATE OR REPLACE TABLE movers AS
WITH moved AS (
    SELECT c.partner_id, c.change_prev,
           row_number() OVER (ORDER BY c.change_prev DESC, p.name, p.partner_id) AS up,
           row_number() OVER (ORDER BY c.change_prev ASC, p.name, p.partner_id) AS down
    FROM composite c
    JOIN as_of USING (period)
    JOIN partners p USING (partner_id)
    WHERE c.change_prev IS NOT NULL AND c.change_prev <> 0
)
SELECT partner_id, 'up' AS direction, up AS position FROM moved WHERE change_prev > 0 AND up <= 5
UNION ALL
SELECT partner_id, 'down', down FROM moved WHERE change_prev < 0 AND down <= 5;

-- How many partners have each status for each KPI on the as-of scorecard: the dashboard's
-- view of an alliance too large for a row per partner.
CREATE OR REPLACE TABLE status_counts AS
SELECT kpi_id, status, count(*) AS partners
FROM scorecard_as_of
GROUP BY ALL;

-- The last review: reviews happen every month, quarter or year ([review] every). The as-of
-- period P is compared with the scorecard period that ends the review cycle before the one
-- P ends in: for quarterly reviews of a monthly scorecard, 2026-10, 2026-11 and 2026-12 are
-- all compared with 2026-09, and 2026-09 with 2026-06. With reviews as often as the grain,
-- it is the previous period.
CREATE OR REPLACE TABLE review AS
WITH cycle AS (
    SELECT a.period, a.grain, a.period_end,
           CAST(date_trunc(getvariable('review_every'), a.period_end) - INTERVAL 1 DAY AS DATE)
               AS since_end
    FROM as_of a
)
SELECT period, grain, sg_label(date_trunc(grain, since_end), grain) AS since,
       CAST(date_trunc(grain, since_end) AS DATE) AS since_start, since_end
FROM cycle;
