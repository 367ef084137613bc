//! How busy the rest of the machine was while a row ran.
//!
//! The bench shares its machine; a row whose value came from a machine kept busy by other
//! processes says more about them than about the module. Linux's `/proc/stat` counts the
//! time every CPU spent busy, and `/proc/self/stat` the time this process (and the children
//! it waited for) spent; the difference, over a row, is the CPU the rest of the machine
//! used. Elsewhere than Linux there is no figure, and no note.

use std::time::Instant;

/// CPU time counters at one moment, in clock ticks.
#[derive(Clone, Copy, Debug)]
pub struct Snapshot {
    at: Instant,
    /// All CPUs: time busy (user, nice, system, irq, softirq, steal).
    busy: u64,
    /// All CPUs: busy plus idle and iowait.
    total: u64,
    /// This process and its waited-for children: user and system time.
    own: u64,
    cpus: usize,
}

impl Snapshot {
    /// The counters now, or `None` where `/proc` does not have them.
    pub fn now() -> Option<Snapshot> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        Snapshot::parse(&stat, &own, Instant::now())
    }

    fn parse(stat: &str, own: &str, at: Instant) -> Option<Snapshot> {
        let all: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal [guest guest_nice: within user]
        let field = |i: usize| all.get(i).copied().unwrap_or(0);
        let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
        let total = busy + field(3) + field(4);
        let cpus = stat.lines().filter(|l| l.starts_with("cpu") && !l.starts_with("cpu ")).count();
        // The command (field 2) may hold spaces; the fields after its ')' start at field 3.
        let rest: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        // utime, stime, cutime, cstime are fields 14 to 17.
        let own = (11..15).map(|i| rest.get(i)?.parse::<u64>().ok()).sum::<Option<u64>>()?;
        Some(Snapshot { at, busy, total, own, cpus: cpus.max(1) })
    }

    /// How many CPUs, on average, the rest of the machine kept busy from `self` to
    /// `later`; `None` over too short a time (under 100 ms) to count in clock ticks.
    pub fn others_until(&self, later: &Snapshot) -> Option<f64> {
        if later.at.duration_since(self.at).as_millis() < 100 {
            return None;
        }
        let total = later.total.checked_sub(self.total)?;
        if total == 0 {
            return None;
        }
        let busy = later.busy.saturating_sub(self.busy);
        let own = later.own.saturating_sub(self.own);
        // A tick counted for this process need not be counted in the same tick by the
        // system: clamp at zero.
        Some((busy.saturating_sub(own) as f64 / total as f64 * self.cpus as f64).max(0.0))
    }
}

/// The machine's CPUs, as `/proc/stat` counts them (or as the standard library does).
pub fn cpus() -> usize {
    Snapshot::now().map(|s| s.cpus).unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const OWN: &str = "1234 (ferrohsm bench) R 1 2 3 4 5 6 7 8 9 10 40 20 3 2 0 0";

    #[test]
    fn others_is_busy_time_not_ours() {
        let t0 = Instant::now();
        let a = Snapshot::parse("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1\ncpu1 1\n", OWN, t0).unwrap();
        assert_eq!((a.busy, a.total, a.own, a.cpus), (150, 1000, 65, 2));
        // 200 ticks of 2 CPUs (1 s): 150 busy, of which 50 ours: the others used 100 of
        // 200, one CPU.
        let own = "1234 (ferrohsm bench) R 1 2 3 4 5 6 7 8 9 10 80 30 3 2 0 0";
        let b = Snapshot::parse("cpu  230 0 70 830 70 0 0 0 0 0\ncpu0 1\ncpu1 1\n", own, t0 + Duration::from_secs(1))
            .unwrap();
        assert_eq!(a.others_until(&b), Some(1.0));
        // Too short to tell.
        let c = Snapshot { at: t0 + Duration::from_millis(10), ..b };
        assert_eq!(a.others_until(&c), None);
    }

    #[test]
    fn this_machine_has_a_figure() {
        if cfg!(target_os = "linux") {
            let a = Snapshot::now().expect("/proc/stat and /proc/self/stat");
            assert!(a.cpus >= 1 && a.total >= a.busy);
        }
        assert!(cpus() >= 1);
    }
}
