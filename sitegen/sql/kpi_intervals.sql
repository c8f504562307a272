-- Intervals and funnel plots: how far a value could be from its "true" level by chance alone,
-- so that a reader does not act on noise (DESIGN.md, "Statistical honesty"). What a KPI's
-- numerator counts decides the statistics (kpis.csv `counts`): binomial (people out of
-- people), poisson (events per person-time, or observed ÷ expected for SIR-like ratios) or
-- none (money, hours, scores: no interval, no funnel).

-- 95 % intervals (z = 1.96) of the as-of value, for KPIs with a numerator n and a
-- denominator d that may be shown (suppressed values have none):
--   binomial  the Wilson score interval of p = n ÷ d, × scale:
--             (p + z²/2d ± z·√(p(1−p)/d + z²/4d²)) ÷ (1 + z²/d);
--   poisson   Byar's approximation on the count n, ÷ d, × scale:
--             lower n·(1 − 1/9n − z/3√n)³ (0 when n = 0),
--             upper (n+1)·(1 − 1/9(n+1) + z/3√(n+1))³.
-- A met, at-risk or missed status whose interval contains the target (ends included) is
-- "within noise": the value alone cannot tell it from the target.
CREATE OR REPLACE TABLE intervals AS
WITH counted AS (
    SELECT s.partner_id, s.kpi_id, s.status, s.target, k.counts, k.scale,
           s.numerator AS n, s.denominator AS d, 1.96 AS z
    FROM scorecard_as_of s
    JOIN kpis k USING (kpi_id)
    -- a count is never negative, and people are never more than the people counted (an
    -- operating margin's numerator can be below 0: such a KPI should say counts = none)
    WHERE k.counts <> 'none' AND s.numerator >= 0 AND s.denominator > 0
      AND (k.counts = 'poisson' OR s.numerator <= s.denominator)
),
bounds AS (
    SELECT *,
           CASE counts
               WHEN 'binomial' THEN
                   (n / d + z * z / (2 * d)
                    - z * sqrt(greatest(n / d * (1 - n / d), 0) / d + z * z / (4 * d * d)))
                   / (1 + z * z / d) * scale
               ELSE CASE WHEN n = 0 THEN 0
                         ELSE n * pow(1 - 1 / (9 * n) - z / (3 * sqrt(n)), 3) / d * scale END
           END AS ci_low,
           CASE counts
               WHEN 'binomial' THEN
                   (n / d + z * z / (2 * d)
                    + z * sqrt(greatest(n / d * (1 - n / d), 0) / d + z * z / (4 * d * d)))
                   / (1 + z * z / d) * scale
               ELSE (n + 1) * pow(1 - 1 / (9 * (n + 1)) + z / (3 * sqrt(n + 1)), 3) / d * scale
           END AS ci_high
    FROM counted
)
SELECT partner_id, kpi_id, ci_low, ci_high,
       CASE WHEN status IN ('met', 'at_risk', 'missed')
            THEN ci_low <= target AND target <= ci_high END AS within_noise
FROM bounds;

-- Funnel plots (Spiegelhalter 2005), per KPI with counts other than none, for the as-of
-- period: every partner's value against its denominator, around the unscaled pooled value
-- p₀ = Σn ÷ Σd of every accepted row (suppressed partners included: the alliance figure),
-- with 95 % and 99.8 % limits p₀ ± z·√(p₀(1−p₀)/d) (binomial) or p₀ ± z·√(p₀/d) (poisson),
-- z = 1.96 and 3.09, × scale, drawn at 0 where they fall below it. A partner's position is
-- within, better_95, better_998, worse_95 or worse_998, in the KPI's direction; on a limit is
-- within. No funnel where the alliance figure is withheld: its centre line would give it away.
CREATE OR REPLACE TABLE funnel_pooled AS
SELECT a.kpi_id, a.numerator / a.denominator AS p0, k.counts, k.scale,
       CASE k.direction WHEN 'higher' THEN 1 ELSE -1 END AS sign
FROM alliance_as_of a
JOIN kpis k USING (kpi_id)
WHERE k.counts <> 'none' AND a.withheld IS NULL AND a.denominator > 0;

CREATE OR REPLACE TEMP MACRO sg_funnel_se(counts, p0, d) AS
    CASE counts WHEN 'binomial' THEN sqrt(greatest(p0 * (1 - p0), 0) / d) ELSE sqrt(p0 / d) END;

CREATE OR REPLACE TABLE funnel AS
WITH placed AS (
    SELECT s.partner_id, s.kpi_id, s.denominator AS d, s.numerator / s.denominator AS x,
           f.p0, f.sign, sg_funnel_se(f.counts, f.p0, s.denominator) AS se
    FROM scorecard_as_of s
    JOIN funnel_pooled f USING (kpi_id)
    WHERE s.numerator >= 0 AND s.denominator > 0 AND s.value IS NOT NULL
      AND (f.counts = 'poisson' OR s.numerator <= s.denominator)
)
SELECT partner_id, kpi_id, d,
       CASE WHEN sign * (x - p0) > 3.09 * se THEN 'better_998'
            WHEN sign * (x - p0) > 1.96 * se THEN 'better_95'
            WHEN sign * (p0 - x) > 3.09 * se THEN 'worse_998'
            WHEN sign * (p0 - x) > 1.96 * se THEN 'worse_95'
            ELSE 'within' END AS position
FROM placed;

-- The limit curves to draw, at 40 denominators spaced evenly on a log scale: over half the
-- smallest to twice the largest partner denominator for the alliance's funnel (scope NULL),
-- and from a quarter to four times a partner's own for the funnel of its own site (scope =
-- its id), which shows no one else's point or denominators.
CREATE OR REPLACE TABLE funnel_limits AS
WITH spans AS (
    SELECT kpi_id, NULL::VARCHAR AS scope, min(d) / 2 AS low, max(d) * 2 AS high
    FROM funnel GROUP BY ALL
    UNION ALL
    SELECT kpi_id, partner_id::VARCHAR, d / 4, d * 4 FROM funnel
),
grid AS (
    SELECT s.kpi_id, s.scope,
           s.low * pow(s.high / s.low, step / 39.0) AS d
    FROM spans s, range(40) r(step)
)
SELECT g.kpi_id, g.scope, g.d,
       f.p0 * f.scale AS centre,
       greatest(0, (f.p0 - 1.96 * sg_funnel_se(f.counts, f.p0, g.d)) * f.scale) AS low95,
       (f.p0 + 1.96 * sg_funnel_se(f.counts, f.p0, g.d)) * f.scale AS high95,
       greatest(0, (f.p0 - 3.09 * sg_funnel_se(f.counts, f.p0, g.d)) * f.scale) AS low998,
       (f.p0 + 3.09 * sg_funnel_se(f.counts, f.p0, g.d)) * f.scale AS high998
FROM grid g
JOIN funnel_pooled f USING (kpi_id);
