//! The circuit breaker of one source: stop calling a service that keeps failing, so callers
//! get an answer at once (`CIRCUIT_OPEN`) and the service gets room to recover.
//!
//! - **Closed**: attempts go through; their outcomes are counted in a rolling window (ten
//!   buckets of `window / 10`). When at least `min_requests` outcomes are in the window and the
//!   failure share reaches `failure_ratio`, the circuit opens.
//! - **Open** for `open_for`: every attempt is refused without calling upstream.
//! - **Half-open**: up to `half_open_probes` attempts at a time go through as probes. The first
//!   successful probe closes the circuit (with a fresh window); a failed one re-opens it.
//!
//! Failures are what says the service is unwell: timeouts, unreachable, 5xx and 429. A 4xx is
//! the caller's problem and an invalid body a contract problem; both count as successes here.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const BUCKETS: usize = 10;

#[derive(Debug, Clone, PartialEq)]
pub struct CircuitPolicy {
    /// Failure share (0..=1) that opens the circuit. Above 1 disables the breaker.
    pub failure_ratio: f64,
    /// Outcomes needed in the window before the ratio is trusted.
    pub min_requests: u32,
    /// How far back outcomes count.
    pub window: Duration,
    /// How long the circuit stays open before probing.
    pub open_for: Duration,
    /// Concurrent probes allowed while half-open.
    pub half_open_probes: u32,
}

impl Default for CircuitPolicy {
    fn default() -> Self {
        CircuitPolicy {
            failure_ratio: 0.5,
            min_requests: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            half_open_probes: 1,
        }
    }
}

impl CircuitPolicy {
    /// A breaker that never opens.
    pub fn disabled() -> Self {
        CircuitPolicy {
            failure_ratio: f64::INFINITY,
            ..CircuitPolicy::default()
        }
    }
}

/// The breaker's state, as reported for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slot period (time since `epoch` / slot length) the counts belong to.
    period: u64,
    successes: u32,
    failures: u32,
}

#[derive(Debug)]
enum State {
    Closed { buckets: [Bucket; BUCKETS] },
    Open { until: Instant },
    HalfOpen { probes_in_flight: u32 },
}

#[derive(Debug)]
struct Inner {
    policy: CircuitPolicy,
    epoch: Instant,
    slot: Duration,
    state: Mutex<State>,
}

/// One breaker per source; cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

/// Permission for one attempt. Report its outcome with [`Permit::record`]; dropping it without
/// one (the call was cancelled) frees a half-open probe slot without counting anything.
#[derive(Debug)]
pub struct Permit {
    breaker: CircuitBreaker,
    probe: bool,
    recorded: bool,
}

