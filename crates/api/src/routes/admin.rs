//! Admin: creating cities, venues with their layouts, and performances.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CityRequest {
    name: String,
    country: String,
    time_zone: String,
    currency: String,
}

pub(super) async fn create_city(state: State, _admin: Admin, body: Body<CityRequest>) -> Answer {
    let body = body.0;

    let name = text("name", &body.name, 200)?;
    let country = body.country.trim().to_owned();
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(Problem::invalid(
            "country",
            "country must be an ISO 3166 alpha-2 code, such as CH",
        ));
    }
    if !civil::is_valid_zone(&body.time_zone) {
        return Err(Problem::invalid(
            "time_zone",
            "time_zone must be an IANA zone, such as Europe/Zurich",
        ));
    }
    let currency = crate::seed::currency_of(&body.currency)
        .ok_or_else(|| Problem::invalid("currency", "currency must be a known ISO 4217 code"))?;

    let new = NewCity { name, country, time_zone: body.time_zone, currency };
    let city = state.office.create_city(new).await?;
    tracing::info!(city = %city.id, name = %city.name, "city created");
    Ok(HttpResponse::Created().json(CityView::from(&city)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VenueRequest {
    name: String,
    layout: LayoutRequest,
}

/// A layout in the shape of `venue-layouts.json`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    capacity: Option<u32>,
    sections: Vec<SectionRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SectionRequest {
    name: String,
    kind: String,
    #[serde(default)]
    rows: Option<u32>,
    #[serde(default)]
    seats_per_row: Option<u32>,
    #[serde(default)]
    capacity: Option<u32>,
    price_minor: i64,
}

impl LayoutRequest {
    /// The layout, validated, or a 422 naming the field at fault.
    pub fn into_layout(self) -> Result<Layout, Problem> {
        let _ = (self.id, self.description);
        let sections = self
            .sections
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.into_section(i))
            .collect::<Result<_, _>>()?;
        let layout = Layout { sections };
        layout
            .validate()
            .map_err(|error| Problem::invalid("layout.sections", error.to_string()))?;
        if self.capacity.is_some_and(|capacity| capacity != layout.capacity()) {
            return Err(Problem::invalid(
                "layout.capacity",
                "capacity must be the sum of the sections",
            ));
        }
        Ok(layout)
    }
}

/// Checked here too, to name the field; the engine's layout check is the
/// one that keeps sums of prices from overflowing.
const PRICE_MINOR_MAX: i64 = Layout::PRICE_MINOR_MAX;

impl SectionRequest {
    fn into_section(self, index: usize) -> Result<Section, Problem> {
        let field = |name: &str| format!("layout.sections[{index}].{name}");
        let kind = match (self.kind.as_str(), self.rows, self.seats_per_row, self.capacity) {
            ("seated", Some(rows), Some(seats_per_row), None) => {
                SectionKind::Seated { rows, seats_per_row }
            }
            ("standing", None, None, Some(capacity)) => SectionKind::Standing { capacity },
            ("seated", ..) => {
                return Err(Problem::invalid(
                    &field("rows"),
                    "a seated section has rows and seats_per_row, no capacity",
                ))
            }
            ("standing", ..) => {
                return Err(Problem::invalid(
                    &field("capacity"),
                    "a standing section has a capacity, no rows",
                ))
            }
            _ => return Err(Problem::invalid(&field("kind"), "kind must be seated or standing")),
        };
        if !(0..=PRICE_MINOR_MAX).contains(&self.price_minor) {
            return Err(Problem::invalid(
                &field("price_minor"),
                format!("price_minor must be 0 to {PRICE_MINOR_MAX}"),
            ));
        }
        Ok(Section {
            name: text(&field("name"), &self.name, 100)?,
            kind,
            price_minor: self.price_minor,
        })
    }
}

pub(super) async fn create_venue(
    state: State,
    _admin: Admin,
    path: web::Path<String>,
    body: Body<VenueRequest>,
) -> Answer {
    let city = city(&state.office, &path)?;
    let body = body.0;

    let name = text("name", &body.name, 200)?;
    let layout = body.layout.into_layout()?;
    let venue = state.office.create_venue(city.id, name, layout).await?;
    tracing::info!(venue = %venue.id, city = %city.id, capacity = venue.layout.capacity(), "venue created");
    Ok(HttpResponse::Created().json(VenueView::new(&venue, &city.currency)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PerformanceRequest {
    title: String,
    start_local: String,
    #[serde(default)]
    utc_offset: Option<String>,
    on_sale: String,
    #[serde(default)]
    order_max: Option<u32>,
    #[serde(default)]
    user_max: Option<u32>,
}

/// The most tickets one order may be allowed: a limit above this is a typo.
const ORDER_MAX_LIMIT: u32 = 100;

pub(super) async fn create_performance(
    state: State,
    _admin: Admin,
    path: web::Path<(String, String)>,
    body: Body<PerformanceRequest>,
) -> Answer {
    let city = city(&state.office, &path.0)?;
    let venue = venue_of(&state.office, &city, &path.1)?;
    let body = body.0;

    let title = text("title", &body.title, 300)?;
    let start =
        civil::resolve_local_start(&city.time_zone, &body.start_local, body.utc_offset.as_deref())
            .map_err(civil_problem)?;
    if start.start <= state.clock.now() {
        return Err(Problem::invalid("start_local", "the performance must start in the future"));
    }
    let on_sale: jiff::Timestamp = body.on_sale.parse().map_err(|_| {
        Problem::invalid("on_sale", "on_sale must be an RFC 3339 instant with an offset")
    })?;
    let on_sale = Timestamp::from_jiff(on_sale);
    if on_sale >= start.start {
        return Err(Problem::invalid("on_sale", "sales must open before the performance starts"));
    }
    let order_max = limit_field("order_max", body.order_max)?;
    let user_max = limit_field("user_max", body.user_max)?;

    let new = NewPerformance {
        title,
        start_local: start.start_local,
        start: start.start,
        utc_offset_seconds: start.utc_offset_seconds,
        on_sale,
        order_max,
        user_max,
    };
    let info = state.office.create_performance(venue.id, new).await?;
    tracing::info!(performance = %info.id, venue = %venue.id, title = %info.title, "performance created");
    let available = availability(&state.office, info.id).await?;
    Ok(HttpResponse::Created().json(PerformanceView::new(&info, &city, &venue, &available)))
}

/// A start time that cannot be, naming the field at fault.
fn civil_problem(error: civil::CivilError) -> Problem {
    let field = match error {
        civil::CivilError::MalformedOffset { .. } | civil::CivilError::OffsetMismatch { .. } => {
            "utc_offset"
        }
        _ => "start_local",
    };
    Problem::invalid(field, error.to_string())
}

fn limit_field(field: &str, value: Option<u32>) -> Result<u32, Problem> {
    match value {
        None => Ok(10),
        Some(limit) if (1..=ORDER_MAX_LIMIT).contains(&limit) => Ok(limit),
        Some(_) => Err(Problem::invalid(field, format!("{field} must be 1 to {ORDER_MAX_LIMIT}"))),
    }
}

/// Proof that a request carries the admin token; like [`Caller`], checked
/// before the body.
pub(super) struct Admin;

impl FromRequest for Admin {
    type Error = Problem;
    type Future = std::future::Ready<Result<Admin, Problem>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<State>().expect("the app has its state");
        std::future::ready(
            auth::authorize_admin(state.admin_token.as_deref(), request).map(|()| Admin),
        )
    }
}
