//! The booking rules, one scenario table each: every documented rule of
//! `Booking` shown on a small venue, outcome by outcome.
//!
//! The script language is described in `script/mod.rs`. Beyond the outcomes
//! written here, every script also proves that each refusal (and each quote)
//! left the state exactly as the expiries before it left it, and that the
//! final state is rebuilt both by replaying the log and by restoring a
//! snapshot.
//!
//! Unless a script says otherwise the venue is `Stalls`, 3 rows (A–C) of 6
//! seats at 5000, and `Floor`, 5 standing places at 2000; one order covers
//! at most 4 tickets, one user holds and owns at most 6, a hold lasts 10
//! minutes, and the sale runs from +0 for a day.

mod script;

use script::check;

#[test]
fn reserve_is_all_or_nothing() {
    check(
        "
        reserve u1 A3                -> held A3 until +10m (hold 1)
        # One taken ticket refuses the whole list, and names only that one.
        reserve u2 A2 A3 A4          -> not-available A3
        map Stalls                   -> A:..h... B:...... C:...... free 17
        reserve u2 A2 A4 #1          -> held A2 A4 #1 until +10m (hold 2)
        reserve u3 Floor x4          -> held #2 #3 #4 #5 until +10m (hold 3)
        reserve u1 Floor x1          -> sold-out Floor 0
        map Floor                    -> hhhhh free 0
        ",
    );
}

#[test]
fn quantity_takes_the_front_row_run_nearest_the_centre() {
    check(
        "
        reserve u1 Stalls x2         -> held A3 A4 until +10m (hold 1)
        # A1-A2 and A5-A6 are as far from the centre: the lower seats win.
        reserve u2 Stalls x2         -> held A1 A2 until +10m (hold 2)
        reserve u3 Stalls x2         -> held A5 A6 until +10m (hold 3)
        # Row A is full; in B, B2-B4 and B3-B5 tie, so B2-B4.
        reserve u1 Stalls x3         -> held B2 B3 B4 until +10m (hold 4)
        map Stalls                   -> A:hhhhhh B:.hhh.. C:...... free 9
        ",
    );
}

#[test]
fn quantity_centres_runs_in_odd_rows() {
    check(
        "
        layout Stalls seated 2x5 5000
        reserve u1 Stalls x1         -> held A3 until +10m (hold 1)
        # With A3 gone, A1-A2 and A4-A5 are equally central.
        reserve u2 Stalls x2         -> held A1 A2 until +10m (hold 2)
        reserve u3 Stalls x1         -> held A4 until +10m (hold 3)
        # B2-B3 and B3-B4 are both half a seat off centre.
        reserve u1 Stalls x2         -> held B2 B3 until +10m (hold 4)
        ",
    );
}

#[test]
fn quantity_skips_a_row_whose_free_seats_are_not_adjacent() {
    check(
        "
        reserve u1 A2 A4 A6          -> held A2 A4 A6 until +10m (hold 1)
        # Row A still has three seats, but no two side by side.
        reserve u2 Stalls x2         -> held B3 B4 until +10m (hold 2)
        reserve u2 Stalls x1         -> held A3 until +10m (hold 3)
        ",
    );
}

#[test]
fn quantity_falls_back_to_the_nearest_free_seats() {
    check(
        "
        limits order_max 18 user_max 18 ttl 10m
        reserve u1 A2 A3 A4 A5       -> held A2 A3 A4 A5 until +10m (hold 1)
        reserve u1 B3 B4             -> held B3 B4 until +10m (hold 2)
        reserve u1 C1 C2 C3 C5 C6    -> held C1 C2 C3 C5 C6 until +10m (hold 3)
        map Stalls                   -> A:.hhhh. B:..hh.. C:hhh.hh free 7
        # No row has three adjacent seats, so seats go one by one: row
        # first (C4 is central but far), then distance from the centre, then
        # seat number.
        reserve u2 Stalls x5         -> held A1 A6 B2 B5 B1 until +10m (hold 4)
        reserve u3 Stalls x2         -> held B6 C4 until +10m (hold 5)
        reserve u3 Stalls x1         -> sold-out Stalls 0
        ",
    );
}

#[test]
fn adjacency_is_preferred_over_the_fallback_when_any_row_fits() {
    check(
        "
        limits order_max 18 user_max 18 ttl 10m
        reserve u1 A2 A3 A4 A5 B3 B4 -> held A2 A3 A4 A5 B3 B4 until +10m (hold 1)
        # Row B has a pair at either end; row C is empty and central, but
        # B is nearer the stage.
        reserve u2 Stalls x2         -> held B1 B2 until +10m (hold 2)
        reserve u2 Stalls x3         -> held C2 C3 C4 until +10m (hold 3)
        ",
    );
}

