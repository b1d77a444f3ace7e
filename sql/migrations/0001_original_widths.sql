-- genims schema version 1: five text columns as wide as the original GenIMS package
-- declares them (genims_schema.sql, genims_operational_schema.sql), so that a database made
-- with either DDL holds what the other writes. Only widens: a column already at least this
-- wide is left as it is. Widening a varchar changes only the catalogue, not the rows.
DO $$
DECLARE
    w record;
BEGIN
    FOR w IN
        SELECT * FROM (VALUES
            ('sensors', 'sensor_type', 100),
            ('products', 'product_type', 100),
            ('production_runs', 'quality_grade', 20),
            ('scada_machine_data', 'machine_state', 50),
            ('scada_machine_data', 'operation_mode', 50)
        ) AS t (table_name, column_name, width)
    LOOP
        IF EXISTS (
            SELECT 1 FROM information_schema.columns c
            WHERE c.table_schema = current_schema() AND c.table_name = w.table_name
              AND c.column_name = w.column_name AND c.character_maximum_length < w.width
        ) THEN
            EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE varchar(%s)', w.table_name, w.column_name, w.width);
        END IF;
    END LOOP;
END $$;
