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