#[test]
fn standing_is_sold_by_quantity_in_place_order() {
    check(
        "
        reserve u1 Floor x2          -> held #1 #2 until +10m (hold 1)
        reserve u2 Floor x2          -> held #3 #4 until +10m (hold 2)
        release u1 #1                -> released
        reserve u3 Floor x2          -> held #1 #5 until +10m (hold 3)
        reserve u3 Floor x1          -> sold-out Floor 0
        map Floor                    -> hhhhh free 0
        purchase u3 #1 #5            -> order 1 #1 #5 for 4000
        ",
    );
}

#[test]
fn sold_out_reports_what_is_left_and_changes_nothing() {
    check(
        "
        layout Stalls seated 1x4 5000, Floor standing 3 2000
        reserve u1 Floor x2          -> held #1 #2 until +10m (hold 1)
        reserve u2 Floor x2          -> sold-out Floor 1
        reserve u2 Floor x1          -> held #3 until +10m (hold 2)
        reserve u3 Stalls x3         -> held A1 A2 A3 until +10m (hold 3)
        reserve u2 Stalls x2         -> sold-out Stalls 1
        # A lapsed hold makes its seats available again.
        at +10m
        expire                       -> expired u1 #1 #2; expired u2 #3; expired u3 A1 A2 A3
        reserve u2 Stalls x2         -> held A2 A3 until +20m (hold 4)
        ",
    );
}

#[test]
fn order_limit_bounds_reserves_and_purchases() {
    check(
        "
        reserve u1 Stalls x5         -> order-limit 4
        reserve u1 A1 A2 A3 A4 A5    -> order-limit 4
        reserve u1 Stalls x4         -> held A2 A3 A4 A5 until +10m (hold 1)
        reserve u1 Floor x1          -> held #1 until +10m (hold 2)
        # Five held tickets cannot be bought, or quoted, as one order.
        quote u1 A2 A3 A4 A5 #1      -> order-limit 4
        purchase u1 A2 A3 A4 A5 #1   -> order-limit 4
        purchase u1 A2 A3 A4 A5      -> order 1 A2 A3 A4 A5 for 20000
        ",
    );
}

#[test]
fn release_is_not_an_order_so_it_may_cover_more() {
    // order_max is "the most tickets one reserve or purchase may cover"; a
    // user with several holds may give them all back at once.
    check(
        "
        limits order_max 2 user_max 4 ttl 10m
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        reserve u1 A3 A4             -> held A3 A4 until +10m (hold 2)
        purchase u1 A1 A2 A3         -> order-limit 2
        release u1 A1 A2 A3 A4       -> released
        map Stalls                   -> A:...... B:...... C:...... free 18
        ",
    );
}

#[test]
fn user_limit_counts_holds_and_purchases_until_freed() {
    check(
        "
        reserve u1 Stalls x4         -> held A2 A3 A4 A5 until +10m (hold 1)
        reserve u1 Floor x3          -> user-limit 6
        reserve u1 Floor x2          -> held #1 #2 until +10m (hold 2)
        purchase u1 #1 #2            -> order 1 #1 #2 for 4000
        # Bought tickets count as much as held ones.
        reserve u1 A1                -> user-limit 6
        quote u1 A2 A3 A4 A5         -> costs 20000
        release u1 A2                -> released
        reserve u1 A1                -> held A1 until +10m (hold 3)
        reserve u1 A6                -> user-limit 6
        # The limit is per user.
        reserve u2 Stalls x4         -> held B2 B3 B4 B5 until +10m (hold 4)
        # Expiry frees the held part; the purchases still count.
        advance 10m
        expire                       -> expired u1 A3 A4 A5; expired u1 A1; expired u2 B2 B3 B4 B5
        reserve u1 Floor x3          -> held #3 #4 #5 until +20m (hold 5)
        reserve u1 A1 A2             -> user-limit 6
        reserve u1 A1                -> held A1 until +20m (hold 6)
        ",
    );
}

#[test]
fn reserve_needs_the_sale_to_be_open() {
    check(
        "
        sale from +1h until +2h
        reserve u1 A1                -> not-on-sale
        reserve u1 Stalls x1         -> not-on-sale
        at +59m59s999ms
        reserve u1 A1                -> not-on-sale
        # The sale opens at on_sale exactly, and closes at the start exactly.
        at +1h
        reserve u1 A1                -> held A1 until +1h10m (hold 1)
        at +1h59m59s999ms
        reserve u1 Stalls x1         -> expired u1 A1; held A3 until +2h9m59s999ms (hold 2)
        at +2h
        reserve u2 A1                -> not-on-sale
        reserve u2 Floor x1          -> not-on-sale
        # The window gates new holds only: a hold taken before the start can
        # still be bought until it lapses. (Current behaviour, not a
        # documented rule.)
        purchase u1 A3               -> order 1 A3 for 5000
        ",
    );
}

