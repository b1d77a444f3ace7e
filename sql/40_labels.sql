-- genims ground truth: one row per injected fault episode (SPEC §5). Detectors are scored
-- against this table; nothing in it appears in the observable tables. Idempotent.

CREATE TABLE IF NOT EXISTS fault_labels (
    episode_id       BIGINT PRIMARY KEY,
    machine_id       VARCHAR(50) NOT NULL,
    line_id          VARCHAR(50) NOT NULL,
    factory_id       VARCHAR(50) NOT NULL,
    pattern          VARCHAR(100) NOT NULL,
    fault_code       VARCHAR(50) NOT NULL,
    severity         VARCHAR(20),
    variant          VARCHAR(50),
    onset_time       TIMESTAMP NOT NULL,
    warning_time     TIMESTAMP NOT NULL,
    critical_time    TIMESTAMP NOT NULL,
    fault_time       TIMESTAMP NOT NULL,
    fault_end_time   TIMESTAMP,
    end_time         TIMESTAMP NOT NULL,
    reaches_fault    BOOLEAN NOT NULL,
    affected_sensors VARCHAR(2000),
    parameters       TEXT
);

COMMENT ON TABLE fault_labels IS 'Ground truth of injected fault episodes: onset, warning, critical and fault times, affected sensors and drawn parameters.';

CREATE INDEX IF NOT EXISTS idx_labels_machine_onset ON fault_labels (machine_id, onset_time);
CREATE INDEX IF NOT EXISTS idx_labels_pattern_fault ON fault_labels (pattern, fault_time);

-- Where each `genims stream` stands: every record before `through` is in the tables. Each
-- flush writes its records and this row in one transaction, so a restarted stream resumes
-- exactly where the last committed flush ended.
CREATE TABLE IF NOT EXISTS genims_stream_progress (
    stream     VARCHAR(50) PRIMARY KEY,
    through    TIMESTAMP NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE genims_stream_progress IS 'Progress of each genims stream daemon (iot, scada, all): every record before "through" is stored.';
