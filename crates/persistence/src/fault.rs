//! Injected IO faults, so tests (and drills on a staging server) can watch
//! the journal fail stop without a broken disk.
//!
//! A plan counts the journal's successful group commits and makes the next
//! one fail at the chosen step, exactly as a real IO error there would.

use std::fmt;
use std::str::FromStr;

/// The environment variable [`FaultPlan::from_env`] reads.
pub const FAULT_ENV: &str = "BOXOFFICE_INJECT_FAULT";

/// Which step of a group commit fails, and after how many good commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPlan {
    /// Writing the batch into sled fails on commit number `N + 1`, after
    /// its outbox entries and before its log values: a torn commit, which
    /// the next open removes whole.
    WriteFailsAfter(u64),
    /// Writing the batch fails on commit number `N + 1` after everything
    /// but its commit mark: the torn commit that holds the most, also
    /// removed whole at the next open.
    MarkFailsAfter(u64),
    /// The flush and sync fail on commit number `N + 1`, after the batch was
    /// written into sled but before it is known to be durable.
    SyncFailsAfter(u64),
}

/// The step of a commit that a plan may break.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CommitStep {
    Write,
    CommitMark,
    Sync,
}

/// A text that is not a fault plan.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a fault plan: expected write-fails-after=N, mark-fails-after=N or sync-fails-after=N")]
pub struct FaultPlanError {
    pub text: String,
}

impl FaultPlan {
    /// The plan named by `BOXOFFICE_INJECT_FAULT`, if it is set and not empty.
    pub fn from_env() -> Result<Option<FaultPlan>, FaultPlanError> {
        match std::env::var(FAULT_ENV) {
            Ok(text) if !text.trim().is_empty() => text.parse().map(Some),
            _ => Ok(None),
        }
    }

    fn breaks(self, step: CommitStep, good_commits: u64) -> bool {
        match self {
            FaultPlan::WriteFailsAfter(n) => step == CommitStep::Write && good_commits == n,
            FaultPlan::MarkFailsAfter(n) => step == CommitStep::CommitMark && good_commits == n,
            FaultPlan::SyncFailsAfter(n) => step == CommitStep::Sync && good_commits == n,
        }
    }
}

impl FromStr for FaultPlan {
    type Err = FaultPlanError;

    fn from_str(text: &str) -> Result<FaultPlan, FaultPlanError> {
        let refuse = || FaultPlanError { text: text.to_owned() };
        let (name, count) = text.trim().split_once('=').ok_or_else(refuse)?;
        let count: u64 = count.trim().parse().map_err(|_| refuse())?;
        match name.trim() {
            "write-fails-after" => Ok(FaultPlan::WriteFailsAfter(count)),
            "mark-fails-after" => Ok(FaultPlan::MarkFailsAfter(count)),
            "sync-fails-after" => Ok(FaultPlan::SyncFailsAfter(count)),
            _ => Err(refuse()),
        }
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultPlan::WriteFailsAfter(n) => write!(f, "write-fails-after={n}"),
            FaultPlan::MarkFailsAfter(n) => write!(f, "mark-fails-after={n}"),
            FaultPlan::SyncFailsAfter(n) => write!(f, "sync-fails-after={n}"),
        }
    }
}

/// The committer's copy of a plan, with its count of good commits.
#[derive(Debug, Default)]
pub(crate) struct FaultInjector {
    plan: Option<FaultPlan>,
    good_commits: u64,
}

impl FaultInjector {
    pub(crate) fn new(plan: Option<FaultPlan>) -> FaultInjector {
        FaultInjector { plan, good_commits: 0 }
    }

    /// An error to report instead of doing `step`, if the plan says so.
    pub(crate) fn check(&self, step: CommitStep) -> Result<(), String> {
        match self.plan {
            Some(plan) if plan.breaks(step, self.good_commits) => {
                Err(format!("injected fault {plan} fired at the {step:?} step"))
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn commit_succeeded(&mut self) {
        self.good_commits += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_from_text() {
        assert_eq!("write-fails-after=3".parse(), Ok(FaultPlan::WriteFailsAfter(3)));
        assert_eq!(" sync-fails-after = 0 ".parse(), Ok(FaultPlan::SyncFailsAfter(0)));
        assert_eq!("mark-fails-after=2".parse(), Ok(FaultPlan::MarkFailsAfter(2)));
        for text in ["", "sync-fails-after", "sync-fails-after=x", "disk-melts=1"] {
            assert!(text.parse::<FaultPlan>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_plan_fires_once_the_good_commits_are_used_up() {
        let mut injector = FaultInjector::new(Some(FaultPlan::SyncFailsAfter(1)));
        assert!(injector.check(CommitStep::Sync).is_ok());
        injector.commit_succeeded();
        assert!(injector.check(CommitStep::Write).is_ok());
        assert!(injector.check(CommitStep::Sync).is_err());
    }
}
