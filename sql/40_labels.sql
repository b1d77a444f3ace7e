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

-- Ground truth of data-quality defects (`[quality]`): one row per defect the delivered
-- sensor_data carries — a gateway gap (readings lost), a clock skew (timestamps shifted), a
-- stale record repeated, a duplicate, a late arrival, a spike, an invalid value.
CREATE TABLE IF NOT EXISTS data_quality_labels (
    defect_id   BIGINT PRIMARY KEY,
    defect      VARCHAR(20) NOT NULL,
    machine_id  VARCHAR(50) NOT NULL,
    line_id     VARCHAR(50) NOT NULL,
    factory_id  VARCHAR(50) NOT NULL,
    sensor_id   VARCHAR(50),
    start_time  TIMESTAMP NOT NULL,
    end_time    TIMESTAMP NOT NULL,
    records     INTEGER NOT NULL,
    record_id   BIGINT,
    detail      VARCHAR(200)
);

COMMENT ON TABLE data_quality_labels IS 'Ground truth of data-quality defects in sensor_data: kind, machine (and sensor), affected stretch of event time, readings affected, the affected reading''s id and a detail.';
COMMENT ON COLUMN data_quality_labels.defect IS 'gap, clock_skew, stale, duplicate, late, spike or invalid';
COMMENT ON COLUMN data_quality_labels.sensor_id IS 'NULL for gap and clock_skew: the whole machine''s gateway';
COMMENT ON COLUMN data_quality_labels.records IS 'Readings lost (gap), shifted (clock_skew), repeated (stale); 1 for the single-reading defects';
COMMENT ON COLUMN data_quality_labels.record_id IS 'sensor_data_id of the affected reading (of the copy for a duplicate); NULL for the stretches';

CREATE INDEX IF NOT EXISTS idx_quality_labels_machine_start ON data_quality_labels (machine_id, start_time);

-- Where each `genims stream` stands: every record before `through` is in the tables. Each
-- flush writes its records and this row in one transaction, so a restarted stream resumes
-- exactly where the last committed flush ended.
CREATE TABLE IF NOT EXISTS genims_stream_progress (
    stream     VARCHAR(50) PRIMARY KEY,
    through    TIMESTAMP NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE genims_stream_progress IS 'Progress of each genims stream daemon (iot, scada, all): every record before "through" is stored.';

-- Faults injected into a running stream (POST /faults), in order: the stream writes its
-- journal here in the same transactions as its records, so a daemon that lost its state
-- directory re-applies them, and `genims backfill --injections` can replay them.
CREATE TABLE IF NOT EXISTS genims_injections (
    stream VARCHAR(50) NOT NULL,
    seq    INTEGER NOT NULL,
    entry  TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
);

COMMENT ON TABLE genims_injections IS 'Injection journal of each genims stream: one JSON entry (inject or clear) per seq.';

-- The plant that made the master data: `genims seed --out db` (and the SQL file of `seed
-- --out sql`) write this one row with the master tables. Loads and streams into PostgreSQL
-- compare it with their own seed and plant settings and refuse a mismatch, since their rows
-- would contradict the sensors and machines tables.
CREATE TABLE IF NOT EXISTS genims_plant (
    only_row        BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    seed            NUMERIC(20, 0) NOT NULL,
    reference_date  DATE NOT NULL,
    sizes           VARCHAR(500) NOT NULL,
    fingerprint     VARCHAR(16) NOT NULL,
    loaded_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

COMMENT ON TABLE genims_plant IS 'Seed, plant sizes and a fingerprint of the master data genims loaded; loads of operational data must match it.';
