-- genims time-series tables, range-partitioned by day on "timestamp"
-- (`genims schema apply --partition daily`). Daily partitions are created by the commands
-- that write rows (named sensor_data_pYYYYMMDD, scada_machine_data_pYYYYMMDD). The primary
-- key includes the partition key, as PostgreSQL requires.
-- The unpartitioned variant is 30_timeseries.sql; keep the two column lists identical.

CREATE TABLE IF NOT EXISTS scada_machine_data (
    scada_id                  BIGSERIAL,
    machine_id                VARCHAR(50) NOT NULL,
    line_id                   VARCHAR(50) NOT NULL,
    factory_id                VARCHAR(50) NOT NULL,
    timestamp                 TIMESTAMP NOT NULL,
    machine_state             VARCHAR(50) NOT NULL,
    operation_mode            VARCHAR(50),
    fault_code                VARCHAR(50),
    fault_description         TEXT,
    parts_produced_cumulative BIGINT,
    parts_produced_shift      INTEGER,
    parts_rejected_shift      INTEGER,
    target_cycle_time_seconds INTEGER,
    actual_cycle_time_seconds DECIMAL(10,2),
    availability_percentage   DECIMAL(5,2),
    performance_percentage    DECIMAL(5,2),
    quality_percentage        DECIMAL(5,2),
    oee_percentage            DECIMAL(5,2),
    spindle_speed_rpm         INTEGER,
    feed_rate_mm_min          DECIMAL(10,2),
    tool_number               INTEGER,
    program_number            VARCHAR(50),
    power_consumption_kw      DECIMAL(10,2),
    energy_consumed_kwh       DECIMAL(15,4),
    temperature_setpoint_c    DECIMAL(8,2),
    temperature_actual_c      DECIMAL(8,2),
    pressure_setpoint_bar     DECIMAL(8,2),
    pressure_actual_bar       DECIMAL(8,2),
    downtime_seconds_shift    INTEGER,
    last_fault_timestamp      TIMESTAMP,
    uptime_seconds_shift      INTEGER,
    active_alarms             INTEGER,
    alarm_codes               VARCHAR(500),
    warning_codes             VARCHAR(500),
    shift_id                  VARCHAR(50),
    operator_id               VARCHAR(50),
    data_source               VARCHAR(50) DEFAULT 'PLC',
    data_quality              VARCHAR(20) DEFAULT 'good',
    created_at                TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (scada_id, timestamp)
) PARTITION BY RANGE (timestamp);

CREATE TABLE IF NOT EXISTS sensor_data (
    sensor_data_id     BIGSERIAL,
    sensor_id          VARCHAR(50) NOT NULL,
    machine_id         VARCHAR(50) NOT NULL,
    line_id            VARCHAR(50) NOT NULL,
    factory_id         VARCHAR(50) NOT NULL,
    timestamp          TIMESTAMP NOT NULL,
    measurement_value  DECIMAL(15,4) NOT NULL,
    measurement_unit   VARCHAR(50) NOT NULL,
    status             VARCHAR(20) DEFAULT 'normal',
    quality            VARCHAR(20) DEFAULT 'good',
    is_below_warning   BOOLEAN,
    is_above_warning   BOOLEAN,
    is_below_critical  BOOLEAN,
    is_above_critical  BOOLEAN,
    min_value_1min     DECIMAL(15,4),
    max_value_1min     DECIMAL(15,4),
    avg_value_1min     DECIMAL(15,4),
    std_dev_1min       DECIMAL(15,4),
    anomaly_score      DECIMAL(8,4),
    is_anomaly         BOOLEAN,
    data_source        VARCHAR(50) DEFAULT 'IoT',
    protocol           VARCHAR(50),
    created_at         TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (sensor_data_id, timestamp)
) PARTITION BY RANGE (timestamp);

CREATE INDEX IF NOT EXISTS idx_scada_machine_ts ON scada_machine_data (machine_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_scada_line_ts    ON scada_machine_data (line_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_scada_factory_ts ON scada_machine_data (factory_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_scada_state_ts   ON scada_machine_data (machine_state, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_scada_fault_code ON scada_machine_data (fault_code) WHERE fault_code IS NOT NULL;

CREATE INDEX IF NOT EXISTS idx_sensor_data_sensor_ts  ON sensor_data (sensor_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_sensor_data_machine_ts ON sensor_data (machine_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_sensor_data_line_ts    ON sensor_data (line_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_sensor_data_factory_ts ON sensor_data (factory_id, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_sensor_data_status_ts  ON sensor_data (status, timestamp DESC);
CREATE INDEX IF NOT EXISTS idx_sensor_data_anomaly_ts ON sensor_data (is_anomaly, timestamp DESC);
