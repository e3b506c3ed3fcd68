//! Retention as pure policy math: which backups of one series (one database
//! and kind in one folder) to keep, and every reason each is kept. No I/O
//! here, so the rules can be tested exhaustively (see the property tests) and
//! a dry run is the same computation as a real run.
//!
//! Rules (a backup is deleted only if no rule keeps it):
//! * `last N`: the N newest usable backups.
//! * `within D`: backups started at or after `now - D` (inclusive boundary).
//! * `hourly/daily/weekly/monthly/yearly N`: for each of the N most recent
//!   UTC calendar periods (ISO weeks) that have usable backups, the newest
//!   usable backup of the period.
//! * `label L`: backups with that label.
//! * Safety floor, whatever the policy: the newest backup that passed
//!   verification (or, if none did, the newest usable one), and the
//!   `min_keep` newest usable backups. Backups newer than `now` (a what-if
//!   evaluation in the past) are always kept.
//!
//! "Usable" means not known to be broken: a backup whose verification failed
//! never fills a `last` or calendar slot, so it cannot push the good backup
//! of its period out. It is kept only by `within`, a label or the floor.

use chrono::{DateTime, Datelike, Duration, Utc};

/// What the policy needs to know about one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFacts {
    pub id: String,
    pub started_at: DateTime<Utc>,
    /// `Some(true)` passed verification, `Some(false)` failed, `None` never verified.
    pub verified: Option<bool>,
    pub label: Option<String>,
}

impl BackupFacts {
    fn usable(&self) -> bool {
        self.verified != Some(false)
    }
}

/// Calendar granularity of a GFS rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Hourly,
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Period {
    pub const ALL: [Period; 5] = [
        Period::Hourly,
        Period::Daily,
        Period::Weekly,
        Period::Monthly,
        Period::Yearly,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Period::Hourly => "hourly",
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Yearly => "yearly",
        }
    }

    /// The period a time falls in, as it is printed in reasons.
    pub fn key(self, t: DateTime<Utc>) -> String {
        match self {
            Period::Hourly => t.format("%Y-%m-%dT%H").to_string(),
            Period::Daily => t.format("%Y-%m-%d").to_string(),
            Period::Weekly => {
                let week = t.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Period::Monthly => t.format("%Y-%m").to_string(),
            Period::Yearly => format!("{}", t.year()),
        }
    }
}

/// A retention policy. `None`/empty rules are off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep_last: Option<u32>,
    /// The duration and how the user wrote it (for reasons: "within 30d").
    pub keep_within: Option<(Duration, String)>,
    /// Count per period, in [`Period::ALL`] order.
    pub keep_periods: Vec<(Period, u32)>,
    pub keep_labels: Vec<String>,
    pub min_keep: u32,
}

impl RetentionPolicy {
    /// True if at least one rule of the user's policy is set (the floor
    /// alone is not a policy: "prune with no rules" is a usage error).
    pub fn has_rules(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_within.is_some()
            || !self.keep_periods.is_empty()
            || !self.keep_labels.is_empty()
    }
}

/// The decision for one backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub keep: bool,
    /// Every rule that keeps it, e.g. `daily 2026-11-20`, `within 30d`.
    pub reasons: Vec<String>,
}

