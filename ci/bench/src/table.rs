//! Result files (one per module) and the markdown table made from them.
//!
//! A result file has one line per row: `id<TAB>ok<TAB>value` or `id<TAB>error<TAB>why`,
//! and, for a row during which it could tell, `id<TAB>others<TAB>cpus`: how many CPUs the
//! rest of the machine kept busy meanwhile (see [`crate::cpu`]).

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::measure::{Config, MEASUREMENTS, Outcome, Target, Unit, thousands};

/// Module names in column order: ferrohsm with its default provider (the one the targets
/// are for), ferrohsm with its pure-Rust provider, then the peers.
pub const MODULES: &[&str] = &["ferrohsm", "ferrohsm-rustcrypto", "softhsm", "kryoptic"];

/// The other software tokens ferrohsm is compared with.
pub const PEERS: &[&str] = &["softhsm", "kryoptic"];

/// A module's column heading.
fn heading(module: &str) -> &str {
    match module {
        "ferrohsm-rustcrypto" => "ferrohsm (rustcrypto)",
        other => other,
    }
}

/// One module's results: each row's outcome, and the CPU the rest of the machine used
/// while it ran (where known).
#[derive(Debug, Default)]
pub struct Results {
    /// Row id to outcome.
    pub outcomes: HashMap<String, Outcome>,
    /// Row id to the CPUs other processes kept busy, on average, during the row.
    pub others: HashMap<String, f64>,
}

/// Writes one module's rows (id, outcome, other processes' CPU use) as a result file's text.
pub fn to_file(rows: &[(&str, Outcome, Option<f64>)]) -> String {
    let mut out = String::new();
    for (id, outcome, others) in rows {
        match outcome {
            Ok(v) => writeln!(out, "{id}\tok\t{v}"),
            // One line, whatever the message.
            Err(e) => writeln!(out, "{id}\terror\t{}", e.replace(['\t', '\n'], " ")),
        }
        .expect("writing to a String");
        if let Some(o) = others {
            writeln!(out, "{id}\tothers\t{o}").expect("writing to a String");
        }
    }
    out
}

/// Reads a result file's text.
pub fn from_file(text: &str) -> Result<Results, String> {
    let mut results = Results::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, '\t');
        let (Some(id), Some(kind), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("bad result line '{line}'"));
        };
        let number = || rest.parse::<f64>().map_err(|_| format!("bad value in '{line}'"));
        match kind {
            "ok" => _ = results.outcomes.insert(id.to_string(), Ok(number()?)),
            "others" => _ = results.others.insert(id.to_string(), number()?),
            _ => _ = results.outcomes.insert(id.to_string(), Err(rest.to_string())),
        }
    }
    Ok(results)
}

/// Whether other processes' use of `others` CPUs (of `cpus`) left a row that keeps
/// `threads` CPUs busy short of them: more than the CPUs it leaves free, plus a quarter.
pub fn crowded(others: f64, cpus: usize, threads: usize) -> bool {
    others > cpus.saturating_sub(threads) as f64 + 0.25
}

/// A value in its unit, with sensible precision.
fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::PerSecond if v >= 100.0 => thousands(v.round() as usize),
        Unit::PerSecond => format!("{v:.1}"),
        Unit::Micros | Unit::Millis if v >= 100.0 => format!("{v:.0}"),
        Unit::Micros | Unit::Millis if v >= 10.0 => format!("{v:.1}"),
        Unit::Micros | Unit::Millis => format!("{v:.2}"),
        Unit::GigabytesPerSecond => format!("{v:.2}"),
        Unit::Times => format!("{v:.2}×"),
    }
}

/// How many times faster ferrohsm is than `peer` (above 1: ferrohsm is faster).
fn speedup(ferro: f64, peer: f64, unit: Unit) -> f64 {
    if unit.higher_is_better() { ferro / peer } else { peer / ferro }
}

/// A value to maximise: the rate, or minus the time.
fn goodness(v: f64, unit: Unit) -> f64 {
    if unit.higher_is_better() { v } else { -v }
}

fn show_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{}×", thousands(r.round() as usize))
    } else if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.2}×")
    }
}

