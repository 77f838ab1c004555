//! The catalogues Boxoffice can start with: the demo catalogue of 100 real
//! cities, and the full day of the seed design's load.
//!
//! Both are plain lists of catalogue events, built from data embedded at
//! compile time from `crates/api/data/` (see its README for the sources), so
//! the server needs no files at run time. Building is deterministic given
//! `now`: the same instant always gives the same events.
//!
//! Venue layouts are priced in euros; each city gets them converted into its
//! own currency with [`ExchangeRate::price_from_eur_cents`], and performances
//! start at evening local times resolved in the city's own time zone.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use engine::catalogue::{
    City, Currency, Layout, LayoutError, PerformanceInfo, Section, SectionKind, Venue,
};
use engine::civil::{self, CivilError, ResolvedStart};
use engine::events::Event;
use engine::ids::{CityId, PerformanceId, VenueId};
use engine::time::Timestamp;
use jiff::civil::Date;
use serde::Deserialize;

const CITIES_CSV: &str = include_str!("../data/cities.csv");
const LAYOUTS_JSON: &str = include_str!("../data/venue-layouts.json");
const RATES_CSV: &str = include_str!("../data/exchange-rates.csv");

/// How long before `now` the seeded performances went on sale, so that they
/// are on sale the moment the server starts.
const ON_SALE_BEFORE_NOW: Duration = Duration::from_secs(3600);
const ORDER_MAX: u32 = 10;
const USER_MAX: u32 = 10;

/// Why the embedded data cannot be read. Only a broken edit of
/// `crates/api/data/` can cause one, and the tests would catch it.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("{file} line {line}: {reason}")]
    Csv { file: &'static str, line: usize, reason: String },
    #[error("venue-layouts.json cannot be read: {0}")]
    Json(#[from] serde_json::Error),
    #[error("layout {id:?} is not usable: {source}")]
    Layout { id: String, source: LayoutError },
    #[error("layout {id:?} declares {declared} places but its sections hold {counted}")]
    CapacityMismatch { id: String, declared: u32, counted: u32 },
}

/// How many units of a currency one euro buys, from the embedded table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeRate {
    pub currency: Currency,
    /// Units of `currency` per euro, as the decimal `per_eur_digits /
    /// 10^per_eur_scale`, so that conversion is exact integer arithmetic.
    pub per_eur_digits: i64,
    pub per_eur_scale: u32,
}

impl ExchangeRate {
    /// Converts a face value in euro cents into a plausible price in minor
    /// units of this currency.
    ///
    /// The rule: convert exactly (euros × rate), then round half up to two
    /// significant figures of the major unit, and never to a fraction of a
    /// major unit; a positive price is at least one major unit. So 65.00 EUR
    /// becomes CHF 61.00 (61.1), JPY 11,000 (10,595) and IQD 88,000.000
    /// (88,140), written in minor units as 6100, 11000 and 88000000. Euro
    /// prices, which have two significant figures already, stay as they are.
    pub fn price_from_eur_cents(&self, eur_cents: i64) -> i64 {
        if eur_cents <= 0 {
            return eur_cents.max(0);
        }

        let numerator = i128::from(eur_cents) * i128::from(self.per_eur_digits);
        let denominator = 100 * 10i128.pow(self.per_eur_scale);
        let major = round_to_two_significant_units(numerator, denominator);

        let minor = major * 10i128.pow(u32::from(self.currency.exponent));
        i64::try_from(minor).unwrap_or(i64::MAX)
    }
}

/// The positive fraction `numerator / denominator` rounded half up to two
/// significant figures, but never below the units digit, and at least 1.
fn round_to_two_significant_units(numerator: i128, denominator: i128) -> i128 {
    let whole = numerator / denominator;
    let mut step = 1i128;
    while whole / step >= 100 {
        step *= 10;
    }

    let scaled = denominator * step;
    let rounded = (2 * numerator + scaled) / (2 * scaled);
    (rounded * step).max(1)
}

/// Everything read from the embedded files, parsed once.
struct SeedData {
    rates: Vec<ExchangeRate>,
    cities: Vec<City>,
    layouts: Vec<(String, Layout)>,
}

static DATA: LazyLock<SeedData> = LazyLock::new(|| {
    load().unwrap_or_else(|error| panic!("the embedded seed data is broken: {error}"))
});

