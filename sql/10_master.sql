-- genims master data schema: the plant (factories, lines, machines, sensors, people,
-- shifts, products, customers and their mappings). No foreign keys: field names carry the
-- relations. Idempotent: safe to run again. All timestamps are UTC.

CREATE TABLE IF NOT EXISTS factories (
    factory_id          VARCHAR(50) PRIMARY KEY,
    factory_name        VARCHAR(200) NOT NULL,
    country             VARCHAR(100) NOT NULL,
    city                VARCHAR(100) NOT NULL,
    region              VARCHAR(100),
    timezone            VARCHAR(50),
    total_area_sqm      INTEGER,
    operational_since   DATE,
    factory_type        VARCHAR(50),
    certification       VARCHAR(200),
    status              VARCHAR(20) DEFAULT 'active',
    created_at          TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS production_lines (
    line_id                           VARCHAR(50) PRIMARY KEY,
    factory_id                        VARCHAR(50) NOT NULL,
    line_name                         VARCHAR(200) NOT NULL,
    line_number                       INTEGER,
    product_category                  VARCHAR(100),
    line_type                         VARCHAR(50),
    design_capacity_units_per_hour    INTEGER,
    installed_capacity_units_per_hour INTEGER,
    line_length_meters                DECIMAL(10,2),
    num_stations                      INTEGER,
    automation_level                  VARCHAR(50),
    commissioning_date                DATE,
    status                            VARCHAR(20) DEFAULT 'active',
    created_at                        TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS machines (
    machine_id                     VARCHAR(50) PRIMARY KEY,
    line_id                        VARCHAR(50) NOT NULL,
    factory_id                     VARCHAR(50) NOT NULL,
    machine_name                   VARCHAR(200) NOT NULL,
    machine_code                   VARCHAR(50),
    machine_type                   VARCHAR(100),
    manufacturer                   VARCHAR(100),
    model_number                   VARCHAR(100),
    serial_number                  VARCHAR(100),
    installation_date              DATE,
    last_major_overhaul            DATE,
    design_capacity_units_per_hour INTEGER,
    power_rating_kw                DECIMAL(10,2),
    maintenance_schedule           VARCHAR(50),
    criticality                    VARCHAR(20),
    asset_value_usd                DECIMAL(15,2),
    expected_life_years            INTEGER,
    current_age_years              DECIMAL(5,2),
    status                         VARCHAR(20) DEFAULT 'active',
    created_at                     TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS sensors (
    sensor_id                  VARCHAR(50) PRIMARY KEY,
    machine_id                 VARCHAR(50) NOT NULL,
    line_id                    VARCHAR(50) NOT NULL,
    factory_id                 VARCHAR(50) NOT NULL,
    sensor_name                VARCHAR(200) NOT NULL,
    sensor_code                VARCHAR(100),
    sensor_type                VARCHAR(100),
    measurement_unit           VARCHAR(50),
    measurement_range_min      DECIMAL(15,4),
    measurement_range_max      DECIMAL(15,4),
    normal_operating_min       DECIMAL(15,4),
    normal_operating_max       DECIMAL(15,4),
    warning_threshold_min      DECIMAL(15,4),
    warning_threshold_max      DECIMAL(15,4),
    critical_threshold_min     DECIMAL(15,4),
    critical_threshold_max     DECIMAL(15,4),
    sampling_frequency_hz      DECIMAL(10,2),
    data_protocol              VARCHAR(50),
    manufacturer               VARCHAR(100),
    model_number               VARCHAR(100),
    calibration_date           DATE,
    calibration_frequency_days INTEGER,
    accuracy_percentage        DECIMAL(5,2),
    status                     VARCHAR(20) DEFAULT 'active',
    created_at                 TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS employees (
    employee_id      VARCHAR(50) PRIMARY KEY,
    factory_id       VARCHAR(50) NOT NULL,
    line_id          VARCHAR(50),
    employee_code    VARCHAR(50),
    first_name       VARCHAR(100),
    last_name        VARCHAR(100),
    email            VARCHAR(200),
    phone            VARCHAR(50),
    role             VARCHAR(100),
    department       VARCHAR(100),
    skill_level      VARCHAR(50),
    shift            VARCHAR(50),
    hire_date        DATE,
    experience_years DECIMAL(5,2),
    certifications   VARCHAR(500),
    status           VARCHAR(20) DEFAULT 'active',
    created_at       TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS shifts (
    shift_id               VARCHAR(50) PRIMARY KEY,
    factory_id             VARCHAR(50) NOT NULL,
    shift_name             VARCHAR(100),
    shift_code             VARCHAR(50),
    start_time             TIME,
    end_time               TIME,
    duration_hours         DECIMAL(4,2),
    shift_type             VARCHAR(50),
    break_duration_minutes INTEGER,
    days_of_week           VARCHAR(100),
    status                 VARCHAR(20) DEFAULT 'active',
    created_at             TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS products (
    product_id                  VARCHAR(50) PRIMARY KEY,
    product_code                VARCHAR(50),
    product_name                VARCHAR(200) NOT NULL,
    product_category            VARCHAR(100),
    product_type                VARCHAR(100),
    description                 TEXT,
    bill_of_material_complexity VARCHAR(50),
    number_of_components        INTEGER,
    standard_cycle_time_seconds INTEGER,
    target_quality_ppm          INTEGER,
    unit_weight_kg              DECIMAL(10,3),
    material_type               VARCHAR(100),
    status                      VARCHAR(20) DEFAULT 'active',
    created_at                  TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS customers (
    customer_id                     VARCHAR(50) PRIMARY KEY,
    customer_code                   VARCHAR(50),
    customer_name                   VARCHAR(200) NOT NULL,
    customer_type                   VARCHAR(50),
    country                         VARCHAR(100),
    region                          VARCHAR(100),
    industry_segment                VARCHAR(100),
    annual_volume_estimate          INTEGER,
    quality_rating                  VARCHAR(20),
    payment_terms_days              INTEGER,
    sla_on_time_delivery_percentage DECIMAL(5,2),
    sla_quality_ppm_max             INTEGER,
    status                          VARCHAR(20) DEFAULT 'active',
    created_at                      TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS line_product_mapping (
    mapping_id                  VARCHAR(50) PRIMARY KEY,
    line_id                     VARCHAR(50) NOT NULL,
    product_id                  VARCHAR(50) NOT NULL,
    factory_id                  VARCHAR(50) NOT NULL,
    is_primary_line             BOOLEAN,
    standard_cycle_time_seconds INTEGER,
    setup_time_minutes          INTEGER,
    changeover_time_minutes     INTEGER,
    yield_percentage            DECIMAL(5,2),
    status                      VARCHAR(20) DEFAULT 'active',
    created_at                  TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS customer_product_mapping (
    mapping_id              VARCHAR(50) PRIMARY KEY,
    customer_id             VARCHAR(50) NOT NULL,
    product_id              VARCHAR(50) NOT NULL,
    is_active               BOOLEAN,
    annual_volume           INTEGER,
    unit_price_usd          DECIMAL(10,2),
    lead_time_days          INTEGER,
    quality_requirement_ppm INTEGER,
    created_at              TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE INDEX IF NOT EXISTS idx_lines_factory ON production_lines (factory_id);
CREATE INDEX IF NOT EXISTS idx_machines_line ON machines (line_id);
CREATE INDEX IF NOT EXISTS idx_machines_factory ON machines (factory_id);
CREATE INDEX IF NOT EXISTS idx_machines_type ON machines (machine_type);
CREATE INDEX IF NOT EXISTS idx_sensors_machine ON sensors (machine_id);
CREATE INDEX IF NOT EXISTS idx_sensors_line ON sensors (line_id);
CREATE INDEX IF NOT EXISTS idx_sensors_factory ON sensors (factory_id);
CREATE INDEX IF NOT EXISTS idx_sensors_type ON sensors (sensor_type);
CREATE INDEX IF NOT EXISTS idx_employees_factory ON employees (factory_id);
CREATE INDEX IF NOT EXISTS idx_employees_line ON employees (line_id);
CREATE INDEX IF NOT EXISTS idx_employees_role ON employees (role);
CREATE INDEX IF NOT EXISTS idx_shifts_factory ON shifts (factory_id);
CREATE INDEX IF NOT EXISTS idx_products_category ON products (product_category);
CREATE INDEX IF NOT EXISTS idx_lpm_line ON line_product_mapping (line_id);
CREATE INDEX IF NOT EXISTS idx_lpm_product ON line_product_mapping (product_id);
CREATE INDEX IF NOT EXISTS idx_cpm_customer ON customer_product_mapping (customer_id);
CREATE INDEX IF NOT EXISTS idx_cpm_product ON customer_product_mapping (product_id);