/// The markdown table: one row per measurement, one column per module present, the ratio
/// of ferrohsm to its best peer, the target and whether ferrohsm meets it; under it the
/// notes (failures, and values taken while other processes crowded a row's CPUs) and one
/// line on how busy the rest of the machine (of `cpus` CPUs) was. Also returns how many
/// targets ferrohsm did not meet (a target without a number counts as missed).
pub fn render(config: &Config, cpus: usize, results: &[(String, Results)]) -> (String, usize) {
    let get = |module: &str, id: &str| -> Option<&Outcome> {
        results.iter().find(|(m, _)| m == module).and_then(|(_, r)| r.outcomes.get(id))
    };
    let others = |module: &str, id: &str| -> Option<f64> {
        results.iter().find(|(m, _)| m == module).and_then(|(_, r)| r.others.get(id).copied())
    };
    let columns: Vec<&str> = MODULES.iter().copied().filter(|m| results.iter().any(|(name, _)| name == m)).collect();
    let mut out = String::new();
    let mut header = "| measurement |".to_string();
    let mut rule = "|---|".to_string();
    for m in &columns {
        header += &format!(" {} |", heading(m));
        rule += "---:|";
    }
    header += " ferrohsm vs best peer | target | pass |";
    rule += "---:|---|---|";
    writeln!(out, "{header}\n{rule}").expect("writing to a String");

    let mut notes = Vec::new();
    let mut missed = 0;
    for m in MEASUREMENTS {
        let mut row = format!("| {} |", (m.title)(config));
        for module in &columns {
            let cell = match get(module, m.id) {
                Some(Ok(v)) => match others(module, m.id) {
                    Some(o) if crowded(o, cpus, m.threads) => {
                        notes.push(format!(
                            "{module}, {}: other processes kept {o:.2} of the {cpus} CPUs busy during this row, \
                             which needs {}: its value is low",
                            m.id, m.threads
                        ));
                        format!("{} ({})", show(*v, m.unit), notes.len())
                    }
                    _ => show(*v, m.unit),
                },
                Some(Err(e)) => {
                    notes.push(format!("{module}, {}: {e}", m.id));
                    format!("failed ({})", notes.len())
                }
                None => "–".to_string(),
            };
            row += &format!(" {cell} |");
        }
        let ferro = match get("ferrohsm", m.id) {
            Some(Ok(v)) => Some(*v),
            _ => None,
        };
        // The best peer is the fastest one that produced a number.
        let best_peer = PEERS
            .iter()
            .filter_map(|p| match get(p, m.id) {
                Some(Ok(v)) => Some((*p, *v)),
                _ => None,
            })
            .max_by(|a, b| goodness(a.1, m.unit).total_cmp(&goodness(b.1, m.unit)));
        let ratio = match (ferro, best_peer) {
            // A ratio of a ratio (thread scaling) says nothing useful.
            _ if m.unit == Unit::Times => "–".to_string(),
            (Some(f), Some((p, v))) => format!("{} ({p})", show_ratio(speedup(f, v, m.unit))),
            _ => "–".to_string(),
        };
        let (target, pass) = match m.target {
            None => ("–".to_string(), "–".to_string()),
            Some(t) => {
                let verdict = verdict(
                    t,
                    ferro,
                    |peer| match get(peer, m.id) {
                        Some(Ok(v)) => Some(*v),
                        _ => None,
                    },
                    m.unit,
                );
                let (ok, cell) = verdict;
                if !ok {
                    missed += 1;
                }
                (describe(t, m.unit), cell)
            }
        };
        row += &format!(" {ratio} | {target} | {pass} |");
        writeln!(out, "{row}").expect("writing to a String");
    }
    for (i, n) in notes.iter().enumerate() {
        writeln!(out, "\n({}) {n}", i + 1).expect("writing to a String");
    }
    let busy: Vec<String> = columns
        .iter()
        .filter_map(|module| {
            let (_, r) = results.iter().find(|(m, _)| m == module)?;
            let (id, most) = r.others.iter().max_by(|a, b| a.1.total_cmp(b.1))?;
            let mean = r.others.values().sum::<f64>() / r.others.len() as f64;
            Some(format!("{} {mean:.2} (at most {most:.2}, {id})", heading(module)))
        })
        .collect();
    if !busy.is_empty() {
        writeln!(
            out,
            "\nCPUs other processes kept busy while each column was measured, mean over its rows, of {cpus}: {}.",
            busy.join("; ")
        )
        .expect("writing to a String");
    }
    (out, missed)
}

fn describe(t: Target, unit: Unit) -> String {
    match t {
        Target::TimesPeer(peer, k) => format!("≥ {k}× {peer}"),
        Target::Below(v) => format!("< {}", show(v, unit)),
        Target::AtLeast(v) => format!("≥ {}", show(v, unit)),
    }
}