#[test]
fn a_hold_is_live_while_now_is_before_its_instant() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        reserve u1 A2                -> held A2 until +10m (hold 2)
        at +9m59s999ms
        expire                       -> nothing
        quote u1 A1 A2               -> costs 10000
        purchase u1 A1               -> order 1 A1 for 5000
        # At exactly its instant the hold is over, timer or not.
        at +10m
        purchase u1 A2               -> expired u1 A2; hold-expired A2
        map Stalls                   -> A:P..... B:...... C:...... free 17
        ",
    );
}

#[test]
fn the_timer_path_expires_exactly_at_the_instant() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        advance 5m
        reserve u2 A2                -> held A2 until +15m (hold 2)
        at +10m
        expire                       -> expired u1 A1
        expire                       -> nothing
        release u1 A1                -> hold-expired A1
        at +15m
        expire                       -> expired u2 A2
        map Stalls                   -> A:...... B:...... C:...... free 18
        ",
    );
}

#[test]
fn only_the_holder_may_buy_or_release_and_others_learn_nothing() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        reserve u1 A4                -> held A4 until +10m (hold 2)
        purchase u1 A4               -> order 1 A4 for 5000
        # u1's hold, a free seat and a sold seat all look alike to u2.
        purchase u2 A1               -> not-held A1
        purchase u2 A3               -> not-held A3
        purchase u2 A4               -> not-held A4
        release u2 A2                -> not-held A2
        quote u2 A1                  -> not-held A1
        # One ticket not held refuses the rest too, and names only it.
        purchase u1 A1 A3            -> not-held A3
        release u1 A2 A4             -> not-held A4
        purchase u1 A4               -> not-held A4
        map Stalls                   -> A:hh.P.. B:...... C:...... free 15
        purchase u1 A1 A2            -> order 2 A1 A2 for 10000
        ",
    );
}

#[test]
fn a_lapsed_hold_is_reported_only_to_its_user_and_only_until_the_seat_moves() {
    check(
        "
        reserve u1 A1                -> held A1 until +10m (hold 1)
        advance 10m
        expire                       -> expired u1 A1
        purchase u2 A1               -> not-held A1
        purchase u1 A1               -> hold-expired A1
        release u1 A1                -> hold-expired A1
        quote u1 A1                  -> hold-expired A1
        reserve u2 A1                -> held A1 until +20m (hold 2)
        purchase u1 A1               -> not-held A1
        release u2 A1                -> released
        purchase u1 A1               -> not-held A1
        ",
    );
}

#[test]
fn a_partial_purchase_leaves_the_rest_held_until_the_same_instant() {
    check(
        "
        reserve u1 Stalls x3         -> held A2 A3 A4 until +10m (hold 1)
        advance 4m
        purchase u1 A3               -> order 1 A3 for 5000
        purchase u1 A3               -> not-held A3
        map Stalls                   -> A:.hPh.. B:...... C:...... free 15
        at +9m59s999ms
        quote u1 A2 A4               -> costs 10000
        at +10m
        expire                       -> expired u1 A2 A4
        map Stalls                   -> A:..P... B:...... C:...... free 17
        purchase u1 A2               -> hold-expired A2
        ",
    );
}

#[test]
fn release_gives_back_part_or_all_of_a_hold() {
    check(
        "
        reserve u1 A1 A2 A3          -> held A1 A2 A3 until +10m (hold 1)
        release u1 A2                -> released
        release u1 A2                -> not-held A2
        map Stalls                   -> A:h.h... B:...... C:...... free 16
        reserve u2 A2                -> held A2 until +10m (hold 2)
        release u1 A1 A3             -> released
        # u1's hold emptied and is gone: only u2's is left to expire.
        at +10m
        expire                       -> expired u2 A2
        ",
    );
}

#[test]
fn empty_duplicate_and_unknown_lists_are_refused() {
    check(
        "
        reserve u1                   -> no-tickets
        quote u1                     -> no-tickets
        purchase u1                  -> no-tickets
        release u1                   -> no-tickets
        reserve u1 A1 A1             -> duplicate A1
        reserve u1 A1 A2 A2 A1       -> duplicate A2
        purchase u1 #1 #1            -> duplicate #1
        reserve u1 @23               -> unknown-tickets @23
        reserve u1 A1 @23 #5 @99     -> unknown-tickets @23 @99
        release u1 @4294967295       -> unknown-tickets @4294967295
        reserve u1 Stalls x0         -> zero-quantity
        reserve u1 Balcony x1        -> unknown-section Balcony
        reserve u1 stalls x1         -> unknown-section stalls
        map Stalls                   -> A:...... B:...... C:...... free 18
        ",
    );
}