/// Decides for one series. The result is in the input's order.
pub fn decide(
    policy: &RetentionPolicy,
    backups: &[BackupFacts],
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let mut reasons: Vec<Vec<String>> = vec![Vec::new(); backups.len()];
    // Newest first; ties broken by id so the result never depends on input order.
    let mut order: Vec<usize> = (0..backups.len()).collect();
    order.sort_by(|&a, &b| {
        backups[b]
            .started_at
            .cmp(&backups[a].started_at)
            .then_with(|| backups[b].id.cmp(&backups[a].id))
    });
    let past: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| backups[i].started_at <= now)
        .collect();
    for &i in order.iter().filter(|&&i| backups[i].started_at > now) {
        reasons[i].push("newer than --now".to_string());
    }
    let usable: Vec<usize> = past
        .iter()
        .copied()
        .filter(|&i| backups[i].usable())
        .collect();

    if let Some(n) = policy.keep_last {
        for (rank, &i) in usable.iter().take(n as usize).enumerate() {
            reasons[i].push(format!("last {} of {n}", rank + 1));
        }
    }
    if let Some((duration, text)) = &policy.keep_within {
        let cutoff = now - *duration;
        for &i in past.iter().filter(|&&i| backups[i].started_at >= cutoff) {
            reasons[i].push(format!("within {text}"));
        }
    }
    for &(period, n) in &policy.keep_periods {
        let mut seen: Vec<String> = Vec::new();
        for &i in &usable {
            if seen.len() >= n as usize {
                break;
            }
            let key = period.key(backups[i].started_at);
            if !seen.contains(&key) {
                reasons[i].push(format!("{} {key}", period.name()));
                seen.push(key);
            }
        }
    }
    for label in &policy.keep_labels {
        for &i in &past {
            if backups[i].label.as_deref() == Some(label.as_str()) {
                reasons[i].push(format!("label {label}"));
            }
        }
    }
    // The floor.
    match past
        .iter()
        .copied()
        .find(|&i| backups[i].verified == Some(true))
    {
        Some(i) => reasons[i].push("newest verified".to_string()),
        None => {
            if let Some(&i) = usable.first().or(past.first()) {
                reasons[i].push("newest complete".to_string());
            }
        }
    }
    for &i in usable.iter().take(policy.min_keep as usize) {
        reasons[i].push(format!("min-keep {}", policy.min_keep));
    }

    backups
        .iter()
        .zip(reasons)
        .map(|(b, reasons)| Decision {
            id: b.id.clone(),
            keep: !reasons.is_empty(),
            reasons,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn facts(id: &str, t: DateTime<Utc>, verified: Option<bool>) -> BackupFacts {
        BackupFacts {
            id: id.into(),
            started_at: t,
            verified,
            label: None,
        }
    }

    fn kept(decisions: &[Decision]) -> Vec<&str> {
        decisions
            .iter()
            .filter(|d| d.keep)
            .map(|d| d.id.as_str())
            .collect()
    }

    #[test]
    fn daily_keeps_the_newest_of_each_day() {
        let backups = vec![
            facts("d1-early", at(2026, 11, 18, 1), None),
            facts("d1-late", at(2026, 11, 18, 23), None),
            facts("d2", at(2026, 11, 19, 3), None),
            facts("d3", at(2026, 11, 20, 3), None),
        ];
        let policy = RetentionPolicy {
            keep_periods: vec![(Period::Daily, 2)],
            min_keep: 1,
            ..Default::default()
        };
        let d = decide(&policy, &backups, at(2026, 11, 21, 0));
        assert_eq!(kept(&d), vec!["d2", "d3"]);
        assert!(d[3].reasons.contains(&"daily 2026-11-20".to_string()));
        assert!(d[3].reasons.contains(&"newest complete".to_string()));
    }

    #[test]
    fn weekly_uses_iso_weeks_across_the_year_boundary() {
        // 2026-12-31 is a Thursday of ISO week 2026-W53; 2027-01-03 (Sunday)
        // is in the same week; 2027-01-04 starts 2027-W01.
        let backups = vec![
            facts("w53-thu", at(2026, 12, 31, 3), None),
            facts("w53-sun", at(2027, 1, 3, 3), None),
            facts("w01-mon", at(2027, 1, 4, 3), None),
        ];
        let policy = RetentionPolicy {
            keep_periods: vec![(Period::Weekly, 5), (Period::Yearly, 5)],
            ..Default::default()
        };
        let d = decide(&policy, &backups, at(2027, 1, 10, 0));
        assert_eq!(kept(&d), vec!["w53-thu", "w53-sun", "w01-mon"]);
        assert_eq!(d[1].reasons, vec!["weekly 2026-W53"]);
        assert_eq!(
            d[0].reasons,
            vec!["yearly 2026"],
            "the newest of 2026 by calendar year"
        );
        assert!(d[2].reasons.contains(&"weekly 2027-W01".to_string()));
    }

    #[test]
    fn monthly_across_month_ends() {
        let backups = vec![
            facts("jan31", at(2026, 1, 31, 23), None),
            facts("feb01", at(2026, 2, 1, 0), None),
            facts("feb28", at(2026, 2, 28, 23), None),
        ];
        let policy = RetentionPolicy {
            keep_periods: vec![(Period::Monthly, 2)],
            ..Default::default()
        };
        let d = decide(&policy, &backups, at(2026, 3, 1, 0));
        assert_eq!(kept(&d), vec!["jan31", "feb28"]);
    }

    #[test]
    fn within_boundary_is_inclusive() {
        let now = at(2026, 11, 21, 0);
        let backups = vec![
            facts("exactly", now - Duration::days(7), None),
            facts(
                "just-out",
                now - Duration::days(7) - Duration::seconds(1),
                None,
            ),
            facts("newest", now - Duration::hours(1), None),
        ];
        let policy = RetentionPolicy {
            keep_within: Some((Duration::days(7), "7d".into())),
            ..Default::default()
        };
        let d = decide(&policy, &backups, now);
        assert_eq!(kept(&d), vec!["exactly", "newest"]);
    }

    #[test]
    fn failed_backups_never_take_a_slot_and_the_newest_verified_is_kept() {
        let backups = vec![
            facts("good-old", at(2026, 11, 1, 3), Some(true)),
            facts("good", at(2026, 11, 20, 1), None),
            facts("broken", at(2026, 11, 20, 3), Some(false)),
        ];
        let policy = RetentionPolicy {
            keep_periods: vec![(Period::Daily, 1)],
            ..Default::default()
        };
        let d = decide(&policy, &backups, at(2026, 11, 21, 0));
        assert_eq!(kept(&d), vec!["good-old", "good"]);
        assert_eq!(d[0].reasons, vec!["newest verified"]);
    }

    #[test]
    fn future_backups_are_kept_in_what_if_runs() {
        let backups = vec![
            facts("later", at(2026, 12, 1, 0), None),
            facts("then", at(2026, 11, 1, 0), None),
        ];
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        };
        let d = decide(&policy, &backups, at(2026, 11, 15, 0));
        assert_eq!(d[0].reasons, vec!["newer than --now"]);
        assert!(d[1].keep);
    }

    fn arbitrary_history() -> impl Strategy<Value = Vec<BackupFacts>> {
        // Up to 60 backups over about two years, some verified, some failed,
        // some labelled.
        prop::collection::vec(
            (
                0i64..(2 * 366 * 24),
                prop::option::of(any::<bool>()),
                prop::bool::weighted(0.1),
            ),
            0..60,
        )
        .prop_map(|items| {
            items
                .into_iter()
                .enumerate()
                .map(|(n, (hours, verified, labelled))| BackupFacts {
                    id: format!("b{n:03}"),
                    started_at: at(2025, 1, 1, 0) + Duration::hours(hours),
                    verified,
                    label: labelled.then(|| "pre-deploy".to_string()),
                })
                .collect()
        })
    }

    fn arbitrary_policy() -> impl Strategy<Value = RetentionPolicy> {
        (
            prop::option::of(0u32..10),
            prop::option::of(0i64..400),
            prop::collection::vec((0usize..5, 0u32..8), 0..5),
            any::<bool>(),
            0u32..4,
        )
            .prop_map(|(last, within, periods, label, min_keep)| RetentionPolicy {
                keep_last: last,
                keep_within: within.map(|d| (Duration::days(d), format!("{d}d"))),
                keep_periods: periods
                    .into_iter()
                    .map(|(p, n)| (Period::ALL[p], n))
                    .collect(),
                keep_labels: if label {
                    vec!["pre-deploy".into()]
                } else {
                    vec![]
                },
                min_keep,
            })
    }

    fn now_strategy() -> impl Strategy<Value = DateTime<Utc>> {
        (0i64..(3 * 366 * 24)).prop_map(|h| at(2025, 1, 1, 0) + Duration::hours(h))
    }

    proptest! {
        #[test]
        fn the_floor_always_holds(history in arbitrary_history(), policy in arbitrary_policy(), now in now_strategy()) {
            let d = decide(&policy, &history, now);
            let past: Vec<usize> = (0..history.len()).filter(|&i| history[i].started_at <= now).collect();
            let newest = |pred: &dyn Fn(&BackupFacts) -> bool| {
                past.iter().copied().filter(|&i| pred(&history[i])).max_by(|&a, &b| {
                    history[a].started_at.cmp(&history[b].started_at).then(history[a].id.cmp(&history[b].id))
                })
            };
            if let Some(i) = newest(&|b| b.verified == Some(true)) {
                prop_assert!(d[i].keep, "newest verified deleted");
            } else if let Some(i) = newest(&|b| b.verified != Some(false)).or(newest(&|_| true)) {
                prop_assert!(d[i].keep, "newest complete deleted");
            }
            let usable_kept = d.iter().zip(&history).filter(|(d, b)| d.keep && b.usable() && b.started_at <= now).count();
            let usable = history.iter().filter(|b| b.usable() && b.started_at <= now).count();
            prop_assert!(usable_kept >= usable.min(policy.min_keep as usize));
            for (i, b) in history.iter().enumerate() {
                if b.started_at > now { prop_assert!(d[i].keep); }
            }
        }

        #[test]
        fn every_kept_backup_has_a_reason_and_deleted_ones_have_none(history in arbitrary_history(), policy in arbitrary_policy(), now in now_strategy()) {
            for d in decide(&policy, &history, now) {
                prop_assert_eq!(d.keep, !d.reasons.is_empty());
            }
        }

        #[test]
        fn adding_a_rule_never_deletes_more(history in arbitrary_history(), policy in arbitrary_policy(), extra in arbitrary_policy(), now in now_strategy()) {
            let before = decide(&policy, &history, now);
            let mut wider = policy.clone();
            wider.keep_last = match (policy.keep_last, extra.keep_last) { (Some(a), Some(b)) => Some(a.max(b)), (a, b) => a.or(b) };
            if wider.keep_within.is_none() { wider.keep_within = extra.keep_within.clone(); }
            wider.keep_periods.extend(extra.keep_periods.iter().copied());
            wider.keep_labels.extend(extra.keep_labels.iter().cloned());
            let after = decide(&wider, &history, now);
            for (b, a) in before.iter().zip(&after) {
                prop_assert!(!b.keep || a.keep, "{} was kept, now deleted", b.id);
            }
        }

        #[test]
        fn the_decision_does_not_depend_on_input_order(history in arbitrary_history(), policy in arbitrary_policy(), now in now_strategy()) {
            let forward = decide(&policy, &history, now);
            let mut reversed_history = history.clone();
            reversed_history.reverse();
            let mut backward = decide(&policy, &reversed_history, now);
            backward.reverse();
            prop_assert_eq!(forward, backward);
        }
    }
}
