-- Row rules for metric submissions.
--
-- Every row of raw_metrics ends up in row_status exactly once: accepted (rule IS NULL) or
-- rejected (rule and reason set). The first rule that applies, in the order written below,
-- is the reason. Accepted rows go to `metrics`, one per partner × KPI × period.
-- The variable `today` (set by load.py) is the date of the run.

-- A number as partners write it: optional sign, digits, optional decimals and exponent.
-- "N/A", "-", "*", "nan", "inf", "1.234,5" and the like are not numbers.
CREATE OR REPLACE TEMP MACRO sg_is_number(t) AS
    regexp_full_match(t, '[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?');

-- Thousands separators ("1,234" or "12,345.6") are accepted and removed.
CREATE OR REPLACE TEMP MACRO sg_has_thousands(t) AS
    contains(t, ',') AND regexp_full_match(t, '[+-]?\d{1,3}(,\d{3})+(\.\d+)?');

-- The decimals a number is written with: the digits after its point, less its exponent
-- ("15.0774161" has 7, "1.5e-3" has 4, "1e27" has -27).
CREATE OR REPLACE TEMP MACRO sg_decimals_written(t) AS
    length(regexp_extract(t, '\.(\d*)', 1))
    - coalesce(TRY_CAST(nullif(regexp_extract(t, '[eE]([+-]?\d+)', 1), '') AS INTEGER), 0);

-- How far a written value may be from numerator ÷ denominator × scale: half a unit of its
-- last written decimal (it was rounded to that), plus what doubles themselves get wrong, a few
-- units in their 16th digit (1e-15 of the size). Never a flat amount: a flat 1e-9 accepted a
-- seventh decimal off by 5.07e-8 where half a unit is 5e-8.
CREATE OR REPLACE TEMP MACRO sg_tolerance(t, v, implied) AS
    0.5 * pow(10, -sg_decimals_written(t)) + 1e-15 * greatest(abs(v), abs(implied));