fn load() -> Result<SeedData, SeedError> {
    let rates = parse_rates(RATES_CSV)?;
    let cities = parse_cities(CITIES_CSV, &rates)?;
    let layouts = parse_layouts(LAYOUTS_JSON)?;
    Ok(SeedData { rates, cities, layouts })
}

/// The exchange-rate table: every currency of the cities, per euro.
pub fn exchange_rates() -> &'static [ExchangeRate] {
    &DATA.rates
}

pub fn exchange_rate(code: &str) -> Option<&'static ExchangeRate> {
    exchange_rates().iter().find(|rate| rate.currency.code == code)
}

/// The currency with this ISO 4217 code and its exponent, if a city uses it.
pub fn currency_of(code: &str) -> Option<Currency> {
    exchange_rate(code).map(|rate| rate.currency.clone())
}

/// The 100 cities, with ids 1 to 100 in the order of `cities.csv`.
pub fn cities() -> Vec<City> {
    DATA.cities.clone()
}

/// The five venue archetypes by id (`club`, `theatre`, `concert-hall`,
/// `arena`, `stadium`), priced in euro cents as the data gives them.
pub fn layouts() -> Vec<(String, Layout)> {
    DATA.layouts.clone()
}

/// A layout with every price converted from euro cents into `rate`'s
/// currency.
pub fn priced_layout(layout: &Layout, rate: &ExchangeRate) -> Layout {
    let sections = layout
        .sections
        .iter()
        .map(|section| Section {
            price_minor: rate.price_from_eur_cents(section.price_minor),
            ..section.clone()
        })
        .collect();
    Layout { sections }
}

// ---------------------------------------------------------------------------
// Parsing the embedded files.

/// Splits a small CSV file into its rows of fields, with 1-based line
/// numbers. The files hold no quoted fields (no name contains a comma), so a
/// quote is refused rather than half understood.
fn csv_rows<'a>(
    file: &'static str,
    text: &'a str,
    header: &str,
) -> Result<Vec<(usize, Vec<&'a str>)>, SeedError> {
    let error = |line: usize, reason: String| SeedError::Csv { file, line, reason };
    let mut lines = text.lines().enumerate().map(|(index, line)| (index + 1, line));

    let columns = header.split(',').count();
    match lines.next() {
        Some((_, first)) if first == header => {}
        _ => return Err(error(1, format!("the header must be {header:?}"))),
    }

    let mut rows = Vec::new();
    for (line, content) in lines.filter(|(_, content)| !content.is_empty()) {
        if content.contains('"') {
            return Err(error(line, "quoted fields are not supported".into()));
        }
        let fields: Vec<&str> = content.split(',').collect();
        if fields.len() != columns {
            return Err(error(line, format!("expected {columns} fields, found {}", fields.len())));
        }
        rows.push((line, fields));
    }
    Ok(rows)
}

fn parse_rates(text: &str) -> Result<Vec<ExchangeRate>, SeedError> {
    let file = "exchange-rates.csv";
    let error = |line: usize, reason: &str| SeedError::Csv { file, line, reason: reason.into() };

    let mut rates = Vec::new();
    for (line, fields) in csv_rows(file, text, "currency,exponent,per_eur")? {
        let [code, exponent, per_eur] = [fields[0], fields[1], fields[2]];
        if code.len() != 3 || !code.bytes().all(|byte| byte.is_ascii_uppercase()) {
            return Err(error(line, "the currency must be three capital letters"));
        }
        let exponent: u8 = exponent.parse().map_err(|_| error(line, "bad exponent"))?;
        let (digits, scale) = parse_decimal(per_eur).ok_or_else(|| error(line, "bad rate"))?;

        let currency = Currency { code: code.to_owned(), exponent };
        rates.push(ExchangeRate { currency, per_eur_digits: digits, per_eur_scale: scale });
    }
    Ok(rates)
}

/// Parses a positive decimal such as `655.957` into `(655957, 3)`.
fn parse_decimal(text: &str) -> Option<(i64, u32)> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || fraction.len() > 9 {
        return None;
    }

    let digits: i64 = format!("{whole}{fraction}").parse().ok()?;
    (digits > 0).then_some((digits, fraction.len() as u32))
}

