-- genims detection views. Every detector reads only observable data (sensor_data,
-- scada_machine_data, sensor_health, sensors, machines) and the thresholds stored with each
-- sensor, never fault_labels. genims_detect(pattern, at) evaluates one pattern at any instant,
-- so history can be scored; the views apply it to the present (UTC). Idempotent.

-- Superseded by genims_evidence (the window of a machine's operation, not of wall time).
DROP FUNCTION IF EXISTS genims_sensor_window(timestamp, interval);

-- The stretch of a machine's operation a detector reads at p_at. It ends with the machine's
-- last running minute (looking back 8 hours), so what a machine showed before it stopped
-- stays visible while it is down (fault, maintenance); it begins after the last intervention
-- (setup, fault, maintenance) before that minute, so a repair or a tool change clears old
-- evidence. `down_until` is the last fault or maintenance minute after the last run, and
-- `state_now` the state at p_at: a machine that went down and is back (idle, setup) has been
-- repaired, and what it showed before no longer counts.
CREATE OR REPLACE FUNCTION genims_operation(p_machine varchar, p_at timestamp)
RETURNS TABLE (last_running timestamp, since timestamp, down_until timestamp, state_now varchar)
LANGUAGE sql STABLE AS $$
    WITH m AS (
        SELECT s.timestamp AS ts, s.machine_state AS st FROM scada_machine_data s
        WHERE s.machine_id = p_machine AND s.timestamp > p_at - interval '8 hours' AND s.timestamp <= p_at
    ), r AS (
        SELECT max(ts) FILTER (WHERE st = 'running') AS last_running, max(ts) AS last_ts FROM m
    )
    SELECT r.last_running,
           (SELECT max(ts) FROM m WHERE ts < r.last_running AND st IN ('setup', 'maintenance', 'fault')),
           (SELECT max(ts) FROM m WHERE ts > r.last_running AND st IN ('maintenance', 'fault')),
           (SELECT st FROM m WHERE ts = r.last_ts)
    FROM r WHERE r.last_running IS NOT NULL
$$;

-- Statistics of each sensor named p_sensor (every sensor when NULL) over the last p_span of
-- running minutes of its machine's stretch of operation (genims_operation), from the fourth
-- minute after the last intervention, from sensors sensor_health trusts, valid readings only
-- (not out of range). p_states says which minutes count:
--   'running' (default): only minutes the machine ran, up to its last running minute;
--   'powered': minutes it ran, idled or was set up (a pump runs, a supply is live), and the
--               window runs on to p_at, so a machine standing idle still shows its coolant;
--   'any':     minutes of every state, up to p_at, so what happened as it stopped stays in view.
-- The boolean form (p_running_only) of earlier versions is dropped.
DROP FUNCTION IF EXISTS genims_evidence(timestamp, text, interval, boolean);

-- Refuses an unknown p_states of genims_evidence, naming it.
CREATE OR REPLACE FUNCTION genims_bad_states(p_states text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RAISE EXCEPTION 'genims_evidence: unknown p_states %', quote_literal(p_states)
        USING HINT = 'one of running, powered, any';
END
$$;
CREATE OR REPLACE FUNCTION genims_evidence(p_at timestamp, p_sensor text, p_span interval, p_states text DEFAULT 'running')
RETURNS TABLE (
    machine_id varchar, line_id varchar, factory_id varchar, sensor_id varchar, sensor_name varchar,
    n bigint, avg_value numeric, min_value numeric, max_value numeric, sd_value numeric,
    share_above_warning numeric, share_below_warning numeric, share_above_critical numeric, share_below_critical numeric,
    beyond_warning bigint, normal_min numeric, normal_max numeric, warning_min numeric, warning_max numeric,
    critical_min numeric, critical_max numeric
) LANGUAGE sql STABLE AS $$
    SELECT s.machine_id, s.line_id, s.factory_id, s.sensor_id, s.sensor_name,
           w.n, w.avg_value, w.min_value, w.max_value, w.sd_value,
           w.above_warning, w.below_warning, w.above_critical, w.below_critical, w.beyond_warning,
           s.normal_operating_min, s.normal_operating_max, s.warning_threshold_min, s.warning_threshold_max,
           s.critical_threshold_min, s.critical_threshold_max
    FROM machines mc
    CROSS JOIN LATERAL genims_operation(mc.machine_id, p_at) o
    CROSS JOIN LATERAL (
        -- The last p_span of running minutes of the stretch, skipping the first three
        -- minutes after an intervention (start-up transients: pumps and drives ramping up).
        SELECT min(x.ts) AS first_minute FROM (
            SELECT m.timestamp AS ts FROM scada_machine_data m
            WHERE m.machine_id = mc.machine_id AND m.machine_state = 'running'
              AND m.timestamp <= o.last_running AND m.timestamp > p_at - interval '8 hours'
              AND (o.since IS NULL OR m.timestamp >= o.since + interval '4 minutes')
            ORDER BY m.timestamp DESC
            LIMIT ceil(extract(epoch FROM p_span) / 60)::int
        ) x
    ) f
    CROSS JOIN LATERAL (
        -- A machine back from a repair (down_until, not down now) is judged afresh: nothing
        -- from before the repair counts, and while it has not run, only what it shows since.
        SELECT CASE WHEN o.state_now NOT IN ('fault', 'maintenance') AND o.down_until IS NOT NULL
                    THEN CASE p_states WHEN 'running' THEN NULL
                                       -- a pump back on ramps up for a few minutes
                                       WHEN 'powered' THEN o.down_until + interval '4 minutes'
                                       ELSE o.down_until + interval '1 minute' END
                    ELSE f.first_minute END AS lo,
               CASE WHEN p_states = 'running' THEN least(o.last_running + interval '1 minute', p_at + interval '1 microsecond')
                    ELSE p_at + interval '1 microsecond' END AS hi
    ) r
    JOIN sensors s ON s.machine_id = mc.machine_id
    CROSS JOIN LATERAL (
        SELECT count(*) AS n, avg(d.measurement_value) AS avg_value, min(d.measurement_value) AS min_value,
               max(d.measurement_value) AS max_value, coalesce(stddev_pop(d.measurement_value), 0) AS sd_value,
               avg(d.is_above_warning::int) AS above_warning, avg(d.is_below_warning::int) AS below_warning,
               avg(d.is_above_critical::int) AS above_critical, avg(d.is_below_critical::int) AS below_critical,
               count(*) FILTER (WHERE d.is_above_warning OR d.is_below_warning) AS beyond_warning
        FROM sensor_data d
        JOIN scada_machine_data m ON m.machine_id = s.machine_id AND m.timestamp = date_trunc('minute', d.timestamp)
        WHERE d.sensor_id = s.sensor_id AND d.timestamp >= r.lo AND d.timestamp < r.hi AND d.quality <> 'out_of_range'
          AND m.timestamp >= date_trunc('minute', r.lo) AND m.timestamp < r.hi
          AND CASE p_states WHEN 'running' THEN m.machine_state = 'running'
                            WHEN 'powered' THEN m.machine_state IN ('running', 'idle', 'setup')
                            WHEN 'any' THEN true
                            ELSE genims_bad_states(p_states) END
    ) w
    WHERE (p_sensor IS NULL OR s.sensor_name = p_sensor) AND w.n > 0
      AND EXISTS (SELECT 1 FROM sensors x WHERE x.machine_id = mc.machine_id AND (p_sensor IS NULL OR x.sensor_name = p_sensor))
      -- A sensor the plant's own health monitoring marks as drifting or stuck, or as erratic
      -- with readings outside its measurement range (values no process can take), is not
      -- evidence of a machine fault (sensor_drift reports it). Erratic alone is not enough:
      -- a real voltage sag or a sudden leak makes readings jump too.
      AND NOT EXISTS (
            SELECT 1 FROM sensor_health h
             WHERE h.sensor_id = s.sensor_id AND h.timestamp = date_trunc('hour', p_at) - interval '1 hour'
               AND (h.calibration_drift_detected OR h.stuck_value_detected
                    OR (h.erratic_readings_detected AND h.out_of_range_readings_24h > 0)))
$$;

-- One pattern's detections at p_at. JIT is off inside it (see genims_machine_health).
CREATE OR REPLACE FUNCTION genims_detect(p_pattern text, p_at timestamp)
RETURNS TABLE (machine_id varchar, line_id varchar, factory_id varchar, pattern text, severity text, evidence text, detected_at timestamp)
LANGUAGE plpgsql STABLE SET jit = off AS $$
BEGIN
    IF p_pattern = 'bearing_failure' THEN
        -- Spindle bearing vibration above its warning limit, averaged over an hour of running.
        RETURN QUERY SELECT w.machine_id, w.line_id, w.factory_id, p_pattern,
            CASE WHEN w.avg_value > w.critical_max THEN 'CRITICAL' ELSE 'WARNING' END,
            format('bearing vibration %s mm/s (warning above %s)', round(w.avg_value, 2), w.warning_max), p_at
        FROM genims_evidence(p_at, 'Spindle Bearing Vibration', interval '1 hour') w
        WHERE w.n >= 30 AND w.avg_value > w.warning_max;
    ELSIF p_pattern = 'motor_overheating' THEN
        -- The winding above its warning limit over the last 10 running minutes, or the motor
        -- drawing overload current (four readings in five above its warning limit: a steady
        -- overload, not a scattering servo) while the supply voltage stays in band (else it is
        -- an electrical fault). Current follows the load at once; the winding lags it by half
        -- an hour, so after a stop the current shows an overload first. Each sensor's
        -- evidence is gathered once (MATERIALIZED): joined inline, the planner re-reads the
        -- current and voltage windows for every winding, ten times slower.
        RETURN QUERY WITH t AS MATERIALIZED (
            SELECT * FROM genims_evidence(p_at, 'Motor Winding Temperature', interval '10 minutes')
        ), c AS MATERIALIZED (
            SELECT * FROM genims_evidence(p_at, 'Motor Current', interval '10 minutes')
        ), v AS MATERIALIZED (
            SELECT * FROM genims_evidence(p_at, 'Supply Voltage', interval '10 minutes')
        )
        SELECT t.machine_id, t.line_id, t.factory_id, p_pattern,
            CASE WHEN t.avg_value > t.critical_max OR c.share_above_critical > 0.8 THEN 'CRITICAL' ELSE 'WARNING' END,
            format('winding temperature %s degC, up to %s (warning above %s)', round(t.avg_value, 1), round(t.max_value, 1), t.warning_max)
              || CASE WHEN c.n IS NULL THEN '' ELSE format('; motor current %s A, %s%% above %s', round(c.avg_value),
                                                          round(100 * c.share_above_warning), c.warning_max) END, p_at
        FROM t
        LEFT JOIN c ON c.machine_id = t.machine_id AND c.n >= 6
        LEFT JOIN v ON v.machine_id = t.machine_id
        WHERE t.n >= 6 AND (t.avg_value > t.warning_max
                            OR (c.share_above_warning > 0.8 AND coalesce(v.beyond_warning, 0) = 0));
    ELSIF p_pattern = 'hydraulic_leak' THEN
        RETURN QUERY SELECT w.machine_id, w.line_id, w.factory_id, p_pattern,
            CASE WHEN w.avg_value < w.critical_min THEN 'CRITICAL' ELSE 'WARNING' END,
            format('hydraulic pressure %s bar (warning below %s)', round(w.avg_value, 1), w.warning_min), p_at
        FROM genims_evidence(p_at, 'Hydraulic Pressure', interval '15 minutes') w
        WHERE w.n >= 6 AND w.avg_value < w.warning_min;
    ELSIF p_pattern = 'tool_wear' THEN
        -- Cutting vibration over an hour of running, against the machine's line: the line's
        -- machines cut the same product, so a heavy part raises them all, and a worn tool
        -- stands out from the line's median by 0.7 half-widths of the normal band. A tool
        -- wears within hours to two days while a machine's own level (its offset, its
        -- spindle's wear) stays put, so a machine above its line's median (by a quarter
        -- half-width) whose gap has widened by half a half-width since the same hour a day
        -- before is wearing too, before its gap reaches 0.7 (a day before is one hour of one
        -- machine, which a product changeover may catch mid-way, hence the quarter). A line
        -- with fewer than three such machines falls back to the warning limit.
        RETURN QUERY WITH w AS (
            SELECT * FROM genims_evidence(p_at, 'Cutting Tool Vibration', interval '1 hour') e WHERE e.n >= 30
        ), line AS (
            SELECT w.line_id AS id, percentile_cont(0.5) WITHIN GROUP (ORDER BY w.avg_value)::numeric AS median, count(*) AS k
            FROM w GROUP BY w.line_id
        ), before AS (
            SELECT * FROM genims_evidence(p_at - interval '1 day', 'Cutting Tool Vibration', interval '1 hour') e WHERE e.n >= 30
        ), line_before AS (
            SELECT b.line_id AS id, percentile_cont(0.5) WITHIN GROUP (ORDER BY b.avg_value)::numeric AS median, count(*) AS k
            FROM before b GROUP BY b.line_id
        ), gap_before AS (
            SELECT b.machine_id, b.avg_value - lb.median AS gap FROM before b JOIN line_before lb ON lb.id = b.line_id AND lb.k >= 3
        )
        SELECT w.machine_id, w.line_id, w.factory_id, p_pattern,
            CASE WHEN w.avg_value > w.critical_max THEN 'CRITICAL' ELSE 'WARNING' END,
            format('cutting vibration %s mm/s, %s above the median of the %s machines of its line%s (warning above %s)',
                   round(w.avg_value, 2), round(w.avg_value - l.median, 2), l.k,
                   CASE WHEN g.gap IS NULL THEN '' ELSE format(', %s a day before', round(g.gap, 2)) END, w.warning_max), p_at
        FROM w JOIN line l ON l.id = w.line_id
        LEFT JOIN gap_before g ON g.machine_id = w.machine_id
        WHERE CASE WHEN l.k >= 3 THEN w.avg_value - l.median > 0.7 * (w.normal_max - w.normal_min) / 2
                                      OR (w.avg_value - l.median > 0.25 * (w.normal_max - w.normal_min) / 2
                                          AND w.avg_value - l.median - g.gap > 0.5 * (w.normal_max - w.normal_min) / 2)
                   ELSE w.avg_value > w.warning_max END;
    ELSIF p_pattern = 'welding_quality' THEN
        -- Weld current and arc voltage both scattering over an hour of running, each more than
        -- 2.5 times the median scatter of the line's welders: the product moves their levels,
        -- not their scatter, and a machine's own noise stays within that. A line with fewer
        -- than three welders falls back to a tenth of the welds outside the window.
        RETURN QUERY WITH w AS (
            SELECT * FROM genims_evidence(p_at, 'Weld Current', interval '1 hour') e WHERE e.n >= 30
            UNION ALL SELECT * FROM genims_evidence(p_at, 'Arc Voltage', interval '1 hour') e WHERE e.n >= 30
        ), line AS (
            SELECT w.line_id AS id, w.sensor_name AS sensor, percentile_cont(0.5) WITHIN GROUP (ORDER BY w.sd_value)::numeric AS median,
                   count(*) AS k
            FROM w GROUP BY w.line_id, w.sensor_name
        ), r AS (
            SELECT w.*, l.k, w.sd_value / nullif(l.median, 0) AS ratio FROM w JOIN line l ON l.id = w.line_id AND l.sensor = w.sensor_name
        )
        SELECT r.machine_id, min(r.line_id)::varchar, min(r.factory_id)::varchar, p_pattern,
            CASE WHEN max(r.share_above_critical + r.share_below_critical) > 0.1 THEN 'CRITICAL' ELSE 'WARNING' END,
            string_agg(format('%s scatter %s, %s times its line''s median, out of window %s%%', lower(r.sensor_name), round(r.sd_value, 2),
                              round(r.ratio, 1), round(100 * (r.share_above_warning + r.share_below_warning))), '; '), p_at
        FROM r GROUP BY r.machine_id
        HAVING CASE WHEN min(r.k) >= 3 THEN count(*) = 2 AND min(r.ratio) > 2.5
                    ELSE bool_or(r.share_above_warning + r.share_below_warning > 0.1) END;
    ELSIF p_pattern = 'pneumatic_leak' THEN
        -- A minute's worth of supply pressure readings below the warning limit in the last 10
        -- minutes of operation, or since the machine stopped (the supply is measured in any state).
        RETURN QUERY SELECT w.machine_id, w.line_id, w.factory_id, p_pattern,
            CASE WHEN w.min_value < w.critical_min THEN 'CRITICAL' ELSE 'WARNING' END,
            format('supply pressure down to %s bar, %s readings below %s', round(w.min_value, 2),
                   round(w.n * w.share_below_warning), w.warning_min), p_at
        FROM genims_evidence(p_at, 'Pneumatic Supply Pressure', interval '10 minutes', 'any') w
        WHERE w.n * w.share_below_warning >= 6;
    ELSIF p_pattern = 'coolant_failure' THEN
        -- Coolant flow below, or coolant temperature above, its warning limit over the last 5
        -- running minutes and whatever the machine has done since while powered (the coolant
        -- pump runs while the machine idles or is set up, so a failing pump shows then too).
        RETURN QUERY SELECT w.machine_id, min(w.line_id)::varchar, min(w.factory_id)::varchar, p_pattern,
            CASE WHEN bool_or(w.avg_value < w.critical_min AND w.sensor_name = 'Coolant Flow')
                   OR bool_or(w.avg_value > w.critical_max AND w.sensor_name = 'Coolant Temperature') THEN 'CRITICAL' ELSE 'WARNING' END,
            string_agg(format('%s %s', lower(w.sensor_name), round(w.avg_value, 1)), '; '), p_at
        FROM (SELECT * FROM genims_evidence(p_at, 'Coolant Flow', interval '5 minutes', 'powered')
              UNION ALL SELECT * FROM genims_evidence(p_at, 'Coolant Temperature', interval '5 minutes', 'powered')) w
        WHERE w.n >= 6 AND ((w.sensor_name = 'Coolant Flow' AND w.avg_value < w.warning_min)
                         OR (w.sensor_name = 'Coolant Temperature' AND w.avg_value > w.warning_max))
        GROUP BY w.machine_id;
    ELSIF p_pattern = 'robot_positioning' THEN
        -- The position error scattering over an hour of running: its standard deviation above
        -- 0.6 half-widths of the normal band (0.03 mm on a +-0.05 mm band). A healthy robot
        -- scatters a tenth to a half of that half-width, whatever its own noise; a degrading
        -- one scatters several times more long before single readings leave the +-0.5 mm
        -- warning window, which a threshold on one reading waits for.
        RETURN QUERY SELECT w.machine_id, w.line_id, w.factory_id, p_pattern,
            CASE WHEN w.share_above_critical + w.share_below_critical > 0.05 THEN 'CRITICAL' ELSE 'WARNING' END,
            format('position error scatter %s mm (%s%% beyond +-%s mm); a healthy robot stays under %s', round(w.sd_value, 3),
                   round(100 * (w.share_above_warning + w.share_below_warning)), w.warning_max,
                   round(0.6 * (w.normal_max - w.normal_min) / 2, 3)), p_at
        FROM genims_evidence(p_at, 'Robot Position Error', interval '1 hour') w
        WHERE w.n >= 30 AND w.sd_value > 0.6 * (w.normal_max - w.normal_min) / 2;
    ELSIF p_pattern = 'electrical_fault' THEN
        -- Supply voltage beyond its warning limits at least twice in the last 10 minutes of
        -- operation, or since the machine stopped (any state).
        RETURN QUERY SELECT w.machine_id, w.line_id, w.factory_id, p_pattern,
            CASE WHEN w.share_above_critical + w.share_below_critical > 0 THEN 'CRITICAL' ELSE 'WARNING' END,
            format('supply voltage %s..%s V, %s readings beyond %s..%s V', round(w.min_value), round(w.max_value), w.beyond_warning,
                   w.warning_min, w.warning_max), p_at
        FROM genims_evidence(p_at, 'Supply Voltage', interval '10 minutes', 'any') w
        WHERE w.beyond_warning >= 2;
    ELSIF p_pattern = 'sensor_drift' THEN
        -- What sensor_health says of the last whole hour: packet loss above 5 %, a stuck
        -- value, or calibration drift. A low health score alone is not drift: a real process
        -- fault (a voltage sag) makes readings jump and lowers it too. A sensor recalibrated
        -- since that hour began reads true again: its completed calibration work order names
        -- it ('SNS-… (Name)' in the notes).
        RETURN QUERY SELECT h.machine_id, m.line_id, m.factory_id, p_pattern,
            CASE WHEN h.health_score < 50 OR h.stuck_value_detected THEN 'CRITICAL' ELSE 'WARNING' END,
            format('sensor %s: health %s, drift %s%%, packet loss %s%%%s', h.sensor_id, h.health_score, round(h.drift_percentage, 2),
                   h.packet_loss_percentage, CASE WHEN h.stuck_value_detected THEN ', stuck' ELSE '' END), p_at
        FROM sensor_health h JOIN machines m ON m.machine_id = h.machine_id
        WHERE h.timestamp = date_trunc('hour', p_at) - interval '1 hour'
          AND (h.packet_loss_percentage > 5 OR h.stuck_value_detected OR h.calibration_drift_detected)
          AND NOT EXISTS (
                SELECT 1 FROM maintenance_events e
                 WHERE e.machine_id = h.machine_id AND e.maintenance_type = 'corrective'
                   AND e.maintenance_category = 'calibration' AND e.completion_status = 'completed'
                   AND e.scheduled_start > h.timestamp - interval '1 day' AND e.scheduled_start <= p_at
                   AND e.actual_end > h.timestamp AND e.actual_end <= p_at
                   AND strpos(e.notes, h.sensor_id || ' (') > 0);
    ELSE
        RAISE EXCEPTION 'genims_detect: unknown pattern %', p_pattern
            USING HINT = 'one of bearing_failure, motor_overheating, hydraulic_leak, tool_wear, welding_quality, pneumatic_leak, coolant_failure, robot_positioning, electrical_fault, sensor_drift';
    END IF;
END
$$;

-- The static-threshold baseline `genims evaluate` scores beside genims_detect: the rule a
-- dashboard applies with no context, "the sensor's last operating value beyond its warning
-- limit". Machines whose sensor named p_sensor (every sensor when NULL) last read while its
-- machine ran (looking back 8 hours from p_at, as the detectors do, so a machine that tripped
-- shows what it read before it stopped) above its upper warning limit (p_direction 'up'),
-- below its lower one ('down'), or either ('either'). It reads the raw value, whatever its
-- quality, as a threshold alarm does.
CREATE OR REPLACE FUNCTION genims_threshold(p_sensor text, p_direction text, p_at timestamp)
RETURNS TABLE (machine_id varchar) LANGUAGE sql STABLE AS $$
    SELECT DISTINCT s.machine_id FROM sensors s
    CROSS JOIN LATERAL (
        SELECT d.measurement_value AS v FROM sensor_data d
        JOIN scada_machine_data m ON m.machine_id = s.machine_id AND m.timestamp = date_trunc('minute', d.timestamp)
        WHERE d.sensor_id = s.sensor_id AND d.timestamp <= p_at AND d.timestamp > p_at - interval '8 hours'
          AND m.timestamp <= p_at AND m.timestamp > p_at - interval '8 hours 1 minute' AND m.machine_state = 'running'
        ORDER BY d.timestamp DESC LIMIT 1
    ) r
    WHERE (p_sensor IS NULL OR s.sensor_name = p_sensor)
      AND CASE p_direction WHEN 'up' THEN r.v > s.warning_threshold_max
                           WHEN 'down' THEN r.v < s.warning_threshold_min
                           ELSE r.v > s.warning_threshold_max OR r.v < s.warning_threshold_min END
$$;

-- One live view per pattern.
CREATE OR REPLACE VIEW bearing_failure_detection AS SELECT * FROM genims_detect('bearing_failure', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW motor_overheating_detection AS SELECT * FROM genims_detect('motor_overheating', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW hydraulic_leak_detection AS SELECT * FROM genims_detect('hydraulic_leak', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW tool_wear_detection AS SELECT * FROM genims_detect('tool_wear', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW welding_quality_detection AS SELECT * FROM genims_detect('welding_quality', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW pneumatic_leak_detection AS SELECT * FROM genims_detect('pneumatic_leak', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW coolant_failure_detection AS SELECT * FROM genims_detect('coolant_failure', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW robot_positioning_detection AS SELECT * FROM genims_detect('robot_positioning', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW electrical_fault_detection AS SELECT * FROM genims_detect('electrical_fault', (now() AT TIME ZONE 'UTC')::timestamp);
CREATE OR REPLACE VIEW sensor_drift_detection AS SELECT * FROM genims_detect('sensor_drift', (now() AT TIME ZONE 'UTC')::timestamp);

-- Early warning of bearing failure: the last 24 hours of running bearing vibration against
-- the six days before, flagged when it has risen by a fifth or passed 80 % of the warning limit.
CREATE OR REPLACE FUNCTION genims_bearing_early_warning(p_at timestamp)
RETURNS TABLE (machine_id varchar, sensor_id varchar, vibration_24h numeric, vibration_baseline numeric, trend_percent numeric,
               bearing_temperature_24h numeric, warning_limit numeric, severity text)
LANGUAGE sql STABLE AS $$
    SELECT s.machine_id, s.sensor_id, round(w.recent, 3), round(w.base, 3),
           round(100 * (w.recent - w.base) / nullif(w.base, 0), 1), round(t.recent, 2), s.warning_threshold_max,
           CASE WHEN w.recent > s.warning_threshold_max THEN 'CRITICAL' ELSE 'WARNING' END
    FROM sensors s
    CROSS JOIN LATERAL (
        SELECT avg(d.measurement_value) FILTER (WHERE d.timestamp > p_at - interval '24 hours') AS recent,
               avg(d.measurement_value) FILTER (WHERE d.timestamp <= p_at - interval '24 hours') AS base
        FROM sensor_data d
        JOIN scada_machine_data m ON m.machine_id = d.machine_id AND m.timestamp = date_trunc('minute', d.timestamp)
        WHERE d.sensor_id = s.sensor_id AND d.timestamp > p_at - interval '7 days' AND d.timestamp <= p_at
          AND d.quality <> 'out_of_range' AND m.machine_state = 'running'
    ) w
    LEFT JOIN LATERAL (
        SELECT avg(d.measurement_value) AS recent
        FROM sensors ts
        JOIN sensor_data d ON d.sensor_id = ts.sensor_id
        JOIN scada_machine_data m ON m.machine_id = d.machine_id AND m.timestamp = date_trunc('minute', d.timestamp)
        WHERE ts.machine_id = s.machine_id AND ts.sensor_name = 'Spindle Bearing Temperature'
          AND d.timestamp > p_at - interval '24 hours' AND d.timestamp <= p_at AND m.machine_state = 'running'
    ) t ON true
    WHERE s.sensor_name = 'Spindle Bearing Vibration'
      AND (w.recent > 0.8 * s.warning_threshold_max OR w.recent > 1.2 * w.base)
$$;

CREATE OR REPLACE VIEW bearing_failure_early_warning AS
    SELECT * FROM genims_bearing_early_warning((now() AT TIME ZONE 'UTC')::timestamp);

-- Per machine at an instant: state, OEE, alarms, sensors mostly out of band in the last hour
-- of operation (genims_evidence), detections by any pattern, and an overall status.
--
-- A sensor is "out of band" when most of its hour's readings lie beyond its warning (or
-- critical) limits and its machine stands apart from its line: the line's machines make the
-- same product at the same time, so a heavy part that takes every cutter of a line past its
-- vibration limit is the line's work, not one machine's health. The hour's mean must lie
-- more than 0.7 half-widths of the normal band from the median of the line's machines with
-- that sensor (the tool-wear margin); a line with fewer than three falls back to the limits
-- alone. A temperature below its band within three hours of a restart (after setup,
-- maintenance or a fault) is warming up: an oven takes two hours to reach its band.
--
-- JIT compilation is off inside it and genims_detect: their queries are many and short,
-- and their estimated costs pass jit_above_cost, so PostgreSQL compiled them on every call
-- for longer (~130 ms) than they then ran.
CREATE OR REPLACE FUNCTION genims_machine_health(p_at timestamp)
RETURNS TABLE (machine_id varchar, machine_name varchar, machine_type varchar, line_id varchar, factory_id varchar,
               machine_state varchar, oee_percentage numeric, active_alarms integer, sensors_warning bigint, sensors_critical bigint,
               detections text, health_status text)
LANGUAGE sql STABLE SET jit = off AS $$
    WITH latest AS (
        SELECT DISTINCT ON (s.machine_id) s.* FROM scada_machine_data s
        WHERE s.timestamp <= p_at AND s.timestamp > p_at - interval '1 hour'
        ORDER BY s.machine_id, s.timestamp DESC
    ), ev AS (
        -- Five minutes of running at least: start-up transients are not a state of health.
        SELECT w.* FROM genims_evidence(p_at, NULL, interval '1 hour') w WHERE w.n >= 30
    ), line AS (
        SELECT e.line_id AS id, e.sensor_name AS sensor, count(*) AS k,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY e.avg_value)::numeric AS median
        FROM ev e GROUP BY e.line_id, e.sensor_name
    ), restarted AS (
        SELECT mc.machine_id FROM machines mc CROSS JOIN LATERAL genims_operation(mc.machine_id, p_at) o
        WHERE o.since > p_at - interval '3 hours'
    ), apart AS (
        SELECT e.* FROM ev e JOIN line l ON l.id = e.line_id AND l.sensor = e.sensor_name
        JOIN sensors s ON s.sensor_id = e.sensor_id
        WHERE (l.k < 3 OR abs(e.avg_value - l.median) > 0.7 * (e.normal_max - e.normal_min) / 2)
          AND NOT (s.sensor_type = 'temperature' AND e.avg_value < e.normal_min
                   AND e.machine_id IN (SELECT r.machine_id FROM restarted r))
    ), bands AS (
        SELECT w.machine_id,
               count(*) FILTER (WHERE w.share_above_warning + w.share_below_warning > 0.5 AND w.share_above_critical + w.share_below_critical <= 0.5) AS warning,
               count(*) FILTER (WHERE w.share_above_critical + w.share_below_critical > 0.5) AS critical
        FROM apart w GROUP BY w.machine_id
    ), hits AS (
        SELECT d.machine_id, string_agg(DISTINCT d.pattern || ':' || d.severity, ', ') AS detections,
               bool_or(d.severity = 'CRITICAL') AS critical
        FROM unnest(ARRAY['bearing_failure', 'motor_overheating', 'hydraulic_leak', 'tool_wear', 'welding_quality', 'pneumatic_leak',
                          'coolant_failure', 'robot_positioning', 'electrical_fault', 'sensor_drift']) AS p(name),
             LATERAL genims_detect(p.name, p_at) d
        GROUP BY d.machine_id
    )
    SELECT m.machine_id, m.machine_name, m.machine_type, m.line_id, m.factory_id, l.machine_state, l.oee_percentage, l.active_alarms,
           coalesce(b.warning, 0), coalesce(b.critical, 0), h.detections,
           CASE WHEN l.machine_state = 'fault' OR h.critical OR coalesce(b.critical, 0) > 0 THEN 'CRITICAL'
                WHEN h.detections IS NOT NULL OR coalesce(b.warning, 0) > 0 THEN 'WARNING'
                WHEN l.machine_id IS NULL THEN 'NO DATA'
                ELSE 'HEALTHY' END
    FROM machines m
    LEFT JOIN latest l ON l.machine_id = m.machine_id
    LEFT JOIN bands b ON b.machine_id = m.machine_id
    LEFT JOIN hits h ON h.machine_id = m.machine_id
$$;

CREATE OR REPLACE VIEW machine_health_dashboard AS
    SELECT * FROM genims_machine_health((now() AT TIME ZONE 'UTC')::timestamp);
