//! The production runs a line's last machine records within a unit: quantities, yield,
//! OEE and changeovers of each run that ends in it.

use super::events::compact_time;
use super::*;

impl Engine {
    /// Production runs of the machine's line that end in this unit, counted at the line's
    /// last machine (this one).
    pub(super) fn run_rows<E: Emit>(&self, m: usize, (from, to): (i64, i64), tl: &Timeline, out: &mut Step<'_, E>) {
        let plant = &self.plant;
        let machine = &plant.machines[m];
        let line = &plant.lines[machine.line];
        let lp = &self.lines[machine.line];
        for run in tl.runs.iter().filter(|r| r.end > from && r.end <= to) {
            let eps = self.episodes().for_machine(m, run.start - DAY, run.end + DAY);
            let rt = self.timeline(m, run.start, run.end, eps);
            let (mut parts, mut rejects, mut up, mut planned) = (0i64, 0i64, 0i64, 0i64);
            for mi in &rt.minutes {
                parts += i64::from(mi.parts);
                rejects += i64::from(mi.rejects);
                up += i64::from(mi.state == State::Running) * 60;
                planned += i64::from(mi.planned) * 60;
            }
            let lpm = &plant.line_products[run.lpm];
            let product = &plant.products[lpm.product];
            let factors = oee(up, planned, parts, rejects, lpm.cycle_time_s as f64).unwrap_or([0.0; 4]);
            let fpy = if parts > 0 { round2((parts - rejects) as f64 / parts as f64 * 100.0) } else { 100.0 };
            let scrapped = (rejects as f64 * 0.6).round() as i64;
            let tag = compact_time(run.start);
            let run_id = format!("RUN-{}-{tag}", line.id);
            let batch = format!("B{}-L{:02}-{}", &tag[2..8], line.number, run.number % 100);
            let work_order = format!("WO-{}-{}", line.number, run.number);
            let customers: Vec<&str> = plant
                .customer_products
                .iter()
                .filter(|c| c.product == lpm.product && c.is_active)
                .map(|c| plant.customers[c.customer].id.as_str())
                .collect();
            let start_shift = rt.minutes.first().map_or(0, |mi| usize::from(mi.shift.code));
            let shift_id = id("SHF", machine.factory * 6 + start_shift);
            let supervisor = crate::sim::pick(&lp.supervisors[start_shift], run.number as usize);
            out.push(&RunRow {
                id: &run_id,
                line: &line.id,
                factory: &plant.factories[line.factory].id,
                product: &product.id,
                number: run.number as i32,
                batch: &batch,
                work_order: &work_order,
                customer: (!customers.is_empty()).then(|| customers[(run.number as usize) % customers.len()]),
                start: run.start,
                end: run.end,
                target: (planned as f64 / lpm.cycle_time_s as f64 * 0.9) as i32,
                actual: parts as i32,
                rejected: rejects as i32,
                scrapped: scrapped as i32,
                rework: (rejects - scrapped) as i32,
                fpy,
                defect_ppm: if parts > 0 { (rejects as f64 / parts as f64 * 1e6).round() as i32 } else { 0 },
                grade: if fpy >= 98.0 {
                    "A"
                } else if fpy >= 95.0 {
                    "B"
                } else {
                    "C"
                },
                oee: factors,
                previous_product: run.prev_lpm.map(|p| plant.products[plant.line_products[p].product].id.as_str()),
                changeover_minutes: (run.setup_secs / 60) as i32,
                shift: &shift_id,
                supervisor: supervisor.as_ref().map(EmployeeId::as_str),
            });
        }
        let _ = SHIFT_CODES;
    }
}