CREATE OR REPLACE TABLE checked AS
WITH cleaned AS (
    SELECT
        r.file, r.line, r.n_fields, r.n_header, r.file_problem, r.unreadable,
        trim(r.partner_id) AS pid,
        trim(r.kpi_id) AS kid,
        trim(r.period) AS per,
        trim(r.value) AS value_text,
        trim(r.numerator) AS num_text,
        trim(r.denominator) AS den_text,
        lower(trim(coalesce(r.flag, ''))) AS flag_text,
        nullif(trim(r.footnote), '') AS footnote,
        -- the keys as declared (enums: at national scale their text costs seconds to carry);
        -- NULL for one not declared, which the rules below reject by its text
        k.kpi_id AS kpi_key, p.partner_id AS partner_key,
        k.kpi_id IS NOT NULL AS kpi_known,
        p.partner_id IS NOT NULL AS partner_known,
        k.unit, k.aggregation, k.frequency, k.scale, k.min_value, k.max_value
    FROM raw_metrics r
    LEFT JOIN partners p ON CAST(p.partner_id AS VARCHAR) = trim(r.partner_id)
    LEFT JOIN kpis k ON CAST(k.kpi_id AS VARCHAR) = trim(r.kpi_id)
),
normalised AS (
    -- A trailing "%" is accepted on percent KPIs only; then thousands separators go.
    SELECT *,
        CASE WHEN unit = 'percent' AND ends_with(value_text, '%')
             THEN rtrim(left(value_text, -1)) ELSE value_text END AS value_nopct
    FROM cleaned
),
numbers AS (
    SELECT *,
        CASE WHEN sg_has_thousands(value_nopct) THEN replace(value_nopct, ',', '')
             ELSE value_nopct END AS v_text,
        CASE WHEN sg_has_thousands(num_text) THEN replace(num_text, ',', '')
             ELSE num_text END AS n_text,
        CASE WHEN sg_has_thousands(den_text) THEN replace(den_text, ',', '')
             ELSE den_text END AS d_text,
        CASE
            WHEN regexp_full_match(per, '\d{4}-(0[1-9]|1[0-2])') THEN 'month'
            WHEN regexp_full_match(per, '\d{4}-Q[1-4]') THEN 'quarter'
            WHEN regexp_full_match(per, '\d{4}') THEN 'year'
        END AS written_grain
    FROM normalised
),
dated AS (
    -- A period's year must lie in the range sitegen/periods.py allows (set as variables):
    -- 0000 or 9999 is a typing mistake, not a period.
    SELECT *,
        CASE WHEN written_grain IS NOT NULL AND CAST(per[1:4] AS INT)
                  BETWEEN getvariable('first_year') AND getvariable('last_year')
             THEN written_grain END AS grain
    FROM numbers
),
written AS (
    -- whether the value is written as a number, asked once (a regular expression per row)
    SELECT *, sg_is_number(v_text) AS v_number FROM dated
),
typed AS (
    SELECT *,
        CASE WHEN v_number THEN TRY_CAST(v_text AS DOUBLE) END AS v,
        CASE WHEN sg_is_number(n_text) THEN TRY_CAST(n_text AS DOUBLE) END AS n,
        CASE WHEN sg_is_number(d_text) THEN TRY_CAST(d_text AS DOUBLE) END AS d,
        CASE grain
            WHEN 'month' THEN make_date(CAST(per[1:4] AS INT), CAST(per[6:7] AS INT), 1)
            WHEN 'quarter' THEN make_date(CAST(per[1:4] AS INT), CAST(per[7] AS INT) * 3 - 2, 1)
            WHEN 'year' THEN make_date(CAST(per[1:4] AS INT), 1, 1)
        END AS period_start,
        CASE frequency WHEN 'monthly' THEN 'month' WHEN 'quarterly' THEN 'quarter'
                       WHEN 'annual' THEN 'year' END AS kpi_grain,
        coalesce(n_text, '') <> '' AS has_n,
        coalesce(d_text, '') <> '' AS has_d,
        coalesce(v_text, '') <> '' AS has_v
    FROM written
),
finite AS (
    -- A value that is written as a number but does not fit a double ("1e309") is not finite.
    SELECT *,
        v IS NOT NULL AND isfinite(v) AS v_ok,
        n IS NOT NULL AND isfinite(n) AS n_ok,
        d IS NOT NULL AND isfinite(d) AS d_ok,
        -- The value implied by the counts, when both are usable.
        CASE WHEN n IS NOT NULL AND d IS NOT NULL AND isfinite(n) AND isfinite(d) AND d > 0
             THEN n / d * scale END AS implied
    FROM typed
),
ruled AS (
    SELECT *,
        CASE
            -- The whole file could not be used (encoding, header, empty).
            WHEN file_problem IS NOT NULL THEN 'file_problem'
            -- A record too long to read (a huge line, a quote never closed) is kept as read.
            WHEN unreadable IS NOT NULL THEN 'unreadable'
            -- A row must have exactly as many fields as the header.
            WHEN n_fields <> n_header THEN 'field_count'
            WHEN coalesce(pid, '') = '' OR coalesce(kid, '') = '' OR coalesce(per, '') = ''
                THEN 'missing_key'
            -- Partners and KPIs must be declared in partners.csv and kpis.csv.
            WHEN NOT partner_known THEN 'unknown_partner'
            WHEN NOT kpi_known THEN 'unknown_kpi'
            -- Periods are YYYY-MM, YYYY-Qn or YYYY, at exactly the KPI's frequency, so that a
            -- month and the quarter containing it can never both be counted.
            WHEN grain IS NULL THEN 'bad_period'
            WHEN grain <> kpi_grain THEN 'wrong_frequency'
            WHEN period_start > getvariable('today') THEN 'future_period'
            -- Suppressed at source ("Too Few to Report", "Not Available"): the row says so in
            -- flag and leaves the figures empty; it is a submission, with no value.
            WHEN flag_text NOT IN ('', 'suppressed', 'not_available') THEN 'bad_flag'
            WHEN flag_text <> '' AND (has_v OR has_n OR has_d) THEN 'flag_with_figures'
            WHEN flag_text <> '' THEN NULL
            -- Value: a finite number; it may be left empty when the counts are given.
            WHEN has_v AND NOT v_number THEN 'bad_value'
            WHEN has_v AND NOT v_ok THEN 'bad_value'
            WHEN has_n AND NOT n_ok THEN 'bad_numerator'
            WHEN has_d AND NOT d_ok THEN 'bad_denominator'
            -- Rates are aggregated from counts, never by averaging values: ratio KPIs need both.
            WHEN aggregation = 'ratio' AND NOT (has_n AND has_d) THEN 'missing_counts'
            WHEN has_n <> has_d THEN 'missing_counts'
            WHEN NOT has_v AND NOT has_n THEN 'bad_value'
            WHEN has_d AND d <= 0 THEN 'bad_denominator'
            -- Counts cannot be negative where the KPI's values cannot be.
            WHEN has_n AND n < 0 AND min_value >= 0 THEN 'negative_numerator'
            -- A percentage of a whole: the part cannot exceed the whole.
            WHEN has_n AND unit = 'percent' AND max_value <= 100 AND n > d
                THEN 'numerator_exceeds_denominator'
            -- A written value must agree with numerator ÷ denominator × scale, to the
            -- precision it was written with.
            WHEN has_v AND implied IS NOT NULL
                 AND abs(v - implied) > sg_tolerance(v_text, v, implied)
                THEN 'value_mismatch'
            WHEN coalesce(v, implied) < min_value OR coalesce(v, implied) > max_value
                THEN 'out_of_range'
        END AS rule,
        coalesce(v, implied) AS value_final
    FROM finite
)
SELECT
    file, line, partner_key AS partner_id, kpi_key AS kpi_id, per AS period, grain AS period_grain,
    period_start, value_final AS value,
    CASE WHEN has_n THEN n END AS numerator,
    CASE WHEN has_d THEN d END AS denominator,
    nullif(flag_text, '') AS flag,
    footnote,
    rule,
    CASE rule
        WHEN 'file_problem' THEN file_problem
        WHEN 'unreadable' THEN unreadable
        WHEN 'field_count' THEN format('row has {} fields, the header has {}', n_fields, n_header)
        WHEN 'missing_key' THEN 'partner_id, kpi_id and period are all required'
        WHEN 'unknown_partner' THEN format('unknown partner_id ''{}''', pid)
        WHEN 'unknown_kpi' THEN format('unknown kpi_id ''{}''', kid)
        WHEN 'bad_period' THEN
            CASE WHEN written_grain IS NULL
                 THEN format('period ''{}'' is not YYYY-MM, YYYY-Qn or YYYY', per)
                 ELSE format('period ''{}'' is outside the years {} to {}', per,
                             getvariable('first_year'), getvariable('last_year')) END
        WHEN 'wrong_frequency' THEN format('period ''{}'' is a {} but {} is reported {}',
                                           per, grain, kid, frequency)
        WHEN 'future_period' THEN format('period ''{}'' is in the future', per)
        WHEN 'bad_value' THEN
            CASE WHEN NOT has_v THEN 'value is empty'
                 WHEN sg_is_number(v_text) THEN format('value ''{}'' is not a finite number', value_text)
                 ELSE format('value ''{}'' is not a number', value_text) END
        WHEN 'bad_numerator' THEN format('numerator ''{}'' is not a number', num_text)
        WHEN 'bad_denominator' THEN
            CASE WHEN d_ok THEN format('denominator {} must be greater than 0', den_text)
                 ELSE format('denominator ''{}'' is not a number', den_text) END
        WHEN 'missing_counts' THEN
            CASE WHEN aggregation = 'ratio'
                 THEN format('{} is a ratio of counts: numerator and denominator are required', kid)
                 ELSE 'numerator and denominator must be given together' END
        WHEN 'negative_numerator' THEN format('numerator {} is negative', num_text)
        WHEN 'numerator_exceeds_denominator' THEN
            format('numerator {} is greater than denominator {}', num_text, den_text)
        WHEN 'bad_flag' THEN format('flag ''{}'' is not suppressed or not_available', flag_text)
        WHEN 'flag_with_figures' THEN
            format('a row flagged {} leaves value, numerator and denominator empty', flag_text)
        WHEN 'value_mismatch' THEN
            -- implied written with two decimals more than the value, so the gap shows
            format('value {} does not match numerator/denominator ({} / {} × {:g} = {:.{}f})',
                   value_text, num_text, den_text, scale, implied,
                   greatest(sg_decimals_written(v_text), 0) + 2)
        WHEN 'out_of_range' THEN
            format('value {:g} is outside the range {} to {} for {}', round(value_final, 4),
                   coalesce(format('{:g}', min_value), '-∞'),
                   coalesce(format('{:g}', max_value), '∞'), kid)
    END AS reason,
    concat_ws('; ',
        CASE WHEN value_nopct <> value_text THEN 'normalised: trailing % removed' END,
        CASE WHEN v_text <> value_nopct OR n_text <> num_text OR d_text <> den_text
             THEN 'normalised: thousands separator removed' END,
        CASE WHEN NOT has_v AND implied IS NOT NULL
             THEN 'normalised: value computed from numerator/denominator' END
    ) AS note
