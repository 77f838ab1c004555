//! Amounts in ISO 4217 minor units, converted to and from Stripe's units.
//!
//! The engine counts money in each currency's ISO 4217 minor unit (cents of
//! EUR, whole yen, thousandths of a dinar). Stripe counts in its own unit,
//! which is the same for most currencies but not all, so every amount that
//! crosses to Stripe goes through [`to_stripe_amount`] and every amount that
//! comes back through [`from_stripe_amount`]; nothing else in this crate
//! multiplies or divides an amount.
//!
//! Where the rules come from: Stripe's "Supported currencies" page,
//! <https://docs.stripe.com/currencies> (sections "Supported presentment
//! currencies", "Zero-decimal currencies", "Three-decimal currencies",
//! "Special cases" and "Minimum and maximum charge amounts"), read on
//! 2026-12-04 through stored copies of the page and the page's text as
//! quoted in public issue threads of Stripe integrations. In short:
//!
//! - Most currencies: Stripe's unit is the ISO minor unit.
//! - Zero-decimal currencies (BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND
//!   VUV XAF XOF XPF): Stripe counts whole units. ISO agrees for all of them
//!   but MGA, which ISO gives two decimals, so MGA amounts are divided by 100
//!   and must be whole ariary.
//! - Special cases: ISK and UGX are zero-decimal (and ISO says so too), but
//!   for backwards compatibility Stripe wants them written with two decimals
//!   that are always 00: 5 ISK is 500. HUF and TWD are zero-decimal at Stripe
//!   for payouts only; charges and refunds take two decimals as usual, so
//!   they need nothing here.
//! - Three-decimal currencies (BHD JOD KWD OMR TND): Stripe's unit is the
//!   ISO minor unit, but the last digit must be 0; an amount that is not is
//!   refused rather than rounded, since rounding would change the price.
//! - The largest amount is eight digits in Stripe's units (99,999,999), and
//!   twelve digits for IDR.
//! - A currency missing from the presentment list cannot be charged at all.
//!
//! Minimum charge amounts (about 0.50 USD, converted into the settlement
//! currency at the day's rate) are not checked here: they depend on the
//! account's settlement currency and on exchange rates, and Stripe refuses
//! such a session itself.

use engine::catalogue::Currency;
use engine::payment::UnsupportedCurrency;

/// Whether the provider takes `amount_minor` (ISO 4217 minor units) of
/// `currency`.
pub fn check_amount(amount_minor: i64, currency: &Currency) -> Result<(), UnsupportedCurrency> {
    to_stripe_amount(amount_minor, currency).map(|_| ())
}

/// `amount_minor` of `currency`, in ISO 4217 minor units, as the integer
/// Stripe's `amount` fields want; refused if Stripe cannot take it.
pub fn to_stripe_amount(
    amount_minor: i64,
    currency: &Currency,
) -> Result<i64, UnsupportedCurrency> {
    let row = lookup(&currency.code)?;
    if currency.exponent != row.iso_exponent {
        return Err(row.refuse(format!(
            "it has {} decimals in ISO 4217, not the {} we were given",
            row.iso_exponent, currency.exponent
        )));
    }
    if amount_minor <= 0 {
        return Err(row.refuse(format!("the amount must be more than zero, not {amount_minor}")));
    }

    let stripe_amount = rescale(amount_minor, row.iso_exponent, row.stripe_exponent())
        .ok_or_else(|| row.refuse_unconvertible(amount_minor))?;
    row.check_step(stripe_amount)?;
    row.check_maximum(stripe_amount)?;
    Ok(stripe_amount)
}

/// An amount Stripe reports in its units, with the currency code it names
/// (in any case), back in ISO 4217 minor units with the ISO currency.
///
/// Zero is allowed (a session fully discounted charges nothing); negative
/// amounts and amounts that are no whole number of ISO minor units are not.
pub fn from_stripe_amount(
    stripe_amount: i64,
    stripe_code: &str,
) -> Result<(i64, Currency), UnsupportedCurrency> {
    let row = lookup(stripe_code)?;
    if stripe_amount < 0 {
        return Err(row.refuse(format!("Stripe reported a negative amount, {stripe_amount}")));
    }

    let amount_minor =
        rescale(stripe_amount, row.stripe_exponent(), row.iso_exponent).ok_or_else(|| {
            row.refuse(format!(
                "Stripe's amount {stripe_amount} is no whole number of ISO minor units"
            ))
        })?;
    Ok((amount_minor, row.iso_currency()))
}

