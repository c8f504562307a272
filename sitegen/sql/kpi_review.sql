-- Review cycles (DESIGN.md, "Review cycles"): what changed since the last review, the
-- actions on each KPI, and the figures of archived periods that a later build restates.
--
-- Each KPI at the last review, by the rule the scorecard uses for the as-of period: its
-- latest KPI period ending on or before the review period's end. (Those KPI periods are found
-- first and joined, as for scorecard_as_of: only their cells are read.)
CREATE OR REPLACE TABLE scorecard_at_review AS
WITH reviewed AS (
    SELECT g.kpi_id, sg_judged_at(r.since_end, g.grain) AS period_start
    FROM kpi_grains g
    CROSS JOIN review r
)
SELECT s.*
FROM scorecard s
JOIN reviewed w ON w.kpi_id = s.kpi_id AND w.period_start = s.period_start;

-- Statuses ranked for "better" and "worse": met above at risk above missed. No data and
-- suppressed are not on that scale: a change to or from them is a change, neither way.
CREATE OR REPLACE TEMP MACRO sg_status_rank(status) AS
    CASE status WHEN 'met' THEN 3 WHEN 'at_risk' THEN 2 WHEN 'missed' THEN 1 END;

-- Standings ranked the same way: on track above at risk above off track; not scored is off
-- the scale.
CREATE OR REPLACE TEMP MACRO sg_standing_rank(standing) AS
    CASE standing WHEN 'on_track' THEN 3 WHEN 'at_risk' THEN 2 WHEN 'off_track' THEN 1 END;

-- Status changes: each KPI on the as-of scorecard whose status differs from its status at the
-- last review (a KPI the partner did not yet report then was "not reported": was is NULL).
-- A quarterly KPI judged at the same quarter at both is the same figure: no change.
CREATE OR REPLACE TABLE review_status AS
SELECT n.partner_id, n.kpi_id, w.period AS was_period, w.status AS was,
       n.period AS now_period, n.status AS now,
       CASE WHEN sg_status_rank(n.status) > sg_status_rank(w.status) THEN 'better'
            WHEN sg_status_rank(n.status) < sg_status_rank(w.status) THEN 'worse'
            ELSE 'changed' END AS direction
FROM scorecard_as_of n
LEFT JOIN scorecard_at_review w USING (partner_id, kpi_id)
WHERE n.status IS DISTINCT FROM w.status;

-- New special-cause signals: points of the as-of SPC reading (kpi_spc.sql) flagged by any
-- pattern and lying after the last review's period, by partner × KPI and direction, with the
-- first such period and the rules that flagged them; new when the series as it stood at the
-- last review (spc_at_review: the reading with the window ending then) showed no special
-- cause in that direction at its latest point. A shift the board saw last quarter that goes
-- on is not new; one that has started since is.
CREATE OR REPLACE TABLE review_signals AS
SELECT p.partner_id, p.kpi_id, p.improving,
       arg_min(p.period, p.period_start) AS first,
       list(DISTINCT p.rule ORDER BY p.rule) AS rules
FROM spc_points
UNPIVOT (flagged FOR rule IN (outside, shift, trend, two_of_three)) p
JOIN kpi_grains g ON g.kpi_id = p.kpi_id
-- a point lies after the last review when its KPI period ends after it (a quarterly KPI's
-- quarter may have begun before a monthly review)
WHERE p.flagged AND sg_end(p.period_start, g.grain) > (SELECT since_end FROM review)
  AND NOT EXISTS (SELECT 1 FROM spc_at_review r
                  WHERE r.partner_id = p.partner_id AND r.kpi_id = p.kpi_id
                    AND r.improving = p.improving)
GROUP BY p.partner_id, p.kpi_id, p.improving;

-- Composite and rank moves: the composite, rank and standing (kpi_composite.sql) at the
-- last review beside those of the as-of period.
-- Each move read as better or worse: a higher score (compared as shown, to one decimal), a
-- smaller rank number, a standing higher on the scale; NULL when unchanged or when either
-- side is missing (news, neither way).
CREATE OR REPLACE TEMP MACRO sg_move(was, now) AS
    CASE WHEN now > was THEN 'better' WHEN now < was THEN 'worse' END;

CREATE OR REPLACE TABLE review_composite AS
SELECT n.partner_id, w.score AS was_score, n.score AS now_score,
       w.rank AS was_rank, w."of" AS was_of, n.rank AS now_rank, n."of" AS now_of,
       w.standing AS was_standing, n.standing AS now_standing,
       sg_move(round(w.score, 1), round(n.score, 1)) AS score_move,
       sg_move(-w.rank, -n.rank) AS rank_move,
       sg_move(sg_standing_rank(w.standing), sg_standing_rank(n.standing)) AS standing_move
FROM composite n
JOIN as_of a ON n.period = a.period
LEFT JOIN composite w
    ON w.partner_id = n.partner_id AND w.period_start = (SELECT since_start FROM review);

