-- staged: every CSV record of every metrics file, header included, as the list of its fields;
-- unreadable says why a record could not be read (a line longer than the limit), its fields
-- then empty.
CREATE OR REPLACE TABLE staged (file VARCHAR, line BIGINT, fields VARCHAR[], unreadable VARCHAR);

-- files: one row per metrics file with its header (column names, lower case) and the line it is
-- on; problem is set when the whole file cannot be used (encoding, missing column, empty), in
-- which case every row of it is rejected with that reason.
CREATE OR REPLACE TABLE files (
    file        VARCHAR PRIMARY KEY,
    header_line BIGINT,
    header      VARCHAR[],
    problem     VARCHAR
);

-- raw_metrics: every data row exactly as read (original strings), with file and line.
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
