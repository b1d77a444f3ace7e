-- genims operational event tables: faults, sensor health, production runs, maintenance.
-- No foreign keys: field names carry the relations. Idempotent. All timestamps are UTC.

CREATE TABLE IF NOT EXISTS machine_faults (
    fault_id               BIGSERIAL PRIMARY KEY,
    machine_id             VARCHAR(50) NOT NULL,
    line_id                VARCHAR(50) NOT NULL,
    factory_id             VARCHAR(50) NOT NULL,
    fault_code             VARCHAR(50) NOT NULL,
    fault_category         VARCHAR(50),
    fault_severity         VARCHAR(20),
    fault_description      TEXT,
    fault_start_time       TIMESTAMP NOT NULL,
    fault_end_time         TIMESTAMP,
    fault_duration_seconds INTEGER,
    production_loss_units  INTEGER,
    downtime_minutes       INTEGER,
    estimated_cost_usd     DECIMAL(12,2),
    root_cause_category    VARCHAR(100),
    root_cause_description TEXT,
    contributing_sensors   VARCHAR(500),
    resolution_action      TEXT,
    maintenance_ticket_id  VARCHAR(50),
    resolved_by            VARCHAR(50),
    detection_method       VARCHAR(50),
    predicted_in_advance   BOOLEAN,
    advance_warning_hours  DECIMAL(8,2),
    status                 VARCHAR(20) DEFAULT 'open',
    created_at             TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at             TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS sensor_health (
    health_id                 BIGSERIAL PRIMARY KEY,
    sensor_id                 VARCHAR(50) NOT NULL,
    machine_id                VARCHAR(50) NOT NULL,
    timestamp                 TIMESTAMP NOT NULL,
    health_score              DECIMAL(5,2),
    drift_percentage          DECIMAL(8,4),
    noise_level               DECIMAL(8,4),
    days_since_calibration    INTEGER,
    is_calibration_due        BOOLEAN,
    calibration_drift_detected BOOLEAN,
    packet_loss_percentage    DECIMAL(5,2),
    average_latency_ms        DECIMAL(10,2),
    last_communication        TIMESTAMP,
    communication_failures_24h INTEGER,
    battery_percentage        DECIMAL(5,2),
    is_low_battery            BOOLEAN,
    stuck_value_detected      BOOLEAN,
    erratic_readings_detected BOOLEAN,
    out_of_range_readings_24h INTEGER,
    overall_status            VARCHAR(20) DEFAULT 'healthy',
    created_at                TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS production_runs (
    run_id                      VARCHAR(50) PRIMARY KEY,
    line_id                     VARCHAR(50) NOT NULL,
    factory_id                  VARCHAR(50) NOT NULL,
    product_id                  VARCHAR(50) NOT NULL,
    run_number                  INTEGER,
    batch_number                VARCHAR(50),
    work_order_number           VARCHAR(50),
    customer_id                 VARCHAR(50),
    run_start_time              TIMESTAMP NOT NULL,
    run_end_time                TIMESTAMP,
    planned_duration_minutes    INTEGER,
    actual_duration_minutes     INTEGER,
    target_quantity             INTEGER,
    actual_quantity             INTEGER,
    rejected_quantity           INTEGER,
    scrapped_quantity           INTEGER,
    rework_quantity             INTEGER,
    first_pass_yield_percentage DECIMAL(5,2),
    defect_rate_ppm             INTEGER,
    quality_grade               VARCHAR(20),
    oee_percentage              DECIMAL(5,2),
    availability_percentage     DECIMAL(5,2),
    performance_percentage      DECIMAL(5,2),
    quality_percentage          DECIMAL(5,2),
    previous_product_id         VARCHAR(50),
    changeover_time_minutes     INTEGER,
    shift_id                    VARCHAR(50),
    supervisor_id               VARCHAR(50),
    status                      VARCHAR(20) DEFAULT 'in_progress',
    created_at                  TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at                  TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS maintenance_events (
    maintenance_id       VARCHAR(50) PRIMARY KEY,
    machine_id           VARCHAR(50) NOT NULL,
    line_id              VARCHAR(50) NOT NULL,
    factory_id           VARCHAR(50) NOT NULL,
    maintenance_type     VARCHAR(50),
    maintenance_category VARCHAR(50),
    priority             VARCHAR(20),
    scheduled_start      TIMESTAMP,
    actual_start         TIMESTAMP,
    actual_end           TIMESTAMP,
    duration_minutes     INTEGER,
    work_description     TEXT,
    parts_replaced       VARCHAR(500),
    parts_cost_usd       DECIMAL(12,2),
    labor_hours          DECIMAL(8,2),
    labor_cost_usd       DECIMAL(12,2),
    total_cost_usd       DECIMAL(12,2),
    technician_id        VARCHAR(50),
    supervisor_id        VARCHAR(50),
    related_fault_id     BIGINT,
    completion_status    VARCHAR(20),
    notes                TEXT,
    follow_up_required   BOOLEAN,
    next_maintenance_due DATE,
    created_at           TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at           TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_faults_machine_start  ON machine_faults (machine_id, fault_start_time DESC);
CREATE INDEX IF NOT EXISTS idx_faults_line_start     ON machine_faults (line_id, fault_start_time DESC);
CREATE INDEX IF NOT EXISTS idx_faults_factory_start  ON machine_faults (factory_id, fault_start_time DESC);
CREATE INDEX IF NOT EXISTS idx_faults_status_start   ON machine_faults (status, fault_start_time DESC);
CREATE INDEX IF NOT EXISTS idx_faults_severity_start ON machine_faults (fault_severity, fault_start_time DESC);
CREATE INDEX IF NOT EXISTS idx_faults_category_start ON machine_faults (fault_category, fault_start_time DESC);

CREATE INDEX IF NOT EXISTS idx_health_sensor_ts  ON sensor_health (sensor_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_health_machine_ts ON sensor_health (machine_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_health_status_ts  ON sensor_health (overall_status, timestamp DESC);

CREATE INDEX IF NOT EXISTS idx_runs_line_start    ON production_runs (line_id, run_start_time DESC);
CREATE INDEX IF NOT EXISTS idx_runs_product_start ON production_runs (product_id, run_start_time DESC);
CREATE INDEX IF NOT EXISTS idx_runs_status_start  ON production_runs (status, run_start_time DESC);

CREATE INDEX IF NOT EXISTS idx_maint_machine_sched ON maintenance_events (machine_id, scheduled_start DESC);
CREATE INDEX IF NOT EXISTS idx_maint_type_sched    ON maintenance_events (maintenance_type, scheduled_start DESC);
CREATE INDEX IF NOT EXISTS idx_maint_status_sched  ON maintenance_events (completion_status, scheduled_start DESC);
CREATE INDEX IF NOT EXISTS idx_maint_related_fault ON maintenance_events (related_fault_id) WHERE related_fault_id IS NOT NULL;
