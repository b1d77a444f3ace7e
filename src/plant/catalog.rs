//! Fixed reference data of the GenIMS plant model: the factory sites, the product and
//! customer catalogues, and the name pools the generator draws people and equipment from.

/// A factory site (SPEC §2).
pub struct Site {
    pub city: &'static str,
    pub country: &'static str,
    pub region: &'static str,
    pub timezone: &'static str,
    /// Three-letter code used in machine and sensor codes.
    pub code: &'static str,
    /// International dialling prefix for phone numbers.
    pub phone_prefix: &'static str,
}

pub const SITES: &[Site] = &[
    Site {
        city: "Yokohama",
        country: "Japan",
        region: "Kanto",
        timezone: "Asia/Tokyo",
        code: "YOK",
        phone_prefix: "+81",
    },
    Site {
        city: "Detroit",
        country: "USA",
        region: "Michigan",
        timezone: "America/Detroit",
        code: "DET",
        phone_prefix: "+1",
    },
    Site {
        city: "Stuttgart",
        country: "Germany",
        region: "Baden-Württemberg",
        timezone: "Europe/Berlin",
        code: "STR",
        phone_prefix: "+49",
    },
    Site {
        city: "Chennai",
        country: "India",
        region: "Tamil Nadu",
        timezone: "Asia/Kolkata",
        code: "CHE",
        phone_prefix: "+91",
    },
];

/// A catalogue product (SPEC §2): code, name, components, standard cycle time (s), weight (kg).
#[derive(Debug)]
pub struct ProductSpec {
    pub code: &'static str,
    pub name: &'static str,
    pub category: &'static str,
    pub components: u32,
    pub cycle_time_s: u32,
    pub weight_kg: f64,
}

macro_rules! product {
    ($code:literal, $name:literal, $cat:literal, $c:literal, $t:literal, $w:literal) => {
        ProductSpec { code: $code, name: $name, category: $cat, components: $c, cycle_time_s: $t, weight_kg: $w }
    };
}

pub const PRODUCTS: &[ProductSpec] = &[
    product!("SUSP-001", "Front Suspension Assembly", "suspension", 12, 450, 15.5),
    product!("SUSP-002", "Rear Suspension Assembly", "suspension", 10, 420, 14.2),
    product!("SUSP-003", "Shock Absorber", "suspension", 5, 180, 2.8),
    product!("SUSP-004", "Coil Spring", "suspension", 1, 90, 1.5),
    product!("SUSP-005", "Control Arm", "suspension", 3, 240, 3.2),
    product!("BRK-001", "Brake Caliper Assembly", "brake", 8, 300, 4.5),
    product!("BRK-002", "Brake Disc", "brake", 1, 120, 5.8),
    product!("BRK-003", "Brake Pad Set", "brake", 4, 60, 0.8),
    product!("BRK-004", "Master Cylinder", "brake", 6, 210, 1.2),
    product!("BRK-005", "ABS Module", "brake", 15, 540, 2.5),
    product!("ELEC-001", "Wiring Harness - Engine", "electrical", 25, 600, 3.5),
    product!("ELEC-002", "Wiring Harness - Dashboard", "electrical", 30, 720, 2.8),
    product!("ELEC-003", "Alternator", "electrical", 8, 300, 5.2),
    product!("ELEC-004", "Starter Motor", "electrical", 10, 360, 4.8),
    product!("ELEC-005", "ECU Module", "electrical", 20, 480, 1.5),
    product!("STRG-001", "Steering Rack Assembly", "steering", 12, 480, 8.5),
    product!("STRG-002", "Power Steering Pump", "steering", 7, 270, 3.2),
    product!("STRG-003", "Tie Rod End", "steering", 3, 150, 0.9),
    product!("TRAN-001", "Clutch Assembly", "transmission", 9, 420, 6.5),
    product!("TRAN-002", "Gear Set", "transmission", 5, 300, 4.2),
];

