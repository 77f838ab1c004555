//! Checkouts and orders, one scenario table each: a payment at the
//! provider buys held tickets, a late one buys them only if they are still
//! free, and cancellations and refunds never free or give back more than
//! there is.
//!
//! The script language is described in `script/mod.rs`; a checkout keeps
//! its tickets for 15 minutes. `owed` lists the work the commands since the
//! last `owed` put in the outbox: receipts, session expiries and refunds.
//! The venue is `Stalls`, 3 rows (A–C) of 6 seats at 5000, and `Floor`, 5
//! standing places at 2000.

mod script;

use script::check;

#[test]
fn a_paid_checkout_buys_its_tickets_once() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        session o1 cs_1              -> session cs_1
        # A retried checkout finds the order and its session.
        checkout u1 A2 A1            -> order 1 for 10000 until +15m cs_1
        map Stalls                   -> A:hh.... B:...... C:...... free 16
        pay o1 pi_1 10000            -> paid A1 A2
        map Stalls                   -> A:PP.... B:...... C:...... free 16
        # The webhook and the buyer's return both report it: one sale.
        pay o1 pi_1 10000            -> already-known
        owed                         -> sale o1 u1 A1 A2 10000
        order o1                     -> paid u1 payment pi_1 refunded 0 of 10000
        ",
    );
}

#[test]
fn tickets_in_a_checkout_wait_for_its_payment() {
    check(
        "
        reserve u1 A1 A2 A3          -> held A1 A2 A3 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        # Only the payment buys them, and only it (or its end) frees them.
        purchase u1 A1               -> in-checkout A1
        release u1 A2                -> in-checkout A2
        checkout u1 A1 A3            -> in-checkout A1
        checkout u2 A3               -> not-held A3
        # A3 is still a plain hold of u1's and can go to a checkout of its own.
        checkout u1 A3               -> order 2 for 5000 until +15m
        owed                         -> nothing
        ",
    );
}

#[test]
fn a_checkout_never_shortens_a_hold() {
    check(
        "
        limits order_max 4 user_max 6 ttl 1h
        reserve u1 A1                -> held A1 until +1h (hold 1)
        checkout u1 A1               -> order 1 for 5000 until +1h
        ",
    );
}

#[test]
fn an_unpaid_checkout_expires_and_its_session_is_expired_too() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        session o1 cs_1              -> session cs_1
        advance 15m
        expire                       -> expired u1 A1 A2
        order o1                     -> expired u1 payment none refunded 0 of 10000
        owed                         -> expire-session o1 cs_1
        ",
    );
}

#[test]
fn a_session_that_timed_out_is_expired_by_its_order() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        checkout u1 A1               -> order 1 for 5000 until +15m
        advance 15m
        expire                       -> expired u1 A1
        owed                         -> expire-session o1 unknown
        # The session id learnt late is still recorded, for the return page.
        session o1 cs_late           -> session cs_late
        ",
    );
}

#[test]
fn a_late_payment_takes_the_tickets_if_they_are_still_free() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        session o1 cs_1              -> session cs_1
        advance 16m
        pay o1 pi_1 10000            -> expired u1 A1 A2; paid A1 A2
        map Stalls                   -> A:PP.... B:...... C:...... free 16
        owed                         -> expire-session o1 cs_1; sale o1 u1 A1 A2 10000
        ",
    );
}

#[test]
fn a_late_payment_for_sold_tickets_is_refunded_and_sells_nothing() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        advance 16m
        reserve u2 A2                -> expired u1 A1 A2; held A2 until +26m (hold 3)
        owed                         -> expire-session o1 unknown
        pay o1 pi_1 10000            -> turned-back
        map Stalls                   -> A:.h.... B:...... C:...... free 17
        order o1                     -> turned-back u1 payment none refunded 0 of 10000
        owed                         -> refund o1 pi_1 10000 refund-7-1-1; late-notice o1 10000
        # The same payment reported again is known, and refunded only once.
        pay o1 pi_1 10000            -> already-known
        owed                         -> nothing
        ",
    );
}

#[test]
fn a_second_payment_of_a_paid_order_is_turned_back() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        checkout u1 A1               -> order 1 for 5000 until +15m
        pay o1 pi_1 5000             -> paid A1
        pay o1 pi_2 5000             -> turned-back
        pay o1 pi_3 0                -> turned-back
        order o1                     -> paid u1 payment pi_1 refunded 0 of 5000
        owed                         -> sale o1 u1 A1 5000; refund o1 pi_2 5000 refund-7-1-1
        ",
    );
}

