-- Submissions: whether a partner sent anything for a scorecard period, i.e. at least one
-- accepted row whose own period lies entirely inside it. Listed from the period the partner
-- joined in. A partner without a submission for the as-of period is itself a finding.
CREATE OR REPLACE TABLE submissions AS
SELECT p.partner_id, c.period, c.period_start,
       EXISTS (
           SELECT 1 FROM metrics m
           WHERE m.partner_id = p.partner_id
             AND m.period_start >= c.period_start
             AND sg_end(m.period_start, m.period_grain) <= c.period_end
       ) AS submitted
FROM partners p
JOIN calendar c ON c.period_end >= p.joined;

-- Coverage: partner × KPI it reports × the KPI's own periods (its frequency) from the first to
-- the last one the alliance has data for, from the partner's joining on: present or missing.
CREATE OR REPLACE TABLE coverage AS
WITH reported AS (
    SELECT DISTINCT partner_id, kpi_id FROM metrics
),
spans AS (
    SELECT kpi_id, any_value(period_grain) AS grain,
           min(period_start) AS first, max(period_start) AS last
    FROM metrics
    GROUP BY kpi_id
),
periods AS (
    SELECT kpi_id, grain,
           CAST(unnest(generate_series(first, last, sg_step(grain))) AS DATE) AS period_start
    FROM spans
)
SELECT r.partner_id, r.kpi_id, sg_label(s.period_start, s.grain) AS period, s.period_start,
       m.partner_id IS NOT NULL AS present
FROM reported r
JOIN periods s USING (kpi_id)
JOIN partners p USING (partner_id)
LEFT JOIN metrics m
    ON m.partner_id = r.partner_id AND m.kpi_id = r.kpi_id AND m.period_start = s.period_start
WHERE sg_end(s.period_start, s.grain) >= p.joined;