/// Main material by product category.
pub fn material(category: &str) -> &'static str {
    match category {
        "suspension" => "forged steel",
        "brake" => "cast iron",
        "electrical" => "copper and polymer",
        "steering" => "alloy steel",
        _ => "hardened steel",
    }
}

/// A customer (SPEC §2): name and country.
pub const CUSTOMERS: &[(&str, &str)] = &[
    ("Toyota", "Japan"),
    ("Honda", "Japan"),
    ("Subaru", "Japan"),
    ("Isuzu", "Japan"),
    ("Nissan", "Japan"),
    ("Ford", "USA"),
    ("General Motors", "USA"),
    ("BMW", "Germany"),
    ("Mercedes-Benz", "Germany"),
    ("Volkswagen", "Germany"),
];

pub fn customer_region(country: &str) -> &'static str {
    match country {
        "Japan" => "Asia Pacific",
        "USA" => "North America",
        _ => "Europe",
    }
}

/// Employee roles with their share in per-mille (SPEC §2), department, and whether the role
/// works on a production line (and so has a line_id and a rotating shift).
pub const EMPLOYEE_ROLES: &[(&str, u32, &str, bool)] = &[
    ("operator", 450, "Production", true),
    ("technician", 150, "Maintenance", true),
    ("quality_inspector", 100, "Quality", true),
    ("supervisor", 80, "Production", true),
    ("maintenance_engineer", 70, "Maintenance", false),
    ("production_engineer", 50, "Engineering", false),
    ("planning_coordinator", 40, "Planning", false),
    ("logistics_coordinator", 30, "Logistics", false),
    ("manager", 20, "Management", false),
    ("quality_engineer", 10, "Quality", false),
];

/// A country's first names and last names.
type Names = (&'static [&'static str], &'static [&'static str]);

/// First and last names of Japan.
const JAPAN: Names = (
    &[
        "Hiroshi", "Yuki", "Takeshi", "Akiko", "Kenji", "Sakura", "Daisuke", "Naomi", "Satoshi", "Haruka", "Kazuo",
        "Emi", "Ryo", "Aiko", "Shinji", "Mei", "Taro", "Yumi", "Koji", "Rina",
    ],
    &[
        "Sato",
        "Suzuki",
        "Takahashi",
        "Tanaka",
        "Watanabe",
        "Ito",
        "Yamamoto",
        "Nakamura",
        "Kobayashi",
        "Kato",
        "Yoshida",
        "Yamada",
        "Sasaki",
        "Yamaguchi",
        "Matsumoto",
        "Inoue",
        "Kimura",
        "Hayashi",
    ],
);

/// First and last names of USA.
const USA: Names = (
    &[
        "James",
        "Mary",
        "Robert",
        "Patricia",
        "John",
        "Jennifer",
        "Michael",
        "Linda",
        "David",
        "Elizabeth",
        "William",
        "Barbara",
        "Richard",
        "Susan",
        "Joseph",
        "Jessica",
        "Thomas",
        "Sarah",
        "Chris",
        "Karen",
    ],
    &[
        "Smith",
        "Johnson",
        "Williams",
        "Brown",
        "Jones",
        "Garcia",
        "Miller",
        "Davis",
        "Rodriguez",
        "Martinez",
        "O'Brien",
        "Wilson",
        "Anderson",
        "Taylor",
        "Thomas",
        "Moore",
        "Jackson",
        "O'Neil",
    ],
);

/// First and last names of Germany.
const GERMANY: Names = (
    &[
        "Lukas",
        "Anna",
        "Jonas",
        "Lena",
        "Felix",
        "Marie",
        "Maximilian",
        "Sophie",
        "Paul",
        "Laura",
        "Jürgen",
        "Katrin",
        "Stefan",
        "Sabine",
        "Uwe",
        "Birgit",
        "Tobias",
        "Jana",
        "Matthias",
        "Petra",
    ],
    &[
        "Müller",
        "Schmidt",
        "Schneider",
        "Fischer",
        "Weber",
        "Meyer",
        "Wagner",
        "Becker",
        "Schulz",
        "Hoffmann",
        "Schäfer",
        "Koch",
        "Bauer",
        "Richter",
        "Klein",
        "Wolf",
        "Schröder",
        "Neumann",
    ],
);