fn parse_cities(text: &str, rates: &[ExchangeRate]) -> Result<Vec<City>, SeedError> {
    let file = "cities.csv";
    let header = "geonameid,name,country,timezone,currency,population,latitude,longitude";
    let error = |line: usize, reason: String| SeedError::Csv { file, line, reason };

    let mut cities = Vec::new();
    for (line, fields) in csv_rows(file, text, header)? {
        let [name, country, time_zone, code] = [fields[1], fields[2], fields[3], fields[4]];
        if !civil::is_valid_zone(time_zone) {
            return Err(error(line, format!("{time_zone:?} is not a known time zone")));
        }
        let rate = rates.iter().find(|rate| rate.currency.code == code);
        let currency = rate.ok_or_else(|| error(line, format!("no exchange rate for {code}")))?;

        cities.push(City {
            id: CityId(cities.len() as u32 + 1),
            name: name.to_owned(),
            country: country.to_owned(),
            time_zone: time_zone.to_owned(),
            currency: currency.currency.clone(),
        });
    }
    Ok(cities)
}

#[derive(Deserialize)]
struct LayoutFile {
    layouts: Vec<LayoutEntry>,
}

#[derive(Deserialize)]
struct LayoutEntry {
    id: String,
    capacity: u32,
    sections: Vec<SectionEntry>,
}

#[derive(Deserialize)]
struct SectionEntry {
    name: String,
    #[serde(flatten)]
    kind: KindEntry,
    price_minor: i64,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum KindEntry {
    Seated { rows: u32, seats_per_row: u32 },
    Standing { capacity: u32 },
}

fn parse_layouts(text: &str) -> Result<Vec<(String, Layout)>, SeedError> {
    let file: LayoutFile = serde_json::from_str(text)?;
    file.layouts.into_iter().map(layout_from_entry).collect()
}

fn layout_from_entry(entry: LayoutEntry) -> Result<(String, Layout), SeedError> {
    let sections = entry.sections.into_iter().map(section_from_entry).collect();
    let layout = Layout { sections };

    let id = entry.id;
    layout.validate().map_err(|source| SeedError::Layout { id: id.clone(), source })?;

    // Checked after validation, which bounds the total so the sum fits.
    let counted = layout.capacity();
    if counted != entry.capacity {
        return Err(SeedError::CapacityMismatch { id, declared: entry.capacity, counted });
    }
    Ok((id, layout))
}

fn section_from_entry(entry: SectionEntry) -> Section {
    let kind = match entry.kind {
        KindEntry::Seated { rows, seats_per_row } => SectionKind::Seated { rows, seats_per_row },
        KindEntry::Standing { capacity } => SectionKind::Standing { capacity },
    };
    Section { name: entry.name, kind, price_minor: entry.price_minor }
}

// ---------------------------------------------------------------------------
// Building catalogues.

/// One kind of venue every demo city has: its name after the city's, its
/// layout, how many performances it gets, and the shows it puts on.
struct VenueTemplate {
    name_suffix: &'static str,
    layout: &'static str,
    performances: u32,
    titles: &'static [&'static str],
}

const CLUB_TITLES: &[&str] =
    &["Late Night Jazz", "Fado ao Vivo", "Tango Nuevo", "Björk: DJ Set", "Open Mic Night"];
const THEATRE_TITLES: &[&str] = &[
    "Hamlet",
    "Les Misérables",
    "Carmen",
    "Die Zauberflöte",
    "La Traviata",
    "Der Besuch der alten Dame",
    "Чайка",
];
const CONCERT_TITLES: &[&str] = &[
    "Beethoven: Symphony No. 9",
    "Стравинский: Весна священная",
    "Dvořák: From the New World",
    "Mahler: Symphony No. 5",
    "Sibelius: Violin Concerto",
];
const ARENA_TITLES: &[&str] =
    &["Björk", "Nutcracker on Ice", "Cirque: Alegría", "Symphonic Rock Night", "K-Pop Festival"];
const STADIUM_TITLES: &[&str] =
    &["Summer Stadium Tour", "World Music Festival", "Festival of Lights"];