#[test]
fn a_payment_of_another_amount_is_turned_back() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        checkout u1 A1               -> order 1 for 5000 until +15m
        pay o1 pi_1 4999             -> turned-back
        map Stalls                   -> A:h..... B:...... C:...... free 17
        # The order still waits for its payment: no news for the buyer.
        owed                         -> refund o1 pi_1 4999 refund-7-1-1
        cancel o1 A1                 -> awaiting-payment
        pay o1 pi_2 5000             -> paid A1
        ",
    );
}

#[test]
fn a_failed_payment_frees_the_checkout() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        fail o1                      -> failed
        map Stalls                   -> A:...... B:...... C:...... free 18
        order o1                     -> payment-failed u1 payment none refunded 0 of 10000
        fail o1                      -> failed
        owed                         -> nothing
        ",
    );
}

#[test]
fn cancelling_frees_each_ticket_once_and_refunds_what_is_left() {
    check(
        "
        reserve u1 A1 A2 A3          -> held A1 A2 A3 until +10m (hold 1)
        checkout u1 A1 A2 A3         -> order 1 for 15000 until +15m
        pay o1 pi_1 15000            -> paid A1 A2 A3
        cancel o1 A2                 -> freed A2 refund 5000
        cancel o1 A2                 -> freed nothing refund 0
        cancel o1 B1                 -> not-in-order B1
        map Stalls                   -> A:P.P... B:...... C:...... free 16
        cancel o1                    -> freed A1 A3 refund 10000
        cancel o1                    -> freed nothing refund 0
        cancel o1 A1                 -> freed nothing refund 0
        map Stalls                   -> A:...... B:...... C:...... free 18
        order o1                     -> cancelled u1 payment pi_1 refunded 15000 of 15000
        owed                         -> sale o1 u1 A1 A2 A3 15000; refund o1 pi_1 5000 refund-7-1-1; refund o1 pi_1 10000 refund-7-1-2
        refund o1                    -> refund-too-large 0
        ",
    );
}

#[test]
fn refunds_never_add_up_to_more_than_was_paid() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        refund o1 100                -> not-paid
        pay o1 pi_1 10000            -> paid A1 A2
        refund o1 0                  -> zero-refund
        refund o1 -5                 -> zero-refund
        refund o1 6000               -> refunded 6000
        refund o1 4001               -> refund-too-large 4000
        # Cancelling a ticket refunds its price only as far as money is left.
        cancel o1 A1                 -> freed A1 refund 4000
        refund o1 1                  -> refund-too-large 0
        cancel o1                    -> freed A2 refund 0
        order o1                     -> cancelled u1 payment pi_1 refunded 10000 of 10000
        owed                         -> sale o1 u1 A1 A2 10000; refund o1 pi_1 6000 refund-7-1-1; refund o1 pi_1 4000 refund-7-1-2
        ",
    );
}

#[test]
fn cancelling_a_waiting_checkout_frees_it_and_expires_its_session() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        checkout u1 A1               -> order 1 for 5000 until +15m
        session o1 cs_1              -> session cs_1
        cancel o1                    -> freed A1 refund 0
        owed                         -> expire-session o1 cs_1
        # Its payment, should it still land, buys nothing.
        reserve u2 A1                -> held A1 until +10m (hold 3)
        pay o1 pi_1 5000             -> turned-back
        owed                         -> refund o1 pi_1 5000 refund-7-1-1; late-notice o1 5000
        ",
    );
}

#[test]
fn orders_of_other_performances_are_unknown() {
    check(
        "
        pay o9 pi_1 100              -> unknown-order o9
        cancel o9                    -> unknown-order o9
        ",
    );
}

#[test]
fn checkouts_survive_a_restart() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        checkout u1 A1 A2            -> order 1 for 10000 until +15m
        session o1 cs_1              -> session cs_1
        restart
        checkout u1 A1 A2            -> order 1 for 10000 until +15m cs_1
        pay o1 pi_1 10000            -> paid A1 A2
        cancel o1 A1                 -> freed A1 refund 5000
        restart
        map Stalls                   -> A:.P.... B:...... C:...... free 17
        reserve u1 A1                -> held A1 until +10m (hold 3)
        ",
    );
}

#[test]
fn a_payment_in_another_currency_is_refunded_whole() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        checkout u1 A1               -> order 1 for 5000 until +15m
        pay o1 pi_1 other            -> turned-back
        map Stalls                   -> A:h..... B:...... C:...... free 17
        owed                         -> refund o1 pi_1 all refund-7-1-1
        ",
    );
}