/// How Stripe writes amounts of one currency, compared with ISO 4217.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    /// Stripe's unit is the ISO minor unit.
    Iso,
    /// Stripe counts whole units, whatever ISO says.
    ZeroDecimal,
    /// Zero-decimal, but written with two decimals that are always 00 (ISK,
    /// UGX), for backwards compatibility.
    WholeInTwoDecimals,
    /// Three decimals whose last digit must be 0.
    ThreeDecimalTens,
}

/// One presentment currency Stripe takes.
#[derive(Debug)]
struct Row {
    code: &'static str,
    iso_exponent: u8,
    rule: Rule,
}

/// The largest amount in Stripe's units: eight digits.
const STRIPE_MAXIMUM: i64 = 99_999_999;

/// IDR's largest amount in Stripe's units: twelve digits.
const STRIPE_MAXIMUM_IDR: i64 = 999_999_999_999;

impl Row {
    fn stripe_exponent(&self) -> u8 {
        match self.rule {
            Rule::Iso | Rule::ThreeDecimalTens => self.iso_exponent,
            Rule::ZeroDecimal => 0,
            Rule::WholeInTwoDecimals => 2,
        }
    }

    /// What every amount in Stripe's units must be a multiple of.
    fn step(&self) -> i64 {
        match self.rule {
            Rule::Iso | Rule::ZeroDecimal => 1,
            Rule::WholeInTwoDecimals => 100,
            Rule::ThreeDecimalTens => 10,
        }
    }

    fn maximum(&self) -> i64 {
        if self.code == "IDR" {
            STRIPE_MAXIMUM_IDR
        } else {
            STRIPE_MAXIMUM
        }
    }

    /// Only three-decimal amounts can fail this: the rescaling already
    /// makes ISK and UGX amounts multiples of 100.
    fn check_step(&self, stripe_amount: i64) -> Result<(), UnsupportedCurrency> {
        if stripe_amount % self.step() == 0 {
            return Ok(());
        }
        Err(self.refuse(format!(
            "Stripe needs the last digit of a three-decimal amount to be 0, \
             and {stripe_amount} thousandths is not (round it to a multiple of 10)"
        )))
    }

    fn check_maximum(&self, stripe_amount: i64) -> Result<(), UnsupportedCurrency> {
        if stripe_amount <= self.maximum() {
            return Ok(());
        }
        Err(self.refuse(format!(
            "{stripe_amount} in Stripe's units is above its maximum of {}",
            self.maximum()
        )))
    }

    fn refuse_unconvertible(&self, amount_minor: i64) -> UnsupportedCurrency {
        if self.rule == Rule::ZeroDecimal {
            return self.refuse(format!(
                "Stripe counts {} in whole units, and {amount_minor} minor units is not a \
                 whole number of them",
                self.code
            ));
        }
        self.refuse(format!("{amount_minor} is above Stripe's maximum once converted"))
    }

    fn refuse(&self, reason: String) -> UnsupportedCurrency {
        UnsupportedCurrency { currency: self.code.to_string(), reason }
    }

    fn iso_currency(&self) -> Currency {
        Currency { code: self.code.to_string(), exponent: self.iso_exponent }
    }
}

/// `amount` counted in units of 10^-`from`, counted in units of 10^-`to`;
/// `None` if it overflows or is no whole number of the new units.
fn rescale(amount: i64, from: u8, to: u8) -> Option<i64> {
    if to >= from {
        return amount.checked_mul(10i64.checked_pow(u32::from(to - from))?);
    }
    let divisor = 10i64.checked_pow(u32::from(from - to))?;
    (amount % divisor == 0).then_some(amount / divisor)
}

fn lookup(code: &str) -> Result<&'static Row, UnsupportedCurrency> {
    let code = code.to_ascii_uppercase();
    match STRIPE_CURRENCIES.binary_search_by(|row| row.code.cmp(code.as_str())) {
        Ok(index) => Ok(&STRIPE_CURRENCIES[index]),
        Err(_) => Err(UnsupportedCurrency { reason: not_taken_reason(&code), currency: code }),
    }
}