/// The venues of a demo city: a club, theatres, a concert hall, an arena;
/// [`STADIUM`] or [`STUDIO`] completes the ten.
const DEMO_VENUES: [VenueTemplate; 9] = [
    VenueTemplate { name_suffix: "Arena", layout: "arena", performances: 2, titles: ARENA_TITLES },
    VenueTemplate {
        name_suffix: "Concert Hall",
        layout: "concert-hall",
        performances: 3,
        titles: CONCERT_TITLES,
    },
    VenueTemplate {
        name_suffix: "Opera House",
        layout: "theatre",
        performances: 3,
        titles: THEATRE_TITLES,
    },
    VenueTemplate {
        name_suffix: "Playhouse",
        layout: "theatre",
        performances: 3,
        titles: THEATRE_TITLES,
    },
    VenueTemplate {
        name_suffix: "Lyric Theatre",
        layout: "theatre",
        performances: 3,
        titles: THEATRE_TITLES,
    },
    VenueTemplate {
        name_suffix: "Civic Theatre",
        layout: "theatre",
        performances: 3,
        titles: THEATRE_TITLES,
    },
    VenueTemplate {
        name_suffix: "Jazz Cellar",
        layout: "club",
        performances: 3,
        titles: CLUB_TITLES,
    },
    VenueTemplate {
        name_suffix: "Warehouse",
        layout: "club",
        performances: 3,
        titles: CLUB_TITLES,
    },
    VenueTemplate {
        name_suffix: "Festival Hall",
        layout: "concert-hall",
        performances: 3,
        titles: CONCERT_TITLES,
    },
];

/// The tenth venue of every fifth city. A stadium holds 78,584, so giving
/// one to every city would make stadiums most of the demo's tickets.
const STADIUM: VenueTemplate = VenueTemplate {
    name_suffix: "Stadium",
    layout: "stadium",
    performances: 2,
    titles: STADIUM_TITLES,
};
const STADIUM_EVERY: usize = 5;

/// The tenth venue of the other cities.
const STUDIO: VenueTemplate = VenueTemplate {
    name_suffix: "Studio Theatre",
    layout: "theatre",
    performances: 3,
    titles: THEATRE_TITLES,
};

/// The ten theatres of every city in the full-day catalogue.
const FULL_DAY_VENUES: [&str; 10] = [
    "Opera House",
    "Playhouse",
    "Lyric Theatre",
    "Civic Theatre",
    "Royal Theatre",
    "Studio Theatre",
    "Grand Theatre",
    "Little Theatre",
    "Festival Theatre",
    "Palace Theatre",
];
const FULL_DAY_LAYOUT: &str = "theatre";
const FULL_DAY_PERFORMANCES: u32 = 10;
/// The local starts of the full day's ten performances: hourly from noon.
const FULL_DAY_FIRST_HOUR: i8 = 12;

/// The demo catalogue: the 100 cities, ten venues each mixing the five
/// layouts (at most one stadium), and two or three performances per venue on
/// the next days at 19:30 or 20:00 local time, all on sale at `now`.
pub fn demo_catalogue(now: Timestamp) -> Vec<Event> {
    let mut builder = CatalogueBuilder::new(now);
    for (index, city) in DATA.cities.iter().enumerate() {
        let tenth = if index % STADIUM_EVERY == 0 { &STADIUM } else { &STUDIO };
        for (slot, template) in DEMO_VENUES.iter().chain([tenth]).enumerate() {
            builder.demo_venue(city, index + slot, template);
        }
    }
    builder.finish()
}

/// The seed design's day of load: 100 cities × 10 theatres × 10
/// performances × 1,001 seats = 10,010,000 tickets, every performance on the
/// coming local day (hourly from noon) and on sale at `now`.
pub fn full_day_catalogue(now: Timestamp) -> Vec<Event> {
    let mut builder = CatalogueBuilder::new(now);
    for (index, city) in DATA.cities.iter().enumerate() {
        let starts = full_day_starts(city, now);
        for (slot, name) in FULL_DAY_VENUES.iter().enumerate() {
            let venue = builder.venue(city, name, FULL_DAY_LAYOUT);
            for (number, start) in starts.iter().enumerate() {
                let title = THEATRE_TITLES[(index + slot + number) % THEATRE_TITLES.len()];
                builder.performance(city, venue, title, start.clone());
            }
        }
    }
    builder.finish()
}

fn full_day_starts(city: &City, now: Timestamp) -> Vec<ResolvedStart> {
    let Some(tomorrow) = local_date_after(city, now, 1) else {
        return Vec::new();
    };
    (0..FULL_DAY_PERFORMANCES as i8)
        .filter_map(|hour| evening_start(city, tomorrow, FULL_DAY_FIRST_HOUR + hour, 0))
        .collect()
}