FROM ruled;

-- Duplicates among rows that passed every rule above, by partner × KPI × period.
-- Identical copies (same value and counts) collapse into the first one read, counted as such.
-- Copies that disagree are all rejected, each naming up to three of the others: never pick
-- one silently. Each copy is compared with its group's summary only (its first place, its
-- number of variants and a few places), so 20,000 copies of one row take linear time.
-- The keys read more than once are found first with a plain count, which DuckDB can spill to
-- disk; the distinct and ordered summaries, which it must hold in memory, are then made of
-- those few rows only, not of millions.
CREATE OR REPLACE TABLE duplicate_keys AS
WITH repeated AS (
    SELECT partner_id, kpi_id, period
    FROM checked
    WHERE rule IS NULL
    GROUP BY ALL
    HAVING count(*) > 1
)
SELECT c.partner_id, c.kpi_id, c.period,
       count(DISTINCT concat_ws('|', c.value, c.numerator, c.denominator, c.flag)) AS variants,
       count(*) AS copies,
       arg_min(c.file || ':' || c.line, (c.file, c.line)) AS first,
       list(c.file || ':' || c.line ORDER BY c.file, c.line)[1:4] AS places
FROM checked c
SEMI JOIN repeated r
    ON r.partner_id = c.partner_id AND r.kpi_id = c.kpi_id AND r.period = c.period