fn not_taken_reason(code: &str) -> String {
    let name = match code {
        "IQD" => "the Iraqi dinar",
        "IRR" => "the Iranian rial",
        _ => "it",
    };
    format!("Stripe cannot charge {name}: {code} is not among its presentment currencies")
}

const fn row(code: &'static str, iso_exponent: u8, rule: Rule) -> Row {
    Row { code, iso_exponent, rule }
}

/// Stripe's presentment currencies for card payments, sorted by code, each
/// with its ISO 4217 exponent and Stripe's rule for it. Currencies Stripe
/// lists but that ISO 4217 no longer does (STD) keep their last ISO
/// exponent.
const STRIPE_CURRENCIES: &[Row] = &[
    row("AED", 2, Rule::Iso),
    row("AFN", 2, Rule::Iso),
    row("ALL", 2, Rule::Iso),
    row("AMD", 2, Rule::Iso),
    row("ANG", 2, Rule::Iso),
    row("AOA", 2, Rule::Iso),
    row("ARS", 2, Rule::Iso),
    row("AUD", 2, Rule::Iso),
    row("AWG", 2, Rule::Iso),
    row("AZN", 2, Rule::Iso),
    row("BAM", 2, Rule::Iso),
    row("BBD", 2, Rule::Iso),
    row("BDT", 2, Rule::Iso),
    row("BGN", 2, Rule::Iso),
    row("BHD", 3, Rule::ThreeDecimalTens),
    row("BIF", 0, Rule::ZeroDecimal),
    row("BMD", 2, Rule::Iso),
    row("BND", 2, Rule::Iso),
    row("BOB", 2, Rule::Iso),
    row("BRL", 2, Rule::Iso),
    row("BSD", 2, Rule::Iso),
    row("BWP", 2, Rule::Iso),
    row("BYN", 2, Rule::Iso),
    row("BZD", 2, Rule::Iso),
    row("CAD", 2, Rule::Iso),
    row("CDF", 2, Rule::Iso),
    row("CHF", 2, Rule::Iso),
    row("CLP", 0, Rule::ZeroDecimal),
    row("CNY", 2, Rule::Iso),
    row("COP", 2, Rule::Iso),
    row("CRC", 2, Rule::Iso),
    row("CVE", 2, Rule::Iso),
    row("CZK", 2, Rule::Iso),
    row("DJF", 0, Rule::ZeroDecimal),
    row("DKK", 2, Rule::Iso),
    row("DOP", 2, Rule::Iso),
    row("DZD", 2, Rule::Iso),
    row("EGP", 2, Rule::Iso),
    row("ETB", 2, Rule::Iso),
    row("EUR", 2, Rule::Iso),
    row("FJD", 2, Rule::Iso),
    row("FKP", 2, Rule::Iso),
    row("GBP", 2, Rule::Iso),
    row("GEL", 2, Rule::Iso),
    row("GIP", 2, Rule::Iso),
    row("GMD", 2, Rule::Iso),
    row("GNF", 0, Rule::ZeroDecimal),
    row("GTQ", 2, Rule::Iso),
    row("GYD", 2, Rule::Iso),
    row("HKD", 2, Rule::Iso),
    row("HNL", 2, Rule::Iso),
    row("HTG", 2, Rule::Iso),
    // Zero-decimal at Stripe for payouts only; charges take two decimals.
    row("HUF", 2, Rule::Iso),
    row("IDR", 2, Rule::Iso),
    row("ILS", 2, Rule::Iso),
    row("INR", 2, Rule::Iso),
    row("ISK", 0, Rule::WholeInTwoDecimals),
    row("JMD", 2, Rule::Iso),
    row("JOD", 3, Rule::ThreeDecimalTens),
    row("JPY", 0, Rule::ZeroDecimal),
    row("KES", 2, Rule::Iso),
    row("KGS", 2, Rule::Iso),
    row("KHR", 2, Rule::Iso),
    row("KMF", 0, Rule::ZeroDecimal),
    row("KRW", 0, Rule::ZeroDecimal),
    row("KWD", 3, Rule::ThreeDecimalTens),
    row("KYD", 2, Rule::Iso),
    row("KZT", 2, Rule::Iso),
    row("LAK", 2, Rule::Iso),
    row("LBP", 2, Rule::Iso),
    row("LKR", 2, Rule::Iso),
    row("LRD", 2, Rule::Iso),
    row("LSL", 2, Rule::Iso),
    row("MAD", 2, Rule::Iso),
    row("MDL", 2, Rule::Iso),
    // ISO gives the ariary two decimals; Stripe counts whole ariary.
    row("MGA", 2, Rule::ZeroDecimal),
    row("MKD", 2, Rule::Iso),
    row("MMK", 2, Rule::Iso),
    row("MNT", 2, Rule::Iso),
    row("MOP", 2, Rule::Iso),
    row("MUR", 2, Rule::Iso),
    row("MVR", 2, Rule::Iso),
    row("MWK", 2, Rule::Iso),
    row("MXN", 2, Rule::Iso),
    row("MYR", 2, Rule::Iso),
    row("MZN", 2, Rule::Iso),
    row("NAD", 2, Rule::Iso),
    row("NGN", 2, Rule::Iso),
    row("NIO", 2, Rule::Iso),
    row("NOK", 2, Rule::Iso),
    row("NPR", 2, Rule::Iso),
    row("NZD", 2, Rule::Iso),
    row("OMR", 3, Rule::ThreeDecimalTens),
    row("PAB", 2, Rule::Iso),
    row("PEN", 2, Rule::Iso),
    row("PGK", 2, Rule::Iso),
    row("PHP", 2, Rule::Iso),
    row("PKR", 2, Rule::Iso),
    row("PLN", 2, Rule::Iso),
    row("PYG", 0, Rule::ZeroDecimal),
    row("QAR", 2, Rule::Iso),
    row("RON", 2, Rule::Iso),
    row("RSD", 2, Rule::Iso),
    row("RUB", 2, Rule::Iso),
    row("RWF", 0, Rule::ZeroDecimal),
    row("SAR", 2, Rule::Iso),
    row("SBD", 2, Rule::Iso),
    row("SCR", 2, Rule::Iso),
    row("SEK", 2, Rule::Iso),
    row("SGD", 2, Rule::Iso),
    row("SHP", 2, Rule::Iso),
    row("SLE", 2, Rule::Iso),
    row("SOS", 2, Rule::Iso),
    row("SRD", 2, Rule::Iso),
    row("STD", 2, Rule::Iso),
    row("SZL", 2, Rule::Iso),
    row("THB", 2, Rule::Iso),
    row("TJS", 2, Rule::Iso),
    row("TND", 3, Rule::ThreeDecimalTens),
    row("TOP", 2, Rule::Iso),
    row("TRY", 2, Rule::Iso),
    row("TTD", 2, Rule::Iso),
    // Zero-decimal at Stripe for payouts only; charges take two decimals.
    row("TWD", 2, Rule::Iso),
    row("TZS", 2, Rule::Iso),
    row("UAH", 2, Rule::Iso),
    row("UGX", 0, Rule::WholeInTwoDecimals),
    row("USD", 2, Rule::Iso),
    row("UYU", 2, Rule::Iso),
    row("UZS", 2, Rule::Iso),
    row("VND", 0, Rule::ZeroDecimal),
    row("VUV", 0, Rule::ZeroDecimal),
    row("WST", 2, Rule::Iso),
    row("XAF", 0, Rule::ZeroDecimal),
    row("XCD", 2, Rule::Iso),
    row("XCG", 2, Rule::Iso),
    row("XOF", 0, Rule::ZeroDecimal),
    row("XPF", 0, Rule::ZeroDecimal),
    row("YER", 2, Rule::Iso),
    row("ZAR", 2, Rule::Iso),
    row("ZMW", 2, Rule::Iso),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn currency(code: &str, exponent: u8) -> Currency {
        Currency { code: code.to_string(), exponent }
    }

    #[track_caller]
    fn check_converts(code: &str, exponent: u8, amount_minor: i64, stripe_amount: i64) {
        let currency = currency(code, exponent);
        assert_eq!(to_stripe_amount(amount_minor, &currency), Ok(stripe_amount), "{code}");
        let back = from_stripe_amount(stripe_amount, &code.to_ascii_lowercase());
        assert_eq!(back, Ok((amount_minor, currency)), "{code} back");
    }

    #[track_caller]
    fn check_refused(code: &str, exponent: u8, amount_minor: i64, reason_contains: &str) {
        let refusal = to_stripe_amount(amount_minor, &currency(code, exponent))
            .expect_err("the amount should be refused");
        assert_eq!(refusal.currency, code);
        assert!(
            refusal.reason.contains(reason_contains),
            "{code} {amount_minor}: {:?} does not say {reason_contains:?}",
            refusal.reason
        );
    }

    /// The currency of every city we sell in, with its ISO exponent, a sample
    /// amount in ISO minor units, and what Stripe should be sent for it
    /// (`None`: Stripe cannot take the currency).
    const CITY_CURRENCIES: &[(&str, u8, i64, Option<i64>)] = &[
        ("AFN", 2, 123_456, Some(123_456)),
        ("AUD", 2, 4_550, Some(4_550)),
        ("BDT", 2, 250_000, Some(250_000)),
        ("BRL", 2, 9_990, Some(9_990)),
        ("CAD", 2, 6_500, Some(6_500)),
        ("CDF", 2, 5_000_000, Some(5_000_000)),
        ("CHF", 2, 8_900, Some(8_900)),
        ("CLP", 0, 45_000, Some(45_000)),
        ("CNY", 2, 38_800, Some(38_800)),
        ("COP", 2, 18_000_000, Some(18_000_000)),
        ("DKK", 2, 39_500, Some(39_500)),
        ("EGP", 2, 150_000, Some(150_000)),
        ("EUR", 2, 4_990, Some(4_990)),
        ("GBP", 2, 4_250, Some(4_250)),
        ("HKD", 2, 48_000, Some(48_000)),
        ("IDR", 2, 75_000_000, Some(75_000_000)),
        ("ILS", 2, 19_900, Some(19_900)),
        ("INR", 2, 450_000, Some(450_000)),
        ("IQD", 3, 65_000_000, None),
        ("IRR", 2, 200_000_000, None),
        ("ISK", 0, 7_900, Some(790_000)),
        ("JPY", 0, 8_000, Some(8_000)),
        ("KES", 2, 650_000, Some(650_000)),
        ("KRW", 0, 75_000, Some(75_000)),
        ("MMK", 2, 10_000_000, Some(10_000_000)),
        ("MXN", 2, 95_000, Some(95_000)),
        ("NGN", 2, 7_500_000, Some(7_500_000)),
        ("NZD", 2, 7_900, Some(7_900)),
        ("PEN", 2, 17_500, Some(17_500)),
        ("PKR", 2, 1_350_000, Some(1_350_000)),
        ("PLN", 2, 19_900, Some(19_900)),
        ("RUB", 2, 450_000, Some(450_000)),
        ("SAR", 2, 17_500, Some(17_500)),
        ("SEK", 2, 49_900, Some(49_900)),
        ("SGD", 2, 6_800, Some(6_800)),
        ("THB", 2, 160_000, Some(160_000)),
        ("TRY", 2, 165_000, Some(165_000)),
        ("TWD", 2, 152_500, Some(152_500)),
        ("TZS", 2, 11_500_000, Some(11_500_000)),
        ("UAH", 2, 195_000, Some(195_000)),
        ("USD", 2, 4_700, Some(4_700)),
        ("VND", 0, 1_200_000, Some(1_200_000)),
        ("XOF", 0, 30_000, Some(30_000)),
        ("ZAR", 2, 87_500, Some(87_500)),
    ];

    #[test]
    fn every_city_currency_is_taken_or_refused_as_stripe_says() {
        for &(code, exponent, amount_minor, expected) in CITY_CURRENCIES {
            match expected {
                Some(stripe_amount) => check_converts(code, exponent, amount_minor, stripe_amount),
                None => check_refused(code, exponent, amount_minor, "not among its presentment"),
            }
        }
    }

    /// The table above must keep up with the cities: every currency of the
    /// demo catalogue's exchange rates is in it, with the same exponent.
    #[test]
    fn the_city_table_covers_every_currency_of_the_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../api/data/exchange-rates.csv");
        let rates = std::fs::read_to_string(path).expect("the catalogue's exchange rates");
        for line in rates.lines().skip(1).filter(|line| !line.trim().is_empty()) {
            let mut fields = line.split(',');
            let code = fields.next().unwrap_or_default();
            let exponent: u8 = fields.next().unwrap_or_default().parse().expect(line);
            let known = CITY_CURRENCIES.iter().find(|(known, ..)| *known == code);
            assert_eq!(known.map(|row| row.1), Some(exponent), "{code} is missing or differs");
        }
    }

    #[test]
    fn the_table_is_sorted_without_duplicates_so_lookups_find_every_row() {
        for pair in STRIPE_CURRENCIES.windows(2) {
            assert!(pair[0].code < pair[1].code, "{} before {}", pair[0].code, pair[1].code);
        }
        for row in STRIPE_CURRENCIES {
            assert_eq!(lookup(row.code).map(|found| found.code), Ok(row.code));
        }
    }

    #[test]
    fn zero_decimal_currencies_are_whole_units_as_in_iso() {
        for code in ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "PYG", "RWF", "VND"] {
            check_converts(code, 0, 500, 500);
        }
        for code in ["VUV", "XAF", "XOF", "XPF"] {
            check_converts(code, 0, 500, 500);
        }
    }

    #[test]
    fn mga_is_two_decimal_in_iso_but_whole_ariary_at_stripe() {
        check_converts("MGA", 2, 123_400, 1_234);
        check_refused("MGA", 2, 123_450, "whole units");
    }

    #[test]
    fn isk_and_ugx_are_whole_units_written_with_two_zero_decimals() {
        check_converts("ISK", 0, 5, 500);
        check_converts("UGX", 0, 5, 500);
        let fractional = from_stripe_amount(550, "isk").expect_err("5.50 ISK is not whole");
        assert!(fractional.reason.contains("no whole number"), "{}", fractional.reason);
    }

    #[test]
    fn huf_and_twd_charge_with_two_decimals_their_payout_rule_does_not_apply() {
        check_converts("HUF", 2, 1_045, 1_045);
        check_converts("TWD", 2, 80_045, 80_045);
    }

    #[test]
    fn three_decimal_currencies_need_a_last_digit_of_zero() {
        for code in ["BHD", "JOD", "KWD", "OMR", "TND"] {
            check_converts(code, 3, 5_120, 5_120);
            check_refused(code, 3, 5_124, "last digit");
        }
    }

    #[test]
    fn amounts_above_eight_digits_in_stripe_units_are_refused() {
        check_converts("USD", 2, 99_999_999, 99_999_999);
        check_refused("USD", 2, 100_000_000, "above its maximum");
        check_converts("JPY", 0, 99_999_999, 99_999_999);
        check_refused("JPY", 0, 100_000_000, "above its maximum");
        check_converts("ISK", 0, 999_999, 99_999_900);
        check_refused("ISK", 0, 1_000_000, "above its maximum");
        check_refused("ISK", 0, i64::MAX, "above Stripe's maximum");
    }

    #[test]
    fn idr_takes_twelve_digits() {
        check_converts("IDR", 2, 999_999_999_999, 999_999_999_999);
        check_refused("IDR", 2, 1_000_000_000_000, "above its maximum");
    }

    #[test]
    fn a_wrong_exponent_is_refused_rather_than_charged_a_hundred_times_over() {
        check_refused("ISK", 2, 500, "0 decimals in ISO 4217");
        check_refused("EUR", 0, 500, "2 decimals in ISO 4217");
    }

    #[test]
    fn only_positive_amounts_are_charged() {
        check_refused("EUR", 2, 0, "more than zero");
        check_refused("EUR", 2, -100, "more than zero");
        assert!(from_stripe_amount(-1, "eur").is_err());
        assert_eq!(from_stripe_amount(0, "eur"), Ok((0, currency("EUR", 2))));
    }

    #[test]
    fn codes_are_matched_in_any_case_and_unknown_ones_are_refused() {
        assert_eq!(to_stripe_amount(100, &currency("eur", 2)), Ok(100));
        let refusal = to_stripe_amount(100, &currency("XXX", 2)).expect_err("no such currency");
        assert_eq!(refusal.currency, "XXX");
        assert!(refusal.reason.contains("not among its presentment currencies"));
        assert!(check_amount(100, &currency("IQD", 3)).is_err());
        assert!(check_amount(100, &currency("EUR", 2)).is_ok());
    }
}