/// Collects catalogue events with sequential ids, sharing one priced layout
/// per currency and archetype among all the venues that use it.
struct CatalogueBuilder {
    now: Timestamp,
    events: Vec<Event>,
    next_venue: u32,
    next_performance: u32,
    priced: HashMap<(String, &'static str), Arc<Layout>>,
}

impl CatalogueBuilder {
    fn new(now: Timestamp) -> CatalogueBuilder {
        let events = DATA.cities.iter().cloned().map(Event::CityCreated).collect();
        CatalogueBuilder { now, events, next_venue: 1, next_performance: 1, priced: HashMap::new() }
    }

    fn finish(self) -> Vec<Event> {
        self.events
    }

    /// One demo venue and its performances on the days after today, in the
    /// evening; `variety` shifts the titles and start times between venues.
    fn demo_venue(&mut self, city: &City, variety: usize, template: &VenueTemplate) {
        let venue = self.venue(city, template.name_suffix, template.layout);
        let (hour, minute) = match variety % 2 {
            0 => (19, 30),
            _ => (20, 0),
        };

        for day in 1..=template.performances {
            let title = template.titles[(variety + day as usize) % template.titles.len()];
            let date = local_date_after(city, self.now, day);
            if let Some(start) = date.and_then(|date| evening_start(city, date, hour, minute)) {
                self.performance(city, venue, title, start);
            }
        }
    }

    fn venue(&mut self, city: &City, name_suffix: &str, layout: &'static str) -> VenueId {
        let id = VenueId(self.next_venue);
        self.next_venue += 1;

        let layout = self.priced_layout(&city.currency.code, layout);
        let name = format!("{} {name_suffix}", city.name);
        self.events.push(Event::VenueCreated(Venue { id, city: city.id, name, layout }));
        id
    }

    fn performance(&mut self, city: &City, venue: VenueId, title: &str, start: ResolvedStart) {
        let id = PerformanceId(self.next_performance);
        self.next_performance += 1;

        let on_sale = Timestamp(self.now.0.saturating_sub(ON_SALE_BEFORE_NOW.as_millis() as i64));
        self.events.push(Event::PerformanceCreated(PerformanceInfo {
            id,
            venue,
            city: city.id,
            title: title.to_owned(),
            start_local: start.start_local,
            start: start.start,
            utc_offset_seconds: start.utc_offset_seconds,
            on_sale,
            order_max: ORDER_MAX,
            user_max: USER_MAX,
        }));
    }

