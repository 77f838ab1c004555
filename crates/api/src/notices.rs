//! Receipts as the buyer reads them: a sale in the outbox, looked up in
//! the catalogue and formatted the way the rest of the API shows it.

use engine::box_office::BoxOffice;
use engine::catalogue::Currency;
use engine::civil;
use engine::outbox::{OutboxEntry, Sale};
use receipts::{Receipt, ReceiptKind};

/// Why a receipt could not be written: the sale names something this
/// server does not know, which retrying will not change.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the receipt of order {order}: {missing}")]
pub struct UnknownInSale {
    order: engine::ids::OrderId,
    missing: String,
}

/// The receipt an outbox entry asks for, if it asks for one.
pub fn receipt_of(
    office: &BoxOffice,
    entry: &OutboxEntry,
) -> Option<Result<Receipt, UnknownInSale>> {
    match entry {
        OutboxEntry::Sale(sale) => Some(build(office, sale, ReceiptKind::Sale)),
        OutboxEntry::LatePaymentRefunded(sale) => {
            Some(build(office, sale, ReceiptKind::LatePaymentRefunded))
        }
        OutboxEntry::ExpireSession { .. } | OutboxEntry::Refund(_) => None,
    }
}

fn build(office: &BoxOffice, sale: &Sale, kind: ReceiptKind) -> Result<Receipt, UnknownInSale> {
    let missing = |what: String| UnknownInSale { order: sale.order, missing: what };
    let buyer = office.user(sale.user).ok_or_else(|| missing(format!("no user {}", sale.user)))?;
    let handle =
        office.performance(sale.performance).map_err(|error| missing(error.to_string()))?;
    let (venue, city) = office.with_catalogue(|catalogue| {
        let venue = catalogue.venues.get(&handle.info.venue).map(|venue| venue.name.clone());
        let city = catalogue.cities.get(&handle.info.city).cloned();
        (venue, city)
    });
    let venue = venue.ok_or_else(|| missing(format!("no venue {}", handle.info.venue)))?;
    let city = city.ok_or_else(|| missing(format!("no city {}", handle.info.city)))?;

    let seats = sale.tickets.iter().map(|&ticket| seat_label(&handle.plan, ticket)).collect();
    let info = &handle.info;
    Ok(Receipt {
        kind,
        order_id: sale.order,
        buyer_name: buyer.name.clone(),
        buyer_email: buyer.email.clone(),
        buyer_phone: buyer.phone.clone(),
        performance_title: info.title.clone(),
        venue_name: venue,
        city_name: city.name.clone(),
        starts_local: civil::format_for_people(
            info.start,
            info.utc_offset_seconds,
            &city.time_zone,
        ),
        seats,
        amount: format_amount(sale.amount_minor, &handle.currency),
    })
}

/// `Stalls, row C, seat 12`, or `Floor, standing`.
fn seat_label(plan: &engine::catalogue::SeatPlan, ticket: u32) -> String {
    let place = plan.place(ticket);
    let section = &plan.layout().sections[place.section].name;
    match place.row_seat {
        Some((row, seat)) => {
            format!("{section}, row {}, seat {}", engine::catalogue::row_name(row), seat + 1)
        }
        None => format!("{section}, standing"),
    }
}

/// An amount in its currency's own decimals, with thousands grouped:
/// `1,234.50 EUR`, `12,000 JPY`, `1.250 KWD`.
pub fn format_amount(amount_minor: i64, currency: &Currency) -> String {
    let exponent = u32::from(currency.exponent);
    let unit = 10i64.pow(exponent);
    let (sign, magnitude) =
        if amount_minor < 0 { ("-", -amount_minor) } else { ("", amount_minor) };
    let whole = group_thousands(magnitude / unit);
    match exponent {
        0 => format!("{sign}{whole} {}", currency.code),
        _ => {
            let fraction = magnitude % unit;
            let width = exponent as usize;
            format!("{sign}{whole}.{fraction:0width$} {}", currency.code)
        }
    }
}

fn group_thousands(value: i64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (position, digit) in digits.chars().enumerate() {
        let left = digits.len() - position;
        if position > 0 && matches!(left % 3, 0) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str, exponent: u8) -> Currency {
        Currency { code: code.into(), exponent }
    }

    #[test]
    fn amounts_show_their_currency_s_decimals() {
        assert_eq!(format_amount(123_450, &currency("EUR", 2)), "1,234.50 EUR");
        assert_eq!(format_amount(12_000, &currency("JPY", 0)), "12,000 JPY");
        assert_eq!(format_amount(1_250, &currency("KWD", 3)), "1.250 KWD");
        assert_eq!(format_amount(5, &currency("USD", 2)), "0.05 USD");
        assert_eq!(format_amount(1_000_000_000, &currency("VND", 0)), "1,000,000,000 VND");
    }
}