-- Commitments (targets.csv) that started or ended in this review cycle: started when the
-- first day they are in force lies after the last review's period and by the end of the
-- as-of period; ended when their last day lies at or after the end of the last review's
-- period and before the end of the as-of period (in force then, not now).
CREATE OR REPLACE TABLE review_commitments AS
SELECT t.partner_id, t.kpi_id, 'started' AS change, t.target, t.valid_from, t.valid_to
FROM targets t, review r, as_of a
WHERE t.valid_start > r.since_end AND t.valid_start <= a.period_end
UNION ALL
SELECT t.partner_id, t.kpi_id, 'ended', t.target, t.valid_from, t.valid_to
FROM targets t, review r, as_of a
WHERE t.valid_end >= r.since_end AND t.valid_end < a.period_end;

-- Actions and commentary (actions.csv) on the scorecard for the as-of period: those written
-- for a period that started by its end (a later period's actions belong to later
-- scorecards). An action is overdue when it is still open after its due date (today, the
-- build's date, is past it).
CREATE OR REPLACE TABLE scorecard_actions AS
SELECT ac.*,
       coalesce(ac.action IS NOT NULL AND ac.status = 'open' AND ac.due < getvariable('today'),
                false) AS overdue
FROM actions ac
WHERE ac.period_start <= (SELECT period_end FROM as_of);

-- Whether this build's site becomes the archive of its period (archive.py): unless the
-- period is archived and a later period has been published since. Until then the archive of
-- the newest period follows its nightly rebuilds (late submissions are not restatements);
-- after, it stays as the board saw it, and a rebuild of it (build --period) restates.
-- Only archives at the scorecard's grain count: a project that moved from months to quarters
-- keeps its monthly archives, and neither restates nor freezes them.
CREATE OR REPLACE TABLE archive_plan AS
SELECT NOT EXISTS (SELECT 1 FROM archived_periods p WHERE p.period = a.period)
       OR a.period_start >= (SELECT max(period_start) FROM archived_periods
                             WHERE kind = getvariable('grain')) AS anew
FROM as_of a;

-- Restatements: a figure an archived period published (periods/<P>/figures.json, read into
-- archived_figures) that this build finds different, compared as shown (rounded to the
-- KPI's decimals), each figure once, against the newest archive that showed it. The
-- archive of the as-of period itself, when it is the newest, is this build's to replace:
-- its figures are not restatements, they are tonight's. A site's archive holds what its
-- audience saw: the alliance's the figures everyone may see, a partner's own site its own.
--
-- What changed it: the metric rows behind the figure now that come from a file whose bytes
-- differ from the file the archive was built from (or a file that is new), and the rows the
-- archive's figure came from that are gone. Neither, and the figure moved because a rule
-- did (kpis.csv, a setting): changed_by is empty. A partner's own site is not told the
-- alliance's file names (its record holds none): changed_by is NULL there.
CREATE OR REPLACE TABLE restatements AS
WITH candidates AS (
    SELECT f.*
    FROM archived_figures f
    JOIN archived_periods ap ON ap.period = f.as_of AND ap.kind = getvariable('grain')
    -- a partner no longer in partners.csv has no scorecard to restate
    JOIN partners p ON p.partner_id::VARCHAR = f.partner_id
    WHERE NOT (f.as_of = (SELECT period FROM as_of) AND (SELECT anew FROM archive_plan))
    QUALIFY row_number() OVER (PARTITION BY f.partner_id, f.kpi_id, f.period
                               ORDER BY f.as_of_start DESC) = 1
),
restated AS (
    SELECT c.as_of, c.partner_id, c.kpi_id, c.period, c.value AS was,
           CASE WHEN getvariable('own_site') THEN s.own_value ELSE s.value END AS now,
           c.sources, s.period_start, g.grain
    FROM candidates c
    JOIN kpis k ON k.kpi_id::VARCHAR = c.kpi_id
    JOIN kpi_grains g ON g.kpi_id = k.kpi_id
    LEFT JOIN scorecard s
        ON s.partner_id::VARCHAR = c.partner_id AND s.kpi_id::VARCHAR = c.kpi_id
       AND s.period = c.period
    WHERE sg_shown(c.value, k.decimals) IS DISTINCT FROM
          sg_shown(CASE WHEN getvariable('own_site') THEN s.own_value ELSE s.value END,
                   k.decimals)
),
rows_now AS (
    SELECT r.as_of, r.partner_id, r.kpi_id, r.period, i.name || ':' || m.line AS source,
           i.name AS name, i.file AS label, i.sha256, m.line
    FROM restated r
    JOIN metrics m
        ON m.partner_id::VARCHAR = r.partner_id AND m.kpi_id::VARCHAR = r.kpi_id
       AND date_trunc(r.grain, m.period_start) = r.period_start
    JOIN input_files i ON i.file = m.file
),
changed_now AS (
    SELECT n.as_of, n.partner_id, n.kpi_id, n.period, n.label || ':' || n.line AS place
    FROM rows_now n
    LEFT JOIN archived_files af ON af.as_of = n.as_of AND af.name = n.name
    WHERE af.sha256 IS DISTINCT FROM n.sha256
),
gone AS (
    SELECT r.as_of, r.partner_id, r.kpi_id, r.period,
           getvariable('data_prefix') || source || ' (removed)' AS place
    FROM (SELECT *, unnest(sources) AS source FROM restated) r
    WHERE source NOT IN (SELECT n.source FROM rows_now n
                         WHERE n.partner_id = r.partner_id AND n.kpi_id = r.kpi_id
                           AND n.period = r.period)
),
places AS (
    SELECT * FROM changed_now UNION ALL SELECT * FROM gone
)
SELECT r.as_of, r.partner_id, r.kpi_id, r.period, r.was, r.now,
       CASE WHEN NOT getvariable('own_site')
            THEN coalesce((SELECT list(p.place ORDER BY p.place) FROM places p
                           WHERE p.as_of = r.as_of AND p.partner_id = r.partner_id
                             AND p.kpi_id = r.kpi_id AND p.period = r.period), [])
       END AS changed_by
FROM restated r;

-- The figures this build publishes for its as-of period, as the archive keeps them for the
-- builds after it (archive.py writes them to periods/<P>/figures.json): each KPI on each
-- scorecard at the KPI period it shows, the value its audience sees, and the metric rows it
-- comes from (file names relative to the data folder).
CREATE OR REPLACE TABLE published_figures AS
WITH shown_periods AS (
    -- the KPI periods the scorecard shows: one or two per KPI, so that only their rows are
    -- gathered, not the whole history's
    SELECT DISTINCT kpi_id, period_start, period_end FROM scorecard_as_of
),
sources AS (
    SELECT m.partner_id, m.kpi_id, w.period_start,
           list(i.name || ':' || m.line ORDER BY i.name, m.line) AS sources
    FROM shown_periods w
    JOIN metrics m
        ON m.kpi_id = w.kpi_id AND m.period_start BETWEEN w.period_start AND w.period_end
    JOIN input_files i ON i.file = m.file
    GROUP BY ALL
)
SELECT s.partner_id::VARCHAR AS partner_id, s.kpi_id::VARCHAR AS kpi_id, s.period,
       CASE WHEN getvariable('own_site') THEN s.own_value ELSE s.value END AS value,
       coalesce(o.sources, []) AS sources
FROM scorecard_as_of s
LEFT JOIN sources o
    ON o.partner_id = s.partner_id AND o.kpi_id = s.kpi_id AND o.period_start = s.period_start;

-- Per KPI, across partners: how many statuses got better and worse since the last review,
-- and how many series show a new special cause of concern: the review page's summary.
CREATE OR REPLACE TABLE review_kpis AS
SELECT k.kpi_id,
       (SELECT count(*) FROM review_status s WHERE s.kpi_id = k.kpi_id AND s.direction = 'better')
           AS better,
       (SELECT count(*) FROM review_status s WHERE s.kpi_id = k.kpi_id AND s.direction = 'worse')
           AS worse,
       (SELECT count(*) FROM review_signals g WHERE g.kpi_id = k.kpi_id AND NOT g.improving)
           AS concerning,
       (SELECT count(*) FROM review_signals g WHERE g.kpi_id = k.kpi_id AND g.improving)
           AS improving
FROM kpis k;

-- What a review discusses, per partner: each kind of change counted, and whether any makes
-- the partner worth a page in the review's board packet: a status worse than at the last
-- review, a new special cause of concern, a worse standing, a commitment that started or
-- ended, an overdue action or a restated figure. Improvements alone are good news, listed
-- but not a page.
CREATE OR REPLACE TABLE review_partners AS
WITH counts AS (
    SELECT p.partner_id,
           (SELECT count(*) FROM review_status s
            WHERE s.partner_id = p.partner_id AND s.direction = 'worse') AS worse,
           (SELECT count(*) FROM review_status s
            WHERE s.partner_id = p.partner_id AND s.direction = 'better') AS better,
           (SELECT count(*) FROM review_signals g
            WHERE g.partner_id = p.partner_id AND NOT g.improving) AS concerning,
           (SELECT count(*) FROM review_commitments c WHERE c.partner_id = p.partner_id)
               AS commitments,
           (SELECT count(*) FROM scorecard_actions a
            WHERE a.partner_id = p.partner_id AND a.overdue) AS overdue,
           (SELECT count(*) FROM restatements r WHERE r.partner_id = p.partner_id::VARCHAR)
               AS restated
    FROM partners p
)
SELECT c.*,
       c.worse + c.concerning + c.commitments + c.overdue + c.restated > 0
           OR rc.standing_move IS NOT DISTINCT FROM 'worse' AS discuss
FROM counts c
JOIN review_composite rc USING (partner_id);

-- Misses nobody has answered: each KPI missed on the as-of scorecard with neither a note nor
-- an action in actions.csv for it, that is none written for the KPI period shown or later,
-- and no action still open from before. `sitegen validate` warns of each.
CREATE OR REPLACE TABLE unanswered AS
SELECT s.partner_id, s.kpi_id, s.period
FROM scorecard_as_of s
WHERE s.status = 'missed'
  AND NOT EXISTS (SELECT 1 FROM scorecard_actions a
                  WHERE a.partner_id = s.partner_id AND a.kpi_id = s.kpi_id
                    AND (a.period_start >= s.period_start OR a.status = 'open'));
