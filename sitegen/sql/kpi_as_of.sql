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
-- scorecard for 2025-11 shows a quarterly KPI's 2025-Q3.
CREATE OR REPLACE TABLE scorecard_as_of AS
SELECT s.*
FROM scorecard s
JOIN kpi_grains g USING (kpi_id)
CROSS JOIN as_of a
WHERE s.period_start = CAST(date_trunc(g.grain, a.period_end + INTERVAL 1 DAY) - sg_step(g.grain)
                            AS DATE);

-- The alliance-wide figure shown for the as-of period, by the same rule; a KPI whose partners'
-- values for that period are all suppressed or missing has no row here.
CREATE OR REPLACE TABLE alliance_as_of AS
SELECT al.*
FROM alliance al
JOIN kpi_grains g USING (kpi_id)
CROSS JOIN as_of a
WHERE al.period_start = CAST(date_trunc(g.grain, a.period_end + INTERVAL 1 DAY) - sg_step(g.grain)
                             AS DATE);

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