    fn priced_layout(&mut self, currency: &str, layout_id: &'static str) -> Arc<Layout> {
        let key = (currency.to_owned(), layout_id);
        let entry = self.priced.entry(key).or_insert_with(|| {
            let (_, layout) =
                DATA.layouts.iter().find(|(id, _)| id == layout_id).expect("a known layout id");
            let rate = exchange_rate(currency).expect("every city's currency has a rate");
            Arc::new(priced_layout(layout, rate))
        });
        Arc::clone(entry)
    }
}

/// The date `days` after today in the city's zone at `now`.
fn local_date_after(city: &City, now: Timestamp, days: u32) -> Option<Date> {
    let zone = jiff::tz::TimeZone::get(&city.time_zone).ok()?;
    let today = now.to_jiff().to_zoned(zone).date();
    today.checked_add(jiff::Span::new().days(i64::from(days))).ok()
}

/// The start at `hour:minute` on `date` in the city's zone. A time the
/// clocks skip moves on by an hour (up to twice); a time that happens twice
/// takes its earlier meaning, as a box office would.
fn evening_start(city: &City, date: Date, hour: i8, minute: i8) -> Option<ResolvedStart> {
    (hour..hour + 3).filter(|hour| *hour < 24).find_map(|hour| {
        let local = format!("{date}T{hour:02}:{minute:02}:00");
        match civil::resolve_local_start(&city.time_zone, &local, None) {
            Ok(start) => Some(start),
            Err(CivilError::Ambiguous { offsets: [earlier, _], .. }) => {
                let offset = civil::format_offset(earlier);
                civil::resolve_local_start(&city.time_zone, &local, Some(&offset)).ok()
            }
            Err(_) => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    /// A Saturday, the day before Europe's clocks go back.
    fn now() -> Timestamp {
        Timestamp::from_jiff("2030-10-26T12:00:00Z".parse().unwrap())
    }

    struct Parts {
        cities: Vec<City>,
        venues: Vec<Venue>,
        performances: Vec<PerformanceInfo>,
    }

    fn split(events: Vec<Event>) -> Parts {
        let mut parts = Parts { cities: vec![], venues: vec![], performances: vec![] };
        for event in events {
            match event {
                Event::CityCreated(city) => parts.cities.push(city),
                Event::VenueCreated(venue) => parts.venues.push(venue),
                Event::PerformanceCreated(performance) => parts.performances.push(performance),
                other => panic!("a catalogue holds only catalogue events, not {other:?}"),
            }
        }
        parts
    }

    fn rate(code: &str) -> &'static ExchangeRate {
        exchange_rate(code).unwrap_or_else(|| panic!("a rate for {code}"))
    }

    #[test]
    fn seed_has_a_hundred_cities_numbered_in_file_order() {
        let cities = cities();

        assert_eq!(cities.len(), 100);
        let ids: Vec<u32> = cities.iter().map(|city| city.id.0).collect();
        assert_eq!(ids, (1..=100).collect::<Vec<u32>>());
        assert_eq!(cities[0].name, "Shanghai");
        assert_eq!(cities[99].name, "Århus");
    }

    #[test]
    fn seed_has_zurich_in_swiss_francs() {
        let zurich = cities().into_iter().find(|city| city.name == "Zürich").expect("Zürich");

        assert_eq!(zurich.country, "CH");
        assert_eq!(zurich.time_zone, "Europe/Zurich");
        assert_eq!(zurich.currency, Currency { code: "CHF".into(), exponent: 2 });
    }

    #[test]
    fn seed_layouts_all_validate_with_their_declared_capacities() {
        let capacities: Vec<(String, u32)> =
            layouts().into_iter().map(|(id, layout)| (id, layout.capacity())).collect();

        let expected = [
            ("club", 300),
            ("theatre", 1001),
            ("concert-hall", 1896),
            ("arena", 18180),
            ("stadium", 78584),
        ];
        assert_eq!(capacities, expected.map(|(id, capacity)| (id.to_owned(), capacity)));
        for (id, layout) in layouts() {
            assert_eq!(layout.validate(), Ok(()), "{id}");
        }
    }

    #[test]
    fn seed_layout_sections_keep_their_kinds() {
        let layouts: BTreeMap<String, Layout> = layouts().into_iter().collect();

        let club = &layouts["club"].sections[0];
        assert_eq!(club.kind, SectionKind::Standing { capacity: 300 });
        assert_eq!(club.price_minor, 2500);
        let stalls = &layouts["theatre"].sections[0];
        assert_eq!(stalls.kind, SectionKind::Seated { rows: 22, seats_per_row: 26 });
    }

    #[test]
    fn seed_rates_cover_every_city_currency_with_iso_exponents() {
        for city in cities() {
            assert_eq!(currency_of(&city.currency.code), Some(city.currency.clone()));
        }

        let exponent = |code: &str| currency_of(code).map(|currency| currency.exponent);
        for code in ["JPY", "KRW", "VND", "XOF", "CLP", "ISK"] {
            assert_eq!(exponent(code), Some(0), "{code}");
        }
        for code in ["EUR", "USD", "CHF", "IRR", "TWD", "IDR", "COP", "INR"] {
            assert_eq!(exponent(code), Some(2), "{code}");
        }
        assert_eq!(exponent("IQD"), Some(3));
        assert_eq!(exponent("XXX"), None);
    }

    #[test]
    fn seed_prices_round_to_two_significant_figures() {
        assert_eq!(rate("EUR").price_from_eur_cents(6500), 6500);
        assert_eq!(rate("CHF").price_from_eur_cents(6500), 6100);
        assert_eq!(rate("GBP").price_from_eur_cents(2500), 2100);
        assert_eq!(rate("USD").price_from_eur_cents(12000), 12000);
    }

    #[test]
    fn seed_prices_in_currencies_without_minor_units() {
        assert_eq!(rate("JPY").price_from_eur_cents(6500), 11_000);
        assert_eq!(rate("KRW").price_from_eur_cents(6500), 99_000);
        assert_eq!(rate("VND").price_from_eur_cents(6500), 1_700_000);
        assert_eq!(rate("XOF").price_from_eur_cents(6500), 43_000);
    }

    #[test]
    fn seed_prices_in_a_currency_of_three_decimals() {
        // 65 × 1356 = 88,140 dinars, rounded to 88,000 and written in fils.
        assert_eq!(rate("IQD").price_from_eur_cents(6500), 88_000_000);
    }

    #[test]
    fn seed_rounding_keeps_whole_units_and_free_stays_free() {
        assert_eq!(round_to_two_significant_units(94, 10), 9);
        assert_eq!(round_to_two_significant_units(3, 10), 1);
        assert_eq!(round_to_two_significant_units(995, 10), 100);
        assert_eq!(round_to_two_significant_units(10_595, 1), 11_000);
        assert_eq!(round_to_two_significant_units(10_495, 1), 10_000);
        assert_eq!(rate("CHF").price_from_eur_cents(0), 0);
    }

    #[test]
    fn seed_decimals_parse_exactly() {
        assert_eq!(parse_decimal("655.957"), Some((655_957, 3)));
        assert_eq!(parse_decimal("1"), Some((1, 0)));
        for bad in ["", ".5", "1.2.3", "-1", "0", "1e3", "1,5"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn seed_csv_refuses_quotes_and_ragged_rows() {
        let quoted = "a,b\n\"x,y\",z\n";
        assert!(matches!(csv_rows("t.csv", quoted, "a,b"), Err(SeedError::Csv { line: 2, .. })));
        let ragged = "a,b\r\n1,2\r\n3\r\n";
        assert!(matches!(csv_rows("t.csv", ragged, "a,b"), Err(SeedError::Csv { line: 3, .. })));
        assert!(matches!(csv_rows("t.csv", "b,a\n", "a,b"), Err(SeedError::Csv { line: 1, .. })));
    }

    #[test]
    fn seed_layouts_refuse_a_wrong_capacity() {
        let json = r#"{"layouts": [{"id": "x", "capacity": 5, "sections": [
            {"name": "Floor", "kind": "standing", "capacity": 4, "price_minor": 100}]}]}"#;
        assert!(matches!(parse_layouts(json), Err(SeedError::CapacityMismatch { counted: 4, .. })));
    }

    #[test]
    fn seed_demo_gives_every_city_a_mix_of_venues_and_performances() {
        let parts = split(demo_catalogue(now()));
        assert_eq!(parts.cities.len(), 100);

        for city in &parts.cities {
            let venues: Vec<&Venue> =
                parts.venues.iter().filter(|venue| venue.city == city.id).collect();
            assert_eq!(venues.len(), 10, "{}", city.name);
            let stadiums = venues.iter().filter(|venue| venue.name.ends_with("Stadium")).count();
            assert!(stadiums <= 1, "{}", city.name);
            for venue in venues {
                let held = parts.performances.iter().filter(|show| show.venue == venue.id).count();
                assert!((2..=3).contains(&held), "{}: {held}", venue.name);
            }
        }
    }

    #[test]
    fn seed_demo_ids_are_sequential() {
        let parts = split(demo_catalogue(now()));

        let venue_ids: Vec<u32> = parts.venues.iter().map(|venue| venue.id.0).collect();
        assert_eq!(venue_ids, (1..=parts.venues.len() as u32).collect::<Vec<_>>());
        let performance_ids: Vec<u32> = parts.performances.iter().map(|show| show.id.0).collect();
        assert_eq!(performance_ids, (1..=parts.performances.len() as u32).collect::<Vec<_>>());
    }

    #[test]
    fn seed_demo_venues_are_priced_in_their_city_currency() {
        let parts = split(demo_catalogue(now()));
        let eur: BTreeMap<String, Layout> = layouts().into_iter().collect();

        for venue in &parts.venues {
            let city = &parts.cities[venue.city.0 as usize - 1];
            let rate = rate(&city.currency.code);
            let unit = 10i64.pow(u32::from(city.currency.exponent));
            assert_eq!(venue.layout.validate(), Ok(()), "{}", venue.name);
            assert!(eur
                .values()
                .any(|layout| &priced_layout(layout, rate) == venue.layout.as_ref()));

            for section in &venue.layout.sections {
                assert!(section.price_minor > 0, "{} {}", venue.name, section.name);
                assert_eq!(section.price_minor % unit, 0, "{} {}", venue.name, section.name);
            }
        }
    }

    #[test]
    fn seed_demo_prices_stay_near_the_euro_face_value() {
        let theatre = &layouts().into_iter().find(|(id, _)| id == "theatre").unwrap().1;

        for rate in exchange_rates() {
            let priced = priced_layout(theatre, rate);
            let exact = 65.0 * rate.per_eur_digits as f64 / 10f64.powi(rate.per_eur_scale as i32);
            let major =
                priced.sections[0].price_minor as f64 / 10f64.powi(rate.currency.exponent as i32);
            assert!(
                (major / exact - 1.0).abs() < 0.05,
                "{}: {major} for {exact}",
                rate.currency.code
            );
        }
    }

    #[test]
    fn seed_demo_performances_are_on_sale_in_the_local_evening() {
        let parts = split(demo_catalogue(now()));

        for show in &parts.performances {
            assert!(show.is_on_sale(now()), "{show:?}");
            let city = &parts.cities[show.city.0 as usize - 1];
            assert_eq!(show.start_local, show.start_local.trim());
            let written = civil::format_local(show.start, show.utc_offset_seconds);
            assert!(written.starts_with(&show.start_local), "{written} {}", show.start_local);
            let again =
                civil::resolve_local_start(&city.time_zone, &show.start_local, None).unwrap();
            assert_eq!(again.start, show.start);
            assert!(
                show.start_local.ends_with("T19:30:00") || show.start_local.ends_with("T20:00:00")
            );
            assert_eq!((show.order_max, show.user_max), (10, 10));
        }
    }

    #[test]
    fn seed_demo_zurich_has_a_seated_venue() {
        let parts = split(demo_catalogue(now()));
        let zurich = parts.cities.iter().find(|city| city.name == "Zürich").unwrap();

        let seated = parts.venues.iter().filter(|venue| venue.city == zurich.id).find(|venue| {
            venue
                .layout
                .sections
                .iter()
                .all(|section| matches!(section.kind, SectionKind::Seated { .. }))
        });
        let seated = seated.expect("a seated venue in Zürich");
        assert!(parts.performances.iter().any(|show| show.venue == seated.id));

        let opera = parts.venues.iter().find(|venue| venue.name == "Zürich Opera House").unwrap();
        assert_eq!(opera.layout.sections[0].price_minor, 6100);
    }

    #[test]
    fn seed_demo_is_deterministic() {
        assert_eq!(demo_catalogue(now()), demo_catalogue(now()));
    }

    #[test]
    fn seed_demo_works_across_a_spring_gap() {
        // Europe's clocks go forward on 2030-03-31, Auckland's back on 2030-04-07.
        let spring = Timestamp::from_jiff("2030-03-30T06:00:00Z".parse().unwrap());
        let parts = split(demo_catalogue(spring));

        assert!(parts.performances.iter().all(|show| show.is_on_sale(spring)));
        let venues_with_shows: BTreeSet<VenueId> =
            parts.performances.iter().map(|show| show.venue).collect();
        assert_eq!(venues_with_shows.len(), parts.venues.len());
    }

    #[test]
    fn seed_starts_skip_a_gap_and_take_the_earlier_meaning_of_a_fold() {
        let zurich = cities().into_iter().find(|city| city.name == "Zürich").unwrap();

        let spring = evening_start(&zurich, jiff::civil::date(2030, 3, 31), 2, 30).unwrap();
        assert_eq!(spring.start_local, "2030-03-31T03:30:00");
        let autumn = evening_start(&zurich, jiff::civil::date(2030, 10, 27), 2, 30).unwrap();
        assert_eq!(
            (autumn.start_local.as_str(), autumn.utc_offset_seconds),
            ("2030-10-27T02:30:00", 7200)
        );
    }

    #[test]
    fn seed_full_day_has_ten_million_tickets_on_sale_tomorrow() {
        let parts = split(full_day_catalogue(now()));
        assert_eq!(parts.cities.len(), 100);
        assert_eq!(parts.venues.len(), 1000);
        assert_eq!(parts.performances.len(), 10_000);

        let capacity: BTreeMap<VenueId, u32> =
            parts.venues.iter().map(|venue| (venue.id, venue.layout.capacity())).collect();
        assert!(capacity.values().all(|&seats| seats == 1001));
        let tickets: u64 =
            parts.performances.iter().map(|show| u64::from(capacity[&show.venue])).sum();
        assert_eq!(tickets, 10_010_000);

        for show in &parts.performances {
            assert!(show.is_on_sale(now()), "{show:?}");
            let city = &parts.cities[show.city.0 as usize - 1];
            let tomorrow = local_date_after(city, now(), 1).unwrap();
            assert!(show.start_local.starts_with(&tomorrow.to_string()), "{show:?}");
        }
    }
}