impl CircuitBreaker {
    pub fn new(policy: CircuitPolicy) -> Self {
        let slot = (policy.window / BUCKETS as u32).max(Duration::from_millis(1));
        CircuitBreaker {
            inner: Arc::new(Inner {
                policy,
                epoch: Instant::now(),
                slot,
                state: Mutex::new(State::Closed {
                    buckets: [Bucket::default(); BUCKETS],
                }),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn state(&self) -> CircuitState {
        match *self.lock() {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { until } if Instant::now() >= until => CircuitState::HalfOpen,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Asks to make one attempt; `None` means the circuit is open: fail fast.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.lock();
        let probe = match &mut *state {
            State::Closed { .. } => false,
            State::Open { until } => {
                if Instant::now() < *until {
                    return None;
                }
                *state = State::HalfOpen {
                    probes_in_flight: 1,
                };
                true
            }
            State::HalfOpen { probes_in_flight } => {
                if *probes_in_flight >= self.inner.policy.half_open_probes.max(1) {
                    return None;
                }
                *probes_in_flight += 1;
                true
            }
        };
        Some(Permit {
            breaker: self.clone(),
            probe,
            recorded: false,
        })
    }

    fn period(&self, now: Instant) -> u64 {
        let elapsed = now.duration_since(self.inner.epoch).as_nanos();
        (elapsed / self.inner.slot.as_nanos().max(1)) as u64
    }

    fn on_outcome(&self, probe: bool, success: bool) {
        let now = Instant::now();
        let period = self.period(now);
        let policy = &self.inner.policy;
        let mut state = self.lock();
        match &mut *state {
            State::HalfOpen { probes_in_flight } if probe => {
                *probes_in_flight = probes_in_flight.saturating_sub(1);
                if success {
                    tracing::info!("circuit closed after a successful probe");
                    *state = State::Closed {
                        buckets: [Bucket::default(); BUCKETS],
                    };
                } else {
                    tracing::warn!("circuit re-opened after a failed probe");
                    *state = State::Open {
                        until: now + policy.open_for,
                    };
                }
            }
            State::Closed { buckets } => {
                let bucket = &mut buckets[(period % BUCKETS as u64) as usize];
                if bucket.period != period {
                    *bucket = Bucket {
                        period,
                        ..Bucket::default()
                    };
                }
                if success {
                    bucket.successes += 1;
                } else {
                    bucket.failures += 1;
                }
                let oldest = period.saturating_sub(BUCKETS as u64 - 1);
                let (mut total, mut failures) = (0u64, 0u64);
                for b in buckets.iter().filter(|b| b.period >= oldest) {
                    total += u64::from(b.successes + b.failures);
                    failures += u64::from(b.failures);
                }
                if !success
                    && total >= u64::from(policy.min_requests.max(1))
                    && failures as f64 >= policy.failure_ratio * total as f64
                {
                    tracing::warn!(failures, total, "circuit opened");
                    *state = State::Open {
                        until: now + policy.open_for,
                    };
                }
            }
            // Outcomes of attempts admitted before the circuit changed state do not count.
            State::Open { .. } | State::HalfOpen { .. } => {}
        }
    }

    fn release_probe(&self) {
        if let State::HalfOpen { probes_in_flight } = &mut *self.lock() {
            *probes_in_flight = probes_in_flight.saturating_sub(1);
        }
    }
}

impl Permit {
    pub fn record(mut self, success: bool) {
        self.recorded = true;
        self.breaker.on_outcome(self.probe, success);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.probe && !self.recorded {
            self.breaker.release_probe();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn policy() -> CircuitPolicy {
        CircuitPolicy {
            failure_ratio: 0.5,
            min_requests: 4,
            window: Duration::from_secs(10),
            open_for: Duration::from_millis(50),
            half_open_probes: 1,
        }
    }

    fn attempt(breaker: &CircuitBreaker, success: bool) {
        breaker.try_acquire().unwrap().record(success);
    }

    #[test]
    fn the_circuit_stays_closed_below_the_minimum_number_of_requests() {
        let breaker = CircuitBreaker::new(policy());
        for _ in 0..3 {
            attempt(&breaker, false);
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
        attempt(&breaker, false);
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(breaker.try_acquire().is_none());
    }

    #[test]
    fn the_circuit_stays_closed_while_failures_are_below_the_ratio() {
        let breaker = CircuitBreaker::new(policy());
        for _ in 0..10 {
            attempt(&breaker, true);
            attempt(&breaker, true);
            attempt(&breaker, false);
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn a_successful_probe_closes_and_a_failed_one_reopens() {
        let breaker = CircuitBreaker::new(policy());
        for _ in 0..4 {
            attempt(&breaker, false);
        }
        std::thread::sleep(Duration::from_millis(60));
        let probe = breaker.try_acquire().unwrap();
        // Only one probe at a time.
        assert!(breaker.try_acquire().is_none());
        probe.record(false);
        assert_eq!(breaker.state(), CircuitState::Open);

        std::thread::sleep(Duration::from_millis(60));
        breaker.try_acquire().unwrap().record(true);
        assert_eq!(breaker.state(), CircuitState::Closed);
        // A fresh window: one failure does not re-open it.
        attempt(&breaker, false);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[test]
    fn a_cancelled_probe_frees_its_slot() {
        let breaker = CircuitBreaker::new(policy());
        for _ in 0..4 {
            attempt(&breaker, false);
        }
        std::thread::sleep(Duration::from_millis(60));
        drop(breaker.try_acquire().unwrap());
        assert!(breaker.try_acquire().is_some());
    }

    #[test]
    fn old_outcomes_leave_the_window() {
        let breaker = CircuitBreaker::new(CircuitPolicy {
            window: Duration::from_millis(100),
            ..policy()
        });
        for _ in 0..3 {
            attempt(&breaker, false);
        }
        std::thread::sleep(Duration::from_millis(120));
        attempt(&breaker, false);
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
