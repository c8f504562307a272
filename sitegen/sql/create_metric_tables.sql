-- staged: every CSV record of every metrics file, header included, as the list of its fields;
-- unreadable says why a record could not be read (a line longer than the limit), its fields
-- then empty. A Parquet file is not staged: its header is known before its rows, which go
-- straight to raw_metrics.
CREATE OR REPLACE TABLE staged (file VARCHAR, line BIGINT, fields VARCHAR[], unreadable VARCHAR);

-- files: one row per metrics file with its header (column names, lower case) and the line it is
-- on (0 for a Parquet file, which has no header line); problem is set when the whole file
-- cannot be used (encoding, missing column, empty), in which case every row of it is rejected
-- with that reason. sources, for a Parquet file only: where raw_metrics keeps each column's
-- value, the metric column's name or the value's place in `fields` (see raw_metrics).
CREATE OR REPLACE TABLE files (
    file        VARCHAR PRIMARY KEY,
    header_line BIGINT,
    header      VARCHAR[],
    problem     VARCHAR,
    sources     VARCHAR[]
);

-- raw_metrics: every data row exactly as read (original strings), with file and line: the line
-- a CSV record starts on (the header is line 1), or a Parquet row's number (the first is 1),
-- its values as text (NULL as empty); a Parquet file's column names are its header, at line 0.
-- A CSV record's fields are all in `fields`. A Parquet row's values are each kept once: in
-- its metric column, or in `fields` for the columns that are none (files.sources says which);
-- sg_fields puts them back in the file's order. (Ten million rows' values written twice cost
-- seconds.)
CREATE OR REPLACE TABLE raw_metrics (
    file         VARCHAR,
    line         BIGINT,
    fields       VARCHAR[],
    n_fields     INTEGER,
    n_header     INTEGER,
    partner_id   VARCHAR,
    kpi_id       VARCHAR,
    period       VARCHAR,
    value        VARCHAR,
    numerator    VARCHAR,
    denominator  VARCHAR,
    flag         VARCHAR,
    footnote     VARCHAR,
    file_problem VARCHAR,
    unreadable   VARCHAR
);
