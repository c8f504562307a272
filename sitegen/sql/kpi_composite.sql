-- Composite score 0–100 per partner and scorecard period: the weighted mean of points per KPI
-- (met 100, at_risk 50, missed 0) over the KPIs that have a status; no_data and suppressed KPIs
-- are left out and the remaining weights re-normalised. The score is published only when the
-- scored KPIs carry at least half of the weight of all the KPIs the partner reports (a partner
-- that sent nothing this month must not top the ranking on two quarterly KPIs); otherwise it
-- is NULL and the counts say why. KPIs of weight 0 alone give no score.
--
-- Each KPI on the partner's scorecard for the period is judged at its latest KPI period
-- ending on or before the end of the scorecard period: on a monthly scorecard for 2025-11 a
-- quarterly KPI counts with its 2025-Q3 status, for 2025-12 with 2025-Q4. The KPIs are those
-- of the scorecard itself (scorecard_grid): the composite counts exactly what the page shows.
--
-- Standing, the dashboard's one-word answer per partner, reads the composite on the scale the
-- statuses give it (met 100, at risk 50, missed 0) in thirds: on_track at two thirds of the
-- possible points or more, off_track below one third, at_risk between;
-- not_scored where the score is withheld. Rank within type ranks the same scores among
-- partners of the same partner_type only.

-- Thirds of the points, compared as 3 × score against 200 and 100 (with a hair of slack), so
-- that exactly two thirds (two KPIs met and one missed: 66.66…) is on track whatever the last
-- bit of the mean.
CREATE OR REPLACE TEMP MACRO sg_standing(score) AS
    CASE WHEN score IS NULL THEN 'not_scored'
         WHEN 3 * score >= 200 - 1e-9 THEN 'on_track'
         WHEN 3 * score >= 100 - 1e-9 THEN 'at_risk'
         ELSE 'off_track' END;

-- Every partner has a row for every scorecard period, scored or not, so that "of" (how many
-- partners are ranked) is the same for all of them.
CREATE OR REPLACE TABLE composite AS
WITH judged_at AS (
    -- Scorecard period × KPI → the KPI period it is judged at.
    SELECT c.period_start, g.kpi_id, sg_judged_at(c.period_end, g.grain) AS kpi_period_start
    FROM calendar c
    CROSS JOIN kpi_grains g
),
inputs AS (
    SELECT j.period_start, s.partner_id, k.weight, s.status
    FROM judged_at j
    JOIN scorecard_cells s ON s.kpi_id = j.kpi_id AND s.period_start = j.kpi_period_start
    JOIN kpis k ON k.kpi_id = s.kpi_id
),
scored AS (
    SELECT period_start, partner_id,
           CASE WHEN 2 * sum(weight) FILTER (status IN ('met', 'at_risk', 'missed'))
                     >= sum(weight)
                 -- weights of 0 alone give no score (not 0 ÷ 0)
                 AND sum(weight) FILTER (status IN ('met', 'at_risk', 'missed')) > 0
                THEN sum(weight * CASE status WHEN 'met' THEN 100 WHEN 'at_risk' THEN 50
                                              ELSE 0 END)
                         FILTER (status IN ('met', 'at_risk', 'missed'))
                     / sum(weight) FILTER (status IN ('met', 'at_risk', 'missed'))
           END AS score,
           count(*) FILTER (status IN ('met', 'at_risk', 'missed')) AS scored,
           count(*) FILTER (status = 'met') AS met,
           count(*) FILTER (status = 'at_risk') AS at_risk,
           count(*) FILTER (status = 'missed') AS missed,
           count(*) FILTER (status = 'no_data') AS no_data,
           count(*) FILTER (status = 'suppressed') AS suppressed
    FROM inputs
    GROUP BY period_start, partner_id
),
everyone AS (
    SELECT c.period, c.period_start, p.partner_id, s.score,
           coalesce(s.scored, 0) AS scored, coalesce(s.met, 0) AS met,
           coalesce(s.at_risk, 0) AS at_risk, coalesce(s.missed, 0) AS missed,
           coalesce(s.no_data, 0) AS no_data, coalesce(s.suppressed, 0) AS suppressed
    FROM calendar c
    CROSS JOIN partners p
    LEFT JOIN scored s USING (period_start, partner_id)
),
ranked AS (
    -- Rank among partners with a score in the same period: highest first, ties share.
    SELECT e.*,
           CASE WHEN score IS NOT NULL
                THEN rank() OVER (PARTITION BY period ORDER BY score DESC NULLS LAST) END AS rank,
           count(score) OVER (PARTITION BY period) AS "of",
           CASE WHEN score IS NOT NULL
                THEN rank() OVER (PARTITION BY period, p.partner_type
                                  ORDER BY score DESC NULLS LAST) END AS type_rank,
           count(score) OVER (PARTITION BY period, p.partner_type) AS type_of
    FROM everyone e
    JOIN partners p USING (partner_id)
)
SELECT r.partner_id, r.period, r.period_start, r.score, r.scored, r.met, r.at_risk, r.missed,
       r.no_data, r.suppressed, r.rank, r."of", r.type_rank, r.type_of,
       sg_standing(r.score) AS standing,
       r.score - prev.score AS change_prev,
       prev.rank AS rank_prev
FROM ranked r
LEFT JOIN ranked prev
    ON prev.partner_id = r.partner_id
   AND prev.period_start = CAST(r.period_start - sg_step(getvariable('grain')) AS DATE);