/// First and last names of India (and any other country).
const INDIA: Names = (
    &[
        "Arjun", "Priya", "Rahul", "Ananya", "Vijay", "Lakshmi", "Karthik", "Divya", "Suresh", "Kavya", "Ramesh",
        "Meena", "Ganesh", "Deepa", "Arun", "Sita", "Prakash", "Revathi", "Senthil", "Anitha",
    ],
    &[
        "Kumar",
        "Sharma",
        "Iyer",
        "Reddy",
        "Nair",
        "Pillai",
        "Subramanian",
        "Krishnan",
        "Raman",
        "Venkatesh",
        "Natarajan",
        "Rao",
        "Menon",
        "Srinivasan",
        "Murugan",
        "Balaji",
        "Patel",
        "Gupta",
    ],
);

/// First and last names by country. Some carry apostrophes and non-ASCII letters on
/// purpose: every output format must quote them correctly.
pub fn names(country: &str) -> Names {
    match country {
        "Japan" => JAPAN,
        "USA" => USA,
        "Germany" => GERMANY,
        _ => INDIA,
    }
}

/// Plausible equipment makers by machine type.
pub fn manufacturers(machine_type: &str) -> &'static [&'static str] {
    match machine_type {
        "cnc_mill" | "cnc_lathe" | "boring_machine" => &["DMG Mori", "Mazak", "Okuma", "Haas"],
        "drill_press" | "grinding_machine" => &["Studer", "Okamoto", "JUNKER", "Nagel"],
        "robot_arm" | "pick_place" | "robot_welder" => &["FANUC", "KUKA", "ABB", "Yaskawa"],
        "spot_welder" | "arc_welder" | "mig_welder" => &["Lincoln Electric", "Miller", "Fronius", "OBARA"],
        "laser_welder" => &["Trumpf", "IPG Photonics", "Coherent"],
        "press_fit" | "screw_driver" => &["Bosch Rexroth", "Atlas Copco", "Schuler", "Promess"],
        "conveyor" => &["Dematic", "Interroll", "Daifuku"],
        "leak_tester" | "torque_tester" => &["ATEQ", "Cosmo Instruments", "Kistler"],
        "dimension_scanner" | "ultrasonic_tester" | "x_ray" | "inspection_booth" => {
            &["Zeiss", "Hexagon", "Olympus", "Nikon Metrology"]
        }
        _ => &["Dürr", "Eisenmann", "Wagner", "Nordson"],
    }
}

/// Typical rated power range (kW) by machine type.
pub fn power_range_kw(machine_type: &str) -> (f64, f64) {
    match machine_type {
        "cnc_mill" | "cnc_lathe" | "boring_machine" | "grinding_machine" => (15.0, 45.0),
        "drill_press" => (5.0, 15.0),
        "press_fit" => (11.0, 30.0),
        "spot_welder" | "arc_welder" | "mig_welder" | "robot_welder" | "laser_welder" => (20.0, 80.0),
        "curing_oven" | "powder_coating" | "spray_booth" => (30.0, 120.0),
        "conveyor" => (3.0, 11.0),
        _ => (2.0, 15.0),
    }
}

/// Vendors of industrial sensors.
pub const SENSOR_MAKERS: &[&str] =
    &["Siemens", "Honeywell", "Endress+Hauser", "IFM", "SKF", "Balluff", "Omron", "Emerson"];

pub const CERTIFICATIONS: &[&str] = &["ISO 9001", "IATF 16949", "ISO 14001", "ISO 45001", "ISO 50001"];

pub const EMPLOYEE_CERTIFICATIONS: &[&str] = &[
    "Six Sigma Green Belt",
    "Lean Manufacturing",
    "Forklift",
    "First Aid",
    "PLC Programming",
    "Welding AWS D1.1",
    "Quality Auditor",
    "Electrical Safety",
    "Hydraulics",
    "TPM",
];
