//! The pool's gate: one place per connection, and when every place is
//! taken, the requests of buyers already under way go before buyers'
//! first requests.
//!
//! The harness shares a few hundred connections among all its buyers only
//! to save ports; real buyers each have their own. A shared first-come
//! queue would make a buyer who holds seats wait behind every newcomer's
//! first look, a wait no real buyer has: under an overload that wait grows
//! past the holds' lifetime, holds lapse unpaid, and the harness measures
//! its own queue. At a real server a newcomer waits to be let in while the
//! buyers inside go on over the connections they have; the gate does the
//! same. Either wait counts in the latency measured.

use std::collections::VecDeque;

use parking_lot::Mutex;
use tokio::sync::oneshot;

/// Whose turn a request is in when the pool is busy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// A buyer's first request: it waits behind buyers under way.
    Arriving,
    /// A request of a buyer already under way, and everything that is not
    /// a buyer's (setting up, auditing).
    UnderWay,
}

pub struct Gate {
    state: Mutex<State>,
}

struct State {
    free: usize,
    under_way: VecDeque<oneshot::Sender<()>>,
    arriving: VecDeque<oneshot::Sender<()>>,
}

/// A place taken; dropping it hands the place to the next in turn.
pub struct Pass<'a>(&'a Gate);

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        self.0.leave();
    }
}

impl Gate {
    pub fn new(places: usize) -> Gate {
        let state = State { free: places, under_way: VecDeque::new(), arriving: VecDeque::new() };
        Gate { state: Mutex::new(state) }
    }

    /// Takes a place, waiting in `turn` while none is free.
    pub async fn enter(&self, turn: Turn) -> Pass<'_> {
        let called = {
            let mut state = self.state.lock();
            if state.free > 0 {
                state.free -= 1;
                return Pass(self);
            }
            let (call, called) = oneshot::channel();
            match turn {
                Turn::UnderWay => state.under_way.push_back(call),
                Turn::Arriving => state.arriving.push_back(call),
            }
            called
        };

        let mut waiting = Waiting { gate: self, called: Some(called) };
        let handed = waiting.called.as_mut().expect("set above").await;
        waiting.called = None;
        handed.expect("a waiter's call is answered or the waiter is gone");
        Pass(self)
    }

    /// Hands the place over to the first waiter still waiting, those under
    /// way first, or frees it.
    fn leave(&self) {
        let mut state = self.state.lock();
        while let Some(call) = state.under_way.pop_front().or_else(|| state.arriving.pop_front()) {
            if call.send(()).is_ok() {
                return;
            }
            // That waiter gave up: try the next.
        }
        state.free += 1;
    }
}

/// A waiter that may give up (its task dropped) after its place was handed
/// over but before it saw it: the place then goes on to the next.
struct Waiting<'a> {
    gate: &'a Gate,
    called: Option<oneshot::Receiver<()>>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let Some(mut called) = self.called.take() else { return };
        called.close();
        if called.try_recv().is_ok() {
            self.gate.leave();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// Enters in `turn` in a task of its own, then notes `name` in `order`.
    fn queue_up(
        gate: &Arc<Gate>,
        turn: Turn,
        name: &'static str,
        order: &Arc<Mutex<Vec<&'static str>>>,
    ) -> tokio::task::JoinHandle<()> {
        let (gate, order) = (gate.clone(), order.clone());
        tokio::spawn(async move {
            let _pass = gate.enter(turn).await;
            order.lock().push(name);
        })
    }

    async fn settle() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    #[tokio::test]
    async fn a_busy_gate_lets_buyers_under_way_in_before_newcomers() {
        let gate = Arc::new(Gate::new(1));
        let order = Arc::new(Mutex::new(Vec::new()));
        let held = gate.enter(Turn::UnderWay).await;

        let mut waiters = Vec::new();
        for (turn, name) in [
            (Turn::Arriving, "first newcomer"),
            (Turn::UnderWay, "first under way"),
            (Turn::Arriving, "second newcomer"),
            (Turn::UnderWay, "second under way"),
        ] {
            waiters.push(queue_up(&gate, turn, name, &order));
            settle().await;
        }
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }

        let expected = ["first under way", "second under way", "first newcomer", "second newcomer"];
        assert_eq!(*order.lock(), expected);
    }

    #[tokio::test]
    async fn a_free_place_is_taken_at_once_and_given_back() {
        let gate = Gate::new(2);
        let (first, second) = (gate.enter(Turn::Arriving).await, gate.enter(Turn::UnderWay).await);
        drop((first, second));

        let again = tokio::time::timeout(Duration::from_secs(1), async {
            (gate.enter(Turn::Arriving).await, gate.enter(Turn::Arriving).await)
        });
        assert!(again.await.is_ok(), "two places, both free again");
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_keep_the_place() {
        let gate = Arc::new(Gate::new(1));
        let held = gate.enter(Turn::UnderWay).await;
        let quitter = tokio::spawn({
            let gate = gate.clone();
            async move { drop(gate.enter(Turn::UnderWay).await) }
        });
        settle().await;
        quitter.abort();
        let _ = quitter.await;

        drop(held);
        let entered = tokio::time::timeout(Duration::from_secs(1), gate.enter(Turn::Arriving));
        assert!(entered.await.is_ok(), "the place went to the waiter that gave up");
    }
}