#[test]
fn quotes_price_each_ticket_by_its_section() {
    check(
        "
        reserve u1 A1 #1 #2          -> held A1 #1 #2 until +10m (hold 1)
        quote u1 A1 #1 #2            -> costs 9000
        quote u1 #2                  -> costs 2000
        purchase u1 #2 A1            -> order 1 #2 A1 for 7000
        ",
    );
}

#[test]
fn rejections_follow_the_documented_precedence() {
    check(
        "
        layout Stalls seated 1x4 5000, Floor standing 1 2000
        limits order_max 2 user_max 3 ttl 10m
        sale from +1h until +2h
        # The shape of a request is judged before the sale window.
        reserve u1 Nope x0           -> zero-quantity
        reserve u1 Nope x3           -> unknown-section Nope
        reserve u1 @9 @9             -> unknown-tickets @9 @9
        reserve u1 A1 A1 A2          -> duplicate A1
        reserve u1 A1 A2 A3          -> order-limit 2
        reserve u1 Stalls x3         -> order-limit 2
        reserve u1 A1                -> not-on-sale
        at +1h
        reserve u1 A3 A4             -> held A3 A4 until +1h10m (hold 1)
        purchase u1 A3 A4            -> order 1 A3 A4 for 10000
        reserve u1 A1                -> held A1 until +1h10m (hold 2)
        reserve u2 #1                -> held #1 until +1h10m (hold 3)
        # The user limit outranks a taken ticket and a sold-out section.
        reserve u1 A2 #1             -> user-limit 3
        reserve u1 Floor x1          -> user-limit 3
        reserve u2 A1                -> not-available A1
        reserve u2 Floor x1          -> sold-out Floor 0
        at +1h10m
        reserve u2 A2                -> expired u1 A1; expired u2 #1; held A2 until +1h20m (hold 4)
        # Someone else's hold outranks the caller's own lapsed one.
        purchase u1 A1 A2            -> not-held A2
        purchase u1 A1               -> hold-expired A1
        at +2h
        reserve u1 A1 A1             -> expired u2 A2; duplicate A1
        # u1 owns 2 already, so 2 more would also pass the user limit.
        reserve u1 Floor x2          -> not-on-sale
        ",
    );
}

#[test]
fn a_restart_keeps_holds_purchases_and_limits() {
    check(
        "
        limits order_max 4 user_max 3 ttl 10m
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        purchase u1 A1               -> order 1 A1 for 5000
        reserve u2 Floor x1          -> held #1 until +10m (hold 2)
        restart
        # The per-user count is rebuilt from holds and orders alike.
        reserve u1 A3 A4             -> user-limit 3
        reserve u1 A3                -> held A3 until +10m (hold 3)
        purchase u1 A2 A3            -> order 2 A2 A3 for 10000
        at +10m
        restart
        reserve u2 #1                -> expired u2 #1; held #1 until +20m (hold 4)
        map Stalls                   -> A:PPP... B:...... C:...... free 15
        ",
    );
}

#[test]
fn the_largest_user_id_is_not_told_of_holds_it_never_had() {
    // A lapsed hold is remembered as the user's id + 1 on the free ticket,
    // and 0 means none; for u4294967295 that wrapped to 0, so every free
    // ticket it had never held answered "hold expired".
    check(
        "
        purchase u4294967295 A1      -> not-held A1
        reserve u4294967295 A1       -> held A1 until +10m (hold 1)
        release u4294967295 A1       -> released
        release u4294967295 A1       -> not-held A1
        ",
    );
}

#[test]
#[should_panic(expected = "+ reserve u2 A3")]
fn a_wrong_outcome_is_shown_as_a_diff() {
    check(
        "
        reserve u1 A3                -> held A3 until +10m (hold 1)
        reserve u2 A3                -> held A3 until +10m (hold 2)
        ",
    );
}

#[test]
fn a_retried_charge_finds_its_order_and_a_new_charge_does_not() {
    check(
        "
        reserve u1 A1 A2             -> held A1 A2 until +10m (hold 1)
        purchase u1 A1 A2 paid ch-1  -> order 1 A1 A2 for 10000
        # The same charge again (a double click the provider deduplicated)
        # is answered with its order; nothing changes.
        purchase u1 A1 A2 paid ch-1  -> order 1 A1 A2 for 10000
        # A new charge, or part of the order, or someone else, buys nothing.
        purchase u1 A1 A2 paid ch-2  -> not-held A1 A2
        purchase u1 A1 paid ch-1     -> not-held A1
        purchase u2 A1 A2 paid ch-1  -> not-held A1 A2
        map Stalls                   -> A:PP.... B:...... C:...... free 16
        ",
    );
}
