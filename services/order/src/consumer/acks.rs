//! One `basic.ack` with `multiple` for a whole committed batch, instead of one per delivery.
//!
//! Every ack is a frame, a `send` on the consumer's socket and, on a quorum queue, a settle
//! command in the queue's Raft log; at thousands of payments a second that was a fifth of the
//! order service's CPU and much of RabbitMQ's. But `multiple` acks *every* unacked delivery up to
//! a tag, and a batch may be in hand while later deliveries settle (some are handled alone, and
//! `BATCH_WORKERS` may let batches overlap), so a multiple ack may only reach as far as every
//! earlier delivery is settled:
//!
//! - each delivery's tag is registered when its batch is taken, in delivery order;
//! - a delivery settled on its own (acked, nacked, dead-lettered) is marked settled after its
//!   frame went out;
//! - a committed batch's deliveries become due; then the longest run of due tags below the
//!   first delivery still in hand (neither due nor settled) is acked with one frame, sent under
//!   a lock so that frames leave in the order their ranges were computed.
//!
//! A delivery in hand (held through a database outage, say) therefore delays the acks of later
//! batches, never loses them: they go out with the first flush after it settles, and should the
//! channel close first, RabbitMQ redelivers them, which the consumer treats as duplicates.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use lapin::Acker;
use lapin::options::BasicAckOptions;
use tracing::warn;

/// The deliveries of one channel between their arrival and their ack.
#[derive(Debug, Default)]
pub struct AckWindow {
    window: Mutex<Window<Acker>>,
    /// Multiple acks leave in the order their ranges were computed.
    sending: tokio::sync::Mutex<()>,
}

impl AckWindow {
    /// Deliveries taken, in delivery order (call before any of them can be settled).
    pub fn register(&self, tags: impl IntoIterator<Item = u64>) {
        self.lock().received.extend(tags);
    }

    /// A delivery acked or nacked on its own: its frame went out.
    pub async fn settled(&self, tag: u64) {
        self.lock().settle(tag);
        self.flush().await;
    }

    /// The deliveries of a committed batch: acked as soon as everything before them is.
    pub async fn committed(&self, deliveries: impl IntoIterator<Item = (u64, Acker)>) {
        self.lock().due.extend(deliveries);
        self.flush().await;
    }

    async fn flush(&self) {
        let _in_order = self.sending.lock().await;
        let Some((tag, acker)) = self.lock().take_ackable() else {
            return;
        };
        let options = BasicAckOptions { multiple: true };
        if let Err(error) = acker.ack(options).await {
            // The channel is gone: RabbitMQ redelivers these, and they apply as duplicates.
            warn!(%error, up_to = tag, "multiple ack failed");
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window<Acker>> {
        // A panic while holding this lock leaves plain sets behind; they are still consistent.
        self.window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The bookkeeping alone (generic over the acker, so it is tested without a broker).
#[derive(Debug)]
struct Window<A> {
    /// Taken and not yet acked, due ones included.
    received: BTreeSet<u64>,
    /// Committed, waiting for the deliveries before them.
    due: BTreeMap<u64, A>,
}

impl<A> Default for Window<A> {
    fn default() -> Self {
        Window {
            received: BTreeSet::new(),
            due: BTreeMap::new(),
        }
    }
}

impl<A> Window<A> {
    fn settle(&mut self, tag: u64) {
        self.received.remove(&tag);
        self.due.remove(&tag);
    }

    /// The highest due tag that a multiple ack may name (every delivery below it is due or
    /// settled), with its acker; those deliveries leave the window.
    fn take_ackable(&mut self) -> Option<(u64, A)> {
        let first_in_hand = self
            .received
            .iter()
            .find(|tag| !self.due.contains_key(tag))
            .copied();
        let mut ackable = match first_in_hand {
            Some(limit) => {
                let rest = self.due.split_off(&limit);
                std::mem::replace(&mut self.due, rest)
            }
            None => std::mem::take(&mut self.due),
        };
        let (tag, acker) = ackable.pop_last()?;
        self.received.retain(|received| *received > tag);
        Some((tag, acker))
    }
}

#[cfg(test)]
mod tests {
    use super::Window;

    fn window(received: impl IntoIterator<Item = u64>) -> Window<&'static str> {
        let mut window = Window::default();
        window.received.extend(received);
        window
    }

    #[test]
    fn a_batch_alone_is_acked_in_one_frame() {
        let mut window = window(1..=4);
        window
            .due
            .extend([(1, "a1"), (2, "a2"), (3, "a3"), (4, "a4")]);
        assert_eq!(window.take_ackable(), Some((4, "a4")));
        assert!(window.received.is_empty() && window.due.is_empty());
        assert_eq!(window.take_ackable(), None);
    }

    #[test]
    fn a_later_batch_waits_for_the_earlier_one() {
        let mut window = window(1..=6);
        window.due.extend([(4, "a4"), (5, "a5"), (6, "a6")]);
        assert_eq!(window.take_ackable(), None, "1-3 are still being applied");
        window.due.extend([(1, "a1"), (2, "a2"), (3, "a3")]);
        assert_eq!(window.take_ackable(), Some((6, "a6")));
    }

    #[test]
    fn acks_stop_below_a_delivery_in_hand_and_resume_once_it_settles() {
        let mut window = window(1..=5);
        window
            .due
            .extend([(1, "a1"), (2, "a2"), (4, "a4"), (5, "a5")]);
        assert_eq!(window.take_ackable(), Some((2, "a2")), "3 is held");
        assert_eq!(window.take_ackable(), None);
        window.settle(3);
        assert_eq!(window.take_ackable(), Some((5, "a5")));
        assert!(window.received.is_empty());
    }

    #[test]
    fn deliveries_settled_alone_do_not_block_and_are_never_named() {
        let mut window = window(1..=3);
        window.settle(3);
        window.settle(1);
        window.due.insert(2, "a2");
        assert_eq!(window.take_ackable(), Some((2, "a2")));
        assert_eq!(window.take_ackable(), None);
    }

    #[test]
    fn deliveries_not_yet_registered_are_out_of_reach() {
        let mut window = window(1..=2);
        window.due.extend([(1, "a1"), (2, "a2")]);
        assert_eq!(window.take_ackable(), Some((2, "a2")));
        window.received.extend(3..=4);
        window.due.insert(4, "a4");
        assert_eq!(window.take_ackable(), None, "3 is in hand");
    }
}