/// Whether ferrohsm meets `t`, and the cell that says so (with the multiple reached,
/// for a target relative to a peer).
fn verdict(t: Target, ferro: Option<f64>, peer: impl Fn(&str) -> Option<f64>, unit: Unit) -> (bool, String) {
    let Some(f) = ferro else {
        return (false, "no value".to_string());
    };
    let (ok, detail) = match t {
        Target::TimesPeer(name, k) => match peer(name) {
            Some(p) => {
                let r = speedup(f, p, unit);
                (r >= k, format!(" ({} {name})", show_ratio(r)))
            }
            None => return (false, format!("no {name} value")),
        },
        Target::Below(v) => (f < v, String::new()),
        Target::AtLeast(v) => (f >= v, String::new()),
    };
    (ok, format!("{}{detail}", if ok { "pass" } else { "**FAIL**" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(rows: &[(&str, &str)]) -> Vec<(String, Results)> {
        rows.iter().map(|(m, text)| (m.to_string(), from_file(text).unwrap())).collect()
    }

    #[test]
    fn result_files_round_trip_values_and_errors() {
        let text = to_file(&[("create", Ok(1234.5), Some(0.5)), ("digest", Err("C_Digest\treturned\nX".into()), None)]);
        let back = from_file(&text).unwrap();
        assert_eq!(back.outcomes["create"], Ok(1234.5));
        assert_eq!(back.outcomes["digest"], Err("C_Digest returned X".to_string()));
        assert_eq!(back.others["create"], 0.5);
        assert!(!back.others.contains_key("digest"));
        assert!(from_file("create\tok\tnot-a-number").is_err());
    }

    /// Crypto rows that meet every target, to complete a result file.
    const CRYPTO_OK: &str = "ecdsa_p256_sign\tok\t30000\necdsa_p256_verify\tok\t9000\nrsa2048_sign\tok\t900\n\
        rsa2048_verify\tok\t25000\naes256_gcm_1mib\tok\t2.5\necdsa_p256_sign_2threads\tok\t57000\n\
        ecdsa_p256_sign_scaling\tok\t1.9\nkey_attestation\tok\t25\nec_p256_keygen\tok\t1500\n\
        ecdsa_p256_sign_usage\tok\t0.97\nmldsa65_sign\tok\t1500\nmldsa65_verify\tok\t4000\n\
        mlkem768_encapsulate\tok\t9000\nmlkem768_decapsulate\tok\t8000\n";

    #[test]
    fn ratios_targets_and_failures() {
        let ferro = "create\tok\t5000\nfind\tok\t1000\nget_attribute\tok\t1.5\ndigest\tok\t3\ninit_login\tok\t100\n";
        let ferro = format!("{ferro}{CRYPTO_OK}");
        let soft = "create\tok\t1000\nfind\tok\t20\nget_attribute\tok\t10\ndigest\terror\tC_Digest returned CKR_MECHANISM_INVALID\ninit_login\tok\t50\n";
        let kry = "create\tok\t2000\nfind\tok\t5\nget_attribute\tok\t0.5\ndigest\tok\t1\ninit_login\tok\t200\n";
        let (text, missed) =
            render(&Config::FULL, 2, &results(&[("ferrohsm", &ferro), ("softhsm", soft), ("kryoptic", kry)]));
        let row = |start: &str| text.lines().find(|l| l.starts_with(start)).unwrap().to_string();
        // Rates: ferrohsm over the best (highest) peer; the target counts SoftHSM only.
        assert!(row("| create").contains("| 2.50× (kryoptic) | ≥ 5× softhsm | pass (5.00× softhsm) |"), "{text}");
        // 1000 / 20 = 50×, below 100×.
        assert!(row("| find").contains("| 50× (softhsm) | ≥ 100× softhsm | **FAIL** (50× softhsm) |"), "{text}");
        // Times: the best peer is the lowest; below 1 means ferrohsm is slower.
        assert!(row("| C_GetAttributeValue").contains("| 0.33× (kryoptic) | < 2.00 | pass |"), "{text}");
        assert!(row("| C_DigestInit").contains("| failed (1) |"), "{text}");
        assert!(row("| C_DigestInit").contains("| 0.33× (kryoptic) | < 2.00 | **FAIL** |"), "{text}");
        assert!(row("| C_Initialize").contains("| 0.50× (softhsm) | < 300 | pass |"), "{text}");
        assert!(text.contains("(1) softhsm, digest: C_Digest returned CKR_MECHANISM_INVALID"), "{text}");
        // A vendor row the peers skip: a dash, no ratio, the target still ferrohsm's.
        assert!(row("| key attestation certificate").contains("| 25.0 | – | – | – | < 1000 | pass |"), "{text}");
        // A ratio of ferrohsm's own two rates: no peer ratio.
        assert!(row("| ECDSA P-256 sign with key usage").contains("| 0.97× | – | – | – | ≥ 0.95× | pass |"), "{text}");
        // The post-quantum rows: no target, and peers without the mechanism skip them.
        assert!(row("| ML-DSA-65 sign").contains("| 1,500 | – | – | – | – | – |"), "{text}");
        assert!(row("| ML-DSA-65 verify").contains("| 4,000 | – | – | – | – | – |"), "{text}");
        assert!(row("| ML-KEM-768 C_EncapsulateKey").contains("| 9,000 | – | – | – | – | – |"), "{text}");
        assert!(row("| ML-KEM-768 C_DecapsulateKey").contains("| 8,000 | – | – | – | – | – |"), "{text}");
        assert_eq!(missed, 2);
    }

    #[test]
    fn crypto_rows_with_the_rustcrypto_column() {
        let ferro = CRYPTO_OK.replace("ecdsa_p256_sign_scaling\tok\t1.9", "ecdsa_p256_sign_scaling\tok\t1.2");
        let rc = "ecdsa_p256_sign\tok\t8000\naes256_gcm_1mib\tok\t0.8\necdsa_p256_sign_scaling\tok\t1.95\n";
        let soft = "ecdsa_p256_sign\tok\t12000\naes256_gcm_1mib\terror\tC_Encrypt returned CKR_DATA_LEN_RANGE\n\
            ecdsa_p256_sign_scaling\tok\t1.99\n";
        let (text, missed) =
            render(&Config::FULL, 2, &results(&[("ferrohsm", &ferro), ("ferrohsm-rustcrypto", rc), ("softhsm", soft)]));
        let row = |start: &str| text.lines().find(|l| l.starts_with(start)).unwrap().to_string();
        assert!(
            text.starts_with("| measurement | ferrohsm | ferrohsm (rustcrypto) | softhsm | ferrohsm vs best peer |")
        );
        // The rustcrypto column is shown but is no peer: the ratio is against SoftHSM.
        assert!(
            row("| ECDSA P-256 sign, CKM_ECDSA")
                .contains("| 30,000 | 8,000 | 12,000 | 2.50× (softhsm) | ≥ 25,000 | pass |"),
            "{text}"
        );
        assert!(row("| AES-256-GCM").contains("| 2.50 | 0.80 | failed (1) | – | ≥ 2.00 | pass |"), "{text}");
        // Thread scaling: no ratio of ratios; the target is ferrohsm's (default provider) alone.
        assert!(
            row("| ECDSA P-256 sign, two threads over").contains("| 1.20× | 1.95× | 1.99× | – | ≥ 1.80× | **FAIL** |"),
            "{text}"
        );
        assert!(row("| ECDSA P-256 sign, two threads at once").contains("| 57,000 | – | – | – | – | – |"), "{text}");
        // The five rows of issue 2 have no ferrohsm value here, and scaling misses.
        assert_eq!(missed, 6);
    }

    #[test]
    fn a_crowded_row_is_marked_and_the_machine_summed_up() {
        let ferro = "ecdsa_p256_sign\tok\t30000\necdsa_p256_sign\tothers\t0.9\n\
            ecdsa_p256_sign_scaling\tok\t1.5\necdsa_p256_sign_scaling\tothers\t0.9\n";
        let (text, _) = render(&Config::FULL, 2, &results(&[("ferrohsm", ferro), ("softhsm", "digest\tok\t1\n")]));
        let row = |start: &str| text.lines().find(|l| l.starts_with(start)).unwrap().to_string();
        // One thread leaves a CPU free: 0.9 is not crowded; two threads need both.
        assert!(row("| ECDSA P-256 sign, CKM_ECDSA").contains("| 30,000 |"), "{text}");
        assert!(row("| ECDSA P-256 sign, two threads over").contains("| 1.50× (1) |"), "{text}");
        assert!(
            text.contains("(1) ferrohsm, ecdsa_p256_sign_scaling: other processes kept 0.90 of the 2 CPUs"),
            "{text}"
        );
        assert!(text.contains("of 2: ferrohsm 0.90 (at most 0.90, "), "{text}");
        assert!(crowded(1.3, 2, 1) && !crowded(1.2, 2, 1) && crowded(0.3, 2, 2) && crowded(0.3, 1, 1));
    }

    #[test]
    fn a_missing_peer_leaves_its_target_undecided() {
        let (text, missed) = render(&Config::QUICK, 2, &results(&[("ferrohsm", "create\tok\t10\n")]));
        assert!(text.contains("| 10.0 | – | ≥ 5× softhsm | no softhsm value |"), "{text}");
        assert!(text.contains("create 200 token objects"), "{text}");
        // Every row with a target but without a ferrohsm number, and the undecided one,
        // count as missed.
        assert_eq!(missed, MEASUREMENTS.iter().filter(|m| m.target.is_some()).count());
    }
}
