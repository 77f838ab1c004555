//! Receipts for completed purchases, by email and by SMS.