WHERE c.rule IS NULL
GROUP BY ALL;

-- A reason is one line, whatever a quoted field held: line breaks in it are shown as \n, \r.
CREATE OR REPLACE TEMP MACRO sg_one_line(t) AS replace(replace(t, chr(13), '\r'), chr(10), '\n');

-- The verdict on every row read: rule and reason when rejected, notes on what was normalised.
CREATE OR REPLACE TABLE row_status AS
WITH joined AS (
    SELECT c.file, c.line, c.rule, c.reason, c.note, k.variants, k.copies, k.first,
           list_filter(k.places, lambda x: x <> c.file || ':' || c.line)[1:3] AS others
    FROM checked c
    LEFT JOIN duplicate_keys k
        ON c.rule IS NULL
       AND k.partner_id = c.partner_id AND k.kpi_id = c.kpi_id AND k.period = c.period
)
SELECT
    file, line,
    CASE WHEN variants > 1 THEN 'conflicting_duplicate' ELSE rule END AS rule,
    CASE WHEN variants > 1
         THEN format('conflicting duplicate of {}{} (same partner, KPI and period, other figures)',
                     array_to_string(others, ', '),
                     CASE WHEN copies - 1 > len(others)
                          THEN format(' and {:,} more', copies - 1 - len(others)) ELSE '' END)
         ELSE sg_one_line(reason) END AS reason,
    CASE WHEN variants = 1 AND first <> file || ':' || line
         THEN concat_ws('; ', nullif(note, ''), 'identical duplicate of ' || first)
         ELSE nullif(note, '') END AS note
FROM joined;

-- Accepted rows, one per partner × KPI × period: the single source every KPI is computed from.
-- Of identical copies the first one read stays; conflicting copies are all out.
CREATE OR REPLACE TABLE metrics AS
SELECT c.partner_id, c.kpi_id,
       c.period, c.period_grain, c.period_start, c.value, c.numerator, c.denominator,
       c.flag, c.footnote, c.file, c.line
FROM checked c
LEFT JOIN duplicate_keys k
    ON k.partner_id = c.partner_id AND k.kpi_id = c.kpi_id AND k.period = c.period
WHERE c.rule IS NULL
  AND (k.variants IS NULL OR (k.variants = 1 AND k.first = c.file || ':' || c.line));

DROP TABLE checked;
DROP TABLE duplicate_keys;

-- A row's fields in its file's order: a CSV record's as read, a Parquet row's put back from
-- where each value is kept (files.sources: a metric column, or a place in `fields`). A row
-- not read (too long, a NUL) has none.
CREATE OR REPLACE TEMP MACRO sg_fields(f, r) AS
    CASE WHEN f.sources IS NULL OR r.unreadable IS NOT NULL THEN r.fields
         ELSE list_transform(f.sources, lambda x: CASE x
                 WHEN 'partner_id' THEN r.partner_id WHEN 'kpi_id' THEN r.kpi_id
                 WHEN 'period' THEN r.period WHEN 'value' THEN r.value
                 WHEN 'numerator' THEN r.numerator WHEN 'denominator' THEN r.denominator
                 WHEN 'flag' THEN r.flag WHEN 'footnote' THEN r.footnote
                 ELSE r.fields[CAST(x AS INTEGER)] END) END;

-- Quarantined rows with their reason and the fields exactly as read.
CREATE OR REPLACE TABLE rejected AS
SELECT s.file, s.line, s.rule, s.reason, sg_fields(f, r) AS fields
FROM row_status s
JOIN raw_metrics r USING (file, line)
JOIN files f USING (file)
WHERE s.rule IS NOT NULL;
